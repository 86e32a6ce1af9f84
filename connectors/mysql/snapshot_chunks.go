package mysql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
)

// plan computes chunk boundaries table by table and feeds the workers.
func (s *snapshotter) plan() {
	defer s.wg.Done()
	defer close(s.work)
	var c *client.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	planOne := func(ts *tableState) bool {
		if c == nil {
			var err error
			if c, err = s.cfg.src.connect(s.ctx); err != nil {
				s.fail(err)
				return false
			}
		}
		if err := s.planTable(&c, ts); err != nil {
			if s.isDropped(ts) || s.tableGone(ts, err) {
				return true
			}
			if s.ctx.Err() == nil {
				s.fail(fmt.Errorf("snapshot of %s: %v", ts.key, err))
			}
			return false
		}
		return true
	}
	// The initial tables' row estimates in a few queries (describeBatch
	// tables each) rather than one per table: 1,000 small tables cost
	// 1,000 information_schema round trips otherwise.
	if len(s.initial) > 1 {
		var err error
		if c, err = s.cfg.src.connect(s.ctx); err != nil {
			s.fail(err)
			return
		}
		s.estimates = tableRowEstimates(c, s.initial)
		if testHookEstimates != nil {
			testHookEstimates(s.estimates)
		}
		s.mu.Lock()
		s.planQueries += (len(s.initial) + describeBatch - 1) / describeBatch
		s.mu.Unlock()
		if s.grouping() {
			s.counts = s.planCounts(c)
		}
	}
	for _, ts := range s.initial {
		if !planOne(ts) {
			return
		}
	}
	// Then the tables that join while the stream runs.
	for {
		select {
		case ts := <-s.added:
			if !planOne(ts) {
				return
			}
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *snapshotter) planTable(c **client.Conn, ts *tableState) error {
	t := ts.cur
	est, ok := s.estimates[ts]
	if !ok {
		est = s.tableRows(*c, ts)
	}
	if kc := intKeyCol(t); kc != nil {
		if planned, err := s.planIntTable(c, ts, kc, est); planned || err != nil {
			return err
		}
	}
	s.count(*c, ts, est)
	excl := andPred(exclusion(t, ts.snap.Ranges), resnapFilter(ts))
	var lo []string
	for {
		var hi []string
		if len(t.Key) > 0 {
			err := s.withConn(c, "snapshot planning of "+ts.key, func(c *client.Conn) error {
				var err error
				hi, err = s.boundary(c, t, lo, excl)
				return err
			})
			if err != nil {
				return err
			}
		}
		ch := &chunk{ts: ts, t: t, rng: keyRange{Lo: lo, Hi: hi}, excl: excl}
		// (The whole table in one chunk: counted exactly when small.)
		ch.small = lo == nil && hi == nil && ts.rowsTotal.Load() <= smallChunkRows
		if !s.dispatch(ch, hi == nil) || hi == nil {
			return nil
		}
		lo = hi
	}
}

// dispatch hands a planned chunk to the workers, once fewer than
// 2 × snapshot_parallelism chunks are read but not emitted; last marks the
// table's planning finished. It returns false when the snapshot stops.
func (s *snapshotter) dispatch(ch *chunk, last bool) bool {
	select {
	case s.semOf(ch) <- struct{}{}:
	case <-s.ctx.Done():
		return false
	}
	s.mu.Lock()
	if s.dropped[ch.ts] {
		s.mu.Unlock()
		s.release(ch)
		return false
	}
	s.planned[ch.ts]++
	if s.planned[ch.ts] == 1 {
		s.noteTableStart(ch.ts)
	}
	if last {
		s.closed[ch.ts] = true
	}
	s.mu.Unlock()
	select {
	case s.work <- ch:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// testHookEstimates, when set, may change the initial tables' row
// estimates (a test's stale estimate).
var testHookEstimates func(map[*tableState]int64)

// smallTable is the estimated row count under which a table's rows are
// counted exactly for its progress (and, with an integer key, planned as
// one chunk when the count says it fits).
const smallTable = 100000

// tableRows returns the table's estimated row count (information_schema
// TABLE_ROWS; 0 when unknown).
func (s *snapshotter) tableRows(c *client.Conn, ts *tableState) int64 {
	s.notePlanQuery()
	r, err := c.Execute("SELECT IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
		quoteString(ts.ref.DB) + " AND TABLE_NAME = " + quoteString(ts.ref.Table))
	if err != nil || r.RowNumber() == 0 {
		return 0
	}
	n, _ := r.GetInt(0, 0)
	return n
}

// tableRowEstimates returns the tables' estimated row counts, read
// describeBatch tables a query; a table missing from the answer (an error,
// a name the server spells otherwise) is left out, to be asked alone.
func tableRowEstimates(c *client.Conn, tss []*tableState) map[*tableState]int64 {
	out := map[*tableState]int64{}
	byDB := map[string][]*tableState{}
	var dbs []string
	for _, ts := range tss {
		if _, ok := byDB[ts.ref.DB]; !ok {
			dbs = append(dbs, ts.ref.DB)
		}
		byDB[ts.ref.DB] = append(byDB[ts.ref.DB], ts)
	}
	for _, db := range dbs {
		all := byDB[db]
		for lo := 0; lo < len(all); lo += describeBatch {
			part := all[lo:min(lo+describeBatch, len(all))]
			names := make([]string, len(part))
			byName := map[string]*tableState{}
			for i, ts := range part {
				names[i] = quoteString(ts.ref.Table)
				byName[ts.ref.Table] = ts
			}
			r, err := c.Execute("SELECT TABLE_NAME, IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
				quoteString(db) + " AND TABLE_NAME IN (" + strings.Join(names, ", ") + ")")
			if err != nil {
				continue
			}
			for i := 0; i < r.RowNumber(); i++ {
				name, _ := r.GetString(i, 0)
				n, _ := r.GetInt(i, 1)
				if ts := byName[name]; ts != nil {
					out[ts] = n
				}
			}
		}
	}
	return out
}

// count sets the table's row count for its progress: the estimate, or
// for a small table the exact count.
func (s *snapshotter) count(c *client.Conn, ts *tableState, est int64) {
	if est < smallTable {
		s.notePlanQuery()
		if r, err := c.Execute("SELECT COUNT(*) FROM " + tableIdent(ts.ref)); err == nil {
			est, _ = r.GetInt(0, 0)
		}
	}
	ts.rowsTotal.Store(est)
	ts.estimated.Store(true)
}

// notePlanQuery counts a query of the chunk planner (planQueries).
func (s *snapshotter) notePlanQuery() {
	s.mu.Lock()
	s.planQueries++
	s.mu.Unlock()
}

// keyExprs returns, per key column, the expression whose text is the
// column's SQL literal form, and how to make the literal from it.
func keyExpr(c *column) string {
	switch c.Kind {
	case kString, kBinary, kJSON:
		return "HEX(" + quoteIdent(c.Name) + ")"
	case kEnum, kSet, kBit:
		return "(" + quoteIdent(c.Name) + "+0)"
	case kFloat32:
		return "(" + quoteIdent(c.Name) + "*1e0)"
	}
	return quoteIdent(c.Name)
}

// keyLiteral turns the text of keyExpr into an SQL literal comparing the
// way the column sorts.
func keyLiteral(c *column, v []byte) string {
	switch c.Kind {
	case kString, kJSON:
		return "_" + c.Charset + " X'" + string(v) + "' COLLATE " + c.Collation
	case kBinary:
		return "X'" + string(v) + "'"
	case kDate, kDatetime, kTimestamp, kTime, kUUID, kInet6, kInet4:
		// A UUID or INET literal compares in the column's own order.
		return quoteString(string(v))
	}
	return string(v)
}

// rangePred returns the SQL predicate of key range r: key > lo AND key <= hi.
func rangePred(t *table, r keyRange) string {
	var parts []string
	if r.Lo != nil {
		parts = append(parts, keyCompare(t, r.Lo, ">"))
	}
	if r.Hi != nil {
		parts = append(parts, "NOT "+keyCompare(t, r.Hi, ">"))
	}
	if len(parts) == 0 {
		return "TRUE"
	}
	return strings.Join(parts, " AND ")
}

// keyCompare returns "key op lits" for op ">" expanded for composite keys
// (a > x OR (a = x AND b > y)), which range-optimizes on both servers.
func keyCompare(t *table, lits []string, op string) string {
	var ors []string
	for i := range t.Key {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, quoteIdent(t.Cols[t.Key[j]].Name)+" = "+lits[j])
		}
		ands = append(ands, quoteIdent(t.Cols[t.Key[i]].Name)+" "+op+" "+lits[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

func exclusion(t *table, done []keyRange) string {
	if len(done) == 0 || len(t.Key) == 0 {
		return ""
	}
	var ors []string
	for _, r := range done {
		ors = append(ors, "("+rangePred(t, r)+")")
	}
	return "NOT (" + strings.Join(ors, " OR ") + ")"
}

func keyOrder(t *table) string {
	var cols []string
	for _, k := range t.Key {
		cols = append(cols, quoteIdent(t.Cols[k].Name))
	}
	return strings.Join(cols, ", ")
}

// boundary returns the key that ends the chunk starting after lo, or nil
// when the rest of the table fits in one chunk.
func (s *snapshotter) boundary(c *client.Conn, t *table, lo []string, excl string) ([]string, error) {
	var exprs []string
	for _, k := range t.Key {
		exprs = append(exprs, keyExpr(t.Cols[k]))
	}
	where := rangePred(t, keyRange{Lo: lo})
	if excl != "" {
		where += " AND " + excl
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + tableIdent(t.Ref) + " WHERE " + where +
		" ORDER BY " + keyOrder(t) + " LIMIT 1 OFFSET " + strconv.Itoa(s.cfg.opts.chunkRows-1)
	s.notePlanQuery()
	r, err := c.Execute(q)
	if err != nil {
		return nil, err
	}
	if r.RowNumber() == 0 {
		return nil, nil
	}
	out := make([]string, len(t.Key))
	for i, k := range t.Key {
		v, _ := r.GetString(0, i)
		out[i] = keyLiteral(t.Cols[k], []byte(v))
	}
	return out, nil
}
