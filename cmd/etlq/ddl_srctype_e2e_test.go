package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDeclaredTypeChangeReachesText: a DDL that changes a column's
// declared type but not how etlq carries it — DATETIME → DATETIME(3) →
// DATETIME(6), TIME → TIME(6), VARCHAR(16) → VARCHAR(32) — made while etlq
// runs, while it is stopped (after another DDL that adds a column, the two
// replayed at the restart) and while it is behind (the process paused
// with its binlog connection open), reaches the outputs that print the
// source type: the csv file prints the new rows' fractional seconds, the
// canal_json file names the new mysqlType, debezium_json counts a
// DATETIME(6) in microseconds (a DATETIME(3) in milliseconds), CAST(… AS
// STRING) keeps the digits (it reads the batch's own types: right before
// too); a restart after no DDL plans nothing again. (Failed before: the plan kept the
// column's first declared type — no new plan for a change of the same
// Arrow type — so the csv printed "2024-01-02 03:04:05" for a
// DATETIME(6) of .123456, debezium_json 1704164645123 for it, and
// canal_json said datetime, time, varchar(16).) canal_json writes no
// message of its own for the ALTERs.
func TestDeclaredTypeChangeReachesText(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDeclaredTypeChangeReachesText)
}

func testDeclaredTypeChangeReachesText(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, ts DATETIME NOT NULL, tm TIME NULL, v VARCHAR(16) NULL)",
		"INSERT INTO "+db+".t VALUES (1, '2024-01-02 03:04:05', '01:02:03', 'a')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	csvOut, canalOut, textOut := filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.canal"), filepath.Join(dir, "t.jsonl")
	dbzOut := filepath.Join(dir, "t.dbz")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[2]d);
CREATE PIPELINE p_csv FROM binlog s.%[3]s.t INTO file '%[4]s' FORMAT csv;
CREATE PIPELINE p_canal FROM binlog s.%[3]s.t INTO file '%[5]s' FORMAT canal_json;
CREATE PIPELINE p_text FROM binlog s.%[3]s.t TRANSFORM id, CAST(ts AS STRING) AS ts_text, CAST(tm AS STRING) AS tm_text INTO file '%[6]s' FORMAT jsonl;
CREATE PIPELINE p_dbz FROM binlog s.%[3]s.t INTO file '%[7]s' FORMAT debezium_json;
`, myDSN, testServerID(), db, csvOut, canalOut, textOut, dbzOut))

	// rows reads the four files: by id, the row's csv cells, its canal
	// mysqlType, its CAST texts and its debezium_json ts (a DATETIME's
	// epoch count: milliseconds up to DATETIME(3), microseconds beyond).
	type row struct {
		csv, canalType, text map[string]string
		dbzTs                string
	}
	rows := func() map[string]*row {
		out := map[string]*row{}
		get := func(id string) *row {
			if out[id] == nil {
				out[id] = &row{}
			}
			return out[id]
		}
		if f, err := os.Open(csvOut); err == nil {
			r := csv.NewReader(f)
			r.FieldsPerRecord = -1
			var header []string
			for {
				rec, err := r.Read()
				if err != nil {
					break
				}
				if rec[0] == "id" { // a header: the first, or a new layout's
					header = rec
					continue
				}
				m := map[string]string{}
				for i, h := range header {
					if i < len(rec) {
						m[h] = rec[i]
					}
				}
				get(rec[0]).csv = m
			}
			f.Close()
		}
		eachLine := func(path string, fn func([]byte)) {
			f, err := os.Open(path)
			if err != nil {
				return
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				fn(sc.Bytes())
			}
		}
		eachLine(canalOut, func(l []byte) {
			var m struct {
				Data      []map[string]any  `json:"data"`
				MySQLType map[string]string `json:"mysqlType"`
			}
			if json.Unmarshal(l, &m) == nil {
				for _, d := range m.Data {
					get(fmt.Sprint(d["id"])).canalType = m.MySQLType
				}
			}
		})
		eachLine(textOut, func(l []byte) {
			var m map[string]any
			if json.Unmarshal(l, &m) == nil {
				text := map[string]string{}
				for k, v := range m {
					text[k] = fmt.Sprint(v)
				}
				get(text["id"]).text = text
			}
		})
		eachLine(dbzOut, func(l []byte) {
			var m struct {
				After map[string]any `json:"after"`
			}
			d := json.NewDecoder(strings.NewReader(string(l)))
			d.UseNumber()
			if d.Decode(&m) == nil && m.After != nil {
				get(fmt.Sprint(m.After["id"])).dbzTs = fmt.Sprint(m.After["ts"])
			}
		})
		return out
	}
	waitRow := func(a *liveApply, id string) {
		t.Helper()
		a.waitFor(t, "row "+id+" in the four files", 2*time.Minute, func() (bool, string) {
			r := rows()[id]
			return r != nil && r.csv != nil && r.canalType != nil && r.text != nil && r.dbzTs != "", fmt.Sprintf("%+v", r)
		})
	}
	// check compares row id's outputs with what the source declares.
	check := func(when, id string, csvWant, canalWant, textWant map[string]string, dbzTs string) {
		t.Helper()
		r := rows()[id]
		if r.dbzTs != dbzTs {
			t.Errorf("%s: row %s: debezium_json ts = %s, want %s", when, id, r.dbzTs, dbzTs)
		}
		for _, c := range []struct {
			what      string
			got, want map[string]string
		}{{"csv", r.csv, csvWant}, {"canal_json mysqlType", r.canalType, canalWant}, {"CAST text", r.text, textWant}} {
			for k, w := range c.want {
				if g := c.got[k]; g != w {
					t.Errorf("%s: row %s: %s %s = %q, want %q", when, id, c.what, k, g, w)
				}
			}
		}
	}

	a := startApply(t, state, file)
	waitRow(a, "1")
	check("snapshot", "1", map[string]string{"ts": "2024-01-02 03:04:05", "tm": "01:02:03"},
		map[string]string{"ts": "datetime", "tm": "time", "v": "varchar(16)"},
		map[string]string{"ts_text": "2024-01-02 03:04:05", "tm_text": "01:02:03"}, "1704164645000")

	// 1. While etlq runs.
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY ts DATETIME(3) NOT NULL",
		"INSERT INTO "+db+".t VALUES (2, '2024-01-02 03:04:05.123', '01:02:03', 'b')")
	waitRow(a, "2")
	check("DDL while running", "2", map[string]string{"ts": "2024-01-02 03:04:05.123"},
		map[string]string{"ts": "datetime(3)"},
		map[string]string{"ts_text": "2024-01-02 03:04:05.123"}, "1704164645123")
	out := a.stop(t)

	// 2. While etlq is stopped: a DDL that adds a column, then one that
	// changes only a declared type, replayed at the restart.
	myExec(t, my, "ALTER TABLE "+db+".t ADD COLUMN n INT NULL",
		"ALTER TABLE "+db+".t MODIFY ts DATETIME(6) NOT NULL",
		"INSERT INTO "+db+".t VALUES (3, '2024-01-02 03:04:05.123456', '01:02:03', 'c', 3)")
	a = startApply(t, state, file)
	waitRow(a, "3")
	check("DDLs while stopped", "3", map[string]string{"ts": "2024-01-02 03:04:05.123456"},
		map[string]string{"ts": "datetime(6)", "n": "int(11)"},
		map[string]string{"ts_text": "2024-01-02 03:04:05.123456"}, "1704164645123456")

	// 3. While etlq is behind: paused (its binlog connection open) while
	// the table changes, resumed after.
	a.cmd.Process.Signal(syscall.SIGSTOP)
	myExec(t, my, "ALTER TABLE "+db+".t MODIFY v VARCHAR(32) NULL",
		"ALTER TABLE "+db+".t MODIFY tm TIME(6) NULL",
		"INSERT INTO "+db+".t VALUES (4, '2024-01-02 03:04:05.654321', '01:02:03.654321', 'd', 4)")
	a.cmd.Process.Signal(syscall.SIGCONT)
	waitRow(a, "4")
	check("DDLs while behind", "4", map[string]string{"ts": "2024-01-02 03:04:05.654321", "tm": "01:02:03.654321"},
		map[string]string{"ts": "datetime(6)", "tm": "time(6)", "v": "varchar(32)"},
		map[string]string{"ts_text": "2024-01-02 03:04:05.654321", "tm_text": "01:02:03.654321"}, "1704164645654321")
	out += a.stop(t)

	// 4. A restart after no DDL plans nothing again: the declared types
	// the history took from the DDLs above are spelled as the server's
	// (information_schema's COLUMN_TYPE, which the restart plans with).
	a = startApply(t, state, file)
	myExec(t, my, "INSERT INTO "+db+".t VALUES (5, '2024-01-02 03:04:05.5', '01:02:03.5', 'e', 5)")
	waitRow(a, "5")
	check("restart", "5", map[string]string{"ts": "2024-01-02 03:04:05.500000", "tm": "01:02:03.500000"}, nil, nil, "1704164645500000")
	last := a.stop(t)
	if strings.Contains(last, "planned again") {
		t.Errorf("a restart after no DDL planned the table again:\n%s", last)
	}
	out += last
	// canal_json sends no message for an ALTER TABLE (canal sends a DDL
	// one, isDdl true, type ALTER): its rows' messages after it carry the
	// new columns and mysqlType (docs/connectors.md).
	canalText, _ := os.ReadFile(canalOut)
	for _, l := range strings.Split(strings.TrimSpace(string(canalText)), "\n") {
		if !strings.Contains(l, `"isDdl":false`) || !strings.Contains(l, `"type":"INSERT"`) {
			t.Errorf("canal_json wrote a message that is not an INSERT of rows: %s", l)
		}
	}
	if t.Failed() {
		csvText, _ := os.ReadFile(csvOut)
		t.Logf("csv:\n%s\netlq apply's output:\n%s", csvText, out)
	}
}
