package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResnapshotTwoRequestsOneTable: two `etlq resnapshot` requests for
// the same table of one pipeline wait in the state directory at once (one
// with --where and one for the whole table, or the same command run
// twice), for an upsert and a changelog pipeline. The next apply --once
// carries out all of them: the upsert target equals the source (the key
// deleted behind etlq's back removed), and the changelog target gets
// every row each request reads, as read changes — none lost because
// another request for the table was under way. Failed before with
// rebuild: p_log's requests, taken while p_up's rebuild was queued, read
// the table into the rebuild's copy (the changelog got 10 reads for 36),
// and p_up's second rebuild request took the first's place, whose file
// stayed.
func TestResnapshotTwoRequestsOneTable(t *testing.T) {
	t.Parallel()
	for _, rebuild := range []bool{false, true} {
		t.Run(fmt.Sprintf("rebuild=%v", rebuild), func(t *testing.T) {
			onBothServers(t, func(t *testing.T, myDSN string) { testResnapshotTwoRequests(t, myDSN, rebuild) })
		})
	}
}

// testResnapshotTwoRequests runs TestResnapshotTwoRequestsOneTable; with
// rebuild the upsert target's amount column was changed to a type the rows
// cannot be written into, so p_up's requests rebuild the target while
// p_log's read the table again in place.
func testResnapshotTwoRequests(t *testing.T, myDSN string, rebuild bool) {
	{
		s := newScratch(t, myDSN)
		db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL)")
		seed(t, my, db+".t", 10)
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 3);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_up FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE p_log FROM binlog s.%[3]s.t TRANSFORM id, status, amount, _op INTO clickhouse dw.%[3]s.t_log MODE changelog;
`, myDSN, chDSN, db, testServerID()))
		reads := func() uint64 {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t_log WHERE _op = 'read'", db))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		once := func() string {
			out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
			if ents, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(ents) > 0 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("apply --once left requests %v:\n%s", names, out)
			}
			return out
		}
		once()
		compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
		if n := reads(); n != 10 {
			t.Fatalf("the changelog's snapshot wrote %d reads, want 10", n)
		}

		if rebuild {
			for _, q := range []string{"ALTER TABLE " + db + ".t DROP COLUMN amount", "ALTER TABLE " + db + ".t ADD COLUMN amount Date"} {
				if err := ch.Exec(context.Background(), q); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Drift behind etlq's back: 9 rows left, 4 of them with id <= 5.
		myExec(t, my, "SET SESSION sql_log_bin = 0",
			"DELETE FROM "+db+".t WHERE id = 3",
			"UPDATE "+db+".t SET status = 'drift' WHERE id IN (4, 8)",
			"SET SESSION sql_log_bin = 1")
		want := uint64(10)
		for _, c := range []struct {
			where string
			reads uint64
		}{{"id <= 5", 4}, {"", 9}, {"", 9}, {"id <= 5", 4}} {
			args := []string{"resnapshot", "--state-dir", state}
			if c.where != "" {
				args = append(args, "--where", c.where)
			}
			mustEtlq(t, append(args, file, "p_up", db+".t")...)
			mustEtlq(t, append(args, file, "p_log", db+".t")...)
			want += c.reads
		}
		out := once()
		if got := strings.Count(out, "resnapshot done"); got < 8 {
			t.Errorf("%d requests said done, want 8:\n%s", got, out)
		}
		if rebuild && !strings.Contains(out, "resnapshot done: the target was rebuilt") {
			t.Errorf("p_up's target was not rebuilt:\n%s", out)
		}
		if testing.Verbose() {
			t.Log(out)
		}
		compareTable(t, my, ch, db, "t", db, "t", db+".t_current")
		if n := reads(); n != want {
			t.Errorf("the changelog target got %d reads, want %d (10 of its snapshot and every row each of the 4 requests read)", n, want)
		}
	}
}
