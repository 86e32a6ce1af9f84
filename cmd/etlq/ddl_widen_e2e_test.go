package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDDLWidenAndTemporalDefaults (issue #12 follow-up): a new column's
// DATE, DATETIME(6) and TIMESTAMP default (a literal in the session's or
// the server's time zone, CURRENT_TIMESTAMP) reaches the rows already in
// the target as MySQL gave it to its rows, and
// widenings that lose nothing (DECIMAL(12,3) → DECIMAL(16,4), FLOAT →
// DOUBLE, VARCHAR longer, SMALLINT UNSIGNED → INT) are followed, both
// while etlq runs and while it is stopped (the restart must not refuse a
// target narrower than today's source); the target equals the source row
// by row. A narrowing that rounds the source's rows stops the pipeline,
// naming the column, both types and the fix.
func TestDDLWidenAndTemporalDefaults(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDDLWiden)
}

func testDDLWiden(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".items (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, amount DECIMAL(12,3) NOT NULL DEFAULT 0, a2 DECIMAL(12,3) NULL, f FLOAT, vc VARCHAR(10), si SMALLINT UNSIGNED)")
	var seed strings.Builder
	for i := 1; i <= 100; i++ {
		if i > 1 {
			seed.WriteString(",")
		}
		a2 := "NULL"
		if i%2 == 1 {
			a2 = fmt.Sprintf("-%d.125", i*1000)
		}
		fmt.Fprintf(&seed, "(%d, %d, %d.375, %s, %d.5, 'v%d', %d)", i, i, i*100000, a2, i, i, 65000+i)
	}
	myExec(t, my, "INSERT INTO "+db+".items VALUES "+seed.String())

	dir := t.TempDir()
	file := filepath.Join(dir, "widen.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.items SNAPSHOT initial TRANSFORM * INTO clickhouse dw.%s.items WITH (out_of_range = 'null', batch_rows = 500, flush_interval = '100ms');
`, myDSN, chDSN, db, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	compare := func(when string) {
		t.Helper()
		n := compareTable(t, my, ch, db, "items", db, "items", db+".items_current")
		if t.Failed() {
			t.Fatalf("%s: the target differs from the source", when)
		}
		t.Logf("%s: %d rows equal", when, n)
	}
	marker := 1000000
	waitMarker := func() {
		t.Helper()
		marker++
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.items (id, k) VALUES (%d, 0)", db, marker))
		waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.items_current WHERE id = %d", db, marker), 1, 90*time.Second)
	}
	logPath := filepath.Join(dir, "etlq.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(etlqBin, "apply", "--state-dir", state, "--progress", "never", file)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("etlq log:\n%s", b)
		}
	})

	// 1. While etlq runs, with a writer.
	cmd, exited := start()
	waitMarker()
	w := startDDLWriter(t, myDSN, db+".items", 2000)
	myExec(t, my,
		"ALTER TABLE "+db+".items ADD COLUMN e2 DATETIME(6) NULL DEFAULT '2020-01-02 03:04:05.123456'",
		"ALTER TABLE "+db+".items ADD COLUMN d2 DATE NOT NULL DEFAULT '2021-03-04'",
		"ALTER TABLE "+db+".items MODIFY amount DECIMAL(16,4) NOT NULL DEFAULT 0",
		"UPDATE "+db+".items SET amount = 123456789012.3456 WHERE id = 3",
		"ALTER TABLE "+db+".items MODIFY a2 DECIMAL(13,3) NULL",
		"ALTER TABLE "+db+".items MODIFY f DOUBLE, MODIFY vc VARCHAR(40), MODIFY si INT",
		"UPDATE "+db+".items SET f = 1.000000000001, vc = REPEAT('x', 40), si = -70000, a2 = 9999999999.999 WHERE id = 5",
		// TIMESTAMP literals are in the session's time zone; CURRENT_TIMESTAMP
		// gives the rows there the ALTER's time.
		"SET time_zone = '+05:30'",
		"ALTER TABLE "+db+".items ADD COLUMN t2 TIMESTAMP(3) NULL DEFAULT '2020-01-02 03:04:05.250'",
		"ALTER TABLE "+db+".items ADD COLUMN t3 TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, ADD COLUMN dt4 DATETIME(6) NULL DEFAULT CURRENT_TIMESTAMP(6)",
		"SET time_zone = DEFAULT",
	)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	select {
	case err := <-exited:
		t.Fatalf("etlq exited while running: %v", err)
	default:
	}
	waitMarker()
	compare("after DDLs while running")
	if got := chCells(t, ch, "SELECT toString(count()) FROM "+db+".items_current WHERE e2 IS NULL OR t2 IS NULL OR dt4 IS NULL"); got[0][0] != "0" {
		t.Errorf("%s rows lack e2's, t2's or dt4's default", got[0][0])
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("etlq did not stop on interrupt")
	}

	// 2. While etlq is stopped: the restart's target is narrower than
	// today's source until the replay reaches the DDLs.
	w = startDDLWriter(t, myDSN, db+".items", 5000)
	myExec(t, my,
		"ALTER TABLE "+db+".items MODIFY amount DECIMAL(20,6) NOT NULL DEFAULT 0",
		"ALTER TABLE "+db+".items MODIFY a2 DECIMAL(17,4) NULL",
		"UPDATE "+db+".items SET amount = 12345678901234.123456, a2 = -1234567890123.4567 WHERE id = 4",
		"ALTER TABLE "+db+".items ADD COLUMN e3 DATETIME NOT NULL DEFAULT '1999-12-31 23:59:59', ADD COLUMN d3 DATE NULL DEFAULT '2030-06-07'",
		// In the server's own (SYSTEM) zone, summer time on A.
		"ALTER TABLE "+db+".items ADD COLUMN t5 TIMESTAMP(6) NULL DEFAULT '2021-07-08 09:10:11.654321'",
	)
	time.Sleep(300 * time.Millisecond)
	w.halt()
	// The target is narrower than today's source: check accepts it (the
	// replay widens it).
	if out, err := runEtlq(t, "check", file); err != nil {
		t.Fatalf("check after widenings while stopped: %v\n%s", err, out)
	}
	if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
		t.Fatalf("apply after DDLs while stopped: %v\n%s", err, out)
	}
	compare("after DDLs while stopped")
	types := strings.Join(flatten(chCells(t, ch, "SELECT name, type FROM system.columns WHERE database = '"+db+"' AND table = 'items' AND name IN ('amount', 'a2') ORDER BY name")), " ")
	if types != "a2 Nullable(Decimal(17, 4)) amount Decimal(20, 6)" {
		t.Errorf("widened types: %s", types)
	}

	// 3. A narrowing that rounds the rows already there (MySQL rounds
	// them) rebuilds the table: read again into a copy with the new type,
	// swapped in (issue #12; this stopped the pipeline before).
	cmd, exited = start()
	waitMarker()
	myExec(t, my,
		"ALTER TABLE "+db+".items MODIFY amount DECIMAL(18,4) NOT NULL DEFAULT 0",
		fmt.Sprintf("INSERT INTO %s.items (id, k) VALUES (%d, 0)", db, 9000),
	)
	waitMarker()
	select {
	case err := <-exited:
		t.Fatalf("etlq exited (%v) at a narrowing that rounds values", err)
	default:
	}
	compare("after a rounding narrowing")
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "the table is rebuilt: read again into a copy with the new type") {
		t.Errorf("log does not say the table is rebuilt:\n%s", b)
	}
	if typ := chCells(t, ch, "SELECT type FROM system.columns WHERE database = '"+db+"' AND table = 'items' AND name = 'amount'")[0][0]; typ != "Decimal(18, 4)" {
		t.Errorf("amount is %s in ClickHouse, want Decimal(18, 4)", typ)
	}
	cmd.Process.Signal(syscall.SIGINT)
	<-exited
	// Started again, it goes on from there.
	if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
		t.Errorf("restart after a rebuild: %v\n%s", err, out)
	}
	compare("restart after a rebuild")
}

func flatten(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}
