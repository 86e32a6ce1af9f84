package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDDLAddsUUIDInetStoppedBehind: ALTER TABLEs that add MariaDB's UUID,
// INET6 and INET4 columns (with DEFAULTs the server rewrites) and
// INVISIBLE columns reach a ClickHouse upsert target, every value as the
// server shows it (and so does a jsonl file of the changes), when they are made while etlq is stopped — by SIGTERM,
// and by kill -9 right after an ALTER and rows it may not have read — and
// while it is behind (stopped, many changes written, the ALTER, more
// changes, then started). TestDDLAddsUUIDInetColumns covers the ALTER
// while the stream runs; these paths replay the DDL from the checkpoint,
// with the schema the restart reads from the server already past it.
func TestDDLAddsUUIDInetStoppedBehind(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDDLAddsUUIDInetStoppedBehind)
}

func testDDLAddsUUIDInetStoppedBehind(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT)",
		"INSERT INTO "+db+".t VALUES (1, 10), (2, 20), (3, NULL)")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	jsonOut := filepath.Join(dir, "t.jsonl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t MODE upsert WITH (flush_interval = '100ms');
CREATE PIPELINE f FROM binlog s.%[3]s.t INTO file '%[5]s' FORMAT jsonl MODE changelog;
`, myDSN, s.chDSN, db, testServerID(), jsonOut))

	// fileRows folds the jsonl changelog into the rows it leaves: by id,
	// the text of each column the row's last line has (a row unchanged
	// since an ADD COLUMN has no line with the column; null is NULL).
	fileRows := func() map[string]map[string]string {
		f, err := os.Open(jsonOut)
		if err != nil {
			return nil
		}
		defer f.Close()
		out := map[string]map[string]string{}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			d := json.NewDecoder(strings.NewReader(sc.Text()))
			d.UseNumber()
			if d.Decode(&m) != nil {
				continue
			}
			id := fmt.Sprint(m["id"])
			if m["_op"] == "delete" {
				delete(out, id)
				continue
			}
			r := map[string]string{}
			for k, v := range m {
				if !strings.HasPrefix(k, "_") {
					r[k] = "NULL"
					if v != nil {
						r[k] = fmt.Sprint(v)
					}
				}
			}
			out[id] = r
		}
		return out
	}
	// fileDiff is how the file's rows differ from the source's (rows of
	// myQ, the columns cols), "" when they do not.
	fileDiff := func(cols, want []string) string {
		got := fileRows()
		idAt := 0
		for i, c := range cols {
			if c == "id" {
				idAt = i
			}
		}
		var diff []string
		for _, w := range want {
			cells := strings.Split(w, "|")
			id := cells[idAt]
			r := got[id]
			if r == nil {
				diff = append(diff, "no row "+id)
				continue
			}
			delete(got, id)
			for i, c := range cols {
				if g, ok := r[c]; ok && g != cells[i] {
					diff = append(diff, fmt.Sprintf("row %s column %s = %s, want %s", id, c, g, cells[i]))
				}
			}
		}
		for id := range got {
			diff = append(diff, "a row "+id+" the source has not")
		}
		sort.Strings(diff)
		if len(diff) > 10 {
			diff = append(diff[:10], fmt.Sprintf("… %d more", len(diff)-10))
		}
		return strings.Join(diff, "; ")
	}

	// same waits until the target holds every column of every row as the
	// source's text (information_schema lists the INVISIBLE columns too).
	same := func(a *liveApply, when string) {
		t.Helper()
		var myX, chX []string
		cols := myRows(t, my, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"+db+"' AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION")
		for _, c := range cols {
			myX = append(myX, "IFNULL(CAST(`"+c+"` AS CHAR), 'NULL')")
			chX = append(chX, "ifNull(toString(`"+c+"`), 'NULL')")
		}
		myQ := "SELECT " + strings.Join(myX, ", ") + " FROM " + db + ".t ORDER BY id"
		a.waitSame(t, my, ch, myQ, "SELECT "+strings.Join(chX, ", ")+" FROM "+db+".t_current ORDER BY id", 3*time.Minute)
		want := myRows(t, my, myQ)
		a.waitFor(t, when+": the jsonl file's rows", 3*time.Minute, func() (bool, string) {
			d := fileDiff(cols, want)
			return d == "", d
		})
	}
	term := func(a *liveApply) {
		t.Helper()
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-a.done:
			if err != nil {
				t.Fatalf("etlq apply after SIGTERM: %v\n%s", err, a.out.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("etlq apply did not stop within 60 s of SIGTERM\n%s", a.out.String())
		}
	}

	a := startApply(t, state, file)
	same(a, "snapshot")

	// 1. Stopped by SIGTERM.
	term(a)
	myExec(t, my,
		"ALTER TABLE "+db+".t ADD COLUMN u UUID DEFAULT '1234567812345678-1234-1234567890AB' AFTER id, "+
			"ADD i6 INET6 NOT NULL DEFAULT '::0001:0:0:0:0', ADD i4 INET4, ADD x INT INVISIBLE DEFAULT 5",
		"INSERT INTO "+db+".t (id, u, i6, i4, x, a) VALUES (4, 'f47ac10b-58cc-4372-a567-0e02b2c3d400', '1:0:0:2:0:0:0:0', '10.0.0.0', 40, 400)",
		"INSERT INTO "+db+".t (id, a) VALUES (5, 500)",
		"UPDATE "+db+".t SET u = '00000000-0000-0000-0000-0000000000ff', i6 = '::ffff:1.2.3.4', i4 = '0.0.0.0', x = NULL WHERE id = 1")
	a = startApply(t, state, file)
	same(a, "ALTER while stopped (SIGTERM)")

	// 2. Killed (kill -9) right after an ALTER and rows it may not have
	// read yet: the restart replays from a checkpoint on either side.
	myExec(t, my,
		"ALTER TABLE "+db+".t ADD COLUMN u2 UUID NOT NULL DEFAULT 'AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee', "+
			"ADD n6 INET6 INVISIBLE DEFAULT '::ffff:0.0.0.0', ADD n4 INET4 INVISIBLE NOT NULL DEFAULT '010.0.0.1'",
		"INSERT INTO "+db+".t (id, u, i6, u2, n6, n4, a) VALUES (6, 'ffffffff-0000-5fff-bfff-000000000000', 'fe80::1:0:0:0', UUID(), '::', '8.8.4.4', 600)")
	a.kill9()
	myExec(t, my,
		"INSERT INTO "+db+".t (id, a) VALUES (7, 700)",
		"UPDATE "+db+".t SET n6 = '2001:db8::', n4 = '255.255.255.255', u2 = '00000000-0000-1000-8000-000000000000' WHERE id = 2")
	a = startApply(t, state, file)
	same(a, "ALTER, then kill -9")
	a.kill9()
	myExec(t, my,
		"ALTER TABLE "+db+".t ADD COLUMN k UUID INVISIBLE NULL AFTER a, ADD m INET6 NULL FIRST",
		"INSERT INTO "+db+".t (id, u2, k, m, a) VALUES (8, UUID(), '01234567-89ab-7def-8123-456789abcdef', '1:2:3:4:5:6:7:8', 800)")
	a = startApply(t, state, file)
	same(a, "ALTER while stopped (kill -9)")

	// 3. Behind: many changes before the ALTER and after it.
	term(a)
	myExec(t, my, "INSERT INTO "+db+".t (id, u, u2, a) SELECT 1000 + seq, UUID(), UUID(), seq FROM "+db+".seq_1_to_3000")
	for i := 0; i < 150; i++ {
		myExec(t, my, fmt.Sprintf("UPDATE %s.t SET a = a + 1, i6 = '::%x' WHERE id = %d", db, i, 1001+i*7))
	}
	myExec(t, my, "DELETE FROM "+db+".t WHERE id BETWEEN 2000 AND 2100",
		"ALTER TABLE "+db+".t ADD COLUMN u3 UUID NOT NULL DEFAULT '00000000-0000-6000-8000-000000000000', "+
			"ADD j6 INET6 INVISIBLE NOT NULL DEFAULT '1:0:0:0:0:0:0:0' AFTER id, ADD j4 INET4 DEFAULT '100.64.0.0', ADD y INT INVISIBLE")
	for i := 0; i < 150; i++ {
		myExec(t, my, fmt.Sprintf("UPDATE %s.t SET u3 = UUID(), j6 = '::1.2.%d.%d', j4 = NULL, y = %d WHERE id = %d", db, i/256, i%256, i, 1002+i*11))
	}
	myExec(t, my, "INSERT INTO "+db+".t (id, a, j6, y) SELECT 5000 + seq, seq, CONCAT('fe80::', HEX(seq)), seq FROM "+db+".seq_1_to_500")
	a = startApply(t, state, file)
	same(a, "ALTER while behind")
	a.stop(t)
}
