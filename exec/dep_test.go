package exec_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// checkImports fails if a non-test file of dir imports an etlq package
// outside allowed.
func checkImports(t *testing.T, dir string, allowed ...string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
	next:
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !strings.HasPrefix(p, "github.com/etlq/etlq") {
				continue
			}
			for _, a := range allowed {
				if p == a {
					continue next
				}
			}
			t.Errorf("%s imports %s: exec may import only %v", f, p, allowed)
		}
	}
}

// TestLayering: exec imports stdlib only; stdlib imports no etlq layer.
func TestLayering(t *testing.T) {
	checkImports(t, ".", "github.com/etlq/etlq/stdlib")
	checkImports(t, "../stdlib")
}
