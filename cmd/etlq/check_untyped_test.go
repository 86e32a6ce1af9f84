package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesUntypedOutputs: a TRANSFORM output that is NULL for
// every row (NULL AS n, a CASE whose every branch is NULL) has no type,
// and an INTERVAL is a literal of date arithmetic only: no target can
// hold either. check passed them, and apply stopped at the first row
// with "stdout: unsupported column type null" (or month_day_nano_interval);
// for a ClickHouse target check said "arrow type null has no ClickHouse
// mapping". They are errors of the file at the item (new-user trial),
// and CAST(NULL AS type) is the way to write a column of NULLs.
func TestCheckRefusesUntypedOutputs(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, d DATE)",
			"INSERT INTO "+s.db+".t VALUES (1, '2024-01-02')")
		dir := t.TempDir()
		file := filepath.Join(dir, "p.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE a FROM binlog s.%[3]s.t SNAPSHOT only
  TRANSFORM id, NULL AS n INTO stdout FORMAT jsonl;
CREATE PIPELINE b FROM binlog s.%[3]s.t SNAPSHOT only
  TRANSFORM id, CASE WHEN id > 1 THEN NULL END AS c INTO file '%[4]s';
CREATE PIPELINE c FROM binlog s.%[3]s.t SNAPSHOT only
  TRANSFORM id, INTERVAL '5' MINUTE AS iv INTO stdout;
CREATE PIPELINE d FROM binlog s.%[3]s.t SNAPSHOT only
  TRANSFORM id, NULL AS n INTO clickhouse dw.%[3]s.d;
`, myDSN, s.chDSN, s.db, filepath.Join(dir, "b.jsonl")))
		out, err := runEtlq(t, "check", file)
		if err == nil {
			t.Fatalf("check passed outputs of no type:\n%s", out)
		}
		for _, want := range []string{
			file + `:4:17: output column "n" is NULL for every row and has no type: write CAST(NULL AS <type>)`,
			"  TRANSFORM id, NULL AS n INTO stdout FORMAT jsonl;\n                ^~~~",
			file + `:6:17: output column "c" is NULL for every row and has no type`,
			file + `:8:17: output column "iv" is an INTERVAL, which no target holds`,
			file + `:10:17: output column "n" is NULL for every row and has no type`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in\n%s", want, out)
			}
		}
		if strings.Contains(out, "no ClickHouse mapping") {
			t.Errorf("the ClickHouse target's internal error is shown:\n%s", out)
		}

		// A typed NULL is the way: check passes, apply writes null.
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE a FROM binlog s.%[2]s.t SNAPSHOT only
  TRANSFORM id, CAST(NULL AS INT64) AS n, d + INTERVAL '5' DAY AS later INTO stdout FORMAT jsonl;
`, myDSN, s.db))
		got, err := runEtlqStdout(t, "apply", "--state-dir", filepath.Join(dir, "state"), "--progress", "never", file)
		if err != nil {
			t.Fatalf("apply: %v\n%s", err, got)
		}
		if !strings.Contains(got, `{"id":1,"n":null,"later":"2024-01-07"}`) {
			t.Errorf("apply wrote\n%s", got)
		}
	})
}
