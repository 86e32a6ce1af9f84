package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cespare/xxhash/v2"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// Verify compares each upsert pipeline's target with its source, as
// docs/verify.md describes: the source tables are read with a snapshot
// scan (no binlog), each chunk put through the pipeline's own compiled
// program (WHERE, TRANSFORM), and every output row and every live target
// row (FINAL, _is_deleted = 0) reduced to a canonical text and a hash. A
// key whose hash differs is checked again once the pipeline's checkpoint
// (read from the state directory, without its lock) has passed the source
// position of that read, so that lag is not reported as a difference.

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// StateDir is the running (or stopped) apply's state directory: its
	// checkpoints tell how far each pipeline has applied.
	StateDir string
	// LogURL, when set, is the scale-out log (apply --log) whose workers
	// of LogGroup apply the pipelines: how far they have applied is read
	// from their acknowledgements in the log, not from StateDir
	// (docs/scale-out.md, "Verify").
	LogURL, LogGroup string
	// Pipelines restricts the check to these names (all when empty).
	Pipelines []string
	// Repair rewrites the differing keys from the source, then verifies
	// again.
	Repair bool
	// LagTimeout bounds the wait for a checkpoint to pass a position
	// (default 2 minutes).
	LagTimeout time.Duration
	// Rounds bounds the re-checks of differing keys (default 3).
	Rounds int
	// Shown is how many differing keys are kept with their values per
	// target (0: the default, 10; negative: none).
	Shown int
	Log   *slog.Logger
	Alloc memory.Allocator
	// Stream compares through etlq even where the servers could compute
	// the checksums.
	Stream bool
	// Progress, when set, is called with the source rows read so far.
	Progress func(pipeline string, rows int64)
}

// VerifyDiff is one differing key with the canonical text of its row on
// each side ("" when the side has no live row).
type VerifyDiff struct {
	Key    string `json:"key"`
	Source string `json:"source,omitempty"`
	Target string `json:"target,omitempty"`
	// Cause, when known, is why the key differs: its target row's
	// _version is above every version the pipeline's stream has given
	// (VerifyResult.VersionAhead).
	Cause string `json:"cause,omitempty"`
}

// VerifyDuplicate is a key text more than one source row has, and how many.
type VerifyDuplicate struct {
	Key  string `json:"key"`
	Rows int    `json:"rows"`
}

// VerifyResult is the outcome for one pipeline's target.
type VerifyResult struct {
	Pipeline string `json:"pipeline"`
	Target   string `json:"target"`
	Tables   int    `json:"tables"`
	// SourceRows and TargetRows are the rows of the first full pass.
	SourceRows int64 `json:"source_rows"`
	TargetRows int64 `json:"target_rows"`
	// Chunks is the number of source chunks read in the full pass; Differing
	// the chunks holding a differing key (a key only the target holds
	// counts in Extra only).
	Chunks    int `json:"chunks"`
	Differing int `json:"differing_chunks"`
	// Missing, Extra and Changed count the confirmed differing keys: in the
	// source only, in the target only, in both with other values.
	Missing int `json:"missing"`
	Extra   int `json:"extra"`
	Changed int `json:"changed"`
	// VersionAhead counts, of the differing keys the target holds, those
	// whose row there has a _version at or above StreamVersion, the next
	// version the pipeline's stream assigns as its checkpoint holds it
	// (after waiting for the checkpoint to pass the row): a row the stream
	// did not write (by hand, say), which outranks every later change the
	// running apply writes of the key. --repair leaves them while an apply
	// runs (RepairSkipped says what to do).
	VersionAhead  int    `json:"version_ahead,omitempty"`
	StreamVersion uint64 `json:"stream_version,omitempty"`
	// Rechecked is the number of keys the full pass found suspect and the
	// re-checks read again (differences and lag alike).
	Rechecked int          `json:"rechecked"`
	Diffs     []VerifyDiff `json:"diffs,omitempty"`
	// DuplicateKeys is the number of keys more than one source row has
	// (in DuplicateRows rows): the target holds one row per key, so it
	// cannot equal the source (the KEY is not unique in it). Duplicates
	// shows the first of them (by key text) with their row counts.
	DuplicateKeys int               `json:"duplicate_keys,omitempty"`
	DuplicateRows int64             `json:"duplicate_rows,omitempty"`
	Duplicates    []VerifyDuplicate `json:"duplicates,omitempty"`
	// Error is why the pipeline could not be verified (its target lacks a
	// column, or the table): the other pipelines are verified all the same.
	Error string `json:"error,omitempty"`
	// NotVerified is why a bare `etlq verify FILE` (no pipeline named)
	// left the pipeline out: its mode keeps no row per key, its target
	// cannot be read back, … Such a pipeline is not a failure.
	NotVerified string `json:"not_verified,omitempty"`
	// Unconfirmed is set when the pipeline's checkpoint did not pass the
	// source position within LagTimeout: the differences may be lag.
	Unconfirmed string `json:"unconfirmed,omitempty"`
	// Cascades name, when the target holds extra or changed keys, the
	// source's foreign keys whose actions change the pipeline's tables'
	// rows without row events (ON DELETE CASCADE …): such keys may be
	// rows a parent's change deleted or changed (docs/schema-changes.md,
	// "Foreign-key cascades"; a replica trial's verify listed 291 extra
	// keys without a word of why).
	Cascades []string `json:"cascades,omitempty"`
	// ApplyStopped is set with Unconfirmed when no etlq apply ran with the
	// state directory (nobody held its lock) while the re-check waited
	// for the checkpoint: it will not move, so verify stopped waiting.
	ApplyStopped bool `json:"apply_stopped,omitempty"`
	// Repaired is the number of keys --repair rewrote (before the check
	// that follows it, whose result the other fields are).
	Repaired int `json:"repaired,omitempty"`
	// Repairs is what the check before the repair found, the keys the
	// repair rewrote: their counts and the first of them with both sides'
	// rows as they were (nil without a repair).
	Repairs *VerifyRepairs `json:"repairs,omitempty"`
	// NotApplied is set when the file's definition of the pipeline
	// differs from the one the state directory's last apply ran with (an
	// edit not applied yet): the comparison is against a definition no
	// apply has written, and --repair is refused (a new-user trial's
	// verify of a narrowed WHERE found 8,303 "extra" keys the running
	// apply still wrote, which --repair would have deleted).
	NotApplied string `json:"not_applied,omitempty"`
	// SnapshotOnly: the pipeline is SNAPSHOT only, its target the tables
	// as read once and not kept up to date since: changes the source took
	// after its read are differences, and --repair brings the target to
	// the source as it is now (a re-trial's verify listed them without a
	// word of why).
	SnapshotOnly bool `json:"snapshot_only,omitempty"`
	// RepairSkipped says why differences were not repaired although
	// asked (a changelog target, a definition not applied).
	RepairSkipped string  `json:"repair_skipped,omitempty"`
	Seconds       float64 `json:"seconds"`
	// Path is how the full pass compared: "in-server" (checksums computed
	// by MariaDB and ClickHouse) or "streaming" (rows through etlq), and
	// Fallback why a pipeline was streamed.
	Path     string `json:"path"`
	Fallback string `json:"fallback,omitempty"`
}

// VerifyRepairs is what a repair rewrote: the differing keys of the check
// before it (VerifyResult.Repairs).
type VerifyRepairs struct {
	Missing int          `json:"missing"`
	Extra   int          `json:"extra"`
	Changed int          `json:"changed"`
	Diffs   []VerifyDiff `json:"diffs,omitempty"`
}

// Differences is the number of confirmed differing keys.
func (r *VerifyResult) Differences() int { return r.Missing + r.Extra + r.Changed }

// Verify checks every selected upsert pipeline of the plan. It never takes
// the state directory's lock: it runs next to `etlq apply`.
func Verify(ctx context.Context, plan *planner.Plan, opts VerifyOptions) ([]*VerifyResult, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Alloc == nil {
		opts.Alloc = memory.DefaultAllocator
	}
	if opts.LagTimeout == 0 {
		opts.LagTimeout = 2 * time.Minute
	}
	if opts.Rounds == 0 {
		opts.Rounds = 3
	}
	if opts.Shown == 0 {
		opts.Shown = 10
	} else if opts.Shown < 0 {
		opts.Shown = 0
	}
	want := map[string]bool{}
	for _, n := range opts.Pipelines {
		want[n] = true
	}
	var pipes []*planner.Pipeline
	var skipped []string // why each pipeline left out is, for an empty list
	named := len(want) > 0
	for _, p := range plan.Pipelines {
		if named && !want[p.Name] {
			continue
		}
		delete(want, p.Name)
		why := unverifiable(p)
		if why == "" {
			why = cannotReadBack(plan, p)
		}
		if why != "" {
			if len(opts.Pipelines) > 0 {
				return nil, fmt.Errorf("pipeline %s: %s", p.Name, why)
			}
			skipped = append(skipped, p.Name+": "+why)
			continue
		}
		if p.Snapshot == connectors.SnapshotNever {
			// Its target holds the changes since it started, not the table.
			if len(opts.Pipelines) > 0 {
				return nil, fmt.Errorf("pipeline %s: SNAPSHOT never: its target holds only the changes since it started, not a copy of the source to verify", p.Name)
			}
			skipped = append(skipped, p.Name+": SNAPSHOT never: its target holds only the changes since it started")
			continue
		}
		pipes = append(pipes, p)
	}
	if len(want) > 0 {
		var names []string
		for n := range want {
			names = append(names, n)
		}
		sort.Strings(names)
		var all []string
		for _, p := range plan.Pipelines {
			all = append(all, p.Name)
		}
		hint := planner.Suggest(names[0], all)
		if hint == "" {
			hint = " (it has: " + strings.Join(all, ", ") + ")"
		}
		return nil, fmt.Errorf("no pipeline named %q in the file%s", names[0], hint)
	}
	if len(pipes) == 0 {
		if len(skipped) > 0 {
			// A file of changelog pipelines read with SNAPSHOT never (as
			// examples/audit.etl) was told it had no changelog pipeline.
			return nil, fmt.Errorf("no upsert or changelog pipeline to verify (%s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("no upsert or changelog pipeline to verify")
	}
	var out []*VerifyResult
	for _, p := range pipes {
		res, err := verifyOne(ctx, plan, p, opts)
		if err != nil {
			if ctx.Err() != nil {
				return out, fmt.Errorf("pipeline %s: %w", p.Name, err)
			}
			// One pipeline that cannot be verified (its target lacks a
			// column, or the table) is reported as such; the others are
			// still checked.
			opts.Log.Warn("not verified", "pipeline", p.Name, "err", err)
			res = &VerifyResult{Pipeline: p.Name, Target: p.Target.Name, Tables: len(p.Tables),
				Error: strings.TrimPrefix(err.Error(), "pipeline "+p.Name+": ")}
		}
		out = append(out, res)
	}
	// A bare `etlq verify FILE` says of each pipeline it leaves out that
	// it did, and why: it left append pipelines and key-less changelogs
	// out without a word.
	for _, n := range skipped {
		name, why, _ := strings.Cut(n, ": ")
		out = append(out, &VerifyResult{Pipeline: name, NotVerified: why})
	}
	return out, nil
}

// verifyOne verifies one pipeline.
func verifyOne(ctx context.Context, plan *planner.Plan, p *planner.Pipeline, opts VerifyOptions) (*VerifyResult, error) {
	v, err := newVerifier(ctx, plan, p, opts)
	if err != nil {
		return nil, err
	}
	defer v.close()
	return v.run(ctx)
}

// unverifiable says why verify cannot compare p's target with its source,
// or "" when it can.
func unverifiable(p *planner.Pipeline) string {
	switch p.Target.Mode {
	case connectors.ModeUpsert:
		return ""
	case connectors.ModeChangelog:
		if len(p.Target.Key) == 0 {
			why := p.NoKeyReason
			if why == "" {
				why = "no KEY"
			}
			return "verify replays a changelog by its key, and this one has none (" + why + ")"
		}
		// A change that fails the WHERE is not written: the changelog
		// does not record a row leaving the WHERE, so its replay keeps
		// the row while the source no longer selects it.
		for _, t := range p.Tables {
			if t.Where != nil {
				return "verify compares a changelog pipeline without WHERE only: a changelog does not record the update that moves a row out of the WHERE, so its last change is not the source's row"
			}
		}
		return ""
	}
	return fmt.Sprintf("verify compares upsert and changelog pipelines only (this one is %s: its target keeps every change, with no row per key to compare)", p.Target.Mode)
}

// cannotReadBack says why p's target cannot be read back (a file, an HTTP
// endpoint, stdout: not a connectors.VerifySink), or "". A bare `etlq
// verify FILE` leaves such pipelines out as it leaves out append ones: it
// failed every file with a notification pipeline beside its ClickHouse
// ones (exit 1, "cannot be read back") however equal the targets were.
func cannotReadBack(plan *planner.Plan, p *planner.Pipeline) string {
	for _, d := range plan.Sinks {
		if d.Name != p.Sink {
			continue
		}
		s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			return "" // (verifyOne reports it)
		}
		defer s.Close()
		if _, ok := s.(connectors.VerifySink); !ok {
			return fmt.Sprintf("sink %s (%s) cannot be read back; verify compares ClickHouse targets", d.Name, d.Kind)
		}
	}
	return ""
}

// verifier checks one pipeline.
type verifier struct {
	p     *planner.Pipeline
	decl  *planner.SourceDecl
	sinkD *planner.SinkDecl
	opts  VerifyOptions
	src   connectors.Source
	pos   connectors.PositionSource
	sink  connectors.Sink
	vt    connectors.VerifyTarget
	pr    *pipeRun
	// sums is the in-server checksum plan (nil: streaming, for the reason
	// in fallback).
	sums     *sumPlan
	fallback string
	// applyStopped: a wait for the checkpoint found no apply running
	// (waitApplied).
	applyStopped bool
	// ahead are the differing keys of the last check whose target row's
	// _version is above every version the stream has given (aheadOfStream),
	// by key text; aheadRunning: an etlq apply held the state directory's
	// lock when that was found (or the lock cannot tell).
	ahead        map[string]uint64
	aheadRunning bool
}

// aheadSettle is the longest aheadOfStream waits for the checkpoint's
// counter to pass a target row's _version: the checkpoint is written
// after the sink acknowledged the rows it covers, so a row the stream
// wrote is visible in the target a commit before the checkpoint that
// covers it (a snapshot's rows, written at the binlog position of the
// checkpoint before them, included).
const aheadSettle = 10 * time.Second

// streamCounter returns the next _version the pipeline's stream assigns
// as its checkpoint in the state directory holds it (the source's: every
// row the stream gave a version before that checkpoint had a smaller
// one), false when that cannot be told (no state directory or checkpoint,
// a scale-out log's workers, a source whose marks hold no counter).
func (v *verifier) streamCounter() (uint64, bool, error) {
	mv, ok := v.src.(connectors.MarkVersioner)
	if !ok || v.opts.LogURL != "" || v.opts.StateDir == "" {
		return 0, false, nil
	}
	st, err := (&Store{Dir: v.opts.StateDir}).Load(v.decl.Name)
	if err != nil || st == nil || WorkerMark(st.Mark) {
		return 0, false, err
	}
	c, ok := mv.MarkVersion(st.Mark)
	return c, ok, nil
}

// aheadOfStream returns, of the differing keys the target holds, those
// whose row there has a _version at or above every version the stream has
// given, with that version, and the stream's counter (0: cannot be told).
// The counter is the checkpoint's, read after the target's versions; as
// the checkpoint trails the target by a commit, a row above it is
// waited for (aheadSettle, or until the state directory's lock is found
// free: no apply moves the checkpoint) until the counter passes it. What
// stays above was not written by the stream: by hand, or by another
// process. known are the keys a check before found so, which are not
// waited for again at the same version. It also sets aheadRunning.
func (v *verifier) aheadOfStream(ctx context.Context, keys map[string]bool, known map[string]uint64) (map[string]uint64, uint64, error) {
	v.aheadRunning = false
	if len(keys) == 0 {
		return nil, 0, nil
	}
	c, ok, err := v.streamCounter()
	if err != nil || !ok {
		return nil, 0, err
	}
	if vr, ok := v.vt.(connectors.VersionReader); ok {
		// No row of the target is at the counter (the usual case): no
		// key's is, and the keyed scan of the target is not needed.
		top, err := vr.MaxVersion(ctx)
		if err != nil {
			return nil, 0, err
		}
		if top < c {
			return nil, c, nil
		}
	}
	vers, err := v.vt.Versions(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	deadline := time.Now().Add(min(aheadSettle, max(v.opts.LagTimeout, time.Second)))
	free := 0
	for {
		c, ok, err := v.streamCounter() // after the versions: it only grows
		if err != nil || !ok {
			return nil, 0, err
		}
		ahead := map[string]uint64{}
		wait := false
		for k, ver := range vers {
			if ver >= c {
				ahead[k] = ver
				if kv, ok := known[k]; !ok || kv != ver {
					wait = true
				}
			}
		}
		if len(ahead) == 0 {
			return nil, c, nil
		}
		// A free lock at any moment after the versions were read means
		// that every apply holding it later starts its versions above
		// the largest in the target, these rows included (versionFloor).
		inUse := !stateLockable || StateDirInUse(v.opts.StateDir)
		if inUse {
			free = 0
		} else {
			free++
		}
		if !wait || free >= 3 || time.Now().After(deadline) {
			v.aheadRunning = inUse
			return ahead, c, nil
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func newVerifier(ctx context.Context, plan *planner.Plan, p *planner.Pipeline, opts VerifyOptions) (*verifier, error) {
	v := &verifier{p: p, opts: opts}
	for _, d := range plan.Sources {
		if d.Name == p.Source {
			v.decl = d
		}
	}
	for _, d := range plan.Sinks {
		if d.Name == p.Sink {
			v.sinkD = d
		}
	}
	if v.decl == nil || v.sinkD == nil {
		return nil, fmt.Errorf("pipeline %s: source or sink not declared", p.Name)
	}
	var err error
	if v.src, err = connectors.NewSource(v.decl.Kind, v.decl.Name, v.decl.DSN, v.decl.Options); err != nil {
		return nil, connectors.Named("source", v.decl.Name, err)
	}
	v.pos, _ = v.src.(connectors.PositionSource)
	if v.sink, err = connectors.NewSink(v.sinkD.Kind, v.sinkD.Name, v.sinkD.DSN, v.sinkD.Options); err != nil {
		v.close()
		return nil, connectors.Named("sink", v.sinkD.Name, err)
	}
	vs, ok := v.sink.(connectors.VerifySink)
	if !ok {
		v.close()
		return nil, fmt.Errorf("pipeline %s: sink %s (%s) cannot be read back; verify compares ClickHouse targets", p.Name, v.sinkD.Name, v.sinkD.Kind)
	}
	// Columns not computed from the row alone (metadata such as _ts, _op,
	// _pos, _version, or before.* values) differ between the change the
	// pipeline wrote and verify's fresh read: they are not compared.
	var ignore []string
	for _, c := range p.Output {
		if !c.Before {
			ignore = append(ignore, c.Name)
		}
	}
	if v.vt, err = vs.OpenVerify(ctx, p.Target, ignore); err != nil {
		v.close()
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	if err := v.scopeShared(ctx, plan); err != nil {
		v.close()
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	// A table of a union that lacks a column the others have (dropped
	// it: its rows from before the DROP keep their values in the target,
	// docs/schema-changes.md) reads NULL for it: that column is not
	// compared for its rows, as a dropped column of a one-table target
	// is no output.
	lacking := map[string][]connectors.TableRef{}
	for _, t := range p.Tables {
		for _, n := range t.Lacks {
			lacking[n] = append(lacking[n], t.Ref)
		}
	}
	if m, ok := v.vt.(connectors.VerifyMasker); ok && len(lacking) > 0 {
		m.Mask(lacking)
	}
	if opts.Stream {
		v.fallback = "--stream asked for it"
	} else {
		v.sums, v.fallback = v.planSums()
	}
	v.pr = &pipeRun{p: p, tables: map[string]*tableRun{}, stats: NewStats().pipeline(p.Name, p.Source), alloc: opts.Alloc, log: opts.Log}
	for _, t := range p.Tables {
		tr, err := newTableRun(p, t, opts.Alloc)
		if err != nil {
			v.close()
			return nil, err
		}
		v.pr.tables[t.Ref.String()] = tr
	}
	return v, nil
}

func (v *verifier) close() {
	if v.vt != nil {
		v.vt.Close()
	}
	if v.sink != nil {
		v.sink.Close()
	}
	if v.src != nil {
		v.src.Close()
	}
}

// srcRow is what a re-check keeps of a row: its hash and its text.
type srcRow struct {
	hash uint64
	text string
}

// bucket is what the full pass keeps per key hash: the XOR of the hashes
// of the rows whose key has that hash (one row, but for a 64-bit
// collision), and the source chunk it was read in.
type bucket struct {
	hash  uint64
	chunk int32
	rows  int32 // source rows with the key (the target holds one)
}

// keyHash is the hash a key text is bucketed by.
func keyHash(key string) uint64 { return xxhash.Sum64String(key) }

// sourcePass reads the pipeline's tables through its program, calling add
// with the key text, row text and chunk of every output row. each, when
// set, sees every output batch with the key of each of its rows. It
// returns the number of chunks and the source position at the end of the
// read.
func (v *verifier) sourcePass(ctx context.Context, add func(key, row string, chunk int32), each func(b *exec.Batch, rowKeys []string) error) (int, []byte, error) {
	req := connectors.StreamRequest{Once: true, Before: true, Options: map[string]any{}, Instance: "etlq-verify"}
	for k, val := range v.p.Options {
		req.Options[k] = val
	}
	for _, t := range v.p.Tables {
		req.Tables = append(req.Tables, connectors.StreamTable{Ref: t.Ref, Snapshot: connectors.SnapshotOnly})
	}
	stream, err := v.src.Open(ctx, req)
	if err != nil {
		return 0, nil, connectors.Named("source", v.decl.Name, err)
	}
	defer stream.Close()
	chunks := 0
	// The source's snapshot chunks (exec.Batch.Chunk) → their number
	// here: a chunk's rows come in several batches. (A source that does
	// not say: a batch is a chunk.)
	chunkOf := map[uint64]int32{}
	var read int64
	for {
		b, err := stream.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, nil, connectors.Named("source", v.decl.Name, err)
		}
		if b.Record == nil || b.NumRows() == 0 {
			b.Release()
			continue
		}
		chunk, seen := chunkOf[b.Chunk]
		if !seen || b.Chunk == 0 {
			chunk = int32(chunks)
			chunks++
			if b.Chunk != 0 {
				chunkOf[b.Chunk] = chunk
			}
		}
		read += int64(b.NumRows())
		out, err := v.pr.process(ctx, b)
		b.Release()
		if err != nil {
			return 0, nil, err
		}
		if out == nil {
			continue
		}
		if out, err = v.withoutSinkRowErrors(out); err != nil {
			return 0, nil, err
		}
		var rowKeys []string
		err = v.vt.BatchRows(out, func(key, row string) error {
			if each != nil {
				rowKeys = append(rowKeys, key)
			}
			if add != nil {
				add(key, row, chunk)
			}
			return nil
		})
		if err == nil && each != nil {
			err = each(out, rowKeys)
		}
		out.Release()
		if err != nil {
			return 0, nil, err
		}
		if v.opts.Progress != nil {
			v.opts.Progress(v.p.Name, read)
		}
	}
	var at []byte
	if v.pos != nil {
		if at, err = v.pos.CurrentMark(ctx); err != nil {
			return 0, nil, connectors.Named("source", v.decl.Name, err)
		}
	}
	return chunks, at, nil
}

// withoutSinkRowErrors leaves out of out, under on_error = 'skip' or
// 'dead_letter', the rows the pipeline's writer cannot take (a date
// outside the range of a ClickHouse Date, …): apply counts and
// dead-letters them instead of writing them, so they are not expected in
// the target. Under 'fail' they stay, and the comparison names the first.
func (v *verifier) withoutSinkRowErrors(out *exec.Batch) (*exec.Batch, error) {
	chk, ok := v.vt.(connectors.RowChecker)
	if !ok || v.p.OnError == exec.OnErrorFail {
		return out, nil
	}
	errs := chk.CheckRows(out)
	if len(errs) == 0 {
		return out, nil
	}
	failed := make(map[int]bool, len(errs))
	for _, e := range errs {
		failed[e.Row] = true
	}
	keep := make([]int, 0, out.NumRows())
	for i := 0; i < int(out.Record.NumRows()); i++ {
		if !failed[i] {
			keep = append(keep, i)
		}
	}
	rec, err := takeRows(v.opts.Alloc, out.Record, keep)
	if err != nil {
		out.Release()
		return nil, err
	}
	out.Record.Release()
	out.Record = rec
	return out, nil
}

// targetPass reads the target's live rows.
func (v *verifier) targetPass(ctx context.Context, add func(key, row string)) error {
	return v.vt.LiveRows(ctx, func(key, row string) error {
		add(key, row)
		return nil
	})
}

// recheckSource reads the source's rows of the keys whose hash is in keys,
// with their texts, and the source position at the end of the read.
func (v *verifier) recheckSource(ctx context.Context, keys map[uint64]bool) (map[string]srcRow, []byte, error) {
	src := map[string]srcRow{}
	_, at, err := v.sourcePass(ctx, func(key, row string, _ int32) {
		if keys[keyHash(key)] {
			src[key] = srcRow{hash: xxhash.Sum64String(row), text: row}
		}
	}, nil)
	return src, at, err
}

// recheckTarget reads the target's live rows of the keys whose hash is in
// keys, with their texts.
func (v *verifier) recheckTarget(ctx context.Context, keys map[uint64]bool) (map[string]srcRow, error) {
	tgt := map[string]srcRow{}
	err := v.targetPass(ctx, func(key, row string) {
		if keys[keyHash(key)] {
			tgt[key] = srcRow{hash: xxhash.Sum64String(row), text: row}
		}
	})
	return tgt, err
}

// sameRow says whether a and b hold the same row of key k (or both none).
func sameRow(a, b map[string]srcRow, k string) bool {
	x, inA := a[k]
	y, inB := b[k]
	return inA == inB && x.hash == y.hash
}

// diffKeys returns the keys whose rows differ between src and tgt.
func diffKeys(src, tgt map[string]srcRow) map[string]bool {
	d := map[string]bool{}
	for k, s := range src {
		if t, ok := tgt[k]; !ok || t.hash != s.hash {
			d[k] = true
		}
	}
	for k := range tgt {
		if _, ok := src[k]; !ok {
			d[k] = true
		}
	}
	return d
}

// waitApplied waits until the pipeline's checkpoint has reached at. It
// returns "" when it has, else why the differences stay unconfirmed.
func (v *verifier) waitApplied(ctx context.Context, at []byte) (string, error) {
	if v.p.Snapshot == connectors.SnapshotOnly {
		// It applies nothing after its scan: what differs now stays so.
		return "", nil
	}
	if v.pos == nil || at == nil {
		return "the source cannot tell its position", nil
	}
	if v.opts.LogURL != "" {
		return v.waitAppliedLog(ctx, at)
	}
	if v.opts.StateDir == "" {
		return "no state directory to read the pipeline's checkpoint from", nil
	}
	if _, err := os.Stat(v.opts.StateDir); errors.Is(err, fs.ErrNotExist) {
		// etlq apply makes it at start: no pipeline runs with it.
		return fmt.Sprintf("state directory %s does not exist: is etlq apply running with that --state-dir?", v.opts.StateDir), nil
	}
	store := &Store{Dir: v.opts.StateDir}
	deadline := time.Now().Add(v.opts.LagTimeout)
	free := 0 // polls in a row that found the state directory's lock free
	for {
		st, err := store.Load(v.decl.Name)
		if err != nil {
			return "", err
		}
		if st != nil && WorkerMark(st.Mark) {
			return WorkerStateNote(v.opts.StateDir), nil
		}
		if st != nil && len(st.Mark) > 0 {
			ok, err := v.pos.MarkReached(st.Mark, at)
			if err != nil {
				return "", err
			}
			if ok {
				return "", nil
			}
		}
		if free = free + 1; !stateLockable || StateDirInUse(v.opts.StateDir) {
			free = 0
		}
		if free >= 3 {
			// No apply holds the lock (it stopped, was killed, or was
			// never started): the checkpoint will not move, and waiting
			// out --lag-timeout for each pipeline only looks like a hang.
			// (The checkpoint is read again after the lock: one that
			// stopped cleanly has written its last.)
			where := "no checkpoint"
			if st != nil {
				where = "its checkpoint is at " + markText(st.Mark)
			}
			v.applyStopped = true
			return fmt.Sprintf("etlq apply is not running with state directory %s (no process holds its lock: it stopped, or was not started; %s, before the source position %s the re-check read at)",
				v.opts.StateDir, where, markText(at)), nil
		}
		if time.Now().After(deadline) {
			where := "no checkpoint"
			if st != nil {
				where = "checkpoint " + markText(st.Mark)
			}
			return fmt.Sprintf("the pipeline has not applied past the source position %s within %s (%s in %s): is etlq apply running?",
				markText(at), v.opts.LagTimeout, where, v.opts.StateDir), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitAppliedLog waits until the log's workers have acknowledged, in
// every partition, every message up to the first one whose source position
// reached at.
func (v *verifier) waitAppliedLog(ctx context.Context, at []byte) (string, error) {
	lg, err := natslog.Open(v.opts.LogURL)
	if err != nil {
		return "", err
	}
	defer lg.Close()
	reached := func(resume []byte) (bool, error) { return v.pos.MarkReached(resume, at) }
	deadline := time.Now().Add(v.opts.LagTimeout)
	var seq uint64
	why := "the capture has not published the position yet: is etlq capture running?"
	for {
		if seq == 0 {
			if seq, err = lg.PositionSeq(v.decl.Name, reached); err != nil {
				return "", err
			}
		}
		if seq > 0 {
			ok, w, err := lg.AckedThrough(v.decl.Name, v.opts.LogGroup, seq)
			if err != nil {
				return "", err
			}
			if ok {
				return "", nil
			}
			why = w + ": are the etlq apply --log workers running?"
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("the workers have not applied past the source position %s within %s (%s)", markText(at), v.opts.LagTimeout, why), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// markText shows a binlog mark state as file:pos.
func markText(m []byte) string {
	var s struct {
		File string `json:"file"`
		Pos  uint64 `json:"pos"`
	}
	if json.Unmarshal(m, &s) != nil {
		return string(m)
	}
	if s.File == "" {
		return "no binlog position"
	}
	return fmt.Sprintf("%s:%d", s.File, s.Pos)
}

// scopeShared restricts the target's reads to the pipeline's own rows
// when other pipelines of the file write the same target (the tenants of
// two servers into one table): theirs are no rows of this pipeline's
// source, and were reported as extra keys — which --repair deleted. A row
// is the pipeline's when it reads its table, or when its FROM names the
// table (a pattern: a table since dropped) and no other pipeline of the
// target reads it.
func (v *verifier) scopeShared(ctx context.Context, plan *planner.Plan) error {
	var others []*planner.Pipeline
	var names []string
	for _, q := range plan.Pipelines {
		if q != v.p && (q.Sink == v.p.Sink && q.Target.Name == v.p.Target.Name || q.TargetAt != "" && q.TargetAt == v.p.TargetAt) {
			others, names = append(others, q), append(names, q.Name)
		}
	}
	if len(others) == 0 {
		return nil
	}
	sc, ok := v.vt.(connectors.VerifyScoper)
	if ok {
		ok, err := sc.Scope(ctx, func(db, table string) bool {
			if readsTable(v.p, db, table) {
				return true
			}
			for _, q := range others {
				if readsTable(q, db, table) {
					return false
				}
			}
			return namesTable(v.p, db, table)
		})
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("its target %s is written by pipeline %s as well, and has no _db or _table column to tell their rows apart (add _db and _table to TRANSFORM)",
		v.p.Target.Name, strings.Join(names, ", "))
}

// readsTable reports whether p reads the table db.table now ("" for a
// part the target does not record: any).
func readsTable(p *planner.Pipeline, db, table string) bool {
	for _, t := range p.Tables {
		if (db == "" || t.Ref.DB == db) && (table == "" || t.Ref.Table == table) {
			return true
		}
	}
	return false
}

// namesTable reports whether one of p's FROM patterns matches db.table
// ("" for a part the target does not record: any).
func namesTable(p *planner.Pipeline, db, table string) bool {
	for _, pat := range p.Patterns {
		ref := connectors.TableRef{DB: db, Table: table}
		if db == "" {
			ref.DB = pat.DB
		}
		if table == "" {
			ref.Table = pat.Table
		}
		if connectors.MatchRef(pat, ref) {
			return true
		}
	}
	return false
}
