package lang

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencies keeps lang at the bottom of the layers: it imports the
// standard library and participle, never another etlq package.
func TestDependencies(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.HasPrefix(p, "github.com/etlq/etlq") {
				t.Errorf("%s imports %s: lang must not import other etlq layers", path, p)
			}
			if strings.Contains(p, ".") && !strings.HasPrefix(p, "github.com/alecthomas/participle/v2") {
				t.Errorf("%s imports %s: lang only depends on participle", path, p)
			}
		}
	}
}
