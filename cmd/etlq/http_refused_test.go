package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHTTPRefusalStopsItsPipeline: an endpoint that refuses a request
// (400: no retry lets it through) stops the pipeline that sends to it
// alone, with the endpoint's answer and how to resume; the other pipeline
// of the source (a file) goes on and gets every change. Once the endpoint
// takes the requests, the next run resumes the stopped pipeline from its
// own checkpoint: the refused rows arrive, nothing lost. Before, the 400
// ended the run of every pipeline of the source (the notify trial: a 400
// from the canal endpoint stopped the debezium pipeline beside it), as
// an outage that outlasts retry_max does. Both servers.
func TestHTTPRefusalStopsItsPipeline(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t VALUES (1, 10), (2, 20)")
		var refuse atomic.Bool
		var mu sync.Mutex
		var taken strings.Builder
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if refuse.Load() {
				http.Error(w, "field v is not accepted", http.StatusBadRequest)
				return
			}
			mu.Lock()
			taken.Write(b)
			mu.Unlock()
		}))
		defer hook.Close()
		dir := t.TempDir()
		file, state, jsonl := filepath.Join(dir, "n.etl"), filepath.Join(dir, "state"), filepath.Join(dir, "t.jsonl")
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE p1 FROM binlog s.%[2]s.t TRANSFORM id, v INTO http '%[3]s/hook' FORMAT jsonl WITH (body = 'ndjson');
CREATE PIPELINE p2 FROM binlog s.%[2]s.t TRANSFORM id, v INTO file '%[4]s';
`, myDSN, db, hook.URL, jsonl)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
			t.Fatalf("first apply: %v\n%s", err, out)
		}
		refuse.Store(true)
		for i := 101; i <= 110; i++ {
			myExec(t, my, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, %d)", db, i, 10*i))
		}
		out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		if err == nil || !strings.Contains(out, "400 Bad Request: field v is not accepted") {
			t.Fatalf("the refused run (%v) does not say what the endpoint answered:\n%s", err, out)
		}
		if !strings.Contains(out, "the other pipelines of source s go on (p2)") || !strings.Contains(out, "fix what the endpoint refused") {
			t.Errorf("p1 did not stop alone with how to resume it:\n%s", out)
		}
		got, rerr := os.ReadFile(jsonl)
		if rerr != nil {
			t.Fatal(rerr)
		}
		for i := 101; i <= 110; i++ {
			if !strings.Contains(string(got), fmt.Sprintf(`"id":%d,`, i)) {
				t.Errorf("p2's file lacks row %d: the refusal stopped it too", i)
			}
		}
		refuse.Store(false)
		if out, err := runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file); err != nil {
			t.Fatalf("apply with the endpoint fixed: %v\n%s", err, out)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 101; i <= 110; i++ {
			if !strings.Contains(taken.String(), fmt.Sprintf(`"id":%d,`, i)) {
				t.Errorf("the endpoint never took row %d", i)
			}
		}
	})
}
