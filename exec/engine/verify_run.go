package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

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
	if v.opts.Repair && len(diff) > 0 && res.Unconfirmed == "" {
		n, err := v.repair(ctx, diff)
		if err != nil {
			return nil, fmt.Errorf("repair: %w", err)
		}
		v.opts.Log.Info("repaired", "pipeline", v.p.Name, "keys", n)
		again, _, err := v.check(ctx)
		if err != nil {
			return nil, err
		}
		again.Repaired = n
		res = again
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// check is one full comparison followed by the re-checks of the keys that
// differ. It returns the confirmed differing keys.
func (v *verifier) check(ctx context.Context) (*VerifyResult, map[string]bool, error) {
	res := &VerifyResult{Pipeline: v.p.Name, Target: v.p.Target.Name, Tables: len(v.p.Tables)}
	src, chunks, at, err := v.sourcePass(ctx, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	tgt, err := v.targetPass(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	res.SourceRows, res.TargetRows, res.Chunks = int64(len(src)), int64(len(tgt)), chunks
	diff := diffKeys(src, tgt)
	chunkOf := map[string]int32{}
	for k := range diff {
		if s, ok := src[k]; ok {
			chunkOf[k] = s.chunk
		}
	}
	src, tgt = nil, nil
	// Re-check: read the differing keys again, wait for the pipeline to
	// apply past the source position of that read, read the target.
	for round := 0; round < v.opts.Rounds && len(diff) > 0; round++ {
		if src, _, at, err = v.sourcePass(ctx, diff, nil); err != nil {
			return nil, nil, err
		}
		why, err := v.waitApplied(ctx, at)
		if err != nil {
			return nil, nil, err
		}
		if tgt, err = v.targetPass(ctx, diff); err != nil {
			return nil, nil, err
		}
		next := diffKeys(src, tgt)
		if why != "" {
			res.Unconfirmed = why
			diff = next
			break
		}
		stable := len(next) == len(diff)
		diff = next
		if stable {
			break // the same keys differ with the pipeline past the read
		}
	}
	chunksDiffering := map[int32]bool{}
	var keys []string
	for k := range diff {
		keys = append(keys, k)
		s, inSrc := src[k]
		t, inTgt := tgt[k]
		switch {
		case inSrc && !inTgt:
			res.Missing++
		case inTgt && !inSrc:
			res.Extra++
		default:
			res.Changed++
		}
		if inSrc {
			if c, ok := chunkOf[k]; ok {
				chunksDiffering[c] = true
			}
		}
		_, _ = s, t
	}
	res.Differing = len(chunksDiffering)
	sort.Strings(keys)
	for _, k := range keys {
		if len(res.Diffs) == v.opts.Shown {
			break
		}
		res.Diffs = append(res.Diffs, VerifyDiff{Key: k, Source: src[k].text, Target: tgt[k].text})
	}
	return res, diff, nil
}

// repair writes the source's current rows of the differing keys, and
// tombstones for the keys only the target holds, with a _version one above
// the largest the target holds (docs/verify.md says why that is safe next
// to the running pipeline). It returns the number of keys written.
func (v *verifier) repair(ctx context.Context, diff map[string]bool) (int, error) {
	maxV, err := v.vt.MaxVersion(ctx)
	if err != nil {
		return 0, err
	}
	ver := maxV + 1
	w, err := v.sink.Open(ctx, v.p.Target)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	written := map[string]bool{}
	var mu sync.Mutex
	var werr error
	_, _, _, err = v.sourcePass(ctx, diff, func(b *exec.Batch, rowKeys []string) error {
		var idx []int
		for i, k := range rowKeys {
			if diff[k] {
				idx = append(idx, i)
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
		rec = withVersion(v.opts.Alloc, rec, ver)
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
	gone := map[string]bool{}
	for k := range diff {
		if !written[k] {
			gone[k] = true
		}
	}
	n, err := v.vt.Tombstone(ctx, gone, ver)
	if err != nil {
		return 0, err
	}
	return len(written) + n, nil
}

// withVersion returns rec with every row's __version set to ver (rec is
// released).
func withVersion(mem interface {
	Allocate(int) []byte
	Reallocate(int, []byte) []byte
	Free([]byte)
}, rec arrow.RecordBatch, ver uint64) arrow.RecordBatch {
	defer rec.Release()
	idx := rec.Schema().FieldIndices(exec.SysVersion)
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = rec.Column(i)
	}
	var fresh arrow.Array
	if len(idx) > 0 {
		bld := array.NewUint64Builder(mem)
		for range rec.NumRows() {
			bld.Append(ver)
		}
		fresh = bld.NewArray()
		defer fresh.Release()
		cols[idx[0]] = fresh
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
}
