package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine/fixture"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// testCmd is `etlq test`: the file's pipelines run over fixtures, with no
// server (docs/testing.md).
type testCmd struct {
	File     string `arg:"" type:"existingfile" help:"The .etl file."`
	Fixtures string `help:"Directory of the fixture files (*.json); default testdata/<file name without .etl> next to the file." type:"path"`
}

func (c *testCmd) Run(ctx context.Context) error {
	dir := c.Fixtures
	if dir == "" {
		dir = defaultFixtures(c.File)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no fixtures (*.json) in %s", dir)
	}
	sort.Strings(files)
	passed, failed := 0, 0
	// Which fixtures test each pipeline: a pipeline that none of them
	// tests is said at the end.
	tested := map[string]bool{}
	var pipelines []string
	for _, path := range files {
		res, err := runFixture(ctx, c.File, path)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// A fixture that cannot be read or planned fails alone: the
			// others still run (one bad file hid every other result).
			failed++
			fmt.Printf("FAIL  %s\n  %s\n", shortPath(path), strings.ReplaceAll(err.Error(), "\n", "\n  "))
			continue
		}
		if pipelines == nil {
			pipelines = append(pipelines, res.Tested...)
			for _, l := range res.LeftOut {
				pipelines = append(pipelines, l.Pipeline)
			}
		}
		for _, p := range res.Tested {
			tested[p] = true
		}
		if res.Passed() {
			passed++
			fmt.Printf("ok    %s\n", shortPath(path))
		} else {
			failed++
			fmt.Printf("FAIL  %s\n", shortPath(path))
		}
		for _, p := range append(res.Problems, res.Notes()...) {
			fmt.Printf("  %s\n", strings.ReplaceAll(p, "\n", "\n  "))
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	sort.Strings(pipelines)
	for _, p := range pipelines {
		if !tested[p] {
			fmt.Printf("pipeline %s: tested by no fixture\n", p)
		}
	}
	if failed > 0 {
		return exitError{1}
	}
	return nil
}

// shortPath is path relative to the working directory when it is below it.
func shortPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// defaultFixtures is testdata/<name> next to the file: examples/shop.etl's
// are in examples/testdata/shop.
func defaultFixtures(file string) string {
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// runFixture plans file against the fixture's schemas and runs it over the
// fixture.
func runFixture(ctx context.Context, file, path string) (*fixture.Result, error) {
	f, err := fixture.Load(path)
	if err != nil {
		return nil, err
	}
	plan, err := planFixture(ctx, file, f)
	if err != nil {
		return nil, fmt.Errorf("%s (planned against %s):\n%w", file, path, err)
	}
	return fixture.Run(ctx, plan, f)
}

// planFixture plans file against a fixture's table schemas, leaving out
// the pipelines of tables the fixture lacks (Plan.LeftOut). The file is
// parsed again for each fixture: a plan is bound to one catalog.
func planFixture(ctx context.Context, file string, f *fixture.File) (*planner.Plan, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	lf, err := lang.ParseFile(file, src)
	if err != nil {
		return nil, etlfile.FormatErr(err, src)
	}
	// No server is reached: a ${VAR} that is not set stands for a
	// placeholder address that never resolves, a ${file:…} that cannot be
	// read for a placeholder secret.
	lookup := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		return "http://unset-" + strings.ToLower(k) + ".invalid/", true
	}
	readFile := func(path string) ([]byte, error) {
		if b, err := os.ReadFile(path); err == nil {
			return b, nil
		}
		return []byte("unset-secret"), nil
	}
	if errs := lang.ExpandWith(lf, lang.Expansion{Lookup: lookup, ReadFile: readFile, Secret: connectors.RegisterSecret}); len(errs) > 0 {
		return nil, etlfile.FormatErr(errs, src)
	}
	// Partial: a pipeline reading a table the fixture does not describe
	// is left out of the plan (the fixture does not test it), so that a
	// recording of one table tests the pipelines of a file over many.
	plan, err := planner.Build(ctx, lf, planner.Options{Catalog: f.Catalog(), Partial: true})
	if err != nil {
		return nil, etlfile.FormatErr(err, src)
	}
	return plan, nil
}
