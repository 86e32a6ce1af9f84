package lang

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and grammar.ebnf")

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lang -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test ./lang -update to accept):\n%s", path, diffLines(string(want), got))
	}
}

// diffLines shows the first differing lines.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return ""
}

func mustParse(t *testing.T, name string, src []byte) *File {
	t.Helper()
	f, err := ParseFile(name, src)
	if err != nil {
		if es, ok := err.(Errors); ok {
			t.Fatalf("parse %s:\n%s", name, es.Format(src))
		}
		t.Fatalf("parse %s: %v", name, err)
	}
	return f
}

// TestGolden parses every testdata/*.etl file and compares the AST dump
// (with positions) and the fmt output with the golden files next to it; it
// also checks that fmt is idempotent and that its output parses to the same
// AST, and that comments survive.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.etl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(path, ".etl")
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := mustParse(t, filepath.Base(path), src)
			golden(t, name+".ast", Dump(f, DumpOptions{Positions: true, Spelling: true}))
			out := Format(f)
			golden(t, name+".fmt", string(out))
			checkFormatRoundTrip(t, f, out)
		})
	}
}

// checkFormatRoundTrip checks that out (= Format(f)) parses to the same AST
// as f, that formatting it again changes nothing, and that every comment
// of f is still there.
func checkFormatRoundTrip(t *testing.T, f *File, out []byte) {
	t.Helper()
	f2, err := ParseFile("formatted.etl", out)
	if err != nil {
		t.Fatalf("fmt output does not parse: %v\n%s", err, out)
	}
	if a, b := Dump(f, DumpOptions{}), Dump(f2, DumpOptions{}); a != b {
		t.Fatalf("fmt output parses to a different AST:\n%s", diffLines(a, b))
	}
	if out2 := Format(f2); string(out2) != string(out) {
		t.Fatalf("fmt is not idempotent:\n%s", diffLines(string(out), string(out2)))
	}
	if len(f2.Comments) != len(f.Comments) {
		t.Fatalf("fmt kept %d of %d comments:\n%s", len(f2.Comments), len(f.Comments), out)
	}
	for i, c := range f.Comments {
		if f2.Comments[i].Text != c.Text {
			t.Fatalf("comment %d changed: %q → %q", i, c.Text, f2.Comments[i].Text)
		}
	}
}

// TestGrammarEBNFUpToDate fails when grammar.ebnf at the repository root is
// not what the parser generates; -update rewrites it.
func TestGrammarEBNFUpToDate(t *testing.T) {
	golden(t, "../grammar.ebnf", Grammar())
}

// TestExamplesParse parses the project's examples/*.etl, when present.
func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.etl")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := mustParse(t, path, src)
			checkFormatRoundTrip(t, f, Format(f))
		})
	}
}
