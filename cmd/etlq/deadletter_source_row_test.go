package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestSinkRefusedLetterKeepsSourceRow: a row the sink refuses (a zero
// date into a ClickHouse Date; a row an HTTP endpoint answers 422 for) of
// a pipeline with a computed output (amount * 100 AS cents) is kept with
// its source row, every original value (docs/language.md, "Rules and dead
// letters"), and replayed through the pipeline once the cause is fixed:
// cents is the replayed amount * 100. The letter held the sink's output
// columns (cents, no amount, and __version …), and its replay fed them in
// as source columns: cents came back NULL.
func TestSinkRefusedLetterKeepsSourceRow(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".tz (id INT PRIMARY KEY, amount INT NOT NULL, d DATE)",
		"SET SESSION sql_mode = ''",
		"INSERT INTO "+db+".tz VALUES (1, 1, '2024-01-01'), (2, 2, '0000-00-00'), (3, 3, '2024-01-03'), (4, 4, '0000-00-00')",
	)
	var refuse atomic.Bool
	refuse.Store(true)
	var mu sync.Mutex
	var posted []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var rows []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil {
				rows = append(rows, m)
			}
		}
		for _, m := range rows {
			if m["id"] == float64(3) && refuse.Load() {
				http.Error(w, "id 3 is not accepted", http.StatusUnprocessableEntity)
				return
			}
		}
		mu.Lock()
		posted = append(posted, rows...)
		mu.Unlock()
	}))
	defer hook.Close()
	dir := t.TempDir()
	file, state := filepath.Join(dir, "tz.etl"), filepath.Join(dir, "state")
	etl := fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE tz
  FROM binlog shop.%[3]s.tz
  TRANSFORM id, amount * 100 AS cents, d
  INTO clickhouse dw.%[3]s.tz MODE upsert KEY (id)
  WITH (on_error = 'dead_letter');
CREATE PIPELINE tz_hook
  FROM binlog shop.%[3]s.tz
  TRANSFORM id, amount * 100 AS cents
  INTO http '%[4]s/hook' FORMAT jsonl
  WITH (on_error = 'dead_letter', body = 'ndjson');
`, myDSN, s.chDSN, db, hook.URL)
	writeFile(t, file, etl)
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	myExec(t, my, "SET SESSION sql_mode = ''", "UPDATE "+db+".tz SET amount = 44 WHERE id = 4")

	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	for _, c := range []struct {
		pipeline string
		want     []string // id:amount of the letters
	}{{"tz", []string{"2:2", "4:4", "4:44"}}, {"tz_hook", []string{"3:3"}}} {
		lines := readLines(t, filepath.Join(state, "deadletter", c.pipeline+".jsonl"))
		var got []string
		for _, l := range lines {
			var dl struct {
				Row map[string]*string `json:"row"`
			}
			if err := json.Unmarshal([]byte(l), &dl); err != nil {
				t.Fatal(err)
			}
			id, amount := dl.Row["id"], dl.Row["amount"]
			if id == nil || amount == nil || dl.Row["cents"] != nil || dl.Row["__version"] != nil || dl.Row["_version"] == nil {
				t.Errorf("%s: the letter does not hold the source row (amount, _version; no cents, __version): %s", c.pipeline, l)
				continue
			}
			got = append(got, *id+":"+*amount)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: letters of %q, want %q", c.pipeline, got, c.want)
		}
	}

	// The causes fixed: the zero dates written NULL, the endpoint takes
	// id 3. Replayed, cents is amount * 100; id 4 stays at its later
	// value (its update's letter is the later version).
	writeFile(t, file, strings.Replace(etl, "WITH (on_error = 'dead_letter');", "WITH (on_error = 'dead_letter', out_of_range = 'null');", 1))
	refuse.Store(false)
	out := mustEtlq(t, "deadletter", "replay", "--state-dir", state, file, "tz")
	if !strings.Contains(out, "replayed 3 dead letters of pipeline tz: 3 rows written") {
		t.Errorf("replay says:\n%s", out)
	}
	diffRows(t, []string{"1|100|2024-01-01", "2|200|NULL", "3|300|2024-01-03", "4|4400|NULL"},
		chRows(t, ch, "SELECT toString(id), toString(cents), ifNull(toString(d), 'NULL') FROM "+db+".tz_current ORDER BY id"))
	mu.Lock()
	posted = nil
	mu.Unlock()
	out = mustEtlq(t, "deadletter", "replay", "--state-dir", state, file, "tz_hook")
	if !strings.Contains(out, "replayed 1 dead letters of pipeline tz_hook: 1 rows written") {
		t.Errorf("replay says:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) != 1 || posted[0]["id"] != float64(3) || posted[0]["cents"] != float64(300) {
		t.Errorf("the replayed row posted: %v, want id 3 with cents 300", posted)
	}
}
