package planner_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestExplainGolden plans every testdata/*.etl against the fixed shop
// catalog and compares `etlq plan`'s text (without DDL) with its .plan file.
func TestExplainGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.etl")
	if len(files) == 0 {
		t.Fatal("no testdata/*.etl")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := lang.ParseFile(path, src)
			if err != nil {
				t.Fatal(err)
			}
			p, err := planner.Build(context.Background(), f, planner.Options{Catalog: shop})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			planner.Explain(&buf, p, nil)
			golden := strings.TrimSuffix(path, ".etl") + ".plan"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./planner -update)", err)
			}
			if buf.String() != string(want) {
				t.Errorf("plan differs from %s:\n--- got\n%s\n--- want\n%s", golden, buf.String(), want)
			}
			if strings.Contains(buf.String(), "secret") {
				t.Errorf("the plan shows a password:\n%s", buf.String())
			}
		})
	}
}
