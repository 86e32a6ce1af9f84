package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// hookRows returns the (id, v) of each row of a request body the http
// sink sends: csv (a header line, id and v), or a JSON array or NDJSON of
// jsonl ({"id":…,"v":…}) or canal_json ({"data":[{"id":"…","v":"…"},…]})
// messages.
func hookRows(contentType string, body []byte) ([][2]int, error) {
	var out [][2]int
	if strings.HasPrefix(contentType, "text/csv") {
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(recs) == 0 || strings.Join(recs[0], ",") != "id,v" {
			return nil, fmt.Errorf("csv body %q: %v", body, err)
		}
		for _, r := range recs[1:] {
			id, err1 := strconv.Atoi(r[0])
			v, err2 := strconv.Atoi(r[1])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("csv row %q", r)
			}
			out = append(out, [2]int{id, v})
		}
		return out, nil
	}
	var msgs []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		if err := json.Unmarshal(body, &msgs); err != nil {
			return nil, err
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				msgs = append(msgs, slices.Clone(sc.Bytes()))
			}
		}
	}
	for _, m := range msgs {
		var msg struct {
			ID, V *int
			Data  []struct{ ID, V string }
			Type  string
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			return nil, err
		}
		if msg.Type == "" { // jsonl
			if msg.ID == nil || msg.V == nil {
				return nil, fmt.Errorf("message %s: no id and v", m)
			}
			out = append(out, [2]int{*msg.ID, *msg.V})
			continue
		}
		for _, d := range msg.Data { // canal_json
			id, err1 := strconv.Atoi(d.ID)
			v, err2 := strconv.Atoi(d.V)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("message %s", m)
			}
			out = append(out, [2]int{id, v})
		}
	}
	return out, nil
}

// TestHTTPRefusedRowsBisected: an endpoint that refuses (422) any request
// holding a row with v = 666, under on_error = 'dead_letter': only those
// rows are dead letters, and the endpoint takes every other row once, in
// order — jsonl (one JSON array a request), canal_json as NDJSON (rows
// that share an op and position share a message) and csv (a header in
// each body). Before, every row of the refused request was dead-lettered:
// the snapshot's batch of 300 rows and the 100-row transaction each lost
// all their good rows for one bad one. Snapshot and binlog, both servers.
func TestHTTPRefusedRowsBisected(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		values := func(from, to int, bad ...int) string {
			var vs []string
			for id := from; id <= to; id++ {
				v := id * 10
				if slices.Contains(bad, id) {
					v = 666
				}
				vs = append(vs, fmt.Sprintf("(%d, %d)", id, v))
			}
			return strings.Join(vs, ", ")
		}
		bad := []int{1, 37, 250, 333, 400}
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t VALUES "+values(1, 300, bad...))
		var mu sync.Mutex
		taken := map[string][]int{}
		requests := map[string]int{}
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			rows, err := hookRows(r.Header.Get("Content-Type"), body)
			if err != nil {
				t.Errorf("%s: %v", r.URL.Path, err)
				http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			requests[r.URL.Path]++
			for _, row := range rows {
				if row[1] == 666 {
					http.Error(w, fmt.Sprintf("row %d: v must not be 666", row[0]), http.StatusUnprocessableEntity)
					return
				}
			}
			for _, row := range rows {
				taken[r.URL.Path] = append(taken[r.URL.Path], row[0])
			}
		}))
		defer hook.Close()
		dir := t.TempDir()
		file, state := filepath.Join(dir, "n.etl"), filepath.Join(dir, "state")
		pipes := []struct{ name, format, with string }{
			{"pj", "jsonl", ""},
			{"pc", "canal_json", ", body = 'ndjson'"},
			{"pv", "csv", ""},
		}
		src := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s';\n", myDSN)
		for _, p := range pipes {
			src += fmt.Sprintf(`CREATE PIPELINE %[1]s FROM binlog s.%[2]s.t TRANSFORM id, v INTO http '%[3]s/%[1]s' FORMAT %[4]s
  WITH (on_error = 'dead_letter', dead_letter = 'file %[5]s'%[6]s);
`, p.name, db, hook.URL, p.format, filepath.Join(dir, p.name+".dead.jsonl"), p.with)
		}
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		// The binlog: one transaction of 100 rows, two of them refused.
		myExec(t, my, "INSERT INTO "+db+".t VALUES "+values(301, 400, bad...))
		out += mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)

		var want []int
		for id := 1; id <= 400; id++ {
			if !slices.Contains(bad, id) {
				want = append(want, id)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pipes {
			if got := taken["/"+p.name]; !slices.Equal(got, want) {
				t.Errorf("%s (%s): the endpoint took %d rows %v,\nwant the %d good rows once, in order", p.name, p.format, len(got), got, len(want))
			}
			letters, err := os.ReadFile(filepath.Join(dir, p.name+".dead.jsonl"))
			if err != nil {
				t.Errorf("%s: no dead letters: %v\n%s", p.name, err, out)
				continue
			}
			var ids, good []int
			for _, line := range strings.Split(strings.TrimSpace(string(letters)), "\n") {
				var dl struct {
					Pipeline, Reason string
					Row              map[string]*string
				}
				if err := json.Unmarshal([]byte(line), &dl); err != nil {
					t.Fatal(err)
				}
				if dl.Row["id"] == nil || dl.Row["v"] == nil {
					t.Fatalf("%s: a dead letter without its row: %s", p.name, line)
				}
				id, _ := strconv.Atoi(*dl.Row["id"])
				ids = append(ids, id)
				if *dl.Row["v"] != "666" {
					good = append(good, id)
				} else if dl.Pipeline != p.name || !strings.Contains(dl.Reason, fmt.Sprintf("422 Unprocessable Entity: row %d: v must not be 666", id)) {
					t.Errorf("%s: want the pipeline, the status and the endpoint's answer to that row: %s", p.name, line)
				}
			}
			if !slices.Equal(ids, bad) {
				t.Errorf("%s: %d dead letters, %d of good rows (%v), want exactly rows %v", p.name, len(ids), len(good), good, bad)
			}
			if !strings.Contains(out, "pipeline="+p.name) || !strings.Contains(out, fmt.Sprintf("pipeline done\" pipeline=%s", p.name)) {
				t.Errorf("%s: no summary:\n%s", p.name, out)
			}
			t.Logf("%s: %d requests for 400 rows, %d refused", p.name, requests["/"+p.name], len(bad))
		}
	})
}
