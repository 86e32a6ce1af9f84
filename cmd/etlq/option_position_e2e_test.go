package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceOptionErrorAtTheOption: a source's WITH option the connector
// refuses in the light of another (ssl_ca under ssl_mode = 'preferred',
// ssl_cert without ssl_key) is reported at that option in the file, with
// the source named once; the same refusal of a --source in the REPL is
// "etlq: …" as every command's. Failed before: the caret was at the DSN
// ("source s (…): source \"s\": …"), and the REPL printed "error: …" at
// each statement.
func TestSourceOptionErrorAtTheOption(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		dir := t.TempDir()
		for _, c := range []struct{ name, opt, col, msg string }{
			{"ssl_ca", "ssl_ca = '/etc/hostname'", "ssl_ca", "ssl_ca is not used under ssl_mode = 'preferred'"},
			{"ssl_cert", "ssl_cert = '/etc/hostname'", "ssl_cert", `options "ssl_cert" and "ssl_key" go together`},
		} {
			file := filepath.Join(dir, c.name+".etl")
			second := fmt.Sprintf("  ssl_mode = 'preferred', %s);", c.opt)
			writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d,\n%s\n", myDSN, testServerID(), second))
			out, err := runEtlq(t, "check", file)
			at := fmt.Sprintf("%s:2:%d: ", file, strings.Index(second, c.col)+1)
			if err == nil || !strings.Contains(out, at) || !strings.Contains(out, c.msg) {
				t.Errorf("check of %s: %v, want the error at %q:\n%s", c.opt, err, at, out)
			}
			if strings.Count(out, `source "s"`)+strings.Count(out, "source s:")+strings.Count(out, "source s (") != 1 {
				t.Errorf("check of %s names the source other than once:\n%s", c.opt, out)
			}
		}

		cmd := exec.Command(etlqBin, "repl", "--source", myDSN+"?ssl_ca=/etc/hostname")
		cmd.Stdin = strings.NewReader("SHOW TABLES;\n")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.HasPrefix(string(out), "etlq: ") || !strings.Contains(string(out), "ssl_ca is not used") {
			t.Errorf("repl --source with ssl_ca under preferred: %v, want \"etlq: …\":\n%s", err, out)
		}
	})
}
