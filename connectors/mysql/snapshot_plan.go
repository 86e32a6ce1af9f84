package mysql

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/go-mysql-org/go-mysql/client"
)

// Chunks of a table whose key is one integer column are planned without
// `LIMIT 1 OFFSET n` scans. Each chunk starts after the previous one; the
// planner reads the first keySample keys there (an index range of a few
// hundred entries), which give the key's local density, and lets the chunk
// span chunk_rows / density key values. Empty stretches of the key cost
// nothing (the sample starts at the next existing key), and the density
// follows the key where it is sparse or clustered. Since keys are unique,
// a span of chunk_rows values never holds more than chunk_rows rows; a
// wider span may, where the key gets denser than sampled, so such a chunk
// is read with `ORDER BY key LIMIT 2×chunk_rows`; when the limit is hit,
// the chunk ends at the last key read and the rest of its range becomes a
// new chunk. Correctness never depends on the chunk sizes: the chunks
// (with the ranges completed before a resume) always cover the whole key
// space.

// keySample is how many keys the planner reads to size a chunk.
const keySample = 256

// intKeyCol returns t's key column when the key is one integer column.
func intKeyCol(t *table) *column {
	if len(t.Key) != 1 {
		return nil
	}
	c := t.Cols[t.Key[0]]
	switch c.Kind {
	case kInt8, kInt16, kInt32, kInt64, kUint8, kUint16, kUint32, kUint64:
		return c
	}
	return nil
}

func signedKind(k kind) bool { return k <= kInt64 }

// keyOrd maps an integer key value's text onto uint64 in the key's order.
func keyOrd(c *column, s string) (uint64, bool) {
	if signedKind(c.Kind) {
		n, err := strconv.ParseInt(s, 10, 64)
		return uint64(n) ^ 1<<63, err == nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// ordLiteral is the SQL literal of an ordinal made by keyOrd.
func ordLiteral(c *column, o uint64) string {
	if signedKind(c.Kind) {
		return strconv.FormatInt(int64(o^1<<63), 10)
	}
	return strconv.FormatUint(o, 10)
}

// arrayOrd returns the ordinal of the integer at row i of a.
func arrayOrd(a arrow.Array, i int) (uint64, bool) {
	switch a := a.(type) {
	case *array.Int8:
		return uint64(int64(a.Value(i))) ^ 1<<63, true
	case *array.Int16:
		return uint64(int64(a.Value(i))) ^ 1<<63, true
	case *array.Int32:
		return uint64(int64(a.Value(i))) ^ 1<<63, true
	case *array.Int64:
		return uint64(a.Value(i)) ^ 1<<63, true
	case *array.Uint8:
		return uint64(a.Value(i)), true
	case *array.Uint16:
		return uint64(a.Value(i)), true
	case *array.Uint32:
		return uint64(a.Value(i)), true
	case *array.Uint64:
		return a.Value(i), true
	}
	return 0, false
}

// ordBound is a range bound as an ordinal; nil is unbounded.
type ordBound *uint64

func ordPtr(o uint64) ordBound { return &o }

// keyGap is a key range (lo, hi] not completed yet.
type keyGap struct{ lo, hi ordBound }

// openGaps returns the complement of the completed ranges, in key order,
// or ok false when a bound is not an integer literal.
func openGaps(c *column, done []keyRange) ([]keyGap, bool) {
	type rng struct{ lo, hi ordBound }
	var rs []rng
	bound := func(b []string) (ordBound, bool) {
		if b == nil {
			return nil, true
		}
		if len(b) != 1 {
			return nil, false
		}
		o, ok := keyOrd(c, b[0])
		return ordPtr(o), ok
	}
	for _, r := range done {
		lo, ok1 := bound(r.Lo)
		hi, ok2 := bound(r.Hi)
		if !ok1 || !ok2 {
			return nil, false
		}
		if lo != nil && hi != nil && *hi <= *lo {
			continue
		}
		rs = append(rs, rng{lo, hi})
	}
	less := func(a, b ordBound) bool { // a < b, nil lo is -inf
		if a == nil {
			return b != nil
		}
		return b != nil && *a < *b
	}
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && less(rs[j].lo, rs[j-1].lo); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	var gaps []keyGap
	var cur ordBound // end of the covered prefix; nil with started false: -inf
	started := false
	for _, r := range rs {
		if !started || less(cur, r.lo) {
			if started || r.lo != nil {
				gaps = append(gaps, keyGap{lo: cur, hi: r.lo})
			}
		}
		if r.hi == nil {
			return gaps, true
		}
		if !started || less(cur, r.hi) {
			cur = r.hi
		}
		started = true
	}
	gaps = append(gaps, keyGap{lo: cur, hi: nil})
	return gaps, true
}

// maxKey returns MAX of the key column (ok false: empty table), and with
// count the table's COUNT(*) from the same scan (-1 without).
func maxKey(c *client.Conn, t *table, kc *column, count bool) (uint64, bool, int64, error) {
	q := "SELECT MAX(" + quoteIdent(kc.Name) + ")"
	if count {
		q += ", COUNT(*)"
	}
	r, err := c.Execute(q + " FROM " + tableIdent(t.Ref))
	if err != nil || r.RowNumber() == 0 {
		return 0, false, -1, err
	}
	n := int64(-1)
	if count {
		n, _ = r.GetInt(0, 1)
	}
	s, _ := r.GetString(0, 0)
	if s == "" {
		return 0, false, n, nil
	}
	o, ok := keyOrd(kc, s)
	return o, ok, n, nil
}

// sampleKeys returns the first n keys in (lo, hi] (nil bounds unbounded).
func sampleKeys(c *client.Conn, t *table, kc *column, lo, hi ordBound, n int) ([]uint64, error) {
	k := quoteIdent(kc.Name)
	r, err := c.Execute("SELECT " + k + " FROM " + tableIdent(t.Ref) + " WHERE " + intRangePred(kc, lo, hi) +
		" ORDER BY " + k + " LIMIT " + strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, r.RowNumber())
	for i := 0; i < r.RowNumber(); i++ {
		s, _ := r.GetString(i, 0)
		o, ok := keyOrd(kc, s)
		if !ok {
			return nil, fmt.Errorf("key value %q is not an integer", s)
		}
		out = append(out, o)
	}
	return out, nil
}

// intRangePred is "key > lo AND key <= hi" for ordinal bounds.
func intRangePred(kc *column, lo, hi ordBound) string {
	k := quoteIdent(kc.Name)
	switch {
	case lo == nil && hi == nil:
		return "TRUE"
	case lo == nil:
		return k + " <= " + ordLiteral(kc, *hi)
	case hi == nil:
		return k + " > " + ordLiteral(kc, *lo)
	}
	return k + " > " + ordLiteral(kc, *lo) + " AND " + k + " <= " + ordLiteral(kc, *hi)
}

func ordRange(kc *column, lo, hi ordBound) keyRange {
	var r keyRange
	if lo != nil {
		r.Lo = []string{ordLiteral(kc, *lo)}
	}
	if hi != nil {
		r.Hi = []string{ordLiteral(kc, *hi)}
	}
	return r
}

// planIntTable plans the chunks of a table with one integer key column. It
// returns false (having planned nothing) when the completed ranges of a
// resume are not integer bounds, for the general planner to take over.
func (s *snapshotter) planIntTable(c **client.Conn, ts *tableState, kc *column, est int64) (bool, error) {
	t := ts.cur
	gaps, ok := openGaps(kc, ts.snap.Ranges)
	if !ok || len(gaps) == 0 {
		return false, nil
	}
	what := "snapshot planning of " + ts.key
	var top uint64
	var nonEmpty bool
	// A small table is counted in the same query (its progress wants the
	// exact count).
	rows := int64(-1)
	if mc, ok := s.counts[ts]; ok {
		top, nonEmpty, rows = mc.top, mc.nonEmpty, mc.rows
		if mc.estimated {
			ts.totalEstimated.Store(true)
		}
	} else if err := s.withConn(c, what, func(c *client.Conn) error {
		s.notePlanQuery()
		var err error
		top, nonEmpty, rows, err = maxKey(c, t, kc, est < smallTable)
		return err
	}); err != nil {
		return true, err
	}
	if rows >= 0 {
		est = rows
	}
	ts.rowsTotal.Store(est)
	ts.estimated.Store(true)
	chunkRows := s.cfg.opts.chunkRows
	sample := min(keySample, chunkRows)
	// A table counted at no more than chunk_rows rows is one chunk per
	// gap, without sampling its keys: the chunk is read with its LIMIT,
	// so rows written since the count still split it.
	one := rows >= 0 && rows <= int64(chunkRows)
	for gi, g := range gaps {
		lo := g.lo
		for {
			var keys []uint64
			if nonEmpty && !one {
				err := s.withConn(c, what, func(c *client.Conn) error {
					s.notePlanQuery()
					var err error
					keys, err = sampleKeys(c, t, kc, lo, g.hi, sample)
					return err
				})
				if err != nil {
					return true, err
				}
			}
			// Fewer keys than the sample: the rest of the gap is one chunk.
			hi := g.hi
			if len(keys) == sample {
				first, kth := keys[0], keys[sample-1]
				step := float64(chunkRows) * (float64(kth-first) + 1) / float64(sample)
				if end := first + uint64(min(step, 1<<62)) - 1; end >= first && end < top && (g.hi == nil || end < *g.hi) {
					hi = ordPtr(end)
				}
			}
			last := hi == g.hi
			ch := &chunk{ts: ts, t: t, rng: ordRange(kc, lo, hi), intKey: kc, excl: resnapFilter(ts)}
			ch.small = one && rows <= smallChunkRows
			if hi == nil || len(keys) == 0 || *hi-keys[0] >= uint64(2*chunkRows) {
				ch.limit = 2 * chunkRows
			}
			if !s.dispatch(ch, last && gi == len(gaps)-1) {
				return true, nil
			}
			if last {
				break
			}
			lo = hi
		}
	}
	return true, nil
}

// splitAtLimit, after a chunk read with a LIMIT returned that many rows,
// ends the chunk at the last key read and returns a new chunk for the rest
// of its range.
func splitAtLimit(ch *chunk, rows int) *chunk {
	if ch.limit == 0 || rows < ch.limit || !ch.haveLast {
		return nil
	}
	return splitAfter(ch, ch.lastOrd)
}

// splitAfter ends an integer-key chunk at key o and returns a new chunk for
// the rest of its range (nil when o is the end of the range).
func splitAfter(ch *chunk, o uint64) *chunk {
	if ch.rng.Hi != nil {
		if hi, ok := keyOrd(ch.intKey, ch.rng.Hi[0]); ok && o >= hi {
			return nil
		}
	}
	// (Not small: read in a read view of its own, which ends ch's group.)
	rest := &chunk{ts: ch.ts, t: ch.t, intKey: ch.intKey, limit: ch.limit, excl: ch.excl, grp: ch.grp}
	rest.rng = keyRange{Lo: []string{ordLiteral(ch.intKey, o)}, Hi: ch.rng.Hi}
	ch.rng.Hi = rest.rng.Lo
	return rest
}
