package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestDebeziumRowOfSnapshotRecords: source.row of a debezium_json record
// is, as in Debezium, 0 for a snapshot record and the row's place in its
// binlog event for a change. A SNAPSHOT only pipeline (its rows have no
// position) numbered its records 1, 2, … in each batch, and a snapshot
// read at a position 0, 1, 2, … (new-user trial).
func TestDebeziumRowOfSnapshotRecords(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO "+s.db+".t VALUES (1, 10), (2, 20), (3, 30)")
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	only, initial := filepath.Join(dir, "only.json"), filepath.Join(dir, "initial.json")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE only FROM binlog s.%[2]s.t SNAPSHOT only INTO file '%[3]s' FORMAT debezium_json;
`, myDSN, s.db, only))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "s1"), file)
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE initial FROM binlog s.%[2]s.t INTO file '%[3]s' FORMAT debezium_json;
`, myDSN, s.db, initial))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "s2"), file)
	myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (4, 40), (5, 50), (6, 60)")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "s2"), file)

	rows := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var ev struct {
				Op     string            `json:"op"`
				After  struct{ ID int }  `json:"after"`
				Source struct{ Row int } `json:"source"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			out = append(out, fmt.Sprintf("%s:%d:%d", ev.Op, ev.After.ID, ev.Source.Row))
		}
		return out
	}
	if got, want := strings.Join(rows(only), " "), "r:1:0 r:2:0 r:3:0"; got != want {
		t.Errorf("SNAPSHOT only: op:id:row %s, want %s", got, want)
	}
	if got, want := strings.Join(rows(initial), " "), "r:1:0 r:2:0 r:3:0 c:4:0 c:5:1 c:6:2"; got != want {
		t.Errorf("SNAPSHOT initial, then a 3-row INSERT: op:id:row %s, want %s", got, want)
	}
}
