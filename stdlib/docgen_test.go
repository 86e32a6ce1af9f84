package stdlib

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/functions.md")

// TestFunctionsDoc fails when docs/functions.md is not what the registry
// generates; go generate ./stdlib rewrites it.
func TestFunctionsDoc(t *testing.T) {
	const path = "../docs/functions.md"
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go generate ./stdlib)", err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale (run: go generate ./stdlib)", path)
	}
}

// TestSignaturesNameTheFunction: each function's signature, as
// docs/functions.md shows it, starts with the function's own name. An
// alias (ceiling, substring, power, …) used to show the signature of the
// function it aliases (`ceil(x)` in the row of ceiling).
func TestSignaturesNameTheFunction(t *testing.T) {
	for _, f := range Funcs() {
		if !strings.HasPrefix(f.Sig, f.Name+"(") {
			t.Errorf("function %s: signature %q", f.Name, f.Sig)
		}
	}
}
