package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/planner"
)

// behinder is a source that can say how far a checkpoint is behind its
// change log (mysql.Source).
type behinder interface {
	Behind(ctx context.Context, mark []byte) (*mysql.Behind, error)
}

// StateStatus describes the state directory dir of plan's pipelines for a
// person (etlq status without --log): who holds its lock, each source's
// checkpoint and, when its server answers, how far behind it is, and each
// pipeline's checkpoint (its source's, or its own when it stopped alone).
// It reads the state without taking the lock: it may run next to apply.
func StateStatus(ctx context.Context, plan *planner.Plan, dir string) (string, error) {
	// (Said before any server is asked: nothing there needs one.)
	shown := dir
	if abs, err := filepath.Abs(dir); err == nil && abs != filepath.Clean(dir) {
		shown = dir + " (" + abs + ")"
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("state directory %s does not exist: nothing ran there yet, no apply has used it (give the one apply uses with --state-dir)", shown)
	} else if err != nil {
		return "", fmt.Errorf("state directory %s: %w", shown, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state directory %s\n", shown)
	store := &Store{Dir: dir}
	if !anyCheckpoint(store, plan) {
		fmt.Fprintf(&b, "  no checkpoint of this file's sources: nothing ran there yet (apply has not run with this file on this state directory, or took no checkpoint)\n")
	}
	holder := ""
	if data, err := os.ReadFile(filepath.Join(dir, lockName)); err == nil {
		holder = lockHolder(data)
	}
	switch {
	case !stateLockable:
		fmt.Fprintf(&b, "  lock: not kept on this platform (last written by %s)\n", orNone(holder))
	case StateDirInUse(dir):
		fmt.Fprintf(&b, "  lock: held by a running etlq (%s)\n", orNone(holder))
	case holder != "":
		fmt.Fprintf(&b, "  lock: free, no etlq runs on it (last held by %s)\n", holder)
	default:
		fmt.Fprintf(&b, "  lock: free, no etlq runs on it\n")
	}
	now := time.Now()
	for _, d := range plan.Sources {
		var pipes []string
		for _, p := range plan.Pipelines {
			if p.Source == d.Name {
				pipes = append(pipes, p.Name)
			}
		}
		st, err := store.Load(d.Name)
		if err != nil {
			fmt.Fprintf(&b, "source %s: %v\n", d.Name, err)
			continue
		}
		src, srcErr := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		describe := func(m []byte) string {
			if WorkerMark(m) {
				return "message " + string(m) + " of the log (an apply --log worker's checkpoint: etlq status --log shows the log)"
			}
			if md, ok := src.(connectors.MarkDescriber); ok && srcErr == nil {
				return md.DescribeMark(m)
			}
			return string(m)
		}
		if st == nil {
			fmt.Fprintf(&b, "source %s: no checkpoint yet (apply has not run on this state directory, or took none)\n", d.Name)
		} else {
			fmt.Fprintf(&b, "source %s: checkpoint %s, written %s (%s ago)\n", d.Name, describe(st.Mark),
				localTime(st.Updated), roundDuration(now.Sub(st.Updated)))
			if bh, ok := src.(behinder); ok && srcErr == nil && !WorkerMark(st.Mark) {
				fmt.Fprintf(&b, "  server: %s\n", behindText(ctx, bh, d, plan.Pipelines, st.Mark, now))
			}
		}
		if src != nil {
			src.Close()
		}
		covered := map[string]bool{}
		if st != nil {
			for _, n := range st.Pipelines {
				covered[n] = true
			}
		}
		for _, n := range pipes {
			own, err := store.Load(aloneName(d.Name, n))
			switch {
			case err != nil:
				fmt.Fprintf(&b, "  pipeline %s: %v\n", n, err)
			case own != nil:
				fmt.Fprintf(&b, "  pipeline %s: stopped alone at its own checkpoint %s, written %s: apply resumes it from there (docs/live-tables.md)\n",
					n, describe(own.Mark), localTime(own.Updated))
			case st != nil && covered[n]:
				fmt.Fprintf(&b, "  pipeline %s: at the source's checkpoint\n", n)
			case st != nil:
				fmt.Fprintf(&b, "  pipeline %s: not in the checkpoint: new since the last run, apply starts it\n", n)
			default:
				fmt.Fprintf(&b, "  pipeline %s: no checkpoint yet\n", n)
			}
		}
	}
	return b.String(), nil
}

// anyCheckpoint reports whether store holds a checkpoint of a source of
// plan, or of a pipeline of one stopped alone.
func anyCheckpoint(store *Store, plan *planner.Plan) bool {
	for _, d := range plan.Sources {
		if st, err := store.Load(d.Name); err != nil || st != nil {
			return true // (an unreadable one is said at its source)
		}
		for _, p := range plan.Pipelines {
			if p.Source != d.Name {
				continue
			}
			if own, err := store.Load(aloneName(d.Name, p.Name)); err != nil || own != nil {
				return true
			}
		}
	}
	return false
}

// behindText says how far the checkpoint mark of source d is behind its
// server, or why that is not known.
func behindText(ctx context.Context, bh behinder, d *planner.SourceDecl, pipes []*planner.Pipeline, mark []byte, now time.Time) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := bh.Behind(ctx, mark)
	if err != nil {
		return fmt.Sprintf("cannot tell how far behind (%s)", connectors.RedactSecrets(firstLine(err.Error())))
	}
	if h.Replica != "" {
		// A replica's own lag: "caught up" with it is not with its
		// primary (a stopped replica showed caught up; new-user trial).
		return behindOf(h, d, pipes, now) + "; " + h.Replica
	}
	return behindOf(h, d, pipes, now)
}

// behindOf is behindText of the answer h.
func behindOf(h *mysql.Behind, d *planner.SourceDecl, pipes []*planner.Pipeline, now time.Time) string {
	switch {
	case h.Purged:
		what := "apply fails there, unless on_binlog_gap = 'resnapshot'"
		if GapResnapshots(d, pipes) {
			what = "apply takes a new snapshot of the tables read with SNAPSHOT initial (on_binlog_gap = 'resnapshot')"
		}
		return fmt.Sprintf("at %s; the checkpoint's binary log was purged (the oldest is %s): %s", h.Current, h.Oldest, what)
	case h.Bytes == 0:
		return fmt.Sprintf("at %s: caught up", h.Current)
	case h.Since.IsZero():
		return fmt.Sprintf("at %s: %d bytes of binary log behind", h.Current, h.Bytes)
	}
	return fmt.Sprintf("at %s: %d bytes of binary log behind; the first change not taken was written %s (lag about %s)",
		h.Current, h.Bytes, localTime(h.Since), roundDuration(now.Sub(h.Since)))
}

// localTime writes t for a person, in the local zone with its offset
// (RFC 3339), as the log lines and the other messages give a time
// (lockHolder): a state file or the binary log keeps it in UTC.
func localTime(t time.Time) string { return t.Local().Format(time.RFC3339) }

func orNone(s string) string {
	if s == "" {
		return "no one"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
