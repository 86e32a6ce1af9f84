package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// A key column whose type the source widened (ALTER TABLE t MODIFY id
// BIGINT on an INT key): ClickHouse cannot alter a column of the sorting
// key in place ("ALTER of key column id must be metadata-only"), so the
// table is copied into a new one that has the wider type, in ClickHouse
// itself — every row and version, each key value widened exactly — and
// the new table takes the old one's name. Nothing stops: the source's
// batches wait for the copy (ClickHouse's INSERT … SELECT, at its speed)
// and go on.

// rekeySuffix and prekeySuffix name the copy being filled and, for a
// moment, the old table.
const (
	rekeySuffix  = "__etlq_rekey"
	prekeySuffix = "__etlq_prekey"
)

// execRetrying runs stmts, retrying while ClickHouse is away.
func (w *writer) execRetrying(ctx context.Context, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := w.s.execDDL(ctx, w.conn, w.layout.version, stmts)
		if err == nil || !retryable(err) {
			return err
		}
		slog.Warn("clickhouse: retrying schema change", "table", w.target, "error", err)
		if err := sleep(ctx, backoff(attempt, w.opts.maxBackoff)); err != nil {
			return err
		}
	}
}

// rekey copies the table l names into one whose key columns have the
// types of cols, and puts the copy in its place. The inserts under way
// have ended (drain).
func (w *writer) rekey(ctx context.Context, l *tableLayout, cols []colSpec) error {
	var names []string
	newType := map[string]string{}
	for _, c := range cols {
		newType[c.name] = c.chType()
		names = append(names, c.name+" "+c.chType())
	}
	slog.Info("clickhouse: a key column's type widened, which ClickHouse cannot alter in place: copying the table into one with the wider key",
		"table", w.target, "columns", names)
	type colDef struct{ name, typ, kind, expr, comment string }
	var defs []colDef
	rows, err := w.conn.Query(ctx, "SELECT name, type, default_kind, default_expression, comment FROM system.columns WHERE database = "+
		quoteString(l.db)+" AND table = "+quoteString(l.table)) // in the table's column order
	if err != nil {
		return fmt.Errorf("clickhouse %s: columns to copy: %w", w.target, err)
	}
	for rows.Next() {
		var d colDef
		if err := rows.Scan(&d.name, &d.typ, &d.kind, &d.expr, &d.comment); err != nil {
			rows.Close()
			return err
		}
		defs = append(defs, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var engine string
	if err := w.conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = "+quoteString(l.db)+
		" AND name = "+quoteString(l.table)).Scan(&engine); err != nil {
		return fmt.Errorf("clickhouse %s: engine to copy: %w", w.target, err)
	}
	copyName := quote(l.db) + "." + quote(l.table+rekeySuffix)
	oldName := quote(l.db) + "." + quote(l.table+prekeySuffix)
	var cdefs, into, from []string
	for _, d := range defs {
		typ := d.typ
		if t, ok := newType[d.name]; ok {
			typ = t
		}
		def := quote(d.name) + " " + typ
		if d.kind != "" {
			def += " " + d.kind + " " + d.expr
		}
		if d.comment != "" {
			def += " COMMENT " + quoteString(d.comment)
		}
		cdefs = append(cdefs, def)
		if d.kind == "MATERIALIZED" || d.kind == "ALIAS" {
			continue // computed by the copy itself
		}
		into = append(into, quote(d.name))
		if t, ok := newType[d.name]; ok {
			from = append(from, "CAST("+quote(d.name)+" AS "+t+")")
		} else {
			from = append(from, quote(d.name))
		}
	}
	stmts := []string{
		// Left over by a run stopped half way: the table still has its
		// old key, so the copy is made again.
		"DROP TABLE IF EXISTS " + copyName,
		"DROP TABLE IF EXISTS " + oldName,
		"CREATE TABLE " + copyName + " (" + strings.Join(cdefs, ", ") + ") ENGINE = " + engine,
		"INSERT INTO " + copyName + " (" + strings.Join(into, ", ") + ") SELECT " + strings.Join(from, ", ") + " FROM " + l.qualified(),
	}
	if err := w.execRetrying(ctx, stmts); err != nil {
		return err
	}
	var n, m uint64
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM "+l.qualified()).Scan(&n); err != nil {
		return err
	}
	if err := w.conn.QueryRow(ctx, "SELECT count() FROM "+copyName).Scan(&m); err != nil {
		return err
	}
	if n != m {
		return fmt.Errorf("clickhouse %s: the copy with the wider key has %d rows, the table %d: left as it was (%s dropped at the next try)", w.target, m, n, copyName)
	}
	if err := w.execRetrying(ctx, []string{
		"RENAME TABLE " + l.qualified() + " TO " + oldName + ", " + copyName + " TO " + l.qualified(),
		"DROP TABLE " + oldName,
	}); err != nil {
		return err
	}
	slog.Info("clickhouse: the table has the wider key now", "table", w.target, "rows", n, "columns", names)
	return nil
}
