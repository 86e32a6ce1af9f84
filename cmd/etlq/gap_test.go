package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestBinlogGapResnapshot: a checkpoint whose binary log was purged, with
// changes (an update, a delete, an insert) lost in it, fails apply with
// the clear error; with on_binlog_gap = 'resnapshot' apply takes a new
// snapshot of the SNAPSHOT initial table only — the upsert target then
// equals the source exactly, the deleted row gone — while the SNAPSHOT
// only table, which lost nothing, is not read again.
//
// It purges binary logs — after FLUSH BINARY LOGS, the files up to the one
// holding the test's checkpoint — of a private MariaDB B (binlog metadata
// at the server's default): purged on the shared server, they were taken
// from other tests (and other packages' tests) stopped with a checkpoint
// in them, which then failed on a binlog gap of their own.
func TestBinlogGapResnapshot(t *testing.T) {
	t.Parallel()
	myDSN := startPrivateServices(t, "mariadb-b").MySQLMinimalDSN
	s := newScratch(t, myDSN)
	myExec(t, s.my, "FLUSH BINARY LOGS", "CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"CREATE TABLE "+s.db+".o (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"INSERT INTO "+s.db+".t VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e')",
		"INSERT INTO "+s.db+".o VALUES (1,'a'),(2,'b'),(3,'c')")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	write := func(name, with string) string {
		file := filepath.Join(dir, name)
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s'%s;
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE pt FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert KEY (id);
CREATE PIPELINE po FROM binlog s.%s.o SNAPSHOT only INTO clickhouse dw.%s.o MODE upsert KEY (id);
`, myDSN, with, s.chDSN, s.db, s.db, s.db, s.db)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	resnap := write("resnap.etl", " WITH (on_binlog_gap = 'resnapshot')")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", resnap)

	// Changes after the checkpoint, then their binary log purged.
	myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'x' WHERE id = 1", "DELETE FROM "+s.db+".t WHERE id = 2",
		"INSERT INTO "+s.db+".t VALUES (6, 'f')", "FLUSH BINARY LOGS")
	purgeCheckpointBinlog(t, s, state)
	myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'y' WHERE id = 3")
	out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", write("fail.etl", ""))
	if err == nil || !strings.Contains(out, "was purged on the server: a new snapshot is needed (start again with an empty state directory, or set on_binlog_gap = 'resnapshot'; only the latter marks changelog and file targets with a truncate first") {
		t.Fatalf("apply over a purged checkpoint: want the purge error, got %v:\n%s", err, out)
	}
	out = mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", resnap)
	if !strings.Contains(out, "taking a new snapshot of the SNAPSHOT initial tables") {
		t.Errorf("apply did not say it re-snapshots:\n%s", out)
	}
	// Its reason says what was lost, not the error's advice to set the
	// option the file has (the WARN quoted it whole: "… or set
	// on_binlog_gap = 'resnapshot'; …", found by the operator trial).
	if !regexp.MustCompile(`reason="binlog position \S+ was purged on the server" resume_at=`).MatchString(out) {
		t.Errorf("the re-snapshot's reason is not the purged position alone:\n%s", out)
	}
	got := chRows(t, s.ch, "SELECT toString(id), v FROM "+s.db+".t_current ORDER BY id")
	want := myRows(t, s.my, "SELECT id, v FROM "+s.db+".t ORDER BY id")
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("after the re-snapshot ClickHouse has %v, MariaDB %v", got, want)
	}
	// The SNAPSHOT only table was written once: 3 rows, none again.
	if n := chRows(t, s.ch, "SELECT toString(count()) FROM "+s.db+".o"); strings.Join(n, "") != "3" {
		t.Errorf("the SNAPSHOT only table has %v rows written, want 3 (not read again)", n)
	}
}

// TestBinlogGapSharedNeverTable: a table that one pipeline reads with
// SNAPSHOT initial and another with SNAPSHOT never. After a binlog gap
// with on_binlog_gap = 'resnapshot' the initial pipeline's target equals
// the source again; the never pipeline, which takes no snapshot, keeps
// the rows it had (the gap's truncate emptied its upsert target, and no
// snapshot came to fill it) and its lost changes are logged as an error,
// as for a table read only with SNAPSHOT never (nothing was said: a
// new-user trial, a file pipeline next to an upsert one). On a private
// MariaDB B, as TestBinlogGapResnapshot.
func TestBinlogGapSharedNeverTable(t *testing.T) {
	t.Parallel()
	myDSN := startPrivateServices(t, "mariadb-b").MySQLMinimalDSN
	s := newScratch(t, myDSN)
	myExec(t, s.my, "FLUSH BINARY LOGS", "CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
		"INSERT INTO "+s.db+".t VALUES (1,'a'),(2,'b'),(3,'c')")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	file := filepath.Join(dir, "gap.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (on_binlog_gap = 'resnapshot');
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE pi FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert KEY (id);
CREATE PIPELINE pn FROM binlog s.%s.t SNAPSHOT never INTO clickhouse dw.%s.n MODE upsert KEY (id);
`, myDSN, s.chDSN, s.db, s.db, s.db, s.db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	// Changes the never pipeline sees, then changes lost in a gap.
	myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (4,'d')", "UPDATE "+s.db+".t SET v = 'x' WHERE id = 1")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if got := chRows(t, s.ch, "SELECT toString(id), v FROM "+s.db+".n_current ORDER BY id"); strings.Join(got, ";") != "1|x;4|d" {
		t.Fatalf("before the gap the never pipeline's target has %v", got)
	}
	myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'y' WHERE id = 4", "INSERT INTO "+s.db+".t VALUES (5,'e')", "FLUSH BINARY LOGS")
	purgeCheckpointBinlog(t, s, state)
	out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if !strings.Contains(out, "changes in the binlog gap are lost for SNAPSHOT never tables") || !strings.Contains(out, s.db+".t") {
		t.Errorf("apply did not say the never pipeline lost the gap's changes:\n%s", out)
	}
	got := chRows(t, s.ch, "SELECT toString(id), v FROM "+s.db+".t_current ORDER BY id")
	want := myRows(t, s.my, "SELECT id, v FROM "+s.db+".t ORDER BY id")
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("after the re-snapshot ClickHouse has %v, MariaDB %v", got, want)
	}
	// The never pipeline: its rows before the gap (4 kept 'd': its
	// update was lost in the gap), then the changes after it.
	myExec(t, s.my, "UPDATE "+s.db+".t SET v = 'z' WHERE id = 2")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	if got := chRows(t, s.ch, "SELECT toString(id), v FROM "+s.db+".n_current ORDER BY id"); strings.Join(got, ";") != "1|x;2|z;4|d" {
		t.Errorf("after the gap the never pipeline's target has %v, want its rows before the gap and the change after it (1 x, 2 z, 4 d)", got)
	}
}

// purgeCheckpointBinlog purges the binary logs of s up to the current
// one (the caller has just flushed them), so that the checkpoint of the
// source s in state is in a purged file. MariaDB keeps a file until its
// binlog checkpoint is written (and while a replica reads it): purged
// again until it is gone.
func purgeCheckpointBinlog(t *testing.T, s *scratch, state string) {
	t.Helper()
	cur := testenv.Query(t, s.my, "SHOW MASTER STATUS")[0][0]
	var cp struct {
		Mark struct{ File string } `json:"mark"`
	}
	data, err := os.ReadFile(filepath.Join(state, "source-s.json"))
	if err != nil || json.Unmarshal(data, &cp) != nil || cp.Mark.File == "" {
		t.Fatalf("checkpoint: %v\n%s", err, data)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		myExec(t, s.my, "PURGE BINARY LOGS TO '"+fmt.Sprint(cur)+"'")
		if first := testenv.Query(t, s.my, "SHOW BINARY LOGS")[0][0]; fmt.Sprint(first) > cp.Mark.File {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary log %s is still there after PURGE BINARY LOGS TO '%v'", cp.Mark.File, cur)
		}
	}
}
