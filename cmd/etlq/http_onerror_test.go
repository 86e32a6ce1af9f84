package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHTTPRefusedRowsOnError: rows an endpoint refuses follow the
// pipeline's on_error. The endpoint of pd takes one row per request (413
// to more: the writer sends the request again in halves, down to single
// rows) and refuses a row with v = 666 (422); under on_error =
// 'dead_letter' that row goes to the dead-letter target with the status
// and the endpoint's answer, and the other rows flow on. The endpoint of
// ps refuses a request holding such a row (400); under on_error = 'skip'
// the request is sent again in halves until that row is alone, which is
// skipped, counted, and logged at WARN with the status. The
// run exits 0 and the checkpoint passes them: a next run sends nothing
// again. Before, either refusal stopped its pipeline (on_error was for
// transform errors only). The snapshot and the binlog, both servers.
func TestHTTPRefusedRowsOnError(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t VALUES (1, 10), (2, 20), (3, 30), (4, 666), (5, 50), (6, 60)")
		var mu sync.Mutex
		taken := map[string][]int{}
		requests := map[string]int{}
		bad := regexp.MustCompile(`"v":"?666\b`)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var msgs []json.RawMessage
			if err := json.Unmarshal(body, &msgs); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			requests[r.URL.Path]++
			switch {
			case r.URL.Path == "/pd" && len(msgs) > 1:
				http.Error(w, "one change per request", http.StatusRequestEntityTooLarge)
				return
			case r.URL.Path == "/pd" && bad.Match(body):
				http.Error(w, "v must not be 666", http.StatusUnprocessableEntity)
				return
			case r.URL.Path == "/ps" && bad.Match(body):
				http.Error(w, "bad v", http.StatusBadRequest)
				return
			}
			for _, m := range msgs {
				var id struct {
					After struct{ ID int } `json:"after"` // debezium_json
					Data  []struct {
						ID string `json:"id"`
					} `json:"data"` // canal_json
				}
				if err := json.Unmarshal(m, &id); err != nil {
					t.Errorf("%s: %v", m, err)
				}
				if id.After.ID != 0 {
					taken[r.URL.Path] = append(taken[r.URL.Path], id.After.ID)
				}
				for _, d := range id.Data {
					n, _ := strconv.Atoi(d.ID)
					taken[r.URL.Path] = append(taken[r.URL.Path], n)
				}
			}
		}))
		defer hook.Close()
		dir := t.TempDir()
		file, state, dead := filepath.Join(dir, "n.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "dead.jsonl")
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE pd FROM binlog s.%[2]s.t TRANSFORM id, v INTO http '%[3]s/pd' FORMAT debezium_json
  WITH (on_error = 'dead_letter', dead_letter = 'file %[4]s');
CREATE PIPELINE ps FROM binlog s.%[2]s.t TRANSFORM id, v INTO http '%[3]s/ps' FORMAT canal_json
  WITH (on_error = 'skip');
`, myDSN, db, hook.URL, dead)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		skipped := 0
		rowsOut := map[string]int{} // pipeline → rows_out of its summaries
		apply := func() string {
			t.Helper()
			out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
			m := regexp.MustCompile(`msg="pipeline done" pipeline=ps rows_in=\d+ rows_out=\d+ [^\n]*?row_errors=(\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no summary of ps:\n%s", out)
			}
			n, _ := strconv.Atoi(m[1])
			skipped += n
			for _, p := range []string{"pd", "ps"} {
				m := regexp.MustCompile(`msg="pipeline done" pipeline=` + p + ` rows_in=\d+ rows_out=(\d+) `).FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("no summary of %s:\n%s", p, out)
				}
				n, _ := strconv.Atoi(m[1])
				rowsOut[p] += n
			}
			return out
		}
		out := apply()
		// The binlog: a row per transaction, the refused one among them.
		myExec(t, my, "INSERT INTO "+db+".t VALUES (7, 70)", "INSERT INTO "+db+".t VALUES (8, 666)",
			"INSERT INTO "+db+".t VALUES (9, 90), (10, 100)")
		out += apply()

		mu.Lock()
		pd, ps := slices.Clone(taken["/pd"]), slices.Clone(taken["/ps"])
		before := requests["/pd"] + requests["/ps"]
		mu.Unlock()
		if want := []int{1, 2, 3, 5, 6, 7, 9, 10}; !slices.Equal(pd, want) {
			t.Errorf("pd's endpoint took %v, want %v (each row alone, in order, 4 and 8 refused)", pd, want)
		}
		letters, err := os.ReadFile(dead)
		if err != nil {
			t.Fatalf("no dead letters: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(letters)), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d dead letters, want 2 (rows 4 and 8):\n%s", len(lines), letters)
		}
		for i, id := range []string{"4", "8"} {
			var dl struct {
				Pipeline, Reason string
				Row              map[string]*string
			}
			if err := json.Unmarshal([]byte(lines[i]), &dl); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(dl.Reason, "422 Unprocessable Entity: v must not be 666") || dl.Pipeline != "pd" {
				t.Errorf("dead letter %d: want pd's with the status and the endpoint's answer: %s", i, lines[i])
			}
			if dl.Row["id"] == nil || *dl.Row["id"] != id || dl.Row["v"] == nil || *dl.Row["v"] != "666" {
				t.Errorf("dead letter %d does not hold row %s: %s", i, id, lines[i])
			}
		}
		if !strings.Contains(out, "dead_letters=1") {
			t.Errorf("pd's summary counts no dead letter:\n%s", out)
		}

		// The refused request is sent again in halves: rows 4 and 8 alone
		// are skipped (before, the whole snapshot batch of 6 rows with 4).
		if want := []int{1, 2, 3, 5, 6, 7, 9, 10}; !slices.Equal(ps, want) || skipped != 2 {
			t.Errorf("ps: the endpoint took %v and %d rows were counted skipped; want %v and 2 (rows 4 and 8)", ps, skipped, want)
		}
		if !regexp.MustCompile(`level=WARN msg="rows the sink refused are skipped \(on_error = 'skip'\)" pipeline=ps rows=\d+ reason="[^"]*400 Bad Request: bad v`).MatchString(out) {
			t.Errorf("no WARN names the skipped rows' status and count:\n%s", out)
		}

		// Passed: the next run sends nothing again.
		apply()
		// The refused rows are row errors, not rows out (before, rows_out
		// counted them as written: 5 with dead_letters=1 for 4 taken).
		if rowsOut["pd"] != len(pd) || rowsOut["ps"] != len(ps) {
			t.Errorf("rows_out: pd %d, ps %d; want the rows the endpoints took, %d and %d", rowsOut["pd"], rowsOut["ps"], len(pd), len(ps))
		}
		mu.Lock()
		defer mu.Unlock()
		if after := requests["/pd"] + requests["/ps"]; after != before {
			t.Errorf("a run after sent %d requests again", after-before)
		}
	})
}

// TestHTTPApplyOnceEndsPromptly: apply --once with an http sink whose
// request timeout is long (10m) ends when its rows are acknowledged, not a
// request timeout later: closing an idle writer waits for nothing. (A
// guard: it passed before the change to Close too; what waited a whole
// timeout was a close between retries, TestCloseDuringOutageReturnsPromptly.)
// The endpoint keeps its connections alive, as a Go server does. Both
// servers, a snapshot run and a binlog run.
func TestHTTPApplyOnceEndsPromptly(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)", "INSERT INTO "+db+".t VALUES (1), (2)")
		var mu sync.Mutex
		requests := 0
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			mu.Lock()
			requests++
			mu.Unlock()
		}))
		defer hook.Close()
		dir := t.TempDir()
		file, state := filepath.Join(dir, "n.etl"), filepath.Join(dir, "state")
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO http '%s/hook' FORMAT debezium_json WITH (timeout = '10m');
`, myDSN, db, hook.URL)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		for run := 0; run < 2; run++ {
			if run == 1 {
				myExec(t, my, "INSERT INTO "+db+".t VALUES (3)")
			}
			start := time.Now()
			mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
			if el := time.Since(start); el > 2*time.Minute {
				t.Errorf("run %d took %v with a 10m request timeout and nothing left in flight", run, el)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if requests == 0 {
			t.Error("the endpoint got no request")
		}
	})
}
