package planner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// FuzzBuild runs the checker on whatever parses: planning must never panic
// or hang, whatever the file says (go test -fuzz=FuzzBuild ./planner).
func FuzzBuild(f *testing.F) {
	for _, pattern := range []string{"testdata/*.etl", "../examples/*.etl", "../lang/testdata/*.etl"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			if src, err := os.ReadFile(path); err == nil {
				f.Add(string(src))
			}
		}
	}
	f.Add(header + "CREATE PIPELINE p FROM binlog shopdb.orders WHERE changed(status) TRANSFORM id, before.amount AS a INTO clickhouse a.b;")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := lang.ParseFile("fuzz.etl", []byte(src))
		if err != nil {
			return
		}
		lang.Expand(file, func(name string) (string, bool) { return "x", true })
		planner.Build(context.Background(), file, planner.Options{Catalog: shop})
	})
}
