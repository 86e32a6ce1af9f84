package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRebuildSwapKilled (issue #12): etlq ends (as kill -9) at each step
// around the swap of a rebuild — a type change that is no lossless
// widening, made with a writer running while etlq is stopped, so that
// the checkpoint is before the DDL: after every pipeline noted the swap
// but before the ClickHouse RENAME; after the RENAME but before any
// checkpoint passed the DDL (ETLQ_TEST_FAULT's no-commit); after a
// checkpoint passed the swap. Each restart ends with the target equal to
// the source row by row and the new type, with no stop, and the swap file
// is gone once a checkpoint passed the swap. (Failed before: the restart
// after the RENAME replayed rows of the old type into the swapped table
// and stopped with `column "d" changed type …`.)
func TestRebuildSwapKilled(t *testing.T) {
	onBothServers(t, testRebuildSwapKilled)
}

func testRebuildSwapKilled(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT, d DECIMAL(10,4), w INT)",
		"INSERT INTO "+db+".t SELECT seq, seq, seq * 7, seq + 0.1234 + (seq % 2) * 0.0051, seq FROM "+db+".seq_1_to_2000")
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state")}
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 500);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
`, myDSN, s.chDSN, db, testServerID()))
	swapFile := filepath.Join(r.state, "rowcopy", "p_t.swap")
	marker := 1000000
	waitMarker := func() {
		t.Helper()
		marker++
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.t (id, k) VALUES (%d, %d)", db, marker, marker))
		r.waitFor(t, fmt.Sprintf("row %d in ClickHouse", marker), 120*time.Second, func() (bool, string) {
			n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t_current WHERE toString(id) = '%d'", db, marker))
			return err == nil && n == 1, fmt.Sprint(n, err)
		})
	}
	copyThere := func() bool {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = 't__etlq_copy'", db))
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	colType := func(col string) string {
		return chCells(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = 't' AND name = '%s'", db, col))[0][0]
	}
	r.start(t)
	waitMarker()
	r.stop(t)

	for i, step := range []struct {
		name, alter, fault string
		col, typ           string
	}{
		{"after the swap files, before the RENAME", "MODIFY v VARCHAR(20)", "rowcopy-swap-file:p_t", "v", "Nullable(String)"},
		{"after the RENAME, the checkpoint before the DDL", "MODIFY d DECIMAL(10,2)", "rowcopy-swapped:p_t,no-commit", "d", "Nullable(Decimal(10, 2))"},
		{"after the RENAME, the checkpoint before the DDL, a key column", "MODIFY id VARCHAR(20)", "rowcopy-swapped:p_t,no-commit", "id", "String"},
		{"after a checkpoint passed the swap", "MODIFY w VARCHAR(30)", "", "w", "Nullable(String)"},
	} {
		t.Logf("step %d: %s (%s)", i+1, step.name, step.alter)
		// The type change, with a writer, while etlq is stopped; the
		// writer goes on while etlq rebuilds the table.
		w := startDDLWriter(t, myDSN, db+".t", 10000*(i+1))
		time.Sleep(300 * time.Millisecond)
		myExec(t, my, "ALTER TABLE "+db+".t "+step.alter)
		if step.fault != "" {
			r.env = []string{"ETLQ_TEST_FAULT=" + step.fault}
		}
		r.start(t)
		point := strings.Split(step.fault, ",")[0]
		if step.fault != "" {
			select {
			case err := <-r.done:
				if err == nil || !strings.Contains(r.out.String(), "ETLQ_TEST_FAULT: exiting at "+point) {
					t.Fatalf("%s: want the run ended at the fault point: %v\n%s", step.name, err, r.out.String())
				}
			case <-time.After(180 * time.Second):
				t.Fatalf("%s: the run did not end at the fault point:\n%s", step.name, r.out.String())
			}
			if _, err := os.Stat(swapFile); err != nil {
				t.Fatalf("%s: no swap file: %v", step.name, err)
			}
			if want := strings.HasPrefix(point, "rowcopy-swap-file"); copyThere() != want {
				t.Fatalf("%s: the copy target there: %v, want %v", step.name, !want, want)
			}
		} else {
			r.waitFor(t, "the swap", 180*time.Second, func() (bool, string) {
				return strings.Contains(r.out.String(), "row copy: the copy replaced the target's rows"), ""
			})
			// The swap file goes once a checkpoint passed the swap.
			r.waitFor(t, "the swap file removed", 60*time.Second, func() (bool, string) {
				_, err := os.Stat(swapFile)
				return os.IsNotExist(err), fmt.Sprint(err)
			})
			r.kill9()
		}
		first := r.out.String()
		w.halt()
		r.env = nil
		r.start(t)
		waitMarker()
		compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
		if typ := colType(step.col); typ != step.typ {
			t.Errorf("%s: t.%s is %s in ClickHouse, want %s", step.name, step.col, typ, step.typ)
		}
		out := r.stop(t)
		if strings.Contains(out, "level=ERROR") {
			t.Errorf("%s: the restart logged an error:\n%s", step.name, out)
		}
		if _, err := os.Stat(swapFile); !os.IsNotExist(err) {
			t.Errorf("%s: the swap file is left after the restart: %v", step.name, err)
		}
		if copyThere() {
			t.Errorf("%s: the copy target is left after the restart", step.name)
		}
		if step.fault == "" && strings.Contains(out, "read again into a copy") {
			t.Errorf("%s: the restart rebuilt the table again", step.name)
		}
		if t.Failed() {
			t.Fatalf("%s: log of the run:\n%s\nlog of the restart:\n%s", step.name, first, out)
		}
	}
}
