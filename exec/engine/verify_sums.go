package engine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// In-server checksums (docs/verify.md): where every compared output of a
// pipeline is a source column passed through unchanged, of a type both
// servers write the same canonical text for, MariaDB and ClickHouse each
// reduce a key range to a count and the XOR of a 64-bit hash per row. A
// range whose sums differ is bisected by key down to ranges of a few rows,
// whose rows' hashes are compared by key; the keys that differ go through
// the same exact, lag-safe re-check as the streaming path's suspects.

// sumLeafRows is the size under which a differing range is compared key by key.
const sumLeafRows = 64

// sumPlan is what the in-server path of one pipeline needs.
type sumPlan struct {
	src       connectors.SumSource
	tgt       connectors.SumTarget
	table     connectors.TableRef
	srcKey    string // the key column at the source
	tgtKey    string // and in the target
	srcCols   []connectors.SumColumn
	tgtCols   []connectors.SumColumn
	chunkRows int
}

// planSums returns the in-server plan of the pipeline, or why it has to be
// streamed through etlq.
func (v *verifier) planSums() (*sumPlan, string) {
	ss, ok := v.src.(connectors.SumSource)
	if !ok {
		return nil, "the source cannot compute checksums"
	}
	st, ok := v.vt.(connectors.SumTarget)
	if !ok {
		return nil, "the target cannot compute checksums"
	}
	if v.p.Target.Mode != connectors.ModeUpsert {
		return nil, "a changelog target is replayed by etlq"
	}
	if len(v.p.Tables) != 1 {
		return nil, "the pipeline reads several tables"
	}
	t := v.p.Tables[0]
	if t.Where != nil {
		return nil, "the pipeline has a WHERE"
	}
	if len(t.KeyIndex) != 1 {
		return nil, "the key is not one column"
	}
	sp := &sumPlan{src: ss, tgt: st, table: t.Ref, chunkRows: 50_000}
	for _, opts := range []map[string]any{v.decl.Options, v.p.Options} {
		switch n := opts["chunk_rows"].(type) {
		case int64:
			sp.chunkRows = int(n)
		case int:
			sp.chunkRows = n
		case float64:
			sp.chunkRows = int(n)
		}
	}
	sp.chunkRows = max(sp.chunkRows, 1)
	for j, out := range t.Output {
		isKey := j == t.KeyIndex[0]
		if !out.Before && !isKey {
			continue // not compared (metadata, before.*)
		}
		idx, ok := exec.ColumnIndex(t.Outputs[j])
		if !ok {
			return nil, fmt.Sprintf("output %s is computed (%s)", out.Name, t.Outputs[j])
		}
		f := t.Input.Field(idx)
		kind := sumKind(f)
		if kind == "" {
			return nil, fmt.Sprintf("column %s (%s) has no checksum text shared by both servers", f.Name, f.Type)
		}
		if isKey {
			if kind != connectors.SumInt || f.Type.ID() == arrow.UINT64 {
				return nil, fmt.Sprintf("the key %s is not a signed integer", f.Name)
			}
			sp.srcKey, sp.tgtKey = f.Name, out.Name
		}
		sp.srcCols = append(sp.srcCols, connectors.SumColumn{Name: f.Name, Kind: kind})
		sp.tgtCols = append(sp.tgtCols, connectors.SumColumn{Name: out.Name, Kind: kind})
	}
	if why := st.SumSupported(sp.tgtKey, sp.tgtCols); why != "" {
		return nil, why
	}
	if idx, _ := exec.ColumnIndex(t.Outputs[t.KeyIndex[0]]); !solePrimaryKey(t.Input, idx) {
		// Only the primary key is unique for sure: the servers' sums
		// merge the rows a key shares, etlq counts them (duplicates).
		return nil, fmt.Sprintf("the key %s is not the source table's primary key", sp.srcKey)
	}
	return sp, ""
}

// solePrimaryKey says whether column idx of the source batch schema is
// the table's primary key, alone.
func solePrimaryKey(s *arrow.Schema, idx int) bool {
	l, err := exec.LayoutOf(s)
	if err != nil {
		return false
	}
	for i := range l.Columns {
		if _, pk := s.Field(i).Metadata.GetValue(exec.MetaPrimaryKey); pk != (i == idx) {
			return false
		}
	}
	return true
}

// sumKind is the checksum kind of a source column, "" when it has none.
func sumKind(f arrow.Field) string {
	logical, _ := f.Metadata.GetValue(exec.MetaLogicalType)
	switch f.Type.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		if logical == "" {
			return connectors.SumInt
		}
	case arrow.STRING:
		if logical == "" || logical == "enum" {
			return connectors.SumString
		}
	case arrow.DECIMAL128:
		return connectors.SumDecimal
	case arrow.DATE32:
		return connectors.SumDate
	case arrow.TIMESTAMP:
		if t := f.Type.(*arrow.TimestampType); t.Unit == arrow.Microsecond {
			return connectors.SumMicros
		}
	case arrow.FLOAT64:
		return connectors.SumDouble
	}
	return ""
}

// sumPass is the full pass in the servers: chunk bounds from the source's
// key, both sides' sums of every chunk at once, then a bisection of each
// differing chunk. It returns the differing keys' hashes as suspects.
func (v *verifier) sumPass(ctx context.Context, res *VerifyResult) (map[uint64]bool, map[uint64]int32, error) {
	sp := v.sums
	bounds, err := sp.src.ChunkBounds(ctx, sp.table, sp.srcKey, sp.chunkRows)
	if err != nil {
		return nil, nil, err
	}
	ranges := make([]connectors.KeyRange, 0, len(bounds)+1)
	lo := int64(math.MinInt64)
	for _, b := range bounds {
		ranges = append(ranges, connectors.KeyRange{Lo: lo, Hi: b - 1})
		lo = b
	}
	ranges = append(ranges, connectors.KeyRange{Lo: lo, Hi: math.MaxInt64})
	ss, ts, err := v.bothSums(ctx, ranges, sumParallelism)
	if err != nil {
		return nil, nil, err
	}
	res.Chunks = len(ranges)
	suspect, chunkOf := map[uint64]bool{}, map[uint64]int32{}
	for i := range ranges {
		res.SourceRows += ss[i].Rows
		res.TargetRows += ts[i].Rows
		if ss[i] == ts[i] {
			continue
		}
		keys, err := v.bisect(ctx, ranges[i], ss[i], ts[i])
		if err != nil {
			return nil, nil, err
		}
		for k, inSrc := range keys {
			kh := keyHash(strconv.FormatInt(k, 10))
			suspect[kh] = true
			if inSrc {
				chunkOf[kh] = int32(i)
			}
		}
	}
	if v.opts.Progress != nil {
		v.opts.Progress(v.p.Name, res.SourceRows)
	}
	return suspect, chunkOf, nil
}

// sumParallelism is how many queries share the chunks on each side in the
// full pass: a MariaDB query runs on one core, and so does the part of a
// ClickHouse 18.16 query after FINAL (where the hashes are computed).
const sumParallelism = 4

// bothSums computes the ranges' sums on both servers at once, each side in
// up to par queries of consecutive ranges.
func (v *verifier) bothSums(ctx context.Context, ranges []connectors.KeyRange, par int) (src, tgt []connectors.RangeSum, err error) {
	sp := v.sums
	par = max(min(par, len(ranges)), 1)
	src = make([]connectors.RangeSum, len(ranges))
	tgt = make([]connectors.RangeSum, len(ranges))
	errs := make([]error, 2*par)
	per := (len(ranges) + par - 1) / par
	var wg sync.WaitGroup
	for g := 0; g < par; g++ {
		lo, hi := g*per, min((g+1)*per, len(ranges))
		if lo >= hi {
			continue
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			part, err := sp.src.RangeSums(ctx, sp.table, sp.srcKey, sp.srcCols, ranges[lo:hi])
			if err == nil {
				copy(src[lo:hi], part)
			}
			errs[2*g] = err
		}()
		go func() {
			defer wg.Done()
			part, err := sp.tgt.RangeSums(ctx, sp.tgtKey, sp.tgtCols, ranges[lo:hi])
			if err == nil {
				copy(tgt[lo:hi], part)
			}
			errs[2*g+1] = err
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, nil, e
		}
	}
	return src, tgt, nil
}

// bisect narrows a differing range down to its differing keys: each one
// with whether the source holds it.
func (v *verifier) bisect(ctx context.Context, r connectors.KeyRange, s, t connectors.RangeSum) (map[int64]bool, error) {
	out := map[int64]bool{}
	// Only the keys either side holds matter.
	switch {
	case s.Rows == 0:
		r = connectors.KeyRange{Lo: t.Min, Hi: t.Max}
	case t.Rows == 0:
		r = connectors.KeyRange{Lo: s.Min, Hi: s.Max}
	default:
		r = connectors.KeyRange{Lo: min(s.Min, t.Min), Hi: max(s.Max, t.Max)}
	}
	if max(s.Rows, t.Rows) <= sumLeafRows || r.Lo == r.Hi {
		sp := v.sums
		var trows map[int64]uint64
		var terr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			trows, terr = sp.tgt.RangeRows(ctx, sp.tgtKey, sp.tgtCols, r)
		}()
		srows, err := sp.src.RangeRows(ctx, sp.table, sp.srcKey, sp.srcCols, r)
		wg.Wait()
		if err == nil {
			err = terr
		}
		if err != nil {
			return nil, err
		}
		for k, h := range srows {
			if th, ok := trows[k]; !ok || th != h {
				out[k] = true
			}
		}
		for k := range trows {
			if _, ok := srows[k]; !ok {
				out[k] = false
			}
		}
		return out, nil
	}
	mid := r.Lo/2 + r.Hi/2 + (r.Lo%2+r.Hi%2)/2
	halves := []connectors.KeyRange{{Lo: r.Lo, Hi: mid}, {Lo: mid + 1, Hi: r.Hi}}
	ss, ts, err := v.bothSums(ctx, halves, 1)
	if err != nil {
		return nil, err
	}
	for i, h := range halves {
		if ss[i] == ts[i] {
			continue
		}
		keys, err := v.bisect(ctx, h, ss[i], ts[i])
		if err != nil {
			return nil, err
		}
		for k, in := range keys {
			out[k] = in
		}
	}
	return out, nil
}
