package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestUsageErrorExitStatus: a command line etlq cannot take exits with
// status 80 (README.md), apart from the statuses commands document
// (verify's 1, 2, 3), naming the problem with the command's usage.
func TestUsageErrorExitStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--bogus", "x.etl"}, "unknown flag --bogus"},
		{[]string{"check", "/nonexistent/p.etl"}, "no such file or directory"},
		{[]string{"test"}, `expected "<file>"`},
		{[]string{"frobnicate"}, "unexpected argument frobnicate"},
		{[]string{"repl", "/nonexistent/p.etl"}, "no such file or directory"},
	} {
		out, err := runEtlq(t, c.args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 80 || !strings.Contains(out, c.want) || !strings.Contains(out, "Usage: etlq") {
			t.Errorf("etlq %v: %v, want exit status 80 with the usage and %q:\n%s", c.args, err, c.want, out)
		}
	}
}

// TestHelpShowsDefaults: `etlq capture --help` shows the default of each
// flag that has one — --max-bytes showed "SIZE" and not its 10GiB, which
// README and docs/scale-out.md give as the default.
func TestHelpShowsDefaults(t *testing.T) {
	t.Parallel()
	out, _ := runEtlq(t, "capture", "--help")
	for _, want := range []string{"--max-bytes=10GiB", "--max-age=168h", "--partitions=8"} {
		if !strings.Contains(out, want) {
			t.Errorf("capture --help: want %q in\n%s", want, out)
		}
	}
}
