package stdlib

import (
	"flag"
	"os"
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
