package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/cespare/xxhash/v2"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// run verifies the pipeline's target, repairs it when asked and verifies
// it again.
func (v *verifier) run(ctx context.Context) (*VerifyResult, error) {
	start := time.Now()
	res, diff, err := v.check(ctx)
	if err != nil {
		return nil, err
	}
	// The state directory keeps the definitions its last apply ran with
	// (newPipelineResnapshots; MarkKeysRemoved sets Edited from them).
	notApplied := ""
	if v.p.Target.Edited && v.opts.LogURL == "" {
		notApplied = fmt.Sprintf("the file's definition of pipeline %s differs from the one etlq apply last ran with (state directory %s): "+
			"the target was compared with the edited definition, which no apply has written yet; run etlq apply with the edited file "+
			"(it reads the pipeline's tables again for the new definition), then verify", v.p.Name, v.opts.StateDir)
	}
	if v.opts.Repair && len(diff) > 0 && notApplied != "" {
		// The differences may be rows the running apply writes by the
		// old definition: a repair would delete or rewrite them.
		res.RepairSkipped = "the target is written by the definition applied last, not the file's; a repair would rewrite it to a definition no apply runs " +
			"(deleting the rows the old one still writes). Apply the edited file first"
	} else if v.opts.Repair && len(diff) > 0 && res.Unconfirmed == "" && v.p.Target.Mode == connectors.ModeChangelog {
		// A changelog holds what happened: verify reports, it does not
		// write changes that never happened into it.
		res.RepairSkipped = "a changelog target is not repaired (it records the changes the pipeline read); re-create it with a new snapshot"
	} else if v.opts.Repair && len(diff) > 0 && res.Unconfirmed == "" {
		left, why := v.leaveAhead(res)
		fix := diff
		if len(left) > 0 {
			fix = map[string]bool{}
			for k := range diff {
				if _, ok := left[k]; !ok {
					fix[k] = true
				}
			}
		}
		if len(fix) > 0 {
			n, err := v.repair(ctx, fix)
			if err != nil {
				return nil, fmt.Errorf("repair: %w", err)
			}
			v.opts.Log.Info("repaired", "pipeline", v.p.Name, "keys", n)
			again, _, err := v.check(ctx)
			if err != nil {
				return nil, err
			}
			again.Repaired = n
			again.Repairs = &VerifyRepairs{Missing: res.Missing, Extra: res.Extra, Changed: res.Changed, Diffs: res.Diffs}
			res = again
		}
		if len(left) > 0 && res.VersionAhead > 0 {
			res.RepairSkipped = why
		}
	}
	res.NotApplied = notApplied
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// check is one full comparison followed by the re-checks of the keys that
// differ. It returns the confirmed differing keys.
func (v *verifier) check(ctx context.Context) (*VerifyResult, map[string]bool, error) {
	res := &VerifyResult{Pipeline: v.p.Name, Target: v.p.Target.Name, Tables: len(v.p.Tables), SnapshotOnly: v.p.Snapshot == connectors.SnapshotOnly}
	var suspect map[uint64]bool
	var chunkOf map[uint64]int32
	var err error
	if v.sums != nil {
		res.Path = "in-server"
		suspect, chunkOf, err = v.sumPass(ctx, res)
	} else {
		res.Path, res.Fallback = "streaming", v.fallback
		suspect, chunkOf, err = v.streamPass(ctx, res)
	}
	if err != nil {
		return nil, nil, err
	}
	res.Rechecked = len(suspect)
	// Re-check: read the suspect keys from the source, wait for the
	// pipeline to apply past the position of that read, read the target.
	// A key that differs then is confirmed only if the source still has
	// the row the re-check read once the target was read (the next
	// round's source read tells): the target may hold a change made after
	// the source read, a state the pipeline is ahead with, not a
	// difference — and is no difference when the source now has the
	// target's row. A key the source changed otherwise is checked again.
	src, tgt := map[string]srcRow{}, map[string]srcRow{}
	diff := map[string]bool{}
	var pend map[string]bool               // differed in the last round
	var pendSrc, pendTgt map[string]srcRow // both sides' rows of that round
	note := func(k string, s, t map[string]srcRow) {
		diff[k] = true
		if r, ok := s[k]; ok {
			src[k] = r
		}
		if r, ok := t[k]; ok {
			tgt[k] = r
		}
	}
	for round := 0; len(suspect) > 0; round++ {
		s, at, err := v.recheckSource(ctx, suspect)
		if err != nil {
			return nil, nil, err
		}
		for k := range pend {
			switch {
			case sameRow(s, pendTgt, k):
				// The target held what the source has now: it was ahead.
				delete(suspect, keyHash(k))
			case sameRow(s, pendSrc, k):
				note(k, pendSrc, pendTgt)
				delete(suspect, keyHash(k))
			}
		}
		if len(suspect) == 0 {
			break
		}
		if round == v.opts.Rounds {
			// Changed at the source during every re-check: there is no
			// read the target can be compared with. Reported (as
			// unconfirmed) only when no other key is confirmed.
			if len(diff) == 0 {
				for k := range pend {
					note(k, pendSrc, pendTgt)
				}
				res.Unconfirmed = fmt.Sprintf("the differing keys changed at the source during each of %d re-checks: run verify again, or when their writes pause", v.opts.Rounds)
			}
			break
		}
		why, err := v.waitApplied(ctx, at)
		if err != nil {
			return nil, nil, err
		}
		t, err := v.recheckTarget(ctx, suspect)
		if err != nil {
			return nil, nil, err
		}
		for k := range s {
			if !suspect[keyHash(k)] {
				delete(s, k) // confirmed above
			}
		}
		d := diffKeys(s, t)
		if why != "" && len(d) > 0 {
			// Not applied past the read: what differs may be lag.
			for k := range d {
				note(k, s, t)
			}
			res.Unconfirmed, res.ApplyStopped = why, v.applyStopped
			break
		}
		pend, pendSrc, pendTgt = d, s, t
		suspect = map[uint64]bool{}
		for k := range d {
			suspect[keyHash(k)] = true
		}
	}
	chunksDiffering := map[int32]bool{}
	var keys []string
	for k := range diff {
		keys = append(keys, k)
		_, inSrc := src[k]
		_, inTgt := tgt[k]
		switch {
		case inSrc && !inTgt:
			res.Missing++
		case inTgt && !inSrc:
			res.Extra++
		default:
			res.Changed++
		}
		if inSrc {
			if c, ok := chunkOf[keyHash(k)]; ok {
				chunksDiffering[c] = true
			}
		}
	}
	res.Differing = len(chunksDiffering)
	if res.Extra+res.Changed > 0 {
		res.Cascades = v.cascades(ctx)
	}
	// The keys whose target row is above every version the stream has
	// given (upsert targets: a changelog's rows are changes, each of its
	// own version, and it is not repaired).
	known := v.ahead
	v.ahead = nil
	if res.Unconfirmed == "" && v.p.Target.Mode != connectors.ModeChangelog {
		held := map[string]bool{}
		for k := range diff {
			if _, ok := tgt[k]; ok {
				held[k] = true
			}
		}
		var c uint64
		if v.ahead, c, err = v.aheadOfStream(ctx, held, known); err != nil {
			// The cause is an aid: the differences stand without it
			// (and --repair writes every key, as it did before).
			v.opts.Log.Warn("verify: the target's versions of the differing keys cannot be compared with the stream's; their cause is not told", "pipeline", v.p.Name, "error", err.Error())
			v.ahead = nil
		}
		if res.VersionAhead = len(v.ahead); res.VersionAhead > 0 {
			res.StreamVersion = c
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(res.Diffs) == v.opts.Shown {
			break
		}
		d := VerifyDiff{Key: k, Source: src[k].text, Target: tgt[k].text}
		if ver, ok := v.ahead[k]; ok {
			d.Cause = fmt.Sprintf("the target row's _version %d is above every version the pipeline's stream has given (its checkpoint's counter is at %d): "+
				"a row etlq did not write (by hand, or by another process), which outranks every change a running etlq apply writes of the key", ver, res.StreamVersion)
		}
		res.Diffs = append(res.Diffs, v.shownDiff(d))
	}
	return res, diff, nil
}

// leaveAhead returns the differing keys --repair must not write, of those
// whose target row is above every version the stream has given (v.ahead),
// and what to do about them. A repair row replaces a row by tying with
// its _version (the last inserted wins), so it outranks, as that row
// does, every change the stream gives a smaller version: while an etlq
// apply runs, all its later changes of the key, and the target would stop
// following the source there for good. With no apply running (the state
// directory's lock found free after the versions were read) the repair is
// written as any other: an apply started later begins its versions above
// the largest in its targets (versionFloor), so its changes replace it. A
// row within versionHeadroom of 2^64 is left either way: apply does not
// start over it, and deleting it then would delete the repair too.
func (v *verifier) leaveAhead(res *VerifyResult) (map[string]uint64, string) {
	left := map[string]uint64{}
	top, other := 0, 0
	for k, ver := range v.ahead {
		switch {
		case ver > math.MaxUint64-versionHeadroom:
			left[k] = ver
			top++
		case v.aheadRunning:
			left[k] = ver
			other++
		}
	}
	if len(left) == 0 {
		return nil, ""
	}
	what := fmt.Sprintf("%d keys left: their target row's _version is above every version the pipeline's stream has given (its checkpoint's counter is at %d), "+
		"and a repair row, which must tie with such a row to replace it, would outrank the later changes of those keys too", len(left), res.StreamVersion)
	if other > 0 {
		what += " (the running etlq apply gives them smaller versions, so the target would stop following the source for those keys). " +
			"Either stop etlq apply and start it again (it starts its versions above the largest in its targets, and checkpoints that counter as it starts), " +
			"then run etlq verify --repair again; or delete those rows from the target (each key's row at the _version its cause names) and run etlq verify --repair again"
	}
	if top > 0 {
		if other > 0 {
			what += fmt.Sprintf(". %d of them", top)
		} else {
			what += ", and they"
		}
		what += fmt.Sprintf(" have a _version within 2^40 of 2^64, over which etlq apply does not start. "+
			"Delete those rows from the target (ALTER TABLE %s DELETE WHERE _version > %d), then run etlq verify --repair again", res.Target, uint64(math.MaxUint64-versionHeadroom))
	}
	return left, what
}

// shownDiff is d with its texts as the target shows them to a person
// (connectors.VerifyShower: a DATETIME as the source shows it where the
// target keeps a number).
func (v *verifier) shownDiff(d VerifyDiff) VerifyDiff {
	sh, ok := v.vt.(connectors.VerifyShower)
	if !ok {
		return d
	}
	d.Key = sh.ShowKey(d.Key)
	if d.Source != "" {
		d.Source = sh.ShowRow(d.Source)
	}
	if d.Target != "" {
		d.Target = sh.ShowRow(d.Target)
	}
	return d
}

// streamPass is the full pass through etlq: both sides read at once (the
// source through the program in this goroutine, the target in another),
// keeping a hash per key only. It returns the suspect key hashes and the
// source chunk of each.
func (v *verifier) streamPass(ctx context.Context, res *VerifyResult) (map[uint64]bool, map[uint64]int32, error) {
	tgtB := map[uint64]uint64{}
	var targetRows int64
	var terr error
	tdone := make(chan struct{})
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(tdone)
		terr = v.targetPass(tctx, func(key, row string) {
			targetRows++
			tgtB[keyHash(key)] ^= xxhash.Sum64String(row)
		})
	}()
	srcB := map[uint64]bucket{}
	var sourceRows int64
	var dups []string // key texts of duplicate keys, the smallest first once sorted
	chunks, _, err := v.sourcePass(ctx, func(key, row string, chunk int32) {
		sourceRows++
		kh := keyHash(key)
		b := srcB[kh]
		b.hash ^= xxhash.Sum64String(row)
		b.chunk = chunk
		if b.rows++; b.rows == 2 {
			if dups = append(dups, key); len(dups) > 4*v.opts.Shown+64 {
				sort.Strings(dups)
				dups = dups[:v.opts.Shown]
			}
		}
		srcB[kh] = b
	}, nil)
	if err != nil {
		cancel()
		<-tdone
		return nil, nil, err
	}
	<-tdone
	if terr != nil {
		return nil, nil, terr
	}
	res.SourceRows, res.TargetRows, res.Chunks = sourceRows, targetRows, chunks
	suspect := map[uint64]bool{}
	chunkOf := map[uint64]int32{}
	for kh, b := range srcB {
		if b.rows > 1 {
			// The target holds one row per key: it cannot hold these
			// rows, whatever it holds of the key (reported as duplicates,
			// not re-checked).
			res.DuplicateKeys++
			res.DuplicateRows += int64(b.rows)
			continue
		}
		if t, ok := tgtB[kh]; !ok || t != b.hash {
			suspect[kh] = true
			chunkOf[kh] = b.chunk
		}
	}
	for kh := range tgtB {
		if _, ok := srcB[kh]; !ok {
			suspect[kh] = true
		}
	}
	sort.Strings(dups)
	for _, k := range dups[:min(len(dups), v.opts.Shown)] {
		res.Duplicates = append(res.Duplicates, VerifyDuplicate{Key: v.shownDiff(VerifyDiff{Key: k}).Key, Rows: int(srcB[keyHash(k)].rows)})
	}
	return suspect, chunkOf, nil
}

// repair writes the source's current rows of the differing keys, and
// tombstones for the keys only the target holds, each with the _version of
// the row it replaces (docs/verify.md, "--repair", says why that is safe
// next to the running pipeline). It returns the number of keys written.
func (v *verifier) repair(ctx context.Context, diff map[string]bool) (int, error) {
	// The versions are read before the source: every change the source
	// makes after its read below gets a larger version from the stream.
	vers, err := v.vt.Versions(ctx, diff)
	if err != nil {
		return 0, err
	}
	w, err := v.sink.Open(ctx, v.p.Target)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	written := map[string]bool{}
	var mu sync.Mutex
	var werr error
	_, _, err = v.sourcePass(ctx, nil, func(b *exec.Batch, rowKeys []string) error {
		var idx []int
		var rowVers []uint64
		for i, k := range rowKeys {
			if diff[k] {
				idx = append(idx, i)
				rowVers = append(rowVers, vers[k])
				written[k] = true
			}
		}
		if len(idx) == 0 {
			return nil
		}
		rec, err := takeRows(v.opts.Alloc, b.Record, idx)
		if err != nil {
			return err
		}
		rec = withVersions(v.opts.Alloc, rec, rowVers)
		return w.Write(ctx, &exec.Batch{Record: rec, DB: b.DB, Table: b.Table}, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && werr == nil {
				werr = err
			}
		})
	})
	if err != nil {
		return 0, err
	}
	if err := w.Flush(ctx); err != nil {
		return 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	if werr != nil {
		return 0, werr
	}
	gone := map[string]uint64{}
	for k := range diff {
		if ver, ok := vers[k]; ok && !written[k] {
			gone[k] = ver
		}
	}
	n, err := v.vt.Tombstone(ctx, gone)
	if err != nil {
		return 0, err
	}
	return len(written) + n, nil
}

// withVersions returns rec with row i's __version set to vers[i] (rec is
// released).
func withVersions(mem interface {
	Allocate(int) []byte
	Reallocate(int, []byte) []byte
	Free([]byte)
}, rec arrow.RecordBatch, vers []uint64) arrow.RecordBatch {
	defer rec.Release()
	idx := rec.Schema().FieldIndices(exec.SysVersion)
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = rec.Column(i)
	}
	var fresh arrow.Array
	if len(idx) > 0 {
		bld := array.NewUint64Builder(mem)
		bld.AppendValues(vers, nil)
		fresh = bld.NewArray()
		defer fresh.Release()
		cols[idx[0]] = fresh
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
}

// cascades names the source's foreign keys of the pipeline's tables whose
// actions change rows without row events (VerifyResult.Cascades); none
// when the source cannot say.
func (v *verifier) cascades(ctx context.Context) []string {
	fr, ok := v.src.(connectors.ForeignKeyReader)
	if !ok {
		return nil
	}
	refs := make([]connectors.TableRef, 0, len(v.p.Tables))
	for _, t := range v.p.Tables {
		refs = append(refs, t.Ref)
	}
	fks, err := fr.ForeignKeyActions(ctx, refs)
	if err != nil {
		return nil
	}
	var out []string
	for _, fk := range fks {
		var rules []string
		if connectors.ChangesRows(fk.OnDelete) {
			rules = append(rules, "ON DELETE "+fk.OnDelete)
		}
		if connectors.ChangesRows(fk.OnUpdate) {
			rules = append(rules, "ON UPDATE "+fk.OnUpdate)
		}
		if len(rules) > 0 {
			out = append(out, fmt.Sprintf("%s: foreign key %s (%s) from %s", fk.Child, fk.Name, strings.Join(rules, ", "), fk.Parent))
		}
	}
	return out
}
