package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestRowCountersSayWhatTheyCount: rows out are rows the target keeps as
// rows; the tombstones an upsert target gets — a source delete, an update
// that no longer passes WHERE — are counted apart, and so are the source
// rows WHERE leaves out. etlq_rows_out_total counted an update moved out
// of WHERE, and a delete, as rows out. Checked in /metrics, the
// "pipeline done" summary and the snapshot run's summary. Both servers.
func TestRowCountersSayWhatTheyCount(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, status VARCHAR(8) NOT NULL)",
			"INSERT INTO "+s.db+".t VALUES (1, 'a'), (2, 'a'), (3, 'a'), (4, 'x')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t WHERE status <> 'x' INTO clickhouse dw.%[4]s.t MODE upsert WITH (flush_interval = '100ms');
`, myDSN, testServerID(), s.chDSN, s.db))

		// The snapshot: 4 rows read, 3 written, 1 left out by WHERE.
		out := mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		summary := regexp.MustCompile(`msg="pipeline done" pipeline=p rows_in=(\d+) rows_out=(\d+) tombstones=(\d+) rows_filtered=(\d+) row_errors=0`)
		if m := summary.FindStringSubmatch(out); m == nil || m[1] != "4" || m[2] != "3" || m[3] != "0" || m[4] != "1" {
			t.Fatalf("snapshot run: want rows_in=4 rows_out=3 tombstones=0 rows_filtered=1, got %v:\n%s", m, out)
		}

		// An update out of WHERE (a tombstone, filtered), a delete (a
		// tombstone), an update that stays (a row), an insert left out
		// (filtered).
		myExec(t, s.my,
			"UPDATE "+s.db+".t SET status = 'x' WHERE id = 1",
			"DELETE FROM "+s.db+".t WHERE id = 2",
			"UPDATE "+s.db+".t SET status = 'b' WHERE id = 3",
			"INSERT INTO "+s.db+".t VALUES (5, 'x')")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		buf := &syncBuffer{}
		cmd := startApplyArgs(t, buf, "apply", "--state-dir", state, "--metrics-addr", addr, "--progress", "never", file)
		want := map[string]float64{"etlq_rows_in_total": 4, "etlq_rows_out_total": 1, "etlq_tombstones_total": 2, "etlq_rows_filtered_total": 2, "etlq_row_errors_total": 0}
		var page string
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page = string(b)
			}
			done := true
			for m, v := range want {
				done = done && metricValue(page, m+`{pipeline="p"}`) == v
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				for m, v := range want {
					if got := metricValue(page, m+`{pipeline="p"}`); got != v {
						t.Errorf("%s = %v, want %v", m, got, v)
					}
				}
				t.Fatalf("metrics:\n%s\n--- etlq:\n%s", page, buf)
			}
		}
		if got := chRows(t, s.ch, "SELECT toString(id) || status FROM "+s.db+".t_current ORDER BY id"); fmt.Sprint(got) != "[3b]" {
			t.Errorf("the target holds %v, want [3b]", got)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		m := summary.FindStringSubmatch(buf.String())
		if m == nil {
			t.Fatalf("no summary:\n%s", buf)
		}
		got := []int{}
		for _, x := range m[1:] {
			n, _ := strconv.Atoi(x)
			got = append(got, n)
		}
		if fmt.Sprint(got) != "[4 1 2 2]" {
			t.Errorf("summary: want rows_in=4 rows_out=1 tombstones=2 rows_filtered=2, got %v:\n%s", got, buf)
		}
	})
}
