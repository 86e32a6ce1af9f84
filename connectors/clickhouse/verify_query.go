package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Read-only queries for `etlq verify` (docs/verify.md). Both sides of a
// comparison are put in one canonical text: a sink batch's values are
// converted by columnSlice into the Go values clickhouse-go inserts, and
// the table's rows are scanned by clickhouse-go into the same Go types, so
// a value and its stored copy give the same text without reimplementing
// ClickHouse's own formatting.

var _ connectors.VerifySink = (*Sink)(nil)

// OpenVerify resolves t to its table for reading. The table must exist;
// nothing is created or altered.
func (s *Sink) OpenVerify(ctx context.Context, t connectors.Target, ignore []string) (connectors.VerifyTarget, error) {
	conn, l, st, err := s.layoutState(ctx, t)
	if err != nil {
		return nil, err
	}
	if !st.exists {
		return nil, fmt.Errorf("target %s.%s does not exist (run etlq apply first)", l.db, l.table)
	}
	if l.mode != connectors.ModeUpsert && l.mode != connectors.ModeChangelog {
		return nil, fmt.Errorf("target %s.%s: verify compares upsert and changelog targets only", l.db, l.table)
	}
	if len(l.key) == 0 {
		return nil, fmt.Errorf("target %s.%s: verify needs a key (KEY or the source's primary key)", l.db, l.table)
	}
	have := map[string]bool{}
	for _, c := range st.columns {
		have[c.name] = true
	}
	for _, c := range l.cols[:l.user] {
		if !have[c.name] {
			return nil, fmt.Errorf("target %s.%s has no column %q yet", l.db, l.table, c.name)
		}
	}
	vt := &verifyTarget{s: s, conn: conn, l: l, types: map[string]string{}}
	for _, c := range st.columns {
		vt.types[c.name] = c.typ
	}
	skip := map[string]bool{}
	for _, n := range ignore {
		skip[n] = true
	}
	for _, k := range l.key {
		delete(skip, k) // a key is always compared
	}
	for _, c := range l.cols[:l.user] {
		if !skip[c.name] {
			vt.cols = append(vt.cols, c)
		}
	}
	return vt, nil
}

type verifyTarget struct {
	s    *Sink
	conn driver.Conn
	l    *tableLayout
	cols []colSpec // the user columns compared (OpenVerify's ignore left out)
	// types are the table's column types as ClickHouse names them.
	types map[string]string
	// truncated is, for a changelog table of several source tables, the
	// condition that keeps the changes after their own table's last
	// truncate (truncatedCond); "" for one table's: after the last.
	truncated string
	// scope is the condition (Scope) that selects the rows of the
	// pipeline's tables in a target others write as well; "" for all.
	scope string
	// masks are the columns read as NULL for the rows of the source
	// tables that lack them (Mask): column → expression.
	masks map[string]string
}

var _ connectors.VerifyMasker = (*verifyTarget)(nil)

// Mask reads each column of lacking as NULL in the rows of its tables (an
// upsert table: a changelog's rows are its history).
func (v *verifyTarget) Mask(lacking map[string][]connectors.TableRef) bool {
	var cols []string
	var isDB []bool
	for _, c := range v.l.cols[:v.l.user] {
		switch c.src {
		case exec.ColDB:
			cols, isDB = append(cols, "toString("+quote(c.name)+")"), append(isDB, true)
		case exec.ColTable:
			cols, isDB = append(cols, "toString("+quote(c.name)+")"), append(isDB, false)
		}
	}
	if len(cols) == 0 || v.l.mode != connectors.ModeUpsert {
		return false
	}
	for name, refs := range lacking {
		if len(refs) == 0 || v.l.col(name) == nil {
			continue
		}
		var in []string
		for _, r := range refs {
			var vals []string
			for _, db := range isDB {
				if db {
					vals = append(vals, quoteString(r.DB))
				} else {
					vals = append(vals, quoteString(r.Table))
				}
			}
			in = append(in, "("+strings.Join(vals, ", ")+")")
		}
		cond := cols[0] + " IN (" + strings.Join(in, ", ") + ")"
		if len(cols) > 1 {
			cond = "(" + strings.Join(cols, ", ") + ") IN (" + strings.Join(in, ", ") + ")"
		}
		if v.masks == nil {
			v.masks = map[string]string{}
		}
		v.masks[name] = "if(" + cond + ", NULL, " + quote(name) + ")"
	}
	return true
}

// colExpr is the SQL that reads column name: the column, or its mask.
func (v *verifyTarget) colExpr(name string) string {
	if m, ok := v.masks[name]; ok {
		return m
	}
	return quote(name)
}

// scoped is " AND <scope>", or "" when every row is read.
func (v *verifyTarget) scoped() string {
	if v.scope == "" {
		return ""
	}
	return " AND " + v.scope
}

var _ connectors.VerifyScoper = (*verifyTarget)(nil)

// Scope restricts the reads to the rows of the source tables keep accepts,
// told apart by the target's `_db` and `_table` columns (their values are
// listed, keep picks, and the reads select those by IN).
func (v *verifyTarget) Scope(ctx context.Context, keep func(db, table string) bool) (bool, error) {
	var cols []string
	var isDB []bool
	for _, c := range v.l.cols[:v.l.user] {
		switch c.src {
		case exec.ColDB:
			cols, isDB = append(cols, "toString("+quote(c.name)+")"), append(isDB, true)
		case exec.ColTable:
			cols, isDB = append(cols, "toString("+quote(c.name)+")"), append(isDB, false)
		}
	}
	if len(cols) == 0 {
		return false, nil
	}
	rs, err := v.conn.Query(ctx, "SELECT DISTINCT "+strings.Join(cols, ", ")+" FROM "+v.l.qualified())
	if err != nil {
		return false, v.s.errorf("reading the source tables of %s: %v", v.l.qualified(), err)
	}
	defer rs.Close()
	var in []string
	for rs.Next() {
		vals := make([]string, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rs.Scan(dest...); err != nil {
			return false, v.s.errorf("reading the source tables of %s: %v", v.l.qualified(), err)
		}
		var db, table string
		quoted := make([]string, len(vals))
		for i, x := range vals {
			if isDB[i] {
				db = x
			} else {
				table = x
			}
			quoted[i] = quoteString(x)
		}
		if keep(db, table) {
			in = append(in, "("+strings.Join(quoted, ", ")+")")
		}
	}
	if err := rs.Err(); err != nil {
		return false, v.s.errorf("reading the source tables of %s: %v", v.l.qualified(), err)
	}
	switch {
	case len(in) == 0:
		v.scope = "0"
	case len(cols) == 1:
		v.scope = cols[0] + " IN " + "(" + strings.Join(in, ", ") + ")"
	default:
		v.scope = "(" + strings.Join(cols, ", ") + ") IN (" + strings.Join(in, ", ") + ")"
	}
	return true, nil
}

func (v *verifyTarget) Close() error { return nil }

// userCols returns the compared user columns and, in key order, the index of each
// key column among them.
func (v *verifyTarget) userCols() ([]colSpec, []int) {
	cols := v.cols
	var keys []int
	for _, k := range v.l.key {
		for i := range cols {
			if cols[i].name == k {
				keys = append(keys, i)
			}
		}
	}
	return cols, keys
}

// BatchRows canonicalizes the live rows of a sink batch.
func (v *verifyTarget) BatchRows(b *exec.Batch, fn func(key, row string) error) error {
	cols, keys := v.userCols()
	rec := b.Record
	n := int(rec.NumRows())
	var dead []uint8
	if idx := rec.Schema().FieldIndices(exec.SysDeleted); len(idx) > 0 {
		dead = liveRows(b).dead
	}
	text := make([]func(int) string, len(cols))
	for i := range cols {
		c := &cols[i]
		idx := rec.Schema().FieldIndices(c.src)
		if len(idx) == 0 {
			return fmt.Errorf("batch has no column %q", c.src)
		}
		// Tombstones are skipped below; their NULLs must not fail here.
		r := rows{n: n, dead: dead}
		if dead == nil {
			r.dead = make([]uint8, n)
		}
		s, err := columnSlice(c, rec.Column(idx[0]), r)
		if err != nil {
			return err
		}
		text[i] = texter(c, s)
	}
	texts := make([]string, len(cols))
	for j := 0; j < n; j++ {
		if dead != nil && dead[j] == 1 {
			continue
		}
		for i := range cols {
			texts[i] = text[i](j)
		}
		if err := fn(joinKey(texts, keys), strings.Join(texts, "\x1f")); err != nil {
			return err
		}
	}
	return nil
}

// CheckRows returns the rows of b the pipeline's insert would fail on
// (connectors.RowChecker), as the writer's CheckRows finds them: a date
// outside the column's range, a NULL in a column that cannot hold one.
// Under on_error = 'skip' or 'dead_letter' apply leaves them out of the
// target, so verify must not expect them there (docs/verify.md).
func (v *verifyTarget) CheckRows(b *exec.Batch) []exec.RowError {
	if b.Record == nil {
		return nil
	}
	var out []exec.RowError
	named := map[int]bool{}
	r := liveRows(b)
	r.bad = func(err error) {
		de := (*dataError)(nil)
		var re *rangeError
		if errors.As(err, &re) {
			de = &re.dataError
		} else if !errors.As(err, &de) {
			return
		}
		if de.row < 0 || named[de.row] {
			return
		}
		named[de.row] = true
		out = append(out, exec.RowError{Row: de.row, Column: de.column, Reason: de.reason})
	}
	for i := range v.cols {
		c := &v.cols[i]
		if idx := b.Record.Schema().FieldIndices(c.src); len(idx) > 0 {
			_, _ = columnSlice(c, b.Record.Column(idx[0]), r) // (r.bad takes each row's error)
		}
	}
	return out
}

// liveQuery is the SELECT of the live rows of the table: for an upsert
// table its rows FINAL that are not tombstones, for a changelog table the
// state its changes replay to (changelogLive).
func (v *verifyTarget) liveQuery(cols []colSpec, extra string) string {
	names := make([]string, len(cols))
	for i := range cols {
		names[i] = quote(cols[i].name)
	}
	if v.l.mode == connectors.ModeChangelog {
		return "SELECT " + strings.Join(names, ", ") + " FROM " + v.l.qualified() + " WHERE " + v.changelogLive() + v.scoped() + extra
	}
	for i := range cols {
		names[i] = v.colExpr(cols[i].name)
	}
	return "SELECT " + strings.Join(names, ", ") + " FROM " + v.l.qualified() + " FINAL WHERE " + quote(colIsDeleted) + " = 0" + v.scoped() + extra
}

// changelogLive is the condition that keeps, of a changelog table's rows,
// those that replaying every change in _version order leaves live
// (docs/verify.md, "Changelog targets"): the last change of each key,
// unless it is a delete; an update that changed the key (its _before_ key
// columns differ) is the last change of the old key too, which it removes;
// a truncate removes every change before it.
func (v *verifyTarget) changelogLive() string {
	t := v.l.qualified()
	// The union's columns get names of their own: an alias named like a
	// column would replace that column in the WHERE beside it.
	var keys, aliased, before, moved []string
	hasBefore := true
	for i, k := range v.l.key {
		alias := quote(fmt.Sprintf("__verify_k%d", i))
		keys = append(keys, quote(k))
		aliased = append(aliased, quote(k)+" AS "+alias)
		before = append(before, "assumeNotNull("+quote(beforePrefix+k)+") AS "+alias)
		moved = append(moved, quote(beforePrefix+k)+" != "+quote(k))
		found := false
		for _, c := range v.l.cols[v.l.user:] {
			found = found || c.name == beforePrefix+k
		}
		hasBefore = hasBefore && found
	}
	ver, op := quote(colVersion), quote(colOp)
	changes := "SELECT " + strings.Join(aliased, ", ") + ", " + ver + " AS __verify_v FROM " + t
	if hasBefore {
		changes += " UNION ALL SELECT " + strings.Join(before, ", ") + ", " + ver + " AS __verify_v FROM " + t +
			" WHERE " + op + " = 'update' AND (" + strings.Join(moved, " OR ") + ")"
	}
	var groups []string
	for i := range v.l.key {
		groups = append(groups, quote(fmt.Sprintf("__verify_k%d", i)))
	}
	group := strings.Join(groups, ", ")
	truncated := ver + " > (SELECT max(" + ver + ") FROM " + t + " WHERE " + op + " = 'truncate')"
	if v.truncated != "" {
		truncated = v.truncated
	}
	return op + " NOT IN ('delete', 'truncate') AND " + truncated +
		" AND (" + strings.Join(keys, ", ") + ", " + ver + ") IN (SELECT " + group + ", max(__verify_v) FROM (" + changes + ") GROUP BY " + group + ")"
}

// truncatedCond sets v.truncated for a changelog table whose rows name
// their source table (_db, _table): a truncate removes the changes of its
// own table before it, not every table's (a TRUNCATE of one tenant's
// table made verify find every other tenant's rows missing).
func (v *verifyTarget) truncatedCond(ctx context.Context) error {
	if v.l.mode != connectors.ModeChangelog {
		return nil
	}
	var cols []string
	for _, c := range v.l.cols[:v.l.user] {
		if c.src == exec.ColDB || c.src == exec.ColTable {
			cols = append(cols, "toString("+quote(c.name)+")")
		}
	}
	if len(cols) == 0 {
		return nil
	}
	name := "concat(" + strings.Join(cols, ", '\\0', ") + ")"
	if len(cols) == 1 {
		name = cols[0]
	}
	rs, err := v.conn.Query(ctx, "SELECT "+name+", max("+quote(colVersion)+") FROM "+v.l.qualified()+" WHERE "+quote(colOp)+" = 'truncate' GROUP BY "+name)
	if err != nil {
		return v.s.errorf("reading the truncates of %s: %v", v.l.qualified(), err)
	}
	defer rs.Close()
	var names, vers []string
	for rs.Next() {
		var n string
		var ver uint64
		if err := rs.Scan(&n, &ver); err != nil {
			return v.s.errorf("reading the truncates of %s: %v", v.l.qualified(), err)
		}
		names, vers = append(names, quoteString(n)), append(vers, "toUInt64("+strconv.FormatUint(ver, 10)+")")
	}
	if err := rs.Err(); err != nil {
		return v.s.errorf("reading the truncates of %s: %v", v.l.qualified(), err)
	}
	v.truncated = "1"
	if len(names) > 0 {
		v.truncated = quote(colVersion) + " > transform(" + name + ", [" + strings.Join(names, ", ") + "], [" + strings.Join(vers, ", ") + "], toUInt64(0))"
	}
	return nil
}

// LiveRows reads the table's live rows, FINAL.
func (v *verifyTarget) LiveRows(ctx context.Context, fn func(key, row string) error) error {
	cols, keys := v.userCols()
	if err := v.truncatedCond(ctx); err != nil {
		return err
	}
	rs, err := v.conn.Query(ctx, v.liveQuery(cols, ""))
	if err != nil {
		return v.s.errorf("reading %s: %v", v.l.qualified(), err)
	}
	defer rs.Close()
	types := rs.ColumnTypes()
	dest := make([]any, len(types))
	for i, t := range types {
		dest[i] = reflect.New(t.ScanType()).Interface()
	}
	texts := make([]string, len(cols))
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return v.s.errorf("reading %s: %v", v.l.qualified(), err)
		}
		for i := range cols {
			texts[i] = canonical(&cols[i], reflect.ValueOf(dest[i]).Elem().Interface())
		}
		if err := fn(joinKey(texts, keys), strings.Join(texts, "\x1f")); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return v.s.errorf("reading %s: %v", v.l.qualified(), err)
	}
	return nil
}

// keyRows calls fn with the key text, the key values as the driver scans
// them, the _version and whether the row is a tombstone, for the row each
// key of the table has under FINAL (its last row, tombstones included).
func (v *verifyTarget) keyRows(ctx context.Context, fn func(key string, vals []any, ver uint64, deleted bool)) error {
	cols, kidx := v.userCols()
	keyCols := make([]colSpec, len(kidx))
	names := make([]string, len(kidx))
	for i, k := range kidx {
		keyCols[i] = cols[k]
		names[i] = quote(cols[k].name)
	}
	q := "SELECT " + strings.Join(names, ", ") + ", " + quote(colVersion) + ", " + quote(colIsDeleted) + " FROM " + v.l.qualified() + " FINAL"
	if v.scope != "" {
		q += " WHERE " + v.scope
	}
	rs, err := v.conn.Query(ctx, q)
	if err != nil {
		return v.s.errorf("reading %s: %v", v.l.qualified(), err)
	}
	defer rs.Close()
	types := rs.ColumnTypes()
	texts := make([]string, len(keyCols))
	all := make([]int, len(keyCols))
	for i := range all {
		all[i] = i
	}
	for rs.Next() {
		dest := make([]any, len(types))
		for i, t := range types[:len(keyCols)] {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		var ver uint64
		var deleted uint8
		dest[len(keyCols)], dest[len(keyCols)+1] = &ver, &deleted
		if err := rs.Scan(dest...); err != nil {
			return v.s.errorf("reading %s: %v", v.l.qualified(), err)
		}
		vals := make([]any, len(keyCols))
		for i := range keyCols {
			vals[i] = reflect.ValueOf(dest[i]).Elem().Interface()
			texts[i] = canonical(&keyCols[i], vals[i])
		}
		fn(joinKey(texts, all), vals, ver, deleted == 1)
	}
	if err := rs.Err(); err != nil {
		return v.s.errorf("reading %s: %v", v.l.qualified(), err)
	}
	return nil
}

// Versions returns, for each key text given that the table holds (live or
// as a tombstone), the _version of its last row.
func (v *verifyTarget) Versions(ctx context.Context, keys map[string]bool) (map[string]uint64, error) {
	out := map[string]uint64{}
	if len(keys) == 0 {
		return out, nil
	}
	err := v.keyRows(ctx, func(key string, _ []any, ver uint64, _ bool) {
		if keys[key] {
			out[key] = ver
		}
	})
	return out, err
}

var _ connectors.VersionReader = (*verifyTarget)(nil)

// MaxVersion returns the largest _version of the table's rows (of the
// pipeline's tables in a shared target), superseded ones included: a
// bound for every version Versions can return, read without FINAL.
func (v *verifyTarget) MaxVersion(ctx context.Context) (uint64, error) {
	q := "SELECT max(" + quote(colVersion) + ") FROM " + v.l.qualified()
	if v.scope != "" {
		q += " WHERE " + v.scope
	}
	var top uint64
	if err := v.conn.QueryRow(ctx, q).Scan(&top); err != nil {
		return 0, v.s.errorf("reading the largest %s of %s: %v", colVersion, v.l.qualified(), err)
	}
	return top, nil
}

// Tombstone inserts, for each key text in keys whose live row still has
// the _version given, a copy of the row with _is_deleted = 1 and that same
// _version (ClickHouse keeps the last row inserted among equal versions):
// the server copies the key values, so they need not be parsed back from
// their text, and a row the pipeline wrote since (a larger version) is
// left alone.
func (v *verifyTarget) Tombstone(ctx context.Context, keys map[string]uint64) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	var tuples [][]any
	err := v.keyRows(ctx, func(key string, vals []any, ver uint64, deleted bool) {
		if want, ok := keys[key]; ok && !deleted && ver == want {
			tuples = append(tuples, append(vals, ver))
		}
	})
	if err != nil {
		return 0, err
	}
	if len(tuples) == 0 {
		return 0, nil
	}
	var names, sel []string
	for _, c := range v.l.cols {
		names = append(names, quote(c.name))
		if c.name == colIsDeleted {
			sel = append(sel, "toUInt8(1)")
		} else {
			sel = append(sel, quote(c.name))
		}
	}
	cols, kidx := v.userCols()
	var keyNames []string
	for _, k := range kidx {
		keyNames = append(keyNames, quote(cols[k].name))
	}
	keyNames = append(keyNames, quote(colVersion))
	head := "INSERT INTO " + v.l.qualified() + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(sel, ", ") +
		" FROM " + v.l.qualified() + " FINAL WHERE " + quote(colIsDeleted) + " = 0" + v.scoped() + " AND (" + strings.Join(keyNames, ", ") + ") IN ("
	// The keys go in statements of at most tombstoneSQLBytes of SQL each:
	// the server parses no query longer than its max_query_size (256 KiB
	// by default; one IN list of 12,000 keys failed with "Syntax error:
	// failed at position 262143"). The size is bounded from the values'
	// literals (literalBytes), as the driver writes them into the text.
	done := 0
	for start := 0; start < len(tuples); {
		size := len(head) + 1
		var args []any
		var conds []string
		end := start
		for ; end < len(tuples); end++ {
			t := tuples[end]
			n := 2 + 2*len(t) // "(", ", " between, ")" and the ", " before it
			for _, x := range t {
				n += literalBytes(x)
			}
			if end > start && size+n > tombstoneSQLBytes {
				break
			}
			size += n
			ph := make([]string, len(t))
			for i := range t {
				ph[i] = "?"
				args = append(args, t[i])
			}
			conds = append(conds, "("+strings.Join(ph, ", ")+")")
		}
		if err := v.conn.Exec(ctx, head+strings.Join(conds, ", ")+")", args...); err != nil {
			return done, v.s.errorf("writing tombstones into %s: %v", v.l.qualified(), err)
		}
		done += end - start
		start = end
	}
	return done, nil
}

// tombstoneSQLBytes bounds the SQL of one of Tombstone's statements: a
// quarter of ClickHouse's default max_query_size (262,144 bytes, the same
// from 18.16 on), leaving room for a long scope condition.
const tombstoneSQLBytes = 64 << 10

// literalBytes is at least the length of the SQL literal clickhouse-go
// binds for a value keyRows scans: a string's quotes and escapes (each
// byte at most two), a time's toDateTime64('…', 9, 'zone'), a number's
// digits with room for a cast.
func literalBytes(x any) int {
	for {
		rv := reflect.ValueOf(x)
		if !rv.IsValid() {
			return len("NULL")
		}
		if rv.Kind() != reflect.Pointer {
			break
		}
		if rv.IsNil() {
			return len("NULL")
		}
		x = rv.Elem().Interface()
	}
	switch s := x.(type) {
	case string:
		return 2 + 2*len(s)
	case []byte:
		return 2 + 2*len(s)
	case time.Time:
		return 64 + len(s.Location().String())
	}
	return 32 + 2*len(fmt.Sprint(x))
}

// joinKey is the key text of a row from its column texts.
func joinKey(texts []string, keys []int) string {
	if len(keys) == 1 {
		return texts[keys[0]]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = texts[k]
	}
	return strings.Join(parts, "\x1f")
}

// canonicalString is a string value as it is: quoted only where it could
// be taken for the separator of columns or for NULL.
func canonicalString(s string) string {
	if s == `\N` || strings.IndexByte(s, '\x1f') >= 0 || strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	return s
}

// canonical is the text of one value of column c as clickhouse-go holds it
// (inserted or scanned): pointers followed, NULL as \N, times in UTC (a
// Date as its day), floats in their shortest exact form.
func canonical(c *colSpec, v any) string {
	if v == nil {
		return `\N`
	}
	for {
		rv := reflect.ValueOf(v)
		if !rv.IsValid() {
			return `\N`
		}
		if rv.Kind() != reflect.Pointer {
			break
		}
		if rv.IsNil() {
			return `\N`
		}
		v = rv.Elem().Interface()
	}
	switch x := v.(type) {
	case string:
		return canonicalString(x)
	case []byte:
		return canonicalString(string(x))
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case time.Time:
		if c.m.enc == encDate {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999999")
	case decimal.Decimal:
		return x.String()
	case float32:
		if math.IsNaN(float64(x)) {
			return "nan"
		}
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		if math.IsNaN(x) {
			return "nan"
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(v)
}

// texter returns the canonical text of row j of a clickhouse-go column
// slice (what columnSlice returns): typed loops for the usual slices, the
// reflective canonical for the others.
func texter(c *colSpec, slice any) func(j int) string {
	switch s := slice.(type) {
	case []int8:
		return vals(s, func(v int8) string { return strconv.FormatInt(int64(v), 10) })
	case []*int8:
		return ptrs(s, func(v int8) string { return strconv.FormatInt(int64(v), 10) })
	case []int16:
		return vals(s, func(v int16) string { return strconv.FormatInt(int64(v), 10) })
	case []*int16:
		return ptrs(s, func(v int16) string { return strconv.FormatInt(int64(v), 10) })
	case []int32:
		return vals(s, func(v int32) string { return strconv.FormatInt(int64(v), 10) })
	case []*int32:
		return ptrs(s, func(v int32) string { return strconv.FormatInt(int64(v), 10) })
	case []int64:
		return vals(s, func(v int64) string { return strconv.FormatInt(v, 10) })
	case []*int64:
		return ptrs(s, func(v int64) string { return strconv.FormatInt(v, 10) })
	case []uint8:
		return vals(s, func(v uint8) string { return strconv.FormatUint(uint64(v), 10) })
	case []*uint8:
		return ptrs(s, func(v uint8) string { return strconv.FormatUint(uint64(v), 10) })
	case []uint16:
		return vals(s, func(v uint16) string { return strconv.FormatUint(uint64(v), 10) })
	case []*uint16:
		return ptrs(s, func(v uint16) string { return strconv.FormatUint(uint64(v), 10) })
	case []uint32:
		return vals(s, func(v uint32) string { return strconv.FormatUint(uint64(v), 10) })
	case []*uint32:
		return ptrs(s, func(v uint32) string { return strconv.FormatUint(uint64(v), 10) })
	case []uint64:
		return vals(s, func(v uint64) string { return strconv.FormatUint(v, 10) })
	case []*uint64:
		return ptrs(s, func(v uint64) string { return strconv.FormatUint(v, 10) })
	case []string:
		return vals(s, canonicalString)
	case []*string:
		return ptrs(s, canonicalString)
	case []decimal.Decimal:
		return vals(s, func(v decimal.Decimal) string { return v.String() })
	case []*decimal.Decimal:
		return ptrs(s, func(v decimal.Decimal) string { return v.String() })
	}
	rv := reflect.ValueOf(slice)
	return func(j int) string { return canonical(c, rv.Index(j).Interface()) }
}

func vals[T any](s []T, f func(T) string) func(int) string {
	return func(j int) string { return f(s[j]) }
}

func ptrs[T any](s []*T, f func(T) string) func(int) string {
	return func(j int) string {
		if s[j] == nil {
			return `\N`
		}
		return f(*s[j])
	}
}

var _ connectors.SumTarget = (*verifyTarget)(nil)

// sumExpr is the canonical text of column c as kind, or why the column's
// type does not give it.
func (v *verifyTarget) sumExpr(c connectors.SumColumn) (string, string) {
	typ := strings.TrimSuffix(strings.TrimPrefix(v.types[c.Name], "Nullable("), ")")
	n := v.colExpr(c.Name)
	ok := false
	e := "toString(" + n + ")"
	switch c.Kind {
	case connectors.SumInt:
		ok = strings.HasPrefix(typ, "Int") || strings.HasPrefix(typ, "UInt")
	case connectors.SumString:
		ok, e = typ == "String", n
	case connectors.SumDecimal:
		ok = strings.HasPrefix(typ, "Decimal(")
	case connectors.SumDate:
		ok, e = typ == "Date", "toString(toUInt16("+n+"))" // the day number
	case connectors.SumMicros:
		ok = typ == "Int64" // microseconds on servers without DateTime64
	case connectors.SumDouble:
		ok = typ == "Float64"
	}
	if !ok {
		return "", fmt.Sprintf("column %s is %s, which has no %s checksum text", c.Name, v.types[c.Name], c.Kind)
	}
	return "ifNull(" + e + ", '\\\\N')", ""
}

// sumHash is the SQL of a row's 64-bit hash, as the MySQL source computes
// it: the first 8 bytes of the MD5 of the canonical text, big-endian.
func (v *verifyTarget) sumHash(cols []connectors.SumColumn) (string, string) {
	var parts, nulls []string
	for _, c := range cols {
		e, why := v.sumExpr(c)
		if why != "" {
			return "", why
		}
		parts = append(parts, e, "'\\x1f'")
		nulls = append(nulls, "toString(isNull("+v.colExpr(c.Name)+"))")
	}
	// The last field says which values are NULL: a NULL and the text \N
	// must not hash alike.
	parts = append(parts, nulls...)
	if len(parts) < 2 {
		parts = append(parts, "''")
	}
	// halfMD5 of one string is the first 8 bytes of its MD5, big-endian.
	return "halfMD5(concat(" + strings.Join(parts, ", ") + "))", ""
}

// SumSupported says why the columns cannot be summed ("" when they can).
func (v *verifyTarget) SumSupported(key string, cols []connectors.SumColumn) string {
	if v.l.mode != connectors.ModeUpsert {
		return "the target is not an upsert table"
	}
	if _, why := v.sumExpr(connectors.SumColumn{Name: key, Kind: connectors.SumInt}); why != "" {
		return why
	}
	_, why := v.sumHash(cols)
	return why
}

func chRangeCond(k string, ranges []connectors.KeyRange) string {
	conds := make([]string, len(ranges))
	for i, r := range ranges {
		conds[i] = fmt.Sprintf("%s BETWEEN %d AND %d", k, r.Lo, r.Hi)
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// RangeSums counts and hashes the live rows of the ranges in one query.
func (v *verifyTarget) RangeSums(ctx context.Context, key string, cols []connectors.SumColumn, ranges []connectors.KeyRange) ([]connectors.RangeSum, error) {
	h, why := v.sumHash(cols)
	if why != "" {
		return nil, errors.New(why)
	}
	k := quote(key)
	los := make([]string, len(ranges))
	for i, r := range ranges {
		los[i] = strconv.FormatInt(r.Lo, 10)
	}
	// The range index's alias and the lambda's parameter are no column's
	// name: an alias replaces a column of its name everywhere in the query
	// (a column c hashed the index), and a parameter hides one in the
	// lambda (a key x was compared with itself).
	idx, lo := v.freeName("__etlq_range"), v.freeName("__etlq_lo")
	q := "SELECT toInt64(arrayCount(" + lo + " -> " + lo + " <= " + k + ", [" + strings.Join(los, ", ") + "])) AS " + idx + ", toInt64(count()), groupBitXor(" + h + "), toInt64(min(" + k + ")), toInt64(max(" + k + "))" +
		" FROM " + v.l.qualified() + " FINAL WHERE " + quote(colIsDeleted) + " = 0" + v.scoped() + " AND " + chRangeCond(k, ranges) + " GROUP BY " + idx
	rs, err := v.conn.Query(ctx, q)
	if err != nil {
		return nil, v.s.errorf("checksums of %s: %v", v.l.qualified(), err)
	}
	defer rs.Close()
	out := make([]connectors.RangeSum, len(ranges))
	for rs.Next() {
		var idx int64
		var r connectors.RangeSum
		if err := rs.Scan(&idx, &r.Rows, &r.Hash, &r.Min, &r.Max); err != nil {
			return nil, v.s.errorf("checksums of %s: %v", v.l.qualified(), err)
		}
		if idx < 1 || int(idx) > len(ranges) {
			return nil, fmt.Errorf("checksums of %s: range %d out of %d", v.l.qualified(), idx, len(ranges))
		}
		out[idx-1] = r
	}
	return out, rs.Err()
}

// freeName is base, or base with a number added, that no column of the
// table has: a name the query may give an alias or a lambda parameter.
func (v *verifyTarget) freeName(base string) string {
	name := base
	for i := 2; ; i++ {
		if _, taken := v.types[name]; !taken {
			return quote(name)
		}
		name = base + strconv.Itoa(i)
	}
}

// RangeRows returns each live row's hash by key.
func (v *verifyTarget) RangeRows(ctx context.Context, key string, cols []connectors.SumColumn, r connectors.KeyRange) (map[int64]uint64, error) {
	h, why := v.sumHash(cols)
	if why != "" {
		return nil, errors.New(why)
	}
	k := quote(key)
	rs, err := v.conn.Query(ctx, "SELECT toInt64("+k+"), "+h+" FROM "+v.l.qualified()+" FINAL WHERE "+quote(colIsDeleted)+" = 0"+v.scoped()+" AND "+chRangeCond(k, []connectors.KeyRange{r}))
	if err != nil {
		return nil, v.s.errorf("row checksums of %s: %v", v.l.qualified(), err)
	}
	defer rs.Close()
	out := map[int64]uint64{}
	for rs.Next() {
		var id int64
		var hv uint64
		if err := rs.Scan(&id, &hv); err != nil {
			return nil, v.s.errorf("row checksums of %s: %v", v.l.qualified(), err)
		}
		out[id] = hv
	}
	return out, rs.Err()
}
