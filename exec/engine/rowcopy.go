package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// The row copy of an online schema change (docs/live-tables.md, "Online
// schema changes"): the source sends the rows of a tool's copy of a table
// as exec.RowCopy batches. Each pipeline reading the table writes them,
// transformed as the table's own, into its sink's hidden copy target
// (connectors.RowCopier), and swaps that in at the cut-over: the new
// table is never read again.
//
// A stop between the swap and the next checkpoint replays the binlog
// from before the cut-over: a file in the state directory
// (rowcopy/<pipeline>.swap, written before the swap) says the swap was
// made, with the source's position of the swap (exec.RowCopy.At); with
// the copy's target gone too, the stream is told
// (connectors.StreamTable.CopySwapped, SwappedAt) not to send the table's
// rows up to the cut-over again. The file is removed once a checkpoint
// covers the swap (or the stream's RowCopyPassed after a restart), or
// when a new copy starts.
//
// A rebuild (a type change read again into each target's copy, the
// copy named after the table itself) writes every pipeline's swap file
// before any of them renames: the copies are all complete then, so a
// restart that finds every file finishes the swaps at the position they
// name, whatever its checkpoint, and the source sends none of the
// table's rows of the old type into the rebuilt targets.

// rowCopyTables sets, for each requested table, whether every pipeline
// reading it can take a row copy: an upsert target of that one table
// (no pattern) in a sink that keeps copies; and whether the copy was
// already swapped in.
func (r *sourceRun) rowCopyTables(ctx context.Context, req *connectors.StreamRequest) error {
	for i := range req.Tables {
		rt := &req.Tables[i]
		ok, swapped, n, copiers := true, 0, 0, 0
		var pending []*pipeRun // copiers whose copy was not swapped in
		var at []string        // the positions of the swaps made
		var rebuilt []string   // the positions of the rebuilds' swaps noted
		var noCopy []exec.Expr // what the pipelines that take no copy read
		for _, pr := range r.runs {
			tr, reads := pr.tables[rt.Ref.String()]
			if !reads {
				continue
			}
			n++
			rc, copier := r.sinks[pr.p.Sink].(connectors.RowCopier)
			if copier {
				if why := rc.CanCopy(pr.p.Target); why != "" {
					pr.log.Info("online schema changes of this table will be read again at the cut-over, not taken as a row copy", "pipeline", pr.p.Name, "table", rt.Ref.String(), "reason", why)
					copier = false
				}
			}
			if !copier || pr.p.Target.Mode != connectors.ModeUpsert || len(pr.p.Tables) != 1 || len(pr.p.Patterns) > 0 || pr.p.Snapshot == connectors.SnapshotOnly {
				ok = false
				noCopy = append(noCopy, tr.plan.Where)
				noCopy = append(noCopy, tr.plan.Outputs...)
				noCopy = append(noCopy, tr.plan.BeforeOutputs...)
				continue
			}
			copiers++
			if pr.copies == nil {
				pr.copies = map[string]bool{}
			}
			pr.copies[rt.Ref.String()] = true
			note, has := r.readSwapFile(pr)
			if has && note.rebuild {
				// (Decided below, for every pipeline at once.)
				rebuilt = append(rebuilt, note.at)
				continue
			}
			done, err := r.copySwapped(ctx, pr, has)
			if err != nil {
				return err
			}
			if done {
				swapped++
				at = append(at, note.at)
			} else {
				pending = append(pending, pr)
			}
		}
		rt.RowCopy = ok && n > 0
		if len(rebuilt) > 0 && len(rebuilt) == n && rt.RowCopy && sameStrings(rebuilt) && rebuilt[0] != "" {
			// Every target's copy was complete at the swap, and renamed
			// in or still to be: the source skips the table's rows up
			// to the swap, or knows its checkpoint passed it. (Some
			// pipelines' files only: the run stopped before any rename;
			// the rebuild is made again, its start removes them.)
			rt.SwappedAt, rt.Rebuilt = rebuilt[0], true
			continue
		}
		if !rt.RowCopy && copiers > 0 {
			// A rebuild still may: the copiers' targets are read again,
			// the others go on (rowCopy) unless they read a changed column.
			rt.Rebuild = true
			rt.NoCopyColumns = exec.ColumnsRead(noCopy...)
		}
		switch {
		case swapped > 0 && swapped == n && rt.RowCopy:
			rt.CopySwapped = true
		case swapped > 0:
			// Some targets swapped, others not (a stop between two
			// pipelines' swaps): the cut-over reads the table again for
			// all of them, and the copies not swapped in are of no use:
			// dropped, their swap files first (a file with no copy says
			// "swapped"), so that the next start decides the same.
			rt.RowCopy = false
			for _, pr := range pending {
				if err := r.dropUnswapped(ctx, pr, rt.Ref.String()); err != nil {
					return err
				}
			}
		}
		if swapped > 0 && sameStrings(at) && at[0] != "" {
			// The swapped pipelines' files go once the stream is past the
			// cut-over (RowCopyPassed), else the table's next migration
			// would look swapped for some targets and not for others.
			rt.SwappedAt = at[0]
		}
	}
	return nil
}

// sameStrings reports whether every string of l (at least one) is l[0].
func sameStrings(l []string) bool {
	for _, s := range l {
		if s != l[0] {
			return false
		}
	}
	return len(l) > 0
}

// dropUnswapped removes pr's swap file, then its copy target.
func (r *sourceRun) dropUnswapped(ctx context.Context, pr *pipeRun, table string) error {
	if f := r.swapFile(pr); f != "" {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	rc := r.sinks[pr.p.Sink].(connectors.RowCopier)
	if err := rc.DropCopy(ctx, pr.p.Target); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	pr.log.Info("row copy: another pipeline of the table swapped its copy in before the stop, this one not: the cut-over reads the table again for both; this copy's target was dropped", "pipeline", pr.p.Name, "table", table, "target", rc.CopyTarget(pr.p.Target).Name)
	return nil
}

// swapFile is where a pipeline notes that it swaps its copy in.
func (r *sourceRun) swapFile(pr *pipeRun) string {
	if r.opts.StateDir == "" {
		return ""
	}
	return filepath.Join(r.opts.StateDir, "rowcopy", pr.p.Name+".swap")
}

// swapNote is what a swap file says: the table, the source's position of
// the swap (exec.RowCopy.At, "" in files of older versions) and whether it
// ended a rebuild.
type swapNote struct {
	table, at string
	rebuild   bool
}

func (n swapNote) text() string {
	kind := "copy"
	if n.rebuild {
		kind = "rebuild"
	}
	return n.table + "\n" + n.at + "\n" + kind + "\n"
}

// readSwapFile reads pr's swap file (false when there is none).
func (r *sourceRun) readSwapFile(pr *pipeRun) (swapNote, bool) {
	f := r.swapFile(pr)
	if f == "" {
		return swapNote{}, false
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return swapNote{}, false
	}
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	n := swapNote{table: l[0]}
	if len(l) >= 3 {
		n.at, n.rebuild = l[1], l[2] == "rebuild"
	}
	return n, true
}

// copySwapped reports whether pr swapped its copy in (it has a swap
// file) and the copy's target is gone (the swap was made).
func (r *sourceRun) copySwapped(ctx context.Context, pr *pipeRun, hasFile bool) (bool, error) {
	if !hasFile {
		return false, nil
	}
	exists, err := r.sinks[pr.p.Sink].(connectors.RowCopier).CopyExists(ctx, pr.p.Target)
	if err != nil {
		return false, fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	return !exists, nil
}

// swapDone is a swap file to remove once a checkpoint covers batch seq,
// if it still names the swap at at.
type swapDone struct {
	seq      uint64
	file, at string
}

// forgetSwapAfter removes pr's swap file, if it still notes the swap at
// at, once a checkpoint covers batch seq (swapsCommitted).
func (r *sourceRun) forgetSwapAfter(pr *pipeRun, seq uint64, at string) {
	f := r.swapFile(pr)
	if f == "" || at == "" {
		return
	}
	r.swapsMu.Lock()
	r.swapsDone = append(r.swapsDone, swapDone{seq: seq, file: f, at: at})
	r.swapsMu.Unlock()
}

// swapsCommitted removes the swap files a checkpoint of batch seq (now
// saved) no longer needs: a restart resumes after their swap.
func (r *sourceRun) swapsCommitted(seq uint64) {
	r.swapsMu.Lock()
	keep := r.swapsDone[:0]
	var due []swapDone
	for _, d := range r.swapsDone {
		if d.seq <= seq {
			due = append(due, d)
		} else {
			keep = append(keep, d)
		}
	}
	r.swapsDone = keep
	r.swapsMu.Unlock()
	for _, d := range due {
		b, err := os.ReadFile(d.file)
		if err != nil {
			continue
		}
		if l := strings.Split(string(b), "\n"); len(l) < 2 || l[1] != d.at {
			continue // a later swap's
		}
		if err := os.Remove(d.file); err != nil && !os.IsNotExist(err) {
			r.opts.Log.Warn("row copy: swap file not removed", "file", d.file, "error", err)
		}
	}
}

// rowCopy delivers a batch of a tool's copy of table b.RowCopy.Of.
func (r *sourceRun) rowCopy(ctx context.Context, b *exec.Batch, seq uint64) error {
	switch {
	case b.RowCopy.Step == exec.RowCopyPassed:
		for _, pr := range r.routes[b.DB+"."+b.RowCopy.Of] {
			if n, ok := r.readSwapFile(pr); ok && n.at == b.RowCopy.At {
				r.forgetSwapAfter(pr, seq, n.at)
			}
		}
		return nil
	case b.RowCopy.Step == exec.RowCopySwap && b.RowCopy.Of == b.Table:
		return r.rebuildSwap(ctx, b, seq)
	}
	for _, pr := range r.routes[b.DB+"."+b.RowCopy.Of] {
		if !pr.wants(b) || pr.stopping.Load() {
			continue
		}
		if b.RowCopy.Of == b.Table && !pr.copies[b.DB+"."+b.Table] {
			// A rebuild of a table this pipeline takes no copy of
			// (connectors.StreamTable.Rebuild): it reads none of the
			// changed columns, so it goes on with the table's changes
			// and takes none of the rows read again or the copy's steps.
			if b.RowCopy.Step != exec.RowCopyRows || b.Snapshot {
				continue
			}
			in := *b
			in.RowCopy = nil
			if err := r.deliver(ctx, pr, &in, seq); err != nil {
				return err
			}
			continue
		}
		rc, ok := r.sinks[pr.p.Sink].(connectors.RowCopier)
		if !ok {
			return fmt.Errorf("pipeline %s: internal error: a row copy of %s.%s reached a sink that keeps none", pr.p.Name, b.DB, b.RowCopy.Of)
		}
		var err error
		switch b.RowCopy.Step {
		case exec.RowCopyStart:
			if b.RowCopy.Of == b.Table {
				// A rebuild begins: the table's changes go to the copy
				// from here on (awaitReread).
				pr.awaitReread(b.DB+"."+b.Table, false)
			}
			err = r.copyStart(ctx, pr, rc, b)
		case exec.RowCopySwap:
			err = r.copySwap(ctx, pr, rc, b, seq)
		case exec.RowCopyDrop:
			err = r.copyDrop(ctx, pr, rc, b)
		default:
			if pr.copy == nil {
				if err = r.openCopy(ctx, pr, rc); err != nil {
					break
				}
			}
			in := *b
			in.Table, in.RowCopy = b.RowCopy.Of, nil
			err = r.write(ctx, pr.copy, &in, seq)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// copyStart empties pr's copy target: a new copy, empty, starts.
func (r *sourceRun) copyStart(ctx context.Context, pr *pipeRun, rc connectors.RowCopier, b *exec.Batch) error {
	pr.closeCopy()
	if f := r.swapFile(pr); f != "" {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := rc.DropCopy(ctx, pr.p.Target); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	if b.RowCopy.Of == b.Table {
		// A rebuild (the table read again after a type change its
		// target cannot follow in place: connectors/mysql/rebuild.go):
		// the copy is created with the output of the table's new
		// columns, not the target's.
		tp, err := pr.p.Rebind(ctx, tableSchemaOf(b))
		if err != nil {
			return fmt.Errorf("pipeline %s: %s.%s changed type: %w", pr.p.Name, b.DB, b.Table, err)
		}
		pr.log.Info("rebuild: writing the table read again to a target no reader sees", "pipeline", pr.p.Name, "target", rc.CopyTarget(pr.p.Target).Name)
		return r.openCopySchema(ctx, pr, rc, tp.Sink)
	}
	pr.log.Info("row copy: writing the tool's copy to a target no reader sees", "pipeline", pr.p.Name, "target", rc.CopyTarget(pr.p.Target).Name)
	return r.openCopy(ctx, pr, rc)
}

// copyDrop drops pr's copy target: the copy will not be swapped in (the
// tool gave the migration up, or the source stopped following the copy).
// Every write before is acknowledged first; a replay from before this
// point makes the copy again and drops it here again.
func (r *sourceRun) copyDrop(ctx context.Context, pr *pipeRun, rc connectors.RowCopier, b *exec.Batch) error {
	if pr.copy != nil {
		if err := pr.copy.writer.Flush(ctx); err != nil {
			return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		}
	}
	pr.closeCopy()
	if err := rc.DropCopy(ctx, pr.p.Target); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	pr.log.Info("row copy: the copy will not be swapped in; its target was dropped", "pipeline", pr.p.Name, "table", b.DB+"."+b.RowCopy.Of, "copy", b.Table, "target", rc.CopyTarget(pr.p.Target).Name)
	return nil
}

// openCopy opens pr's writer of the copy target (created when missing).
func (r *sourceRun) openCopy(ctx context.Context, pr *pipeRun, rc connectors.RowCopier) error {
	return r.openCopySchema(ctx, pr, rc, nil)
}

// openCopySchema opens pr's writer of the copy target, created (when
// missing) with the output schema out (nil: the target's).
func (r *sourceRun) openCopySchema(ctx context.Context, pr *pipeRun, rc connectors.RowCopier, out *arrow.Schema) error {
	p := *pr.p
	p.Target = rc.CopyTarget(pr.p.Target)
	if out != nil {
		p.Target.Schema = out
	}
	// (Rows the pipeline rejects go to its own dead letters.)
	cp, err := newPipeRunDead(ctx, &p, r.sinks[pr.p.Sink], r.opts, pr.dead)
	if err != nil {
		return err
	}
	pr.copy = cp
	return nil
}

// copySwap makes pr's copy its target, once every write to both is
// durable, and opens the target's writer again on what it now holds.
func (r *sourceRun) copySwap(ctx context.Context, pr *pipeRun, rc connectors.RowCopier, b *exec.Batch, seq uint64) error {
	exists, err := r.prepareSwap(ctx, pr, rc, b)
	if err != nil {
		return err
	}
	return r.swapIn(ctx, pr, rc, b, exists, seq)
}

// rebuildSwap swaps in the copies of a rebuilt table (RowCopy.Of is the
// table itself): every pipeline's swap file first, then the renames, so
// that a run stopped between two renames leaves every file, each copy
// complete; the restart finishes the swaps at the position the files
// name (connectors.StreamTable.Rebuilt).
func (r *sourceRun) rebuildSwap(ctx context.Context, b *exec.Batch, seq uint64) error {
	type swap struct {
		pr     *pipeRun
		rc     connectors.RowCopier
		exists bool
	}
	var swaps []swap
	for _, pr := range r.routes[b.DB+"."+b.RowCopy.Of] {
		if !pr.wants(b) || pr.stopping.Load() || !pr.copies[b.DB+"."+b.Table] {
			// (A pipeline that takes no copy of the table reads none of
			// the changed columns: connectors.StreamTable.Rebuild.)
			continue
		}
		rc, ok := r.sinks[pr.p.Sink].(connectors.RowCopier)
		if !ok {
			return fmt.Errorf("pipeline %s: internal error: a rebuild of %s.%s reached a sink that keeps no copy", pr.p.Name, b.DB, b.Table)
		}
		exists, err := r.prepareSwap(ctx, pr, rc, b)
		if err != nil {
			return err
		}
		swaps = append(swaps, swap{pr, rc, exists})
	}
	for _, s := range swaps {
		if err := r.swapIn(ctx, s.pr, s.rc, b, s.exists, seq); err != nil {
			return err
		}
	}
	return nil
}

// prepareSwap makes every write to pr's copy and target durable, and
// notes the swap in pr's swap file; it reports whether the copy's target
// is there (not: swapped in before a restart).
func (r *sourceRun) prepareSwap(ctx context.Context, pr *pipeRun, rc connectors.RowCopier, b *exec.Batch) (bool, error) {
	// (Both writers get their batches through outboxes, outbox.go: what
	// is queued there comes before the swap.)
	if pr.copy != nil {
		pr.copy.out.settle()
		if err := pr.copy.writer.Flush(ctx); err != nil {
			return false, fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		}
	}
	pr.out.settle()
	if err := pr.writer.Flush(ctx); err != nil {
		return false, fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	exists, err := rc.CopyExists(ctx, pr.p.Target)
	if err != nil {
		return false, fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	f := r.swapFile(pr)
	if !exists {
		if f == "" {
			return false, fmt.Errorf("pipeline %s: the row copy of %s.%s is not in the target at the cut-over", pr.p.Name, b.DB, b.RowCopy.Of)
		}
		if _, err := os.Stat(f); err != nil {
			return false, fmt.Errorf("pipeline %s: the row copy of %s.%s is not in the target at the cut-over, and was not swapped in before (%v)", pr.p.Name, b.DB, b.RowCopy.Of, err)
		}
	}
	if f != "" {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return false, err
		}
		note := swapNote{table: b.DB + "." + b.RowCopy.Of, at: b.RowCopy.At, rebuild: b.RowCopy.Of == b.Table}
		if err := writeFileSync(f, []byte(note.text())); err != nil {
			return false, err
		}
		faultPoint("rowcopy-swap-file:" + pr.p.Name)
	}
	return exists, nil
}

// swapIn renames pr's copy onto its target (exists: the copy's target is
// there; not: renamed before a restart, the rest is finished) and opens
// the target's writer again on what it now holds.
func (r *sourceRun) swapIn(ctx context.Context, pr *pipeRun, rc connectors.RowCopier, b *exec.Batch, exists bool, seq uint64) error {
	if b.RowCopy.Of == b.Table {
		// A rebuild: the target is the copy now, with the new types.
		if pr.copy != nil {
			pr.p.Target.Schema = pr.copy.p.Target.Schema
		} else {
			// Swapped in (or its copy complete) before a restart.
			tp, err := pr.p.Rebind(ctx, tableSchemaOf(b))
			if err != nil {
				return fmt.Errorf("pipeline %s: %s.%s changed type: %w", pr.p.Name, b.DB, b.Table, err)
			}
			pr.p.Target.Schema = tp.Sink
		}
	}
	pr.closeCopy()
	if err := rc.SwapCopy(ctx, pr.p.Target); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	faultPoint("rowcopy-swapped:" + pr.p.Name)
	r.forgetSwapAfter(pr, seq, b.RowCopy.At)
	r.opts.writers.close(pr.writer)
	w, err := r.sinks[pr.p.Sink].Open(ctx, pr.p.Target)
	if err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	r.opts.writers.add(w) // (a stop closes it as the one it replaces)
	pr.writer, pr.followed = w, nil
	if exists {
		pr.log.Info("row copy: the copy replaced the target's rows", "pipeline", pr.p.Name, "table", b.DB+"."+b.RowCopy.Of, "target", pr.p.Target.Name)
	} else {
		pr.log.Info("row copy: the copy was swapped in before the restart", "pipeline", pr.p.Name, "table", b.DB+"."+b.RowCopy.Of, "target", pr.p.Target.Name)
	}
	return nil
}

// closeCopy closes pr's copy writer, if open.
func (pr *pipeRun) closeCopy() {
	if pr.copy != nil {
		pr.copy.close()
		pr.copy = nil
	}
}

// writeFileSync writes a small file durably (write, sync, rename).
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// faultPoint ends the process at once (as kill -9 would) when the
// environment variable ETLQ_TEST_FAULT names this point: the end-to-end
// tests stop a run at a precise step of the row copy's cut-over. Unset in
// any real run.
func faultPoint(name string) {
	if faultSet(name) {
		fmt.Fprintf(os.Stderr, "ETLQ_TEST_FAULT: exiting at %s\n", name)
		os.Exit(77)
	}
}

// faultSet reports whether ETLQ_TEST_FAULT, a comma-separated list, names
// name: a fault point, or "no-commit" (no checkpoint is written: the run
// stays at the checkpoint it started from, as a kill before the next
// commit leaves it).
func faultSet(name string) bool {
	v := os.Getenv("ETLQ_TEST_FAULT")
	if v == "" {
		return false
	}
	for _, f := range strings.Split(v, ",") {
		if f == name {
			return true
		}
	}
	return false
}
