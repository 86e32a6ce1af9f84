package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestExamplesFmtStable: every file in examples/ is in etlq fmt's
// canonical layout (fmt(example) == example), comments kept, so that a
// user who runs `etlq fmt -w` on a copy of an example sees no change but
// their own. No servers.
func TestExamplesFmtStable(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/*.etl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(etlqBin, "fmt", f).Output()
		if err != nil {
			t.Fatalf("etlq fmt %s: %v", f, err)
		}
		if string(out) != string(src) {
			t.Errorf("%s is not in etlq fmt's layout (run etlq fmt -w %s); fmt gives:\n%s", f, f, out)
		}
	}
}
