package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// The tables whose rows left a pipeline's upsert target all at once after
// some of its dead letters: a TRUNCATE, a DROP or a RENAME away (the
// truncate change), or a read again that removed the keys it did not
// find (a resnapshot of the whole table, an online schema change's
// cut-over). Such a table event removes only the keys live in the
// target, and a dead-lettered key never was: replayed, the letter brought
// back a row the source no longer had (an operator trial: ids 2 and 4,
// dead-lettered, then TRUNCATE, came back at `deadletter replay`, and
// verify reported them extra). So the engine notes, for each pipeline
// under on_error = 'dead_letter' with an upsert target, the last such
// event of each table (its _version) in
// <state-dir>/deadletter/<pipeline>.cleared.json, before the event can
// be checkpointed; replay leaves out the letters of a table older than
// it. The file is not moved aside by a replay: it holds for every later
// letter file, and for letters read --from a dead-letter target.

// ClearedFile is where the table events of a pipeline (clearedTable) are
// kept.
func ClearedFile(stateDir, pipeline string) string {
	return filepath.Join(stateDir, "deadletter", pipeline+".cleared.json")
}

// clearedTable is the last event of a table that removed its rows from
// the target wholesale, and the reads again of a range of its rows since
// (Ranges).
type clearedTable struct {
	Version uint64    `json:"version,omitempty"` // the event's _version: letters older are left out
	Pos     string    `json:"pos,omitempty"`
	Event   string    `json:"event,omitempty"` // what happened, for the replay's log
	Time    time.Time `json:"time,omitzero"`
	// Ranges are the reads again of the rows a WHERE selects (etlq
	// resnapshot --where) after Version: each removed the keys of its
	// range that it did not find, and a letter older whose row is in the
	// range is left out as one older than Version is.
	Ranges []clearedRange `json:"ranges,omitempty"`
}

// clearedRange is a read again of the rows of a table that Where (the
// source's SQL) selects, at Version.
type clearedRange struct {
	Version uint64    `json:"version"`
	Where   string    `json:"where"`
	Time    time.Time `json:"time"`
}

// clearedMu serializes the notes of one process (log workers of one
// process share none, but a note reads the file before it writes it).
var clearedMu sync.Mutex

// Events of clearedTable.
const (
	clearedTruncate = "truncated, dropped or renamed away"
	clearedReread   = "read again whole (resnapshot)"
	clearedCutover  = "replaced by another table at a cut-over"
)

// noteCleared notes that table ("db.table") left pr's target wholesale at
// version (an event), when pr keeps dead letters and writes an upsert
// target; it returns once the note is durable.
func noteCleared(stateDir string, pr *pipeRun, table string, version uint64, pos, event string) error {
	return updateCleared(stateDir, pr, version, func(all map[string]clearedTable) (string, bool) {
		if all[table].Version >= version {
			return "", false // (a copy of the truncate in another log partition, a replay after a restart)
		}
		c := clearedTable{Version: version, Pos: pos, Event: event, Time: time.Now().UTC()}
		for _, r := range all[table].Ranges {
			if r.Version > version {
				c.Ranges = append(c.Ranges, r) // (a range read after the event)
			}
		}
		all[table] = c
		return event, true
	}, table)
}

// updateCleared reads pr's table events, lets change change them (it
// returns the event to log and whether it changed anything) and writes
// them back durably, when pr keeps dead letters and writes an upsert
// target and version is set.
func updateCleared(stateDir string, pr *pipeRun, version uint64, change func(map[string]clearedTable) (string, bool), table string) error {
	if pr.p.OnError != exec.OnErrorDeadLetter || pr.p.Target.Mode != connectors.ModeUpsert || version == 0 {
		return nil
	}
	clearedMu.Lock()
	defer clearedMu.Unlock()
	path := ClearedFile(stateDir, pr.p.Name)
	all, err := readClearedFile(path)
	if err != nil {
		return err
	}
	event, changed := change(all)
	if !changed {
		return nil
	}
	return writeCleared(path, pr.p.Name, table, event, all)
}

// noteRangeCleared notes that the rows of table that where selects were
// read again at version, and the keys of the range the read did not find
// removed from pr's target (etlq resnapshot --where), when pr keeps dead
// letters and writes an upsert target; it returns once the note is
// durable.
func noteRangeCleared(stateDir string, pr *pipeRun, table string, version uint64, where string) error {
	return updateCleared(stateDir, pr, version, func(all map[string]clearedTable) (string, bool) {
		c := all[table]
		if c.Version >= version {
			return "", false
		}
		for _, r := range c.Ranges {
			if r.Where == where && r.Version >= version {
				return "", false // (a replay after a restart)
			}
		}
		c.Ranges = append(c.Ranges, clearedRange{Version: version, Where: where, Time: time.Now().UTC()})
		all[table] = c
		return clearedRangeReread, true
	}, table)
}

// clearedRangeReread names a range's read again in an error.
const clearedRangeReread = "read again in a range (resnapshot --where)"

// writeCleared writes all, the table events of pipeline, to path.
func writeCleared(path, pipeline, table, event string, all map[string]clearedTable) error {
	data, err := json.MarshalIndent(struct {
		Tables map[string]clearedTable `json:"tables"`
	}{all}, "", "  ")
	if err != nil {
		return err
	}
	// (The letters' directory: readable by the owner only.)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("pipeline %s: note of %s %s: %w", pipeline, table, event, err)
	}
	return nil
}

// readClearedFile reads a ClearedFile; a missing one is empty.
func readClearedFile(path string) (map[string]clearedTable, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]clearedTable{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st struct {
		Tables map[string]clearedTable `json:"tables"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Tables == nil {
		st.Tables = map[string]clearedTable{}
	}
	return st.Tables, nil
}

var workerDir = regexp.MustCompile(`^worker-[0-9]+$`)

// readCleared returns the table events of pipeline noted in stateDir and
// in the state directories of the same `apply --log` workers (its
// worker-N directories, or when stateDir is one, the others beside it):
// a log worker meets a truncate in the partitions it holds then, which
// need not be those of the letters' rows. The latest of each table.
func readCleared(stateDir, pipeline string) (map[string]clearedTable, error) {
	dir := filepath.Clean(stateDir)
	dirs := []string{dir}
	workers := func(d string) {
		m, _ := filepath.Glob(filepath.Join(d, "worker-*"))
		for _, w := range m {
			if workerDir.MatchString(filepath.Base(w)) && w != dir {
				dirs = append(dirs, w)
			}
		}
	}
	workers(dir)
	if workerDir.MatchString(filepath.Base(dir)) {
		dirs = append(dirs, filepath.Dir(dir))
		workers(filepath.Dir(dir))
	}
	out := map[string]clearedTable{}
	for _, d := range dirs {
		all, err := readClearedFile(ClearedFile(d, pipeline))
		if err != nil {
			return nil, err
		}
		for t, c := range all {
			o := out[t]
			if c.Version > o.Version {
				o.Version, o.Pos, o.Event, o.Time = c.Version, c.Pos, c.Event, c.Time
			}
			o.Ranges = append(o.Ranges, c.Ranges...)
			out[t] = o
		}
	}
	return out, nil
}
