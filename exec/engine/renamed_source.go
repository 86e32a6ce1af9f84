package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/planner"
)

// A source renamed in the file (CREATE SOURCE shop … edited to CREATE
// SOURCE prod …, the same DSN) has no checkpoint under its new name:
// apply started it as a first run, its SNAPSHOT never pipelines at the
// current position (the changes made while etlq was stopped lost) and
// every SNAPSHOT initial table read again, while check and plan said ok
// (new-user trial). The state directory keys everything by the source's
// name (source-<name>.json, definitions-, tables-, targets-,
// snapshots-<name>.json; source-<name>@<pipeline>.json of a pipeline
// stopped alone, source-<name>+<pipeline>.json of an own scan), so a
// checkpoint of a name the file no longer declares is noticed, and
// compared with the file's sources that have none.

// checkpointServer is a source that compares a checkpoint's server with
// its own (mysql.Source).
type checkpointServer interface {
	CheckpointServer(ctx context.Context, state []byte) (*mysql.ServerMatch, error)
}

// SourceRename is a checkpoint of the state directory of a source the
// file does not declare, as check, plan and apply say it.
type SourceRename struct {
	// Old is the name the checkpoint is of; Files its files in the state
	// directory.
	Old   string
	Files []string
	// Decl is a source of the file without a checkpoint of its own
	// (apply starts it as a first run); nil when every source of the file
	// has one.
	Decl *planner.SourceDecl
	// Refuse: Decl connects to the server the checkpoint was taken on;
	// apply refuses to start it as a first run.
	Refuse bool
	Text   string
}

// SourceRenames returns the checkpoints of stateDir whose source plan
// does not declare, one for each source of plan (with pipelines) that
// has no checkpoint, or one alone when each has one. online: the
// sources are asked whether the checkpoint was taken on their server
// (otherwise nothing is refused). A state directory of apply --log
// workers (whose checkpoints count log messages) has none.
func SourceRenames(ctx context.Context, plan *planner.Plan, stateDir string, online bool) []SourceRename {
	files, _ := filepath.Glob(filepath.Join(stateDir, "source-*.json"))
	sort.Strings(files)
	declared := map[string]bool{}
	for _, d := range plan.Sources {
		declared[d.Name] = true
	}
	store := &Store{Dir: stateDir}
	marks := map[string][]byte{} // old name → a mark of it (its own first)
	var olds []string
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "source-"), ".json")
		if strings.HasPrefix(filepath.Base(f), tempPrefix) {
			continue
		}
		base := name
		if i := strings.IndexAny(name, "@+"); i >= 0 {
			base = name[:i]
		}
		if declared[base] {
			continue
		}
		st, err := store.Load(name)
		if err != nil || st == nil || WorkerMark(st.Mark) {
			continue
		}
		if _, seen := marks[base]; !seen {
			olds = append(olds, base)
		}
		if marks[base] == nil || name == base {
			marks[base] = st.Mark
		}
	}
	if len(olds) == 0 {
		return nil
	}
	var fresh []*planner.SourceDecl
	for _, d := range plan.Sources {
		used := false
		for _, p := range plan.Pipelines {
			used = used || p.Source == d.Name
		}
		if st, err := store.Load(d.Name); used && err == nil && st == nil {
			fresh = append(fresh, d)
		}
	}
	var out []SourceRename
	for _, old := range olds {
		r := SourceRename{Old: old, Files: sourceFiles(stateDir, old)}
		shown := strings.Join(r.Files, ", ")
		if len(fresh) == 0 {
			r.Text = fmt.Sprintf("the state directory holds a checkpoint of source %s, which the file does not declare (%s): apply leaves it as it is; if %s was renamed in the file, its new name has a checkpoint of its own already", old, shown, old)
			out = append(out, r)
			continue
		}
		for _, d := range fresh {
			r := r
			r.Decl = d
			var m *mysql.ServerMatch
			var why string
			if online && len(marks[old]) > 0 {
				if src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options); err == nil {
					if cs, ok := src.(checkpointServer); ok {
						var err error
						if m, err = cs.CheckpointServer(ctx, marks[old]); err != nil {
							why = connectors.RedactSecrets(err.Error())
						}
					}
					src.Close()
				}
			}
			switch {
			case m != nil && m.Known && m.Same:
				r.Refuse = true
				r.Text = fmt.Sprintf("source %s has no checkpoint in the state directory, which holds one of source %s, not declared in the file, taken on the server %s connects to (%s): was %s renamed to %s? "+
					"apply refuses to start %s as a first run, which would lose the changes made since that checkpoint (SNAPSHOT never pipelines start at the current position) and read every SNAPSHOT initial table again. "+
					"To resume from the checkpoint, rename the source back to %s; to start %s over, remove the old checkpoint's files: %s",
					d.Name, old, d.Name, m.Current, old, d.Name, d.Name, old, d.Name, shown)
			case m != nil && m.Known:
				r.Text = fmt.Sprintf("source %s has no checkpoint in the state directory, which holds one of source %s, not declared in the file, taken on another server (%s; %s connects to %s): apply starts %s as a first run, and leaves the checkpoint of %s as it is (%s)",
					d.Name, old, m.Checkpoint, d.Name, m.Current, d.Name, old, shown)
			default:
				how := "whether on the server " + d.Name + " connects to cannot be told"
				switch {
				case !online:
					how = "whether on the server " + d.Name + " connects to is not looked at offline"
				case why != "":
					how += ": " + why
				case m != nil:
					how += " (the checkpoint names no server)"
				}
				r.Text = fmt.Sprintf("source %s has no checkpoint in the state directory, which holds one of source %s, not declared in the file (%s): apply starts %s as a first run; if %s is %s renamed, rename it back to %s to resume from that checkpoint, which apply otherwise leaves as it is (%s)",
					d.Name, old, how, d.Name, d.Name, old, old, shown)
			}
			out = append(out, r)
		}
	}
	return out
}

// sourceFiles lists the state directory's files of source name: its
// checkpoint and those of its pipelines stopped alone or scanning on
// their own, and what the last run kept of its pipelines.
func sourceFiles(dir, name string) []string {
	var out []string
	for _, pat := range []string{"source-" + name + ".json", "source-" + name + "@*.json", "source-" + name + "+*.json",
		"definitions-" + name + ".json", "tables-" + name + ".json", "targets-" + name + ".json", "snapshots-" + name + ".json"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		sort.Strings(m)
		for _, f := range m {
			if _, err := os.Stat(f); err == nil {
				out = append(out, f)
			}
		}
	}
	return out
}
