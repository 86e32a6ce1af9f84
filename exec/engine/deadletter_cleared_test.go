package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// TestClearedNotesAcrossWorkers: a table's TRUNCATE (DROP, RENAME away)
// is noted per pipeline with its version, the latest kept (a copy of the
// truncate in another log partition, or one met again after a restart,
// at a smaller version, changes nothing); only a pipeline that keeps dead
// letters and writes an upsert target notes it. The replay of a log
// worker's letters (--state-dir DIR/worker-0) reads the notes of every
// worker of the directory: the truncate reached the workers that held a
// partition then, not necessarily the one whose letters are replayed.
// Letters older than their table's note are left out; newer ones and
// those without a version stay.
func TestClearedNotesAcrossWorkers(t *testing.T) {
	dir := t.TempDir()
	w0, w1 := filepath.Join(dir, "worker-0"), filepath.Join(dir, "worker-1")
	pr := func(onErr exec.OnError, mode connectors.Mode) *pipeRun {
		return &pipeRun{p: &planner.Pipeline{Name: "p", OnError: onErr, Target: connectors.Target{Mode: mode}}}
	}
	up := pr(exec.OnErrorDeadLetter, connectors.ModeUpsert)
	for _, n := range []struct {
		dir     string
		table   string
		version uint64
	}{{w0, "db.t", 100}, {w1, "db.t", 300}, {w1, "db.t", 200}, {w0, "db.u", 50}} {
		if err := noteCleared(n.dir, up, n.table, n.version, "binlog.000001:4", clearedTruncate); err != nil {
			t.Fatal(err)
		}
	}
	for _, other := range []*pipeRun{pr(exec.OnErrorSkip, connectors.ModeUpsert), pr(exec.OnErrorDeadLetter, connectors.ModeAppend)} {
		other.p.Name = "q"
		if err := noteCleared(w0, other, "db.t", 500, "", clearedTruncate); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(ClearedFile(w0, "q")); !os.IsNotExist(err) {
		t.Errorf("a pipeline without dead letters or an upsert target noted a truncate: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(w1, "deadletter")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the letters' directory: %v %v, want 0700", fi.Mode().Perm(), err)
	}
	for _, from := range []string{w0, w1, dir} {
		got, err := readCleared(from, "p")
		if err != nil {
			t.Fatal(err)
		}
		if got["db.t"].Version != 300 || got["db.u"].Version != 50 || len(got) != 2 {
			t.Errorf("notes read from %s: %+v, want db.t at 300, db.u at 50", from, got)
		}
	}
	if got, _ := readCleared(filepath.Join(t.TempDir(), "state"), "p"); len(got) != 0 {
		t.Errorf("another state directory's notes: %+v", got)
	}

	// A read again of the range id < 5 at 400 (etlq resnapshot --where),
	// noted once though met again after a restart; a whole table's read
	// before it keeps it.
	for range 2 {
		if err := noteRangeCleared(w1, up, "db.t", 400, "id < 5"); err != nil {
			t.Fatal(err)
		}
	}
	if err := noteCleared(w1, up, "db.t", 310, "", clearedReread); err != nil {
		t.Fatal(err)
	}
	cleared, _ := readCleared(w0, "p")
	if r := cleared["db.t"].Ranges; cleared["db.t"].Version != 310 || len(r) != 1 || r[0].Version != 400 || r[0].Where != "id < 5" {
		t.Fatalf("db.t's notes: %+v, want read again at 310 and the range id < 5 at 400", cleared["db.t"])
	}
	id := func(s string) map[string]*string { return map[string]*string{"id": &s} }
	letters := []DeadLetter{
		{Table: "db.t", Version: 299}, {Table: "db.t", Version: 311, Row: id("1")}, {Table: "db.t", Version: 312, Row: id("9")},
		{Table: "db.t", Version: 401, Row: id("2")}, {Table: "db.t"},
		{Table: "db.u", Version: 10}, {Table: "db.v", Version: 1},
	}
	var asked []string
	inRange := func(table, where string, ls []DeadLetter) ([]bool, error) {
		out := make([]bool, len(ls))
		for i, dl := range ls {
			asked = append(asked, table+" "+where+" "+*dl.Row["id"])
			out[i] = *dl.Row["id"] < "5"
		}
		return out, nil
	}
	kept, err := leaveOutCleared(letters, cleared, "p", inRange, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var versions []uint64
	for _, dl := range kept {
		versions = append(versions, dl.Version)
	}
	if len(kept) != 4 || kept[0].Version != 312 || kept[1].Version != 401 || kept[2].Version != 0 || kept[3].Table != "db.v" {
		t.Errorf("kept letters of versions %v, want 312 (outside the range), 401 (after it), 0 (db.t) and db.v's", versions)
	}
	if fmt.Sprint(asked) != "[db.t id < 5 1 db.t id < 5 9]" {
		t.Errorf("the source was asked of %q, want the letters of db.t between its read again and the range's", asked)
	}
	// The source cannot tell: nothing is replayed, and the error says why.
	if _, err := leaveOutCleared(letters, cleared, "p", func(string, string, []DeadLetter) ([]bool, error) {
		return nil, errors.New("unknown column")
	}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "2 dead letters of db.t are older than a read again of its rows WHERE id < 5") {
		t.Errorf("a range the source cannot evaluate: %v", err)
	}
}
