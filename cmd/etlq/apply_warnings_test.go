package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestApplyLogsCheckWarnings: what check warns of a file — ${NAME} inside
// an expression (never replaced there), a value the target cannot hold
// exactly (DATE outside ClickHouse's Date range), a column dropped while
// etlq was stopped — apply logs at its start as WARN lines with the same
// text, so that an operator who runs only apply sees them. apply used to
// log none of them. On MariaDB A and B.
func TestApplyLogsCheckWarnings(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, flag INT, v VARCHAR(10), d DATE)",
			"INSERT INTO "+db+".t VALUES (1, 1, 'a', '2020-01-02'), (2, 0, 'b', NULL)")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t
  WHERE flag = 1 AND v <> '${FIXOPS_NOT_REPLACED}'
  TRANSFORM id, flag, v, d
  INTO clickhouse dw.%[3]s.t_p;
`, myDSN, s.chDSN, db, testServerID()))

		// checkWarnings are the first lines of check's warnings.
		checkWarnings := func() []string {
			out := mustEtlq(t, "check", "--state-dir", state, file)
			var ws []string
			for _, line := range strings.Split(out, "\n") {
				if w, ok := strings.CutPrefix(line, "warning: "+file+":"); ok {
					ws = append(ws, file+":"+w)
				}
			}
			return ws
		}
		// applyWarnings are the messages of apply's WARN lines.
		applyWarnings := func() map[string]bool {
			out, _ := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", "--log-format", "json", file)
			got := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				var l struct{ Level, Msg string }
				if json.Unmarshal([]byte(line), &l) == nil && l.Level == "WARN" {
					got[l.Msg] = true
				}
			}
			if len(got) == 0 {
				t.Logf("apply:\n%s", out)
			}
			return got
		}
		same := func(when string, want []string, kinds ...string) {
			t.Helper()
			for _, k := range kinds {
				if !strings.Contains(strings.Join(want, "\n"), k) {
					t.Fatalf("%s: check does not warn of %q:\n%s", when, k, strings.Join(want, "\n"))
				}
			}
			got := applyWarnings()
			for _, w := range want {
				if !got[w] {
					keys := make([]string, 0, len(got))
					for k := range got {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					t.Errorf("%s: apply does not log check's warning\n  %s\namong its WARN lines:\n  %s", when, w, strings.Join(keys, "\n  "))
				}
			}
		}
		same("first run", checkWarnings(), "${FIXOPS_NOT_REPLACED} is not replaced", `column "d": DATE values outside`)

		myExec(t, my, "ALTER TABLE "+db+".t DROP COLUMN flag", "INSERT INTO "+db+".t VALUES (4, 'd', NULL)")
		same("after a drop while stopped", checkWarnings(), `column "flag" of `+db+".t no longer exists at the source")
	})
}
