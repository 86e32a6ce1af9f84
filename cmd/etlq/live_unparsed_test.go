package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDDLUnparsedEndToEnd (issue #12 matrix, "a DDL the parser rejects"):
// a column added next to MariaDB's IGNORED index, which etlq's DDL parser
// rejects, to a streamed table while etlq runs, while it is stopped and while it runs
// behind (ClickHouse unreachable through a proxy), a writer on a sibling
// table meanwhile. With full row metadata the rows after it are decoded
// with the binlog's table map (the added column included) and every
// target ends equal to its source; with the server's default metadata
// the run stops with an error that names the table, the DDL and the fix,
// never a row decoded with a guessed schema. The table map has no
// DEFAULT: the rows already in the target get none for the added column
// d, and a WARN says so.
func TestDDLUnparsedEndToEnd(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"running", "stopped", "behind"} {
		t.Run(when, func(t *testing.T) {
			onBothServers(t, func(t *testing.T, myDSN string) { testDDLUnparsed(t, myDSN, when) })
		})
	}
}

func testDDLUnparsed(t *testing.T, myDSN, when string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	full := strings.Contains(t.Name(), "metadata_full")
	myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT)",
		"INSERT INTO "+db+".t SELECT seq, seq * 10 FROM "+db+".seq_1_to_200", "CREATE TABLE "+db+".s "+liveTableDef)
	seed(t, my, db+".s", 300)
	px := newCHProxy(t, chDSN)
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse 'clickhouse://%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (flush_interval = '100ms');
CREATE PIPELINE p_s FROM binlog s.%[3]s.s INTO clickhouse dw.%[3]s.s WITH (flush_interval = '100ms');
`, myDSN, px.addr(), db, testServerID()))
	tMy := fmt.Sprintf("SELECT id, a FROM %s.t ORDER BY id", db)
	tCH := fmt.Sprintf("SELECT toString(id), toString(a) FROM %s.t_current ORDER BY id", db)
	sMy := fmt.Sprintf("SELECT id, status, CAST(amount * 100 AS SIGNED) FROM %s.s ORDER BY id", db)
	sCH := fmt.Sprintf("SELECT toString(id), status, toString(toInt64(amount * 100)) FROM %s.s_current ORDER BY id", db)
	a := startApply(t, state, file)
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	a.waitSame(t, my, ch, sMy, sCH, 60*time.Second)
	a = ddlWhen(t, when, a, px, state, file, myDSN, db+".s", 300, "IGNORED", func() {
		myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN x INT AFTER id, ADD COLUMN d INT NOT NULL DEFAULT 5, ADD INDEX ix (a) IGNORED",
			"INSERT INTO "+db+".t (id, x, a) VALUES (1000, 7, 10000), (1001, 8, 10010)",
			"UPDATE "+db+".t SET a = a + 1, x = id WHERE id % 7 = 0", "DELETE FROM "+db+".t WHERE id % 11 = 0")
	})
	if !full {
		// Refused: the run stops, naming the table, the DDL and the fix.
		select {
		case err := <-a.done:
			out := a.out.String()
			if err == nil {
				t.Errorf("apply exited 0 after a DDL it cannot follow:\n%s", out)
			}
			for _, want := range []string{db + ".t", "IGNORED", "not known", "re-snapshot"} {
				if !strings.Contains(out, want) {
					t.Errorf("the error does not say %q:\n%s", want, out)
				}
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("apply goes on after a DDL it cannot follow:\n%s", a.out.String())
		}
		return
	}
	a.waitSame(t, my, ch, tMy, tCH, 90*time.Second)
	a.waitSame(t, my, ch, sMy, sCH, 60*time.Second)
	a.waitSame(t, my, ch, fmt.Sprintf("SELECT id, x FROM %s.t WHERE x IS NOT NULL ORDER BY id", db),
		fmt.Sprintf("SELECT toString(id), toString(x) FROM %s.t_current WHERE x IS NOT NULL ORDER BY id", db), 60*time.Second)
	a.running(t)
	out := a.stop(t)
	// The table map has no DEFAULT: the target's rows already there hold
	// NULL in d where the source's hold 5, and the run says so (it said
	// nothing before, only verify showed the difference).
	found := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "DEFAULT of a new column is not known") && strings.Contains(line, "column=d ") && strings.Contains(line, "re-snapshot the table") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning that the rows already there lack column d's DEFAULT:\n%s", out)
	}
}
