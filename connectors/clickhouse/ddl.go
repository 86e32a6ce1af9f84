package clickhouse

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Target table system columns (exec.Target*).
const (
	colVersion   = exec.TargetVersion      // UInt64 (upsert, changelog)
	colIsDeleted = exec.TargetIsDeleted    // UInt8 (upsert)
	colOp        = exec.TargetOp           // String (changelog)
	colTs        = exec.TargetTs           // DateTime64 (changelog)
	colPos       = exec.TargetPos          // String (changelog)
	beforePrefix = exec.TargetBeforePrefix // changelog: before image of a column
	currentView  = "_current"              // suffix of the upsert view of live rows
)

// colSpec is one column of the target table and where its values come from.
type colSpec struct {
	name     string      // ClickHouse column name
	src      string      // batch column name it is read from
	field    arrow.Field // Arrow field of src
	m        mapping
	nullable bool
	key      bool
	// outOfRangeNull writes dates and timestamps outside the type's range
	// as NULL (out_of_range = 'null').
	outOfRangeNull bool
	// defaultExpr is the DEFAULT of a column added to an existing table
	// (evolve.go): what the rows already there hold.
	defaultExpr string
}

// chType is the column's full ClickHouse type.
func (c *colSpec) chType() string {
	if c.nullable {
		return nullable(c.m.base)
	}
	return c.m.base
}

// tableLayout is the target table of one Target: its columns, in order,
// and how it is created.
type tableLayout struct {
	db, table string
	mode      connectors.Mode
	key       []string
	keyGiven  bool // the pipeline writes its KEY (connectors.Target.KeyGiven)
	edited    bool // the pipeline was edited since the last run (connectors.Target.Edited)
	cols      []colSpec
	user      int // cols[:user] are the user columns
	problems  []connectors.Problem
	opts      targetOptions
	version   serverVersion
	// retype are the columns an existing table has with another type that
	// one widens to the other (reconcile); existing is that table's
	// columns, and deferred says Open left the missing and retyped
	// columns to the writer's first batch.
	retype   []*colSpec
	existing []existingColumn
	deferred bool
	// deferOther (Open of an upsert table under evolve) lets reconcile
	// leave any retyped column to the first batch, not only widenings:
	// rows from before a type change the source rebuilds the table for
	// (connectors/mysql/rebuild.go) still have the table's type, and the
	// rebuild's copy is swapped in with the new one.
	deferOther bool
}

// buildLayout derives the target table from a batch schema.
func buildLayout(db, table string, mode connectors.Mode, key []string, schema *arrow.Schema, v serverVersion, opts targetOptions) (*tableLayout, error) {
	l := &tableLayout{db: db, table: table, mode: mode, key: key, opts: opts, version: v}
	isKey := map[string]bool{}
	for _, k := range key {
		isKey[k] = true
	}
	has := map[string]bool{}
	for _, f := range schema.Fields() {
		if exec.IsSystemColumn(f.Name) {
			continue
		}
		if !listParens(f.Name) {
			return nil, fmt.Errorf("column %q: clickhouse-go cannot insert into a column whose name has unbalanced or nested parentheses; rename it with AS", f.Name)
		}
		if err := l.add(f.Name, f.Name, f, isKey[f.Name], f.Nullable && !isKey[f.Name], true); err != nil {
			return nil, err
		}
		has[f.Name] = true
	}
	l.user = len(l.cols)
	for _, k := range key {
		if !has[k] {
			return nil, fmt.Errorf("key column %q is not an output column of %s.%s", k, db, table)
		}
	}
	sys := func(name, src string) error {
		if has[name] {
			return nil // the user selected the same metadata column
		}
		idx := schema.FieldIndices(src)
		if len(idx) == 0 {
			return fmt.Errorf("batch for %s.%s has no %q column", db, table, src)
		}
		return l.add(name, src, schema.Field(idx[0]), false, false, false)
	}
	switch mode {
	case connectors.ModeAppend:
	case connectors.ModeUpsert:
		if len(key) == 0 {
			return nil, fmt.Errorf("upsert into %s.%s needs a key", db, table)
		}
		if err := sys(colVersion, exec.SysVersion); err != nil {
			return nil, err
		}
		if has[colIsDeleted] {
			return nil, fmt.Errorf("column %q is reserved in upsert mode", colIsDeleted)
		}
		if err := sys(colIsDeleted, exec.SysDeleted); err != nil {
			return nil, err
		}
	case connectors.ModeChangelog:
		for _, c := range [][2]string{{colOp, exec.SysOp}, {colTs, exec.SysTs}, {colPos, exec.SysPos}, {colVersion, exec.SysVersion}} {
			if err := sys(c[0], c[1]); err != nil {
				return nil, err
			}
		}
		for _, f := range schema.Fields() {
			if name, ok := strings.CutPrefix(f.Name, exec.SysBeforePrefix); ok {
				if err := l.add(beforePrefix+name, f.Name, f, false, true, false); err != nil {
					return nil, err
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown mode %v", mode)
	}
	return l, nil
}

// The end of the range problem of a date or timestamp column, by
// out_of_range.
const (
	rangeFails = "a row holding one fails the insert (out_of_range = 'null' writes NULL instead)"
	rangeNull  = "such a value is written as NULL (out_of_range = 'null')"
	// rangeKey takes the column's name twice.
	rangeKey = "a row holding one fails the insert: the column is part of the key, which cannot hold NULL, so out_of_range = 'null' is no way out " +
		"(TRANSFORM it as text, CAST(%s AS STRING) AS %s, which keeps the value exactly, or key on another column)"
)

// etlName writes a column name as an .etl file does: back-quoted unless
// it is a plain identifier.
func etlName(name string) string {
	for i, r := range name {
		if r != '_' && !unicode.IsLetter(r) && (i == 0 || !unicode.IsDigit(r)) {
			return "`" + strings.ReplaceAll(name, "`", "``") + "`"
		}
	}
	return name
}

// add appends a column; report says whether its problem (if any) is shown
// to the user (system columns always hold representable values).
func (l *tableLayout) add(name, src string, f arrow.Field, key, null, report bool) error {
	m, err := mapType(f, l.version)
	if err != nil {
		return err
	}
	if l.opts.outOfRange == "null" && report && m.ranged() {
		// The promise of out_of_range = 'null' holds for every value of
		// the column, so the column can hold NULL even where the
		// planner knows the output never is (a NOT NULL DATE, date()
		// of a NOT NULL DATETIME). A key column cannot: ORDER BY takes
		// no Nullable column, and a row without its key is no row.
		if key {
			return fmt.Errorf("key column %q: out_of_range = 'null' cannot write a value outside the range of ClickHouse %s %s (%s) as NULL: a key is never NULL; "+
				"leave out_of_range at 'fail' (a row holding such a value then fails its insert, or goes by on_error) or key on another column",
				name, l.version, m.base, m.rangeString())
		}
		null = true
	}
	if m.problem != "" && report {
		if l.opts.outOfRange == "null" && null {
			// The range problem is then a value written as NULL.
			m.problem = strings.Replace(m.problem, rangeFails, rangeNull, 1)
		} else if key {
			// out_of_range = 'null' is no way out for a key column (a
			// DATE key holding '0000-00-00'): it is refused there, above.
			m.problem = strings.Replace(m.problem, rangeFails, fmt.Sprintf(rangeKey, etlName(name), etlName(name)), 1)
		}
		l.problems = append(l.problems, connectors.Problem{Msg: m.problem})
	}
	l.cols = append(l.cols, colSpec{name: name, src: src, field: f, m: m, nullable: null, key: key, outOfRangeNull: l.opts.outOfRange == "null"})
	return nil
}

// col returns the column named name.
func (l *tableLayout) col(name string) *colSpec {
	for i := range l.cols {
		if l.cols[i].name == name {
			return &l.cols[i]
		}
	}
	return nil
}

// quote quotes a ClickHouse identifier.
func quote(name string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(name) + "`"
}

// quoteString quotes a ClickHouse string literal.
func quoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case s[i] == '\\' || s[i] == '\'':
			b.WriteByte('\\')
			b.WriteByte(s[i])
		case r == utf8.RuneError && n <= 1, s[i] < 0x20, s[i] == 0x7f:
			// Bytes that are no text (a binary DEFAULT) as \xNN:
			// ClickHouse strings are bytes, the statement stays text.
			fmt.Fprintf(&b, "\\x%02x", s[i])
			n = 1
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('\'')
	return b.String()
}

func (l *tableLayout) qualified() string { return quote(l.db) + "." + quote(l.table) }

func (l *tableLayout) viewName() string { return quote(l.db) + "." + quote(l.table+currentView) }

// columnDef is a column's definition in CREATE TABLE and ALTER TABLE.
func (c *colSpec) columnDef() string {
	s := quote(c.name) + " " + c.chType()
	if c.defaultExpr != "" {
		s += " DEFAULT " + c.defaultExpr
	}
	if c.m.comment != "" {
		s += " COMMENT " + quoteString(c.m.comment)
	}
	return s
}

func keyTuple(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// createDatabase is the statement that creates the target database.
func (l *tableLayout) createDatabase() string {
	return "CREATE DATABASE IF NOT EXISTS " + quote(l.db)
}

// createTable is the CREATE TABLE statement of the target.
func (l *tableLayout) createTable() (string, error) {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + l.qualified() + " (\n")
	for i := range l.cols {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("    " + l.cols[i].columnDef())
	}
	b.WriteString("\n)")
	engine, orderBy := l.opts.engine, l.opts.orderBy
	switch l.mode {
	case connectors.ModeUpsert:
		if orderBy != "" {
			return "", fmt.Errorf("order_by cannot be set in upsert mode: the key %s orders %s.%s", keyTuple(l.key), l.db, l.table)
		}
		orderBy = keyTuple(l.key)
		if engine == "" {
			engine = "ReplacingMergeTree(" + quote(colVersion) + ")"
		}
	case connectors.ModeChangelog:
		if orderBy == "" {
			// The key, then _version (once: a key that has it already
			// would repeat it, which ClickHouse refuses).
			key := append([]string(nil), l.key...)
			if !slices.Contains(key, colVersion) {
				key = append(key, colVersion)
			}
			orderBy = keyTuple(key)
		}
	default:
		if orderBy == "" {
			orderBy = "tuple()"
			if len(l.key) > 0 {
				orderBy = keyTuple(l.key)
			}
		}
	}
	if engine == "" {
		engine = "MergeTree()"
	}
	b.WriteString("\nENGINE = " + engine)
	if l.opts.partitionBy != "" {
		b.WriteString("\nPARTITION BY " + l.opts.partitionBy)
	}
	b.WriteString("\nORDER BY " + orderBy)
	if l.opts.ttl != "" {
		if !l.version.atLeast(19, 6) {
			return "", fmt.Errorf("ttl needs ClickHouse 19.6 or later (the server is %s)", l.version)
		}
		b.WriteString("\nTTL " + l.opts.ttl)
	}
	return b.String(), nil
}

// createView is the statement that creates the live-rows view of a new
// upsert table; "" in other modes. FINAL merges the versions of each key
// at read time, so the view never shows a replaced or deleted row, merged
// or not. (An existing view is replaced by ensureView, view.go.)
func (l *tableLayout) createView() string {
	if l.mode != connectors.ModeUpsert {
		return ""
	}
	return "CREATE VIEW IF NOT EXISTS " + l.viewName() + viewQuery(l.db, l.table, viewColumns(l.columns()))
}

// columns are the layout's columns as a table of it has them.
func (l *tableLayout) columns() []existingColumn {
	out := make([]existingColumn, len(l.cols))
	for i, c := range l.cols {
		out[i] = existingColumn{c.name, c.chType()}
	}
	return out
}

// addColumns is the ALTER TABLE statement that adds cols.
func (l *tableLayout) addColumns(cols []*colSpec) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "ADD COLUMN " + c.columnDef()
		if l.version.hasAddColumnIfNotExists() {
			parts[i] = "ADD COLUMN IF NOT EXISTS " + c.columnDef()
		}
	}
	return "ALTER TABLE " + l.qualified() + " " + strings.Join(parts, ", ")
}

// ddl lists the statements that create the target from nothing.
func (l *tableLayout) ddl() ([]string, error) {
	ct, err := l.createTable()
	if err != nil {
		return nil, err
	}
	out := []string{l.createDatabase(), ct}
	if v := l.createView(); v != "" {
		out = append(out, v)
	}
	return out, nil
}

// numericSupertype reports whether two number types join in a number type
// that is neither (DECIMAL(12,2) and DECIMAL(12,1): DECIMAL(13,2)), the
// type a column takes when the source changes one into the other. (Text,
// which holds any number, is not meant: a String column of the table where
// the source has a number is refused, as one made by hand.)
func numericSupertype(a, b arrow.DataType) bool {
	st := exec.Supertype(a, b)
	return st != nil && st.ID() != arrow.STRING && st.ID() != arrow.BINARY
}

// existingColumn is a column of a table that already exists.
type existingColumn struct{ name, typ string }

// reconcile checks an existing table against the layout. It adopts the
// existing nullability where writing is still exact (a Nullable column takes
// non-NULL values), and returns the columns the table lacks. A column whose
// type differs is an error naming every mismatch.
func (l *tableLayout) reconcile(existing []existingColumn) (missing []*colSpec, err error) {
	have := map[string]string{}
	l.existing, l.retype = existing, nil
	for _, c := range existing {
		have[c.name] = c.typ
	}
	var bad, fix []string
	for i := range l.cols {
		c := &l.cols[i]
		typ, ok := have[c.name]
		if !ok {
			missing = append(missing, c)
			continue
		}
		inner, isNull := unwrapNullable(typ)
		t := arrowOfCH(inner)
		switch {
		case normType(typ) == normType(c.chType()):
		case isNull && !c.nullable && normType(inner) == normType(c.m.base):
			c.nullable = true
		case !c.key && !isNull && c.nullable && normType(inner) == normType(c.m.base):
			// NOT NULL dropped in the source: the column becomes
			// Nullable (evolve.go).
			l.retype = append(l.retype, c)
		case !c.key && t != nil && (exec.Widens(t, c.field.Type) || exec.Widens(c.field.Type, t)):
			// A type change the table follows (evolve.go).
			l.retype = append(l.retype, c)
		case c.key && t != nil && !isNull && exec.Widens(t, c.field.Type):
			// A key column (ORDER BY) the source widened while etlq
			// was stopped: the writer copies the table into one with
			// the wider key when a batch brings it (rekey.go).
			l.retype = append(l.retype, c)
		case !c.key && t != nil && (exec.Holds(t, c.field.Type) || numericSupertype(t, c.field.Type)):
			// A type change that is no widening (INT → VARCHAR, DECIMAL
			// → DECIMAL of more digits than ClickHouse stores, DECIMAL
			// (12,2) → (12,1), where neither type holds the other) made
			// while etlq was stopped: the column takes the type that
			// holds both when the stream brings it (adopt, evolve.go),
			// as it does for one made while etlq runs. (The run refused
			// to start for a changelog or append target: new-user trial;
			// for a DECIMAL that lost a fraction digit, until the chaos
			// soak, TestDecimalNarrowedIntoLogTargets.)
			l.retype = append(l.retype, c)
		case l.deferOther && (!c.key || t != nil && !isNull):
			l.retype = append(l.retype, c)
			l.problems = append(l.problems, connectors.Problem{ApplyActs: true, Msg: fmt.Sprintf("column %q is %s in the existing table %s.%s, the source's is %s: rows from before a type change are written as they are; the change itself rebuilds the table (read again into a copy, swapped in) when the stream reaches it, if the target can be rebuilt, else the run stops there",
				c.name, typ, l.db, l.table, c.chType())})
		default:
			bad = append(bad, fmt.Sprintf("column %q is %s, etlq writes %s", c.name, typ, c.chType()))
			if !c.key {
				fix = append(fix, "MODIFY COLUMN "+quote(c.name)+" "+c.chType())
			}
		}
	}
	if len(bad) > 0 {
		// Say what the user can do: a column ClickHouse can convert, a
		// table made again (a key column cannot change type in place).
		way := "stop etlq and "
		if len(fix) == len(bad) {
			way += "run ALTER TABLE " + l.qualified() + " " + strings.Join(fix, ", ") + " in ClickHouse (when it can convert the rows there), or "
		}
		way += "drop the table (and its view " + l.db + "." + l.table + currentView + ", if any): apply creates it and reads the source again (a changelog or append table's history goes with it); or write INTO a new table"
		return nil, fmt.Errorf("existing table %s.%s does not match: %s; to write into it, %s", l.db, l.table, strings.Join(bad, "; "), way)
	}
	return missing, nil
}
