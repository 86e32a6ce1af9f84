package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
)

// TestUnionFormatsPerTable: a pipeline reading two tables (pay, ren) with
// other columns and keys into one canal_json (over http) and one
// debezium_json (a file) output. Each message describes its own table:
// canal's data, old, mysqlType and sqlType hold that table's columns alone
// and pkNames its key; Debezium's before and after hold its columns alone.
// Before, every message carried the union's columns (a pay row sent
// "ret":null, …) and pkNames null (a new-user trial, sakila's payment and
// rental).
func TestUnionFormatsPerTable(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".pay (pay_id INT PRIMARY KEY, cust INT NOT NULL, amount DECIMAL(5,2))",
			"CREATE TABLE "+db+".ren (ren_id INT PRIMARY KEY, cust INT NOT NULL, ret DATETIME)",
			"INSERT INTO "+db+".pay VALUES (1, 10, 2.50), (2, 11, 3.75)",
			"INSERT INTO "+db+".ren VALUES (7, 10, '2024-01-02 03:04:05')")
		var mu sync.Mutex
		var canal []map[string]any
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var msgs []map[string]any
			if err := json.Unmarshal(body, &msgs); err != nil {
				t.Errorf("canal body %q: %v", body, err)
			}
			mu.Lock()
			canal = append(canal, msgs...)
			mu.Unlock()
		}))
		defer hook.Close()
		dir := t.TempDir()
		dbzOut := filepath.Join(dir, "dbz.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = 7417);
CREATE PIPELINE c FROM binlog s.%[2]s.pay, s.%[2]s.ren SNAPSHOT initial INTO http '%[3]s/canal' FORMAT canal_json;
CREATE PIPELINE d FROM binlog s.%[2]s.pay, s.%[2]s.ren SNAPSHOT initial INTO file '%[4]s' FORMAT debezium_json;
`, dsn, db, hook.URL, dbzOut))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "UPDATE "+db+".pay SET amount = 4.00 WHERE pay_id = 1", "UPDATE "+db+".ren SET ret = '2025-01-01 00:00:00' WHERE ren_id = 7")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)

		cols := map[string][]string{"pay": {"amount", "cust", "pay_id"}, "ren": {"cust", "ren_id", "ret"}}
		keys := map[string][]any{"pay": {"pay_id"}, "ren": {"ren_id"}}
		names := func(m any) []string {
			var out []string
			for k := range m.(map[string]any) {
				out = append(out, k)
			}
			sort.Strings(out)
			return out
		}
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]int{}
		for _, m := range canal {
			tb, _ := m["table"].(string)
			seen[tb+" "+m["type"].(string)]++
			if !reflect.DeepEqual(m["pkNames"], keys[tb]) {
				t.Errorf("canal %s message: pkNames %v, want %v: %v", tb, m["pkNames"], keys[tb], m)
			}
			for _, part := range []string{"mysqlType", "sqlType"} {
				if got := names(m[part]); !reflect.DeepEqual(got, cols[tb]) {
					t.Errorf("canal %s message: %s names %v, want the table's %v", tb, part, got, cols[tb])
				}
			}
			for _, row := range m["data"].([]any) {
				if got := names(row); !reflect.DeepEqual(got, cols[tb]) {
					t.Errorf("canal %s message: data row with %v, want the table's %v", tb, got, cols[tb])
				}
			}
			if old, ok := m["old"].([]any); ok {
				for _, row := range old {
					for _, c := range names(row) {
						if !strings.Contains(strings.Join(cols[tb], " "), c) {
							t.Errorf("canal %s message: old has %s, not a column of the table", tb, c)
						}
					}
				}
			}
		}
		if seen["pay INSERT"] == 0 || seen["ren INSERT"] == 0 || seen["pay UPDATE"] == 0 || seen["ren UPDATE"] == 0 {
			t.Errorf("canal: want both tables' snapshot and update messages, got %v", seen)
		}

		dseen := map[string]int{}
		for _, line := range readLines(t, dbzOut) {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			tb := ev["source"].(map[string]any)["table"].(string)
			dseen[tb+" "+ev["op"].(string)]++
			for _, img := range []string{"before", "after"} {
				if ev[img] == nil {
					continue
				}
				if got := names(ev[img]); !reflect.DeepEqual(got, cols[tb]) {
					t.Errorf("debezium %s event: %s with %v, want the table's %v", tb, img, got, cols[tb])
				}
			}
		}
		if dseen["pay r"] == 0 || dseen["ren r"] == 0 || dseen["pay u"] == 0 || dseen["ren u"] == 0 {
			t.Errorf("debezium: want both tables' snapshot and update events, got %v", dseen)
		}
	})
}
