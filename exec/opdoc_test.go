package exec

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestOpValuesDocumented: every value of the _op column etlq emits (the
// Op* constants of batch.go) is named, quoted, in the _op row of the
// metadata columns of docs/language.md, which says when it comes; and
// that row names no value etlq does not emit. ('truncate' was missing
// from LANGUAGE.md's list.)
func TestOpValuesDocumented(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "batch.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for i, n := range v.Names {
				if !strings.HasPrefix(n.Name, "Op") || i >= len(v.Values) {
					continue
				}
				if lit, ok := v.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					ops = append(ops, s)
				}
			}
		}
	}
	if len(ops) < 5 {
		t.Fatalf("found only the _op values %q in batch.go", ops)
	}
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `_op` |") {
			row = line
		}
	}
	if row == "" {
		t.Fatal("docs/language.md has no row for `_op` in its table of metadata columns")
	}
	for _, op := range ops {
		if !strings.Contains(row, "`'"+op+"'`") {
			t.Errorf("docs/language.md does not say when _op is '%s'", op)
		}
	}
	// The quoted values the row names are all emitted.
	known := map[string]bool{}
	for _, op := range ops {
		known[op] = true
	}
	for _, part := range strings.Split(row, "`'")[1:] {
		if v, _, ok := strings.Cut(part, "'`"); ok && !known[v] && !strings.ContainsAny(v, " =") {
			t.Errorf("docs/language.md names _op '%s', which etlq does not emit", v)
		}
	}
}
