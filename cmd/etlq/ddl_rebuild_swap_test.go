package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRebuildSwapKilled (issue #12): etlq ends (as kill -9) at each step
// around the swap of a rebuild — a type change that is no lossless
// widening, made with a writer running while etlq is stopped, so that
// the checkpoint is before the DDL — with two pipelines reading the
// table into two targets (t, u): after p_t noted the swap but before
// p_u did and before any ClickHouse RENAME; after p_t's RENAME, before
// p_u's, with no checkpoint since the DDL (ETLQ_TEST_FAULT's no-commit),
// for a non-key and a key column, the restart's replay up to the swap
// slowed to seconds (its binlog read through the proxy) so that the
// stream's idle marks come on the way; after both RENAMEs with a checkpoint
// taken while the table was read again (etlq's reads slowed by a proxy);
// after a checkpoint passed the swap. Each restart ends with both targets
// equal to the source row by row and of the new type, with no stop, and
// no swap file or copy left. (Failed before: the restart after a RENAME
// replayed rows of the old type into the swapped table and stopped with
// `column "d" changed type …`; and, where the replay up to the swap took
// over a second — a loaded machine —, an idle mark carried the table as
// the checkpoint has it, of the old type, and planned the pipelines back
// to it: p_t, whose target was already the rebuilt table, stopped with
// `key column "id" changed type from varchar(20) to int(11)`.)
func TestRebuildSwapKilled(t *testing.T) {
	t.Parallel()
	onBothServers(t, testRebuildSwapKilled)
}

func testRebuildSwapKilled(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	viaProxy, px := throttled(t, myDSN)
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, k INT NOT NULL DEFAULT 0, v INT, d DECIMAL(10,4), w INT, x INT)",
		"INSERT INTO "+db+".t SELECT seq, seq, seq * 7, seq + 0.1234 + (seq % 2) * 0.0051, seq, seq FROM "+db+".seq_1_to_20000")
	dir := t.TempDir()
	r := &rowCopyRun{file: filepath.Join(dir, "p.etl"), state: filepath.Join(dir, "state")}
	writeFile(t, r.file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d, chunk_rows = 250);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_t FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.t WITH (batch_rows = 500, flush_interval = '100ms');
CREATE PIPELINE p_u FROM binlog s.%[3]s.t INTO clickhouse dw.%[3]s.u WITH (batch_rows = 500, flush_interval = '100ms');
`, viaProxy, s.chDSN, db, testServerID()))
	swapFile := func(p string) string { return filepath.Join(r.state, "rowcopy", p+".swap") }
	there := func(p string) bool { _, err := os.Stat(swapFile(p)); return err == nil }
	marker := 1000000
	waitMarker := func() {
		t.Helper()
		marker++
		myExec(t, my, fmt.Sprintf("INSERT INTO %s.t (id, k) VALUES (%d, %d)", db, marker, marker))
		for _, tb := range []string{"t", "u"} {
			r.waitFor(t, fmt.Sprintf("row %d in ClickHouse %s", marker, tb), 120*time.Second, func() (bool, string) {
				n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.%s_current WHERE toString(id) = '%d'", db, tb, marker))
				return err == nil && n == 1, fmt.Sprint(n, err)
			})
		}
	}
	copyThere := func(tb string) bool {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = '%s__etlq_copy'", db, tb))
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	colType := func(tb, col string) string {
		return chCells(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = '%s' AND name = '%s'", db, tb, col))[0][0]
	}
	r.start(t)
	waitMarker()
	r.stop(t)

	for i, step := range []struct {
		name, alter, fault string
		slow               bool
		// slowReplay: the restart reads the binlog slowly up to the swap
		slowReplay bool
		// what the fault leaves: swap files and copies there
		files, copies [2]bool
		col, typ      string
	}{
		{name: "p_t's swap file written, p_u's not, no RENAME", alter: "MODIFY v VARCHAR(20)", fault: "rowcopy-swap-file:p_t",
			files: [2]bool{true, false}, copies: [2]bool{true, true}, col: "v", typ: "Nullable(String)"},
		{name: "p_t renamed, p_u not, the checkpoint before the DDL", alter: "MODIFY d DECIMAL(10,2)", fault: "rowcopy-swapped:p_t,no-commit", slowReplay: true,
			files: [2]bool{true, true}, copies: [2]bool{false, true}, col: "d", typ: "Nullable(Decimal(10, 2))"},
		{name: "p_t renamed, p_u not, the checkpoint before the DDL, a key column", alter: "MODIFY id VARCHAR(20)", fault: "rowcopy-swapped:p_t,no-commit", slowReplay: true,
			files: [2]bool{true, true}, copies: [2]bool{false, true}, col: "id", typ: "String"},
		{name: "both renamed, a checkpoint of the re-read under way", alter: "MODIFY x VARCHAR(30)", fault: "rowcopy-swapped:p_u", slow: true,
			files: [2]bool{true, true}, copies: [2]bool{false, false}, col: "x", typ: "Nullable(String)"},
		{name: "after a checkpoint passed the swap", alter: "MODIFY w VARCHAR(30)", col: "w", typ: "Nullable(String)"},
	} {
		t.Logf("step %d: %s (%s)", i+1, step.name, step.alter)
		// The type change, with a writer, while etlq is stopped; the
		// writer goes on while etlq rebuilds the table.
		w := startDDLWriter(t, myDSN, db+".t", 10000*(i+1))
		time.Sleep(300 * time.Millisecond)
		myExec(t, my, "ALTER TABLE "+db+".t "+step.alter)
		if step.fault != "" {
			r.env = []string{"ETLQ_TEST_FAULT=" + step.fault}
		}
		if step.slow {
			// Slowed from the start, so that checkpoints are taken while
			// the re-read runs (the table's schema there has the rebuild
			// under way). Slowed only once the re-read's log line was
			// seen, the re-read (under 0.1 s on an idle machine) could
			// end before the proxy slowed it, with no checkpoint taken
			// during it.
			px.slow.Store(true)
		}
		r.start(t)
		if step.slow {
			r.waitFor(t, "the re-read", 120*time.Second, func() (bool, string) {
				return strings.Contains(r.out.String(), "rebuild: reading the table again into the copy"), ""
			})
			// The re-read crawls until a checkpoint has it under way:
			// checkpoints come once a second, and a re-read of 1.7 s at
			// the slowed rate passed with a single one, taken before the
			// DDL's mark was acknowledged (a CI run on a loaded machine).
			px.crawl.Store(true)
			r.waitFor(t, "a checkpoint of the re-read under way", 120*time.Second, func() (bool, string) {
				state, _ := os.ReadFile(filepath.Join(r.state, "source-s.json"))
				return strings.Contains(string(state), `\"rebuild\":true`) || strings.Contains(string(state), `"rebuild":true`), ""
			})
			px.crawl.Store(false)
		}
		if step.fault != "" {
			r.waitFault(t, strings.Split(step.fault, ",")[0], 180*time.Second)
			px.slow.Store(false)
			if got := [2]bool{there("p_t"), there("p_u")}; got != step.files {
				t.Fatalf("%s: swap files of p_t, p_u: %v, want %v", step.name, got, step.files)
			}
			if got := [2]bool{copyThere("t"), copyThere("u")}; got != step.copies {
				t.Fatalf("%s: copies of t, u: %v, want %v", step.name, got, step.copies)
			}
			state, _ := os.ReadFile(filepath.Join(r.state, "source-s.json"))
			if under := strings.Contains(string(state), `\"rebuild\":true`) || strings.Contains(string(state), `"rebuild":true`); (step.slow || strings.Contains(step.fault, "no-commit")) && under != step.slow {
				t.Fatalf("%s: the checkpoint has the rebuild under way: %v, want %v\n%s\nlog:\n%s", step.name, under, step.slow, state, r.out.String())
			}
		} else {
			r.waitFor(t, "the swap", 180*time.Second, func() (bool, string) {
				return strings.Count(r.out.String(), "row copy: the copy replaced the target's rows") == 2, ""
			})
			// The swap files go once a checkpoint passed the swap.
			r.waitFor(t, "the swap files removed", 60*time.Second, func() (bool, string) {
				return !there("p_t") && !there("p_u"), ""
			})
			r.kill9()
		}
		first := r.out.String()
		w.halt()
		r.env = nil
		if step.slowReplay {
			// The replay from the checkpoint up to the swap, every row of
			// it skipped, takes seconds: the stream's idle marks (one a
			// second without a batch) come on the way.
			px.slowBinlog.Store(true)
		}
		r.start(t)
		if step.slowReplay {
			// Slowed for 5 s, then at full speed: the window holds the
			// other tests' binlog too (16 MB of it in a CI run, 17 minutes
			// at the slowed rate), and 5 s pass several idle marks.
			slowed := time.AfterFunc(5*time.Second, func() { px.slowBinlog.Store(false) })
			defer slowed.Stop()
			r.waitFor(t, "the replay up to the swap", 180*time.Second, func() (bool, string) {
				return strings.Contains(r.out.String(), "the stream reached the rebuilt table's swap"), ""
			})
			px.slowBinlog.Store(false)
			if out := r.out.String(); strings.Contains(out, "level=ERROR") {
				t.Fatalf("%s: the slowed replay up to the swap logged an error:\n%s", step.name, out)
			}
		}
		waitMarker()
		for _, tb := range []string{"t", "u"} {
			compareTable(t, my, ch, db, "t", db, tb, db+"."+tb+"_current")
			if typ := colType(tb, step.col); typ != step.typ {
				t.Errorf("%s: %s.%s is %s in ClickHouse, want %s", step.name, tb, step.col, typ, step.typ)
			}
		}
		out := r.stop(t)
		if strings.Contains(out, "level=ERROR") {
			t.Errorf("%s: the restart logged an error", step.name)
		}
		if there("p_t") || there("p_u") {
			t.Errorf("%s: a swap file is left after the restart", step.name)
		}
		if copyThere("t") || copyThere("u") {
			t.Errorf("%s: a copy target is left after the restart", step.name)
		}
		// The restart reads the table again only where no RENAME was
		// made (or no swap at all was noted by every pipeline).
		if again := strings.Contains(out, "read again into a copy"); again != (step.fault == "rowcopy-swap-file:p_t") {
			t.Errorf("%s: the restart read the table again: %v", step.name, again)
		}
		if t.Failed() {
			t.Fatalf("%s: log of the run:\n%s\nlog of the restart:\n%s", step.name, first, out)
		}
	}
}
