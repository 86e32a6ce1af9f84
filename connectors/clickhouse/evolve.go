package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// This file makes the target table follow the source's DDL as the rows
// already in it need: a column added with a DEFAULT gets that default (the
// source's existing rows hold it), a renamed column keeps the values under
// its old name (DEFAULT old_name), a widened type widens the column
// (MODIFY COLUMN), and rows decoded before a widening are widened on insert.
// A column the table lacks that no DDL added was dropped outside etlq: it
// is not re-created half empty.

// evolve brings the table in line with a batch schema that differs from the
// last one, and makes the live-rows view again when columns changed.
func (w *writer) evolve(ctx context.Context, schema *arrow.Schema) error {
	return w.evolveOnce(ctx, schema, false)
}

// evolveOnce is evolve; refreshed says the table's columns were read
// again already for columns it lacked.
func (w *writer) evolveOnce(ctx context.Context, schema *arrow.Schema, refreshed bool) error {
	l := w.layout
	nl, err := buildLayout(l.db, l.table, l.mode, l.key, schema, l.version, l.opts)
	if err != nil {
		return fmt.Errorf("clickhouse %s: %w", w.target, err)
	}
	merged := *l
	merged.cols = append([]colSpec(nil), l.cols...)
	var add []*colSpec
	var modify []string
	var adopted, widened []string
	var rekey []colSpec // key columns widened: the table is copied (rekey.go)
	for i := range nl.cols {
		c := &nl.cols[i]
		if old := merged.col(c.name); old != nil {
			if arrow.TypeEqual(old.field.Type, c.field.Type) {
				if c.nullable && !old.nullable && !old.key {
					// NOT NULL dropped in the source (MODIFY c INT):
					// the column takes NULLs from now on.
					if w.opts.schemaChanges != "evolve" {
						return fmt.Errorf("clickhouse %s: column %q became nullable in the source and schema_changes = %q", w.target, c.name, w.opts.schemaChanges)
					}
					old.nullable = true
					modify = append(modify, "MODIFY COLUMN "+quote(old.name)+" "+old.chType())
					widened = append(widened, old.name+" "+old.chType())
				}
				continue
			}
			switch {
			case exec.Widens(c.field.Type, old.field.Type):
				if rf, _ := c.field.Metadata.GetValue(exec.MetaRoundedFrom); rf != "" && roundsExisting(old.field.Type, c.field.Type) {
					return fmt.Errorf("clickhouse %s: column %q narrowed from %s to %s (ClickHouse %s to %s) in the source, which rounds the values of the rows already there: the table cannot follow; re-snapshot the table",
						w.target, c.name, rf, sourceType(c.field), old.m.base, c.m.base)
				}
				// Rows from before a widening the table already has.
				continue
			case exec.Widens(old.field.Type, c.field.Type):
				if w.opts.schemaChanges != "evolve" {
					return fmt.Errorf("clickhouse %s: column %q widened from %s to %s and schema_changes = %q", w.target, c.name, old.chType(), c.chType(), w.opts.schemaChanges)
				}
				if old.m.enc != c.m.enc {
					break // DECIMAL beyond the server's digits: String text
				}
				if old.key {
					// ClickHouse cannot alter a sorting key column: the
					// table is copied into one with the wider type.
					nc := *c
					nc.key, nc.nullable = true, false
					*old = nc
					rekey = append(rekey, nc)
					widened = append(widened, nc.name+" "+nc.chType())
					continue
				}
				nc := *c
				nc.nullable = c.nullable || old.nullable
				*old = nc
				modify = append(modify, "MODIFY COLUMN "+quote(nc.name)+" "+nc.chType())
				widened = append(widened, nc.name+" "+nc.chType())
				continue
			}
			if old.key {
				// Not a widening of a key column: ClickHouse cannot
				// change a sorting key's type, and the rows there cannot
				// be converted. The pipeline stops before the change (no
				// checkpoint passes it).
				return fmt.Errorf("clickhouse %s: key column %q changed type from %s to %s (ClickHouse %s to %s), which is no lossless widening: the table's sorting key cannot follow. "+
					"To follow it, stop etlq, drop the table %s and its view %s in ClickHouse, and read the source again with an empty state directory "+
					"(etlq apply --state-dir NEW FILE; a pipeline in a file of its own reads only its tables again)",
					w.target, c.name, sourceType(old.field), sourceType(c.field), old.chType(), c.chType(), w.qualified, quote(l.db)+"."+quote(l.table+"_current"))
			}
			if st := exec.Supertype(old.field.Type, c.field.Type); st != nil && w.opts.schemaChanges == "evolve" {
				// A type change that is no widening (INT → VARCHAR,
				// INT → DECIMAL, fewer DECIMAL digits): the column takes
				// a type that holds the rows already there and the new
				// ones (docs/schema-changes.md, "Type changes that are
				// no widening"); the batches of either type are cast to
				// it on insert. Whether the rows already there must be
				// read again (as MySQL converted them) is the source's
				// to say: it re-reads the table or warns.
				nc := *c
				if !arrow.TypeEqual(st, c.field.Type) {
					nc.field = arrow.Field{Name: c.field.Name, Type: st, Nullable: c.field.Nullable}
					m, err := mapType(nc.field, l.version)
					if err != nil {
						return fmt.Errorf("clickhouse %s: column %q: %w", w.target, c.name, err)
					}
					nc.m = m
				}
				nc.nullable = c.nullable || old.nullable
				slog.Info("clickhouse: a column's type changed in the source to one that is no widening: the column takes a type that holds both", "table", w.target, "column", c.name,
					"from", sourceType(old.field), "to", sourceType(c.field), "clickhouse", old.chType()+" → "+nc.chType())
				if arrow.TypeEqual(st, old.field.Type) && nc.nullable == old.nullable {
					continue // the column holds both already: rows are cast on insert
				}
				*old = nc
				modify = append(modify, "MODIFY COLUMN "+quote(nc.name)+" "+nc.chType())
				widened = append(widened, nc.name+" "+nc.chType())
				continue
			}
			return fmt.Errorf("clickhouse %s: column %q changed type from %s to %s (ClickHouse %s to %s), which could change values: the table cannot follow; re-snapshot the table", w.target, c.name, sourceType(old.field), sourceType(c.field), old.chType(), c.chType())
		}
		if typ, ok := w.existing[c.name]; ok {
			// The table has it already (an earlier run added it, or the
			// source dropped it and the replay still carries it).
			nc, stmt, err := adopt(c, typ, l.version)
			if err != nil {
				return fmt.Errorf("clickhouse %s: %w", w.target, err)
			}
			if stmt != "" {
				if w.opts.schemaChanges != "evolve" {
					return fmt.Errorf("clickhouse %s: column %q widened from %s to %s and schema_changes = %q", w.target, c.name, typ, nc.chType(), w.opts.schemaChanges)
				}
				modify = append(modify, stmt)
				widened = append(widened, nc.name+" "+nc.chType())
			}
			merged.cols = append(merged.cols, nc)
			adopted = append(adopted, c.name)
			continue
		}
		add = append(add, c)
	}
	var names []string
	for _, c := range add {
		names = append(names, c.name)
	}
	if len(add) > 0 {
		switch w.opts.schemaChanges {
		case "ignore":
			add = nil // newGroup only picks the layout's columns
		case "fail":
			return fmt.Errorf("clickhouse %s: new columns %s and schema_changes = 'fail'", w.target, strings.Join(names, ", "))
		}
	}
	var lost []string
	for _, c := range add {
		if exec.IsSystemColumn(c.src) || strings.HasPrefix(c.name, beforePrefix) {
			continue
		}
		if v, _ := c.field.Metadata.GetValue(exec.MetaAddedByDDL); v == "" {
			lost = append(lost, c.name)
		}
	}
	if len(lost) > 0 && !refreshed {
		// Another writer of the table (a scale-out worker) may have
		// added them since this one read the table's columns: take the
		// table's columns now and adopt those.
		if st, err := readTableState(ctx, w.conn, l.db, l.table); err == nil {
			found := false
			for _, c := range st.columns {
				if _, ok := w.existing[c.name]; !ok {
					w.existing[c.name] = c.typ
					found = true
				}
			}
			if found {
				return w.evolveOnce(ctx, schema, true)
			}
		}
	}
	if len(lost) > 0 && !w.readAgain.Load() {
		n, err := w.countRows(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("clickhouse %s: the table lacks column(s) %s, which the source table has had since before this run: dropped outside etlq (or never created there), they would be re-created empty for the %d rows already there; re-snapshot the table, or add the column(s) back with their values", w.target, strings.Join(lost, ", "), n)
		}
	}
	for _, c := range add {
		expr, lost := w.defaultFor(c, &merged)
		if lost != nil {
			w.warnLostDefault(ctx, c, &merged, lost)
		}
		c.defaultExpr = w.onlyDDLTable(c, &merged, expr)
		merged.cols = append(merged.cols, *c)
	}
	fills := w.refills(ctx, nl, &merged, add)
	if len(add) == 0 && len(modify) == 0 && len(rekey) == 0 && len(fills) == 0 {
		if len(adopted) > 0 {
			w.layout = &merged
		}
		return nil
	}
	// Inserts under way end before any ALTER: they were built for the
	// narrower types a MODIFY changes under them, and ClickHouse queues new
	// INSERTs behind an ALTER that waits for an open one — an insert
	// retried after ClickHouse came back, ahead of the open INSERT's end in
	// the inserter's order, waited for good behind an ADD COLUMN (a
	// pt-osc cut-over with ClickHouse cut and back, under load).
	if err := w.drain(ctx); err != nil {
		return err
	}
	var stmts []string
	if len(add) > 0 {
		stmts = append(stmts, merged.addColumns(add))
	}
	if len(modify) > 0 {
		// The columns' DEFAULTs stay (keepDefaults).
		st, err := readTableState(ctx, w.conn, l.db, l.table)
		if err != nil {
			return fmt.Errorf("clickhouse %s: reading the table's columns: %w", w.target, err)
		}
		stmts = append(stmts, "ALTER TABLE "+merged.qualified()+" "+strings.Join(keepDefaults(modify, st.defaults), ", "))
	}
	if err := w.execRetrying(ctx, stmts); err != nil {
		var taken []*colSpec
		if taken, err = w.addedByAnother(ctx, &merged, add, stmts, err); err != nil {
			return err
		}
		// Another writer's ADD put the column there with its own DEFAULT
		// (of its DDL's table, in a target several share: NULL for this
		// table's rows): this DDL's table's rows from before it take this
		// one's, as a column left from a DROP COLUMN does.
		var still []*colSpec
		for _, c := range add {
			if !slices.Contains(taken, c) {
				still = append(still, c)
			}
		}
		for _, f := range w.refills(ctx, nl, &merged, still) {
			for _, c := range taken {
				if f.name == c.name {
					f.cause = "added by another writer of the table"
					fills = append(fills, f)
				}
			}
		}
		add = still
	}
	if len(rekey) > 0 {
		if err := w.rekey(ctx, &merged, rekey); err != nil {
			return err
		}
	}
	if err := w.refill(ctx, &merged, fills); err != nil {
		return err
	}
	if merged.mode == connectors.ModeUpsert {
		// The view shows the table's columns now (view.go).
		err := retrying(ctx, "schema change", w.target, w.opts.maxBackoff, func() error {
			return w.s.ensureView(ctx, w.conn, merged.version, merged.db, merged.table)
		})
		if err != nil {
			return err
		}
	}
	for _, c := range add {
		w.existing[c.name] = c.chType()
		at, _ := c.field.Metadata.GetValue(exec.MetaAddedAt)
		ref, _ := c.field.Metadata.GetValue(exec.MetaDDLTable)
		version, _ := strconv.ParseUint(at, 10, 64)
		w.addedHere[c.name] = ddlAdd{col: c.name, table: ref, version: version}
		slog.Info("clickhouse: added column", "table", w.target, "column", c.name, "type", c.chType(), "default", c.defaultExpr)
	}
	for _, c := range merged.cols {
		w.existing[c.name] = c.chType()
	}
	if len(widened) > 0 {
		slog.Info("clickhouse: widened columns", "table", w.target, "columns", widened)
	}
	w.layout = &merged
	return nil
}

// roundsExisting reports whether a column narrowed in the source from type
// from to type to had the values of its rows changed by MySQL: fewer
// fraction digits (DECIMAL) or DOUBLE to FLOAT. (Integers and DECIMAL
// integer digits: a strict server refuses the ALTER when a value does not
// fit, so the values stay.)
func roundsExisting(from, to arrow.DataType) bool {
	if from.ID() == arrow.FLOAT64 && to.ID() == arrow.FLOAT32 {
		return true
	}
	df, ok1 := from.(*arrow.Decimal128Type)
	dt, ok2 := to.(*arrow.Decimal128Type)
	return ok1 && ok2 && dt.Scale < df.Scale
}

// sourceType is the field's type as the source declares it, else Arrow's.
func sourceType(f arrow.Field) string {
	if st, ok := f.Metadata.GetValue(exec.MetaSourceType); ok && st != "" {
		return st
	}
	return f.Type.String()
}

// drain waits until no insert is running. Called with w.mu held.
func (w *writer) drain(ctx context.Context) error {
	n := cap(w.slots)
	for i := 0; i < n; i++ {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			for ; i > 0; i-- {
				<-w.slots
			}
			return ctx.Err()
		}
	}
	for i := 0; i < n; i++ {
		<-w.slots
	}
	if w.feed != nil && w.last != nil {
		// Every group is sent; the INSERT kept open ends now.
		w.finishOpen()
		select {
		case <-w.last.acked:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// countRows counts the rows of the target table.
func (w *writer) countRows(ctx context.Context) (uint64, error) {
	var n uint64
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM "+w.qualified).Scan(&n); err != nil {
		return 0, fmt.Errorf("clickhouse %s: counting rows: %v", w.target, err)
	}
	return n, nil
}

// adopt returns c as the existing column of type typ writes it, and the
// MODIFY COLUMN that widens the column when the batch's type is wider.
func adopt(c *colSpec, typ string, v serverVersion) (colSpec, string, error) {
	nc := *c
	inner, isNull := unwrapNullable(typ)
	switch {
	case normType(typ) == normType(c.chType()):
		return nc, "", nil
	case isNull && normType(inner) == normType(c.m.base):
		nc.nullable = true
		return nc, "", nil
	case !isNull && c.nullable && !c.key && normType(typ) == normType(c.m.base):
		// NOT NULL dropped in the source: the column becomes Nullable.
		return nc, "MODIFY COLUMN " + quote(nc.name) + " " + nc.chType(), nil
	}
	if t := arrowOrText(inner); t != nil {
		switch {
		case exec.Holds(c.field.Type, t):
			// The table is wider (widened by an earlier run, or by
			// hand), or of a type that holds both (a type change that is
			// no widening, followed by an earlier run): write into it
			// converted — unless the source
			// narrowed the column and rounded its rows.
			if rf, _ := c.field.Metadata.GetValue(exec.MetaRoundedFrom); rf != "" && roundsExisting(t, c.field.Type) {
				return nc, "", fmt.Errorf("column %q narrowed from %s to %s (ClickHouse %s to %s) in the source, which rounds the values of the rows already there: the table cannot follow; re-snapshot the table",
					c.name, rf, sourceType(c.field), inner, c.m.base)
			}
			f := c.field
			f.Type = t
			m, err := mapType(f, v)
			if err != nil {
				return nc, "", err
			}
			nc.field, nc.m, nc.nullable = f, m, isNull || c.nullable
			return nc, "", nil
		case exec.Widens(t, c.field.Type):
			nc.nullable = isNull || c.nullable
			return nc, "MODIFY COLUMN " + quote(nc.name) + " " + nc.chType(), nil
		case !c.key && exec.Holds(t, c.field.Type):
			// etlq writes a type that holds the table's and another, no
			// widening of it (INT and VARCHAR: String): a table of
			// several changed type while etlq was stopped, and today's
			// plan takes the type that holds both before the replay meets
			// the DDL. The column takes it now, as it would at the DDL.
			nc.nullable = isNull || c.nullable
			return nc, "MODIFY COLUMN " + quote(nc.name) + " " + nc.chType(), nil
		case !c.key:
			// Neither holds the other, and a type that holds both is a
			// lossless widening of the table's: a computed column whose
			// type follows a declared type changed while etlq was stopped
			// (unix_timestamp of a DATETIME(3), DECIMAL(22,3), become a
			// DATETIME(6), DECIMAL(22,6)). The column takes that type, as
			// the change would while etlq runs; both are cast to it.
			if st := exec.Supertype(t, c.field.Type); st != nil && exec.Widens(t, st) {
				f := c.field
				f.Type = st
				m, err := mapType(f, v)
				if err != nil {
					return nc, "", err
				}
				nc.field, nc.m, nc.nullable = f, m, isNull || c.nullable
				return nc, "MODIFY COLUMN " + quote(nc.name) + " " + nc.chType(), nil
			}
		}
	}
	return nc, "", fmt.Errorf("column %q is %s in the table, etlq writes %s: changed outside etlq; re-snapshot the table", c.name, typ, c.chType())
}

// tableConds are the conditions that select the rows of the source table
// ref (db.table) in a target of several tables: its `_table` and `_db`
// columns compared; none when the layout has neither.
func tableConds(l *tableLayout, ref string) []string {
	db, table, _ := strings.Cut(ref, ".")
	var conds []string
	for _, lc := range l.cols {
		switch lc.src {
		case exec.ColTable:
			conds = append(conds, "toString("+quote(lc.name)+") = "+quoteString(table))
		case exec.ColDB:
			conds = append(conds, "toString("+quote(lc.name)+") = "+quoteString(db))
		}
	}
	return conds
}

// onlyDDLTable restricts the DEFAULT expr of a column added to a target
// of several tables to the rows of the table whose DDL gave it
// (exec.MetaDDLTable), told apart by the `_table` (and `_db`) columns: the
// other tables' rows never had the column and hold NULL.
func (w *writer) onlyDDLTable(c *colSpec, l *tableLayout, expr string) string {
	ref, ok := c.field.Metadata.GetValue(exec.MetaDDLTable)
	if expr == "" || !ok || ref == "" || !c.nullable {
		return expr
	}
	conds := tableConds(l, ref)
	if len(conds) == 0 {
		slog.Warn("clickhouse: the target has no _table column to tell the rows of the table a DDL added a column to: every row already there takes its DEFAULT",
			"table", w.target, "column", c.name, "source", ref)
		return expr
	}
	return "if(" + strings.Join(conds, " AND ") + ", " + expr + ", NULL)"
}

// lostDefault is a source DEFAULT that a column added to the table cannot
// carry: why (the start of the warning) and what it was.
type lostDefault struct {
	why   string
	attrs []any
}

// warnLostDefault says that the rows already in table l which the lost
// DEFAULT of the new column c should fill hold the type's default instead,
// and how many they are: the live rows (an upsert table's rows not
// deleted; those of c's DDL table when l tells the tables apart). A column
// of a table that joined the stream (exec.AddedByJoin: dropped and
// created again at the source, say), or a table without live rows, needs
// no DEFAULT: an INFO says so.
func (w *writer) warnLostDefault(ctx context.Context, c *colSpec, l *tableLayout, lost *lostDefault) {
	attrs := append([]any{"table", w.target, "column", c.name}, lost.attrs...)
	if v, _ := c.field.Metadata.GetValue(exec.MetaAddedByDDL); v == exec.AddedByJoin {
		slog.Info("clickhouse: "+lost.why+"; no row in the table needs it (the column came with a table created at the source: the rows already there are not that table's)", attrs...)
		return
	}
	n, err := w.rowsToFill(ctx, c, l)
	switch {
	case err != nil:
		slog.Warn("clickhouse: "+lost.why+": rows already in the table hold the type's default; re-snapshot the table to fill them", append(attrs, "error", err.Error())...)
	case n == 0:
		slog.Info("clickhouse: "+lost.why+"; no row in the table needs it (the table holds no live row of the source table)", attrs...)
	default:
		slog.Warn(fmt.Sprintf("clickhouse: %s: the %d rows already in the table hold the type's default; re-snapshot the table to fill them", lost.why, n), append(attrs, "rows", n)...)
	}
}

// rowsToFill counts the rows of table l a DEFAULT of the new column c
// would fill (see warnLostDefault).
func (w *writer) rowsToFill(ctx context.Context, c *colSpec, l *tableLayout) (uint64, error) {
	var conds []string
	from := l.qualified()
	if l.mode == connectors.ModeUpsert {
		from += " FINAL"
	}
	ref, _ := c.field.Metadata.GetValue(exec.MetaDDLTable)
	db, table, _ := strings.Cut(ref, ".")
	for _, lc := range l.cols {
		switch {
		case lc.src == exec.SysDeleted && l.mode == connectors.ModeUpsert:
			conds = append(conds, quote(lc.name)+" = 0")
		case lc.src == exec.ColTable && ref != "":
			conds = append(conds, "toString("+quote(lc.name)+") = "+quoteString(table))
		case lc.src == exec.ColDB && ref != "":
			conds = append(conds, "toString("+quote(lc.name)+") = "+quoteString(db))
		}
	}
	q := "SELECT count() FROM " + from
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var n uint64
	if err := w.conn.QueryRow(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the rows a DEFAULT would fill: %v", err)
	}
	return n, nil
}

// defaultFor returns the DEFAULT expression of a column added to the table
// l, so that the rows already there hold what the source's rows hold: the
// old column for a renamed one, the source's DEFAULT literal for a new
// one. "" when there is none, or when it cannot be carried: then lost says
// why (for warnLostDefault).
func (w *writer) defaultFor(c *colSpec, l *tableLayout) (expr string, lost *lostDefault) {
	if from, ok := c.field.Metadata.GetValue(exec.MetaRenamedFrom); ok && from != "" {
		if strings.HasPrefix(c.src, exec.SysBeforePrefix) {
			// A changelog's before image of the renamed column reads the
			// old column's before image, not its new value.
			from = beforePrefix + from
		}
		typ, has := w.existing[from]
		if old := l.col(from); old != nil {
			typ, has = old.chType(), true
		}
		if has {
			if normType(typ) == normType(c.chType()) {
				return quote(from), nil
			}
			return "CAST(" + quote(from) + " AS " + c.chType() + ")", nil
		}
	}
	if strings.HasPrefix(c.src, exec.SysBeforePrefix) {
		// A changelog's before image of a new column: the rows already
		// there are changes made before it existed (a snapshot row, an
		// insert: no before image at all): NULL, not the source's DEFAULT.
		return "", nil
	}
	lit, ok := c.field.Metadata.GetValue(exec.MetaDefault)
	if !ok || lit == "" || strings.EqualFold(lit, "NULL") {
		return "", nil
	}
	if lit == exec.DefaultUnknown {
		return "", &lostDefault{why: "the source's DEFAULT of a new column is not known (the table's schema was rebuilt from the binlog's table map, after a DDL etlq could not parse)"}
	}
	value, isString := "", false
	if strings.HasPrefix(lit, "'") && strings.HasSuffix(lit, "'") && len(lit) >= 2 {
		value, isString = strings.ReplaceAll(lit[1:len(lit)-1], "''", "'"), true
	} else if _, err := strconv.ParseFloat(lit, 64); err == nil {
		value = lit
	} else {
		return "", &lostDefault{why: "the source's DEFAULT of a new column is an expression etlq does not carry", attrs: []any{"default", lit}}
	}
	lt, _ := c.field.Metadata.GetValue(exec.MetaLogicalType)
	base := c.m.base
	switch {
	case lt == "time" || lt == "bit" || lt == "geometry" || c.m.enc == encBool:
	case c.m.enc == encDate || c.m.enc == encDateTime64 || (c.m.enc == encInt64 && (isSourceType(c.field, "datetime") || isSourceType(c.field, "timestamp"))):
		// A DATE or DATETIME literal (naive, as etlq writes DATETIME),
		// or a TIMESTAMP the source converted to UTC ("…+00:00": the
		// literal itself is in the session's time zone, which the sink
		// does not know). CURRENT_TIMESTAMP arrives as the ALTER's time.
		if e := temporalDefault(c, value); e != "" {
			return e, nil
		}
	case base == "String":
		return quoteString(value), nil
	case base == "Float64" || base == "Float32":
		if e := floatDefault(base, value); e != "" {
			return e, nil
		}
	case strings.HasPrefix(base, "Int") || strings.HasPrefix(base, "UInt") || strings.HasPrefix(base, "Float") || strings.HasPrefix(base, "Decimal"):
		if !isString || isNumber(value) {
			return "CAST(" + quoteString(value) + " AS " + base + ")", nil
		}
	}
	return "", &lostDefault{why: "the source's DEFAULT of a new column cannot be carried", attrs: []any{"type", c.chType(), "default", lit}}
}

// temporalDefault returns the DEFAULT expression of a DATE, DATETIME or
// TIMESTAMP (in UTC) literal for column c, "" when it is not one etlq can place (a zero date,
// a value outside the type).
func temporalDefault(c *colSpec, v string) string {
	if c.m.enc == encDate {
		d, err := time.Parse("2006-01-02", v)
		if err != nil {
			return ""
		}
		n := d.Unix() / 86400
		if n < c.m.minDays || n > c.m.maxDays {
			return ""
		}
		return "CAST(" + quoteString(v) + " AS " + c.m.base + ")"
	}
	switch {
	case isSourceType(c.field, "timestamp"):
		utc, ok := strings.CutSuffix(v, "+00:00")
		if !ok {
			return "" // in a time zone the sink does not know
		}
		v = utc
	case !isSourceType(c.field, "datetime"):
		return ""
	}
	ts, err := time.Parse("2006-01-02 15:04:05.999999", v)
	if err != nil {
		return ""
	}
	if c.m.enc == encInt64 {
		// ClickHouse before DateTime64: the Arrow unit's count.
		tt, ok := c.field.Type.(*arrow.TimestampType)
		if !ok || tt.Unit != arrow.Microsecond {
			return ""
		}
		return "CAST(" + quoteString(strconv.FormatInt(ts.UnixMicro(), 10)) + " AS Int64)"
	}
	if s := ts.Unix(); s < c.m.minSec || s > c.m.maxSec {
		return ""
	}
	return "CAST(" + quoteString(v) + " AS " + c.m.base + ")"
}

// floatDefault returns the DEFAULT expression of a FLOAT or DOUBLE
// literal: the value's exact bits, since ClickHouse's reading of a float's
// text is not exact (18.16 reads '-5e-324' as -0 and about a quarter of
// all doubles' shortest text one unit in the last place off). MySQL reads
// a FLOAT's literal as a double and rounds that to float, as here. ""
// when v is no number.
func floatDefault(base, v string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return ""
	}
	if base == "Float32" {
		return "reinterpretAsFloat32(reinterpretAsString(toUInt32(" + strconv.FormatUint(uint64(math.Float32bits(float32(f))), 10) + ")))"
	}
	return "reinterpretAsFloat64(reinterpretAsString(toUInt64(" + strconv.FormatUint(math.Float64bits(f), 10) + ")))"
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// arrowOfCH returns the Arrow type etlq writes as the ClickHouse base type
// t, for the types widening knows; nil for others.
func arrowOfCH(t string) arrow.DataType {
	switch normType(t) {
	case "Int8":
		return arrow.PrimitiveTypes.Int8
	case "Int16":
		return arrow.PrimitiveTypes.Int16
	case "Int32":
		return arrow.PrimitiveTypes.Int32
	case "Int64":
		return arrow.PrimitiveTypes.Int64
	case "UInt8":
		return arrow.PrimitiveTypes.Uint8
	case "UInt16":
		return arrow.PrimitiveTypes.Uint16
	case "UInt32":
		return arrow.PrimitiveTypes.Uint32
	case "UInt64":
		return arrow.PrimitiveTypes.Uint64
	case "Float32":
		return arrow.PrimitiveTypes.Float32
	case "Float64":
		return arrow.PrimitiveTypes.Float64
	}
	var p, s int32
	if n, _ := fmt.Sscanf(normType(t), "Decimal(%d,%d)", &p, &s); n == 2 && p <= 38 {
		return &arrow.Decimal128Type{Precision: p, Scale: s}
	}
	return nil
}

// arrowOrText is arrowOfCH, and the text (Arrow's String) for String: the
// types a column may take to hold the rows of a type change that is no
// widening (exec.Supertype).
func arrowOrText(t string) arrow.DataType {
	if normType(t) == "String" {
		return arrow.BinaryTypes.String
	}
	return arrowOfCH(t)
}

// widenArray returns arr converted to the type to that holds its values
// (exec.Holds(arr's type, to)): a widening, an integer to a DECIMAL, a
// number to its text. The caller releases the result.
func widenArray(arr arrow.Array, to arrow.DataType) arrow.Array {
	mem := memory.DefaultAllocator
	if to.ID() == arrow.STRING {
		return textArray(arr)
	}
	if d, ok := to.(*arrow.Decimal256Type); ok {
		// A DECIMAL of more than 38 digits (exec.Supertype): an
		// integer's or a decimal's unscaled value, times 10^(its scale
		// - the old scale), exact.
		b := array.NewDecimal256Builder(mem, d)
		defer b.Release()
		b.Reserve(arr.Len())
		var value func(i int) (*big.Int, int32)
		switch a := arr.(type) {
		case *array.Decimal128:
			scale := a.DataType().(*arrow.Decimal128Type).Scale
			value = func(i int) (*big.Int, int32) { return a.Value(i).BigInt(), scale }
		case *array.Decimal256:
			scale := a.DataType().(*arrow.Decimal256Type).Scale
			value = func(i int) (*big.Int, int32) { return a.Value(i).BigInt(), scale }
		default:
			get := numericGetter(arr)
			_, signed, _ := intKind(arr.DataType())
			value = func(i int) (*big.Int, int32) {
				i64, u64, _ := get(i)
				if signed {
					return big.NewInt(i64), 0
				}
				return new(big.Int).SetUint64(u64), 0
			}
		}
		for i := 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				b.AppendNull()
				continue
			}
			n, scale := value(i)
			b.Append(decimal256.FromBigInt(n).IncreaseScaleBy(d.Scale - scale))
		}
		return b.NewArray()
	}
	if d, ok := to.(*arrow.Decimal128Type); ok && arr.DataType().ID() != arrow.DECIMAL128 {
		// An integer: its unscaled value is the integer times 10^scale.
		b := array.NewDecimal128Builder(mem, d)
		defer b.Release()
		b.Reserve(arr.Len())
		get := numericGetter(arr)
		_, signed, _ := intKind(arr.DataType())
		for i := 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				b.AppendNull()
				continue
			}
			i64, u64, _ := get(i)
			n := decimal128.FromU64(u64)
			if signed {
				n = decimal128.FromI64(i64)
			}
			b.Append(n.IncreaseScaleBy(d.Scale))
		}
		return b.NewArray()
	}
	if d, ok := to.(*arrow.Decimal128Type); ok {
		// As many digits or more on both sides of the point: the
		// unscaled values times 10^(new scale - old scale), exact.
		src := arr.(*array.Decimal128)
		up := d.Scale - src.DataType().(*arrow.Decimal128Type).Scale
		b := array.NewDecimal128Builder(mem, d)
		defer b.Release()
		b.Reserve(src.Len())
		for i := 0; i < src.Len(); i++ {
			if src.IsNull(i) {
				b.AppendNull()
				continue
			}
			b.Append(decimal128.Num(src.Value(i)).IncreaseScaleBy(up))
		}
		return b.NewArray()
	}
	b := array.NewBuilder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	get := numericGetter(arr)
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		i64, u64, f64 := get(i)
		switch bb := b.(type) {
		case *array.Int16Builder:
			bb.Append(int16(i64))
		case *array.Int32Builder:
			bb.Append(int32(i64))
		case *array.Int64Builder:
			bb.Append(i64)
		case *array.Uint16Builder:
			bb.Append(uint16(u64))
		case *array.Uint32Builder:
			bb.Append(uint32(u64))
		case *array.Uint64Builder:
			bb.Append(u64)
		case *array.Float64Builder:
			bb.Append(f64)
		}
	}
	return b.NewArray()
}

// numericGetter reads element i of an integer or float array as int64,
// uint64 and float64.
func numericGetter(arr arrow.Array) func(i int) (int64, uint64, float64) {
	switch a := arr.(type) {
	case *array.Int8:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	case *array.Int16:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	case *array.Int32:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	case *array.Int64:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return v, uint64(v), float64(v) }
	case *array.Uint8:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	case *array.Uint16:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	case *array.Uint32:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	case *array.Uint64:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), v, float64(v) }
	case *array.Float32:
		return func(i int) (int64, uint64, float64) { v := a.Value(i); return int64(v), uint64(v), float64(v) }
	}
	return func(int) (int64, uint64, float64) { return 0, 0, 0 }
}

// addedByAnother handles err, the failure of stmts (whose first adds the
// columns add): another writer of the same table (a scale-out worker,
// docs/scale-out.md) may have added the columns first, and 18.16 has no
// ADD COLUMN IF NOT EXISTS. Columns now there with the type wanted are
// done (taken: added by the other writer); the rest of stmts is tried
// again once. It returns err when that is not the case, or the retry's
// error.
func (w *writer) addedByAnother(ctx context.Context, merged *tableLayout, add []*colSpec, stmts []string, err error) (taken []*colSpec, _ error) {
	if len(add) == 0 {
		return nil, err
	}
	st, serr := readTableState(ctx, w.conn, merged.db, merged.table)
	if serr != nil {
		return nil, err
	}
	have := map[string]string{}
	for _, c := range st.columns {
		have[c.name] = c.typ
	}
	var still []*colSpec
	for _, c := range add {
		switch typ, ok := have[c.name]; {
		case !ok:
			still = append(still, c)
		case typ != c.chType():
			return nil, err
		default:
			taken = append(taken, c)
		}
	}
	if len(still) == len(add) {
		return nil, err
	}
	stmts = stmts[1:]
	if len(still) > 0 {
		stmts = append([]string{merged.addColumns(still)}, stmts...)
	}
	return taken, w.execRetrying(ctx, stmts)
}

// textArray returns the text of each value of arr (a number, a decimal
// with all its fraction digits, or a string), as MySQL converts a
// column to VARCHAR and ClickHouse a column to String.
func textArray(arr arrow.Array) arrow.Array {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(arr.Len())
	var text func(i int) string
	switch a := arr.(type) {
	case *array.String:
		text = a.Value
	case *array.LargeString:
		text = a.Value
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		text = func(i int) string { return a.Value(i).ToString(scale) }
	case *array.Float32:
		text = func(i int) string { return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32) }
	case *array.Float64:
		text = func(i int) string { return strconv.FormatFloat(a.Value(i), 'g', -1, 64) }
	default:
		get := numericGetter(arr)
		_, signed, _ := intKind(arr.DataType())
		text = func(i int) string {
			i64, u64, _ := get(i)
			if signed {
				return strconv.FormatInt(i64, 10)
			}
			return strconv.FormatUint(u64, 10)
		}
	}
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		b.Append(text(i))
	}
	return b.NewArray()
}

// intKind reports whether t is an integer type, and whether it is signed.
func intKind(t arrow.DataType) (bits int, signed, ok bool) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return t.(arrow.FixedWidthDataType).BitWidth(), true, true
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return t.(arrow.FixedWidthDataType).BitWidth(), false, true
	}
	return 0, false, false
}

// modifyColumn is the MODIFY COLUMN clause that gives column name the type
// chType and keeps its DEFAULT (MATERIALIZED, ALIAS) expression in
// defaults (tableState.defaults). ClickHouse 18 drops a column's DEFAULT
// on a MODIFY COLUMN that names none, and the rows of the parts written
// before the column was added, which never held it, then read the type's
// zero: a column added with DEFAULT 7 (or renamed, DEFAULT old_name) and
// widened afterwards lost the values of every older row
// (TestEvolveWideningKeepsDefault).
func modifyColumn(name, chType string, defaults map[string]string) string {
	s := "MODIFY COLUMN " + quote(name) + " " + chType
	if d := defaults[name]; d != "" {
		s += " " + d
	}
	return s
}

// keepDefaults gives each clause of modify, as modifyColumn makes it
// without defaults, its column's expression in defaults.
func keepDefaults(modify []string, defaults map[string]string) []string {
	out := make([]string, len(modify))
	for i, m := range modify {
		out[i] = m
		for name, d := range defaults {
			if p := "MODIFY COLUMN " + quote(name) + " "; strings.HasPrefix(m, p) && !hasDefault(m[len(p):]) {
				out[i] = m + " " + d
			}
		}
	}
	return out
}

// hasDefault reports whether a column definition's type part already ends
// with a DEFAULT, MATERIALIZED or ALIAS expression.
func hasDefault(def string) bool {
	for _, k := range []string{" DEFAULT ", " MATERIALIZED ", " ALIAS "} {
		if strings.Contains(def, k) {
			return true
		}
	}
	return false
}
