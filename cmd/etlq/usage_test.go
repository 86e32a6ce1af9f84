package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
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
		// A flag value etlq cannot take (trialops2: it exited 1, after
		// planning the file against the servers).
		{[]string{"apply", "--memory-limit", "lots", "usage_test.go"}, `--memory-limit "lots": want a size such as 160MiB or 2GiB`},
	} {
		out, err := runEtlq(t, c.args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 80 || !strings.Contains(out, c.want) || !strings.Contains(out, "Usage: etlq") {
			t.Errorf("etlq %v: %v, want exit status 80 with the usage and %q:\n%s", c.args, err, c.want, out)
		}
	}
}

// TestVerifyUnknownPipelineIsUsageError (new-user trial "trialops2"):
// `etlq verify FILE rnet`, a pipeline the file does not have, is a command
// line verify cannot take: usage, the problem with the closest name, exit
// 80. (It exited 1, verify's status for a difference, so a script could
// not tell the typo from a difference, which README.md promises.)
func TestVerifyUnknownPipelineIsUsageError(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY)")
	dir := t.TempDir()
	file := filepath.Join(dir, "v.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE rent FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert;
`, myDSN, testServerID(), s.chDSN, s.db, s.db))
	out, err := runEtlq(t, "verify", "--state-dir", filepath.Join(dir, "state"), file, "rnet")
	var ee *exec.ExitError
	want := `no pipeline named "rnet" in the file (did you mean "rent"?)`
	if !errors.As(err, &ee) || ee.ExitCode() != 80 || !strings.Contains(out, want) || !strings.Contains(out, "Usage: etlq verify") {
		t.Errorf("etlq verify FILE rnet: %v, want exit status 80 with the usage and %q:\n%s", err, want, out)
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
