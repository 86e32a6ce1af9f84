package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine/fixture"
	"github.com/etlq/etlq/planner"
)

// recordCmd is `etlq record`: real binlog changes of a table, with its
// schema, written as a fixture for `etlq test` (docs/testing.md).
type recordCmd struct {
	Source string `required:"" help:"The MySQL/MariaDB DSN (mysql://user:pass@host:port)."`
	Table  string `required:"" help:"The table, db.table."`
	Limit  int    `default:"100" help:"Stop after this many row changes (0: until interrupted)."`
	Out    string `short:"o" help:"Write the fixture to this file (default: standard output)." type:"path"`
	File   string `help:"Fill the fixture's expected rows with what this .etl file's pipelines write from the recorded changes now (check them before you keep them)." type:"existingfile"`
}

func (c *recordCmd) Run(ctx context.Context) error {
	db, name, ok := strings.Cut(c.Table, ".")
	if !ok || db == "" || name == "" {
		return fmt.Errorf("--table %q is not written db.table", c.Table)
	}
	ref := connectors.TableRef{DB: db, Table: name}
	// The output is made ready before anything is recorded: a directory
	// that does not exist yet is created, and a place that cannot be
	// written is said now, not after the changes were waited for, and
	// lost. The fixture is written to a temporary file next to it and
	// renamed at the end, so a half-written one never stands there.
	var tmp *os.File
	if c.Out != "" {
		dir := filepath.Dir(c.Out)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("-o %s: %w", c.Out, err)
		}
		var err error
		if tmp, err = os.CreateTemp(dir, "."+filepath.Base(c.Out)+".*.tmp"); err != nil {
			return fmt.Errorf("-o %s: %w", c.Out, err)
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name()) // gone already once renamed
		}()
	}
	src, err := connectors.NewSource("mysql", "record", c.Source, nil)
	if err != nil {
		return err
	}
	defer src.Close()
	ts, err := src.Describe(ctx, ref)
	if err != nil {
		return err
	}
	t, err := fixture.TableOf(ts)
	if err != nil {
		return err
	}
	var chVersion string
	if c.File != "" {
		// The expected rows are filled by planning the file against the
		// recorded table alone: the pipelines of other tables are left
		// out (the fixture does not test them), and a file it cannot be
		// planned against (a column the table lacks, no pipeline of the
		// table) is said now, not after the changes were waited for, and
		// lost.
		plan, err := planFixture(ctx, c.File, &fixture.File{Tables: []*fixture.Table{t}})
		if err != nil {
			return fmt.Errorf("--file is planned against %s alone: %w", ref, err)
		}
		if len(plan.Pipelines) == 0 {
			var reads []string
			for _, l := range plan.LeftOut {
				reads = append(reads, fmt.Sprintf("pipeline %s reads %s", l.Pipeline, strings.Join(l.Tables, ", ")))
			}
			why := ""
			if len(reads) > 0 {
				why = " (" + strings.Join(reads, "; ") + ")"
			}
			return fmt.Errorf("--file %s: no pipeline of it reads %s alone, so the recording would test none%s", c.File, ref, why)
		}
		for _, l := range plan.LeftOut {
			fmt.Fprintf(os.Stderr, "pipeline %s: left out of the recording's expect (it reads %s, not recorded)\n", l.Pipeline, strings.Join(l.Tables, ", "))
		}
		chVersion = sinkVersion(ctx, plan)
	}
	host, _ := os.Hostname()
	stream, err := src.Open(ctx, connectors.StreamRequest{
		Tables:   []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}},
		Before:   true,
		Instance: fmt.Sprintf("%s:record:%d", host, os.Getpid()),
	})
	if err != nil {
		return err
	}
	defer stream.Close()
	fmt.Fprintf(os.Stderr, "recording changes of %s (Ctrl-C stops)\n", ref)

	f := &fixture.File{Name: "changes of " + ref.String() + " recorded by etlq record", Tables: []*fixture.Table{t}, ClickHouseVersion: chVersion}
	var stopErr error
	for c.Limit <= 0 || len(f.Changes) < c.Limit {
		b, err := stream.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				stopErr = err
			}
			break
		}
		if b.Record == nil || b.DB != ref.DB || b.Table != ref.Table {
			b.Release()
			continue
		}
		chs, err := fixture.ChangesOf(t, b)
		b.Release()
		if err != nil {
			stopErr = err
			break
		}
		f.Changes = append(f.Changes, chs...)
	}
	if c.Limit > 0 && len(f.Changes) > c.Limit {
		f.Changes = f.Changes[:c.Limit]
	}
	if c.File != "" && stopErr == nil {
		// Ctrl-C ended the recording, not this.
		ctx := context.WithoutCancel(ctx)
		plan, err := planFixture(ctx, c.File, f)
		if err != nil {
			return err
		}
		if err := fixture.Fill(ctx, plan, f); err != nil {
			return err
		}
	}
	w := io.Writer(os.Stdout)
	if tmp != nil {
		w = tmp
	}
	if err := f.Write(w); err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Chmod(0o644); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), c.Out); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "recorded %s\n", etlfile.Plural(len(f.Changes), "change"))
	return stopErr
}

// sinkVersion is the version of the ClickHouse server the plan's
// ClickHouse sinks run, which the fixture's expected rows are filled for
// (its types and ranges: 18.16's Date ends in 2105), as apply would write
// them there; "" (the newest) when the file has no ClickHouse sink, and,
// with a warning, when a sink cannot be reached or two run different
// versions: a fixture is checked for one version.
func sinkVersion(ctx context.Context, plan *planner.Plan) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	version, from := "", ""
	for _, d := range plan.Sinks {
		if d.Implicit || d.Kind != "clickhouse" {
			continue
		}
		v, err := func() (string, error) {
			s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
			if err != nil {
				return "", err
			}
			defer s.Close()
			vr, ok := s.(interface {
				Version(context.Context) (string, error)
			})
			if !ok {
				return "", errors.New("it does not say its version")
			}
			return vr.Version(ctx)
		}()
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "warning: sink %s: its server version is not known (%v): the expected rows are those of the newest ClickHouse; set clickhouse_version in the fixture if the server is another\n", d.Name, err)
			return ""
		case version != "" && v != version:
			fmt.Fprintf(os.Stderr, "warning: sinks %s and %s run ClickHouse %s and %s: the expected rows are those of the newest ClickHouse (a fixture is checked for one version)\n", from, d.Name, version, v)
			return ""
		}
		version, from = v, d.Name
	}
	return version
}
