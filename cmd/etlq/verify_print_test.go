package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/etlq/etlq/exec/engine"
)

// TestPrintVerifyShowNone: with --show 0 (no keys listed, the counts
// alone, docs/verify.md) the listing has no "… and N more" line under
// the counts that say N already, and a repair's line does not end in
// "before the repair:" with nothing after it (trust-tools trial: "big_orders:
// repaired 51 keys (…); before the repair:" then "  … and 51 more").
func TestPrintVerifyShowNone(t *testing.T) {
	results := []*engine.VerifyResult{
		{Pipeline: "p", Missing: 47, Extra: 1},
		{Pipeline: "q", Repaired: 51, Repairs: &engine.VerifyRepairs{Missing: 51}},
	}
	var b bytes.Buffer
	printVerify(&b, results)
	out := b.String()
	for _, bad := range []string{"more", "before the repair"} {
		if strings.Contains(out, bad) {
			t.Errorf("--show 0: want no %q, got:\n%s", bad, out)
		}
	}
	for _, want := range []string{"p: differing keys: 48 (missing 47, extra 1, changed 0)\n", "q: repaired 51 keys (missing 51, extra 0, changed 0)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	// With keys listed, the rest is counted as before.
	results[0].Diffs = []engine.VerifyDiff{{Key: "1", Source: "1\x1fa"}}
	results[1].Repairs.Diffs = []engine.VerifyDiff{{Key: "2", Source: "2\x1fb"}}
	b.Reset()
	printVerify(&b, results)
	out = b.String()
	for _, want := range []string{"  … and 47 more\n", "q: repaired 51 keys (missing 51, extra 0, changed 0); before the repair:\n  key 2\n", "  … and 50 more\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}
