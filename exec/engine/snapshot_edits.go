package engine

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/planner"
)

// A pipeline's SNAPSHOT counts at its first run: an edit of it later
// (initial → only, never → initial, …) reads no target again, which
// check, plan and apply did not say (new-user trial). The last run's
// SNAPSHOT of each pipeline is kept in <state-dir>/snapshots-<source>.json
// (pipeline → initial, never or only), beside its targets, and an edit
// is a note (SnapshotEdits).

func snapshotsFile(dir, source string) string {
	return filepath.Join(dir, "snapshots-"+source+".json")
}

// loadSnapshotModes reads the pipelines' SNAPSHOT of the last run of
// source; none when it kept none (an older etlq's state directory).
func loadSnapshotModes(dir, source string) (map[string]string, error) {
	return loadKept[map[string]string](snapshotsFile(dir, source), "the pipelines' SNAPSHOT")
}

// saveSnapshotModes keeps the SNAPSHOT of this run's pipelines over
// those of the last run.
func (r *sourceRun) saveSnapshotModes() error {
	m, err := loadSnapshotModes(r.opts.StateDir, r.decl.Name)
	if err != nil || m == nil {
		m = map[string]string{}
	}
	for _, pr := range r.runs {
		m[pr.p.Name] = snapshotWord(pr.p.Snapshot)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(snapshotsFile(r.opts.StateDir, r.decl.Name), data)
}

// SnapshotEdit is a pipeline whose SNAPSHOT differs from the state
// directory's last run, and what apply does about it.
type SnapshotEdit struct {
	Pipeline *planner.Pipeline
	Text     string
}

// SnapshotEdits returns, for check, plan and apply, the pipelines of plan
// that the last run of their source ran (named in its checkpoint) with
// another SNAPSHOT, without an error of their own. file is the .etl file
// as the user gave it, for the resnapshot command the text names.
func SnapshotEdits(plan *planner.Plan, stateDir, file string) []SnapshotEdit {
	var out []SnapshotEdit
	store := &Store{Dir: stateDir}
	for _, d := range plan.Sources {
		st, err := store.Load(d.Name)
		if err != nil || st == nil || len(st.Pipelines) == 0 {
			continue
		}
		modes, err := loadSnapshotModes(stateDir, d.Name)
		if err != nil || modes == nil {
			continue
		}
		known := map[string]bool{}
		for _, n := range st.Pipelines {
			known[n] = true
		}
		var sm connectors.SnapshotMarker
		if src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options); err == nil {
			sm, _ = src.(connectors.SnapshotMarker)
			defer src.Close()
		}
		follows := func(but *planner.Pipeline) bool {
			for _, p := range plan.Pipelines {
				if p != but && p.Source == d.Name && p.Snapshot != connectors.SnapshotOnly {
					return true
				}
			}
			return false
		}
		for _, p := range plan.Pipelines {
			was, had := modes[p.Name]
			now := snapshotWord(p.Snapshot)
			if p.Source != d.Name || plan.Failed[p.Name] || !known[p.Name] || !had || was == now {
				continue
			}
			// The tables apply takes a snapshot of now: a table the
			// checkpoint has no snapshot of (only SNAPSHOT never
			// pipelines read it) is read when a pipeline of it asks for
			// one (the stream's resume), not the others.
			var unread []string
			if p.Snapshot != connectors.SnapshotNever && sm != nil {
				for _, t := range p.Tables {
					if started, err := sm.SnapshotStarted(st.Mark, t.Ref); err == nil && !started {
						unread = append(unread, t.Ref.String())
					}
				}
			}
			read := "its target is not read again"
			switch {
			case p.Unbound != nil && p.Snapshot != connectors.SnapshotNever:
				// (Offline, or its source unreachable: its tables are
				// not known.)
				read = "its target is not read again (but for a table of which the checkpoint has no snapshot, which apply reads now: check online names them)"
			case len(unread) == len(p.Tables):
				// (A re-trial read "not read again, but … reads it now"
				// as a contradiction.)
				read = fmt.Sprintf("apply reads %s now, of which the checkpoint has no snapshot (no pipeline read it with one)", strings.Join(unread, ", "))
			case len(unread) > 0:
				read = fmt.Sprintf("apply reads %s now, of which the checkpoint has no snapshot (no pipeline read it with one); its other tables are not read again", strings.Join(unread, ", "))
			}
			again := fmt.Sprintf("; to read its tables again, run etlq resnapshot %s %s", file, p.Name)
			var what string
			switch {
			case p.Snapshot == connectors.SnapshotOnly && follows(p):
				what = fmt.Sprintf("%s, and apply writes no more of its tables' changes into it (SNAPSHOT only takes snapshot rows alone); the source's checkpoint moves on with its other pipelines, so the changes made from now on never reach this target, even with SNAPSHOT set back later (etlq resnapshot reads its tables again then: it refuses a SNAPSHOT only pipeline)", read)
				again = ""
			case p.Snapshot == connectors.SnapshotOnly:
				what = fmt.Sprintf("%s, and apply writes no more of its tables' changes into it (SNAPSHOT only takes snapshot rows alone); no other pipeline of source %s follows its changes, so its checkpoint stays where it is: SNAPSHOT set back to %s delivers the changes made meanwhile", read, d.Name, was)
				again = ""
			case was == "only":
				what = fmt.Sprintf("%s, and the pipeline follows its tables' changes again from the source's checkpoint on (the changes before it, made while it was SNAPSHOT only and another pipeline moved the checkpoint, do not reach it)", read)
			default:
				what = read + ", and the pipeline goes on from the source's checkpoint"
			}
			out = append(out, SnapshotEdit{Pipeline: p, Text: fmt.Sprintf("pipeline %s: SNAPSHOT changed since the last run (was %s, now %s): the option counts only at a pipeline's first run: %s%s",
				p.Name, was, now, what, again)})
		}
	}
	return out
}
