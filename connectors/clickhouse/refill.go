package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// This file fills the rows already in an upsert table when the source adds
// a column the table has already: a DROP COLUMN leaves the target's column
// in place (docs/schema-changes.md), so an ADD COLUMN of the same name
// later finds it holding the values from before the drop (and the
// ClickHouse default for the rows written between), where MySQL's rows all
// hold the new column's DEFAULT. ADD COLUMN … DEFAULT cannot carry it (the
// column is there), so a mutation writes it into the rows older than the
// ADD: `ALTER TABLE … UPDATE c = <default> WHERE _version < <the ADD's
// version>`. The version bound keeps the rows written after the DDL — by
// this writer, or another writer of the table (a scale-out worker) that
// passed the DDL first — and makes the fill safe to repeat: a restart that
// replays the ADD fills the same rows again with the same value.

// refillSpec is one column to fill: its value for the rows older than
// version, which where selects.
type refillSpec struct {
	add     ddlAdd
	name    string
	version uint64
	expr    string
	where   string
	// cause says why the table had the column already: left from a
	// DROP COLUMN, or added by another writer of the table (a scale-out
	// worker that met the DDL first).
	cause string
}

// ddlAdd is one source ADD of a column: the column, the table whose DDL
// it was (exec.MetaDDLTable; "" in a target of one table) and the ADD's
// version (exec.MetaAddedAt). Two tables of one pipeline that add the
// column back to back (no row of the pipeline between the two ALTERs) give
// their ADDs the same version: the table tells them apart.
type ddlAdd struct {
	col, table string
	version    uint64
}

// refills returns the columns of the new layout nl (merged: the table's
// layout once this schema change is made; add: the columns it adds) that a
// DDL added (exec.MetaAddedAt) while the table had them already: their
// rows from before the DDL must take the DEFAULT. Upsert tables only: an
// append or changelog table keeps the history it was written with.
func (w *writer) refills(ctx context.Context, nl, merged *tableLayout, add []*colSpec) []refillSpec {
	for name := range w.addedHere {
		if nl.col(name) == nil {
			delete(w.addedHere, name) // dropped in the source since
		}
	}
	if merged.mode != connectors.ModeUpsert || w.opts.schemaChanges != "evolve" {
		return nil
	}
	adding := map[string]bool{}
	for _, c := range add {
		adding[c.name] = true
	}
	var out []refillSpec
	for i := range nl.cols {
		c := &nl.cols[i]
		if adding[c.name] || c.key || exec.IsSystemColumn(c.src) || strings.HasPrefix(c.name, beforePrefix) {
			continue
		}
		if v, _ := c.field.Metadata.GetValue(exec.MetaAddedByDDL); v != "true" {
			continue
		}
		at, _ := c.field.Metadata.GetValue(exec.MetaAddedAt)
		version, err := strconv.ParseUint(at, 10, 64)
		ref, _ := c.field.Metadata.GetValue(exec.MetaDDLTable)
		add := ddlAdd{col: c.name, table: ref, version: version}
		if err != nil || version == 0 || w.filled[add] {
			continue
		}
		if at, ok := w.addedHere[c.name]; ok && (at.version == 0 || at == add) {
			// This writer added the column in this run, at this ADD (or
			// a snapshot chunk read after the DDL brought it first): the
			// rows already there took the DEFAULT with it, and the
			// chunk's rows hold their own values. (Another table's ADD
			// of the column, in a target several share, is filled.)
			w.addedHere[c.name] = add
			w.filled[add] = true
			continue
		}
		tc := merged.col(c.name)
		if tc == nil {
			continue
		}
		// The value in the table's type (a column left from the drop may
		// be of another type, which now holds both: String for the old
		// VARCHAR and the new INT).
		sp := *c
		sp.field.Type, sp.m, sp.nullable = tc.field.Type, tc.m, tc.nullable
		expr, lost := w.defaultFor(&sp, merged)
		if lost != nil {
			w.warnLostDefault(ctx, &sp, merged, lost)
		}
		if expr == "" {
			// No DEFAULT (or none carried): NULL, or the type's zero in
			// a column that is not Nullable, as a column added without
			// one.
			expr = "NULL"
			if !sp.nullable {
				expr = zeroIn(c, tc)
			}
		}
		where := quote(colVersion) + " < " + strconv.FormatUint(version, 10)
		if ref != "" {
			// A target of several tables: only the DDL's table's rows.
			conds := tableConds(merged, ref)
			if len(conds) == 0 {
				slog.Warn("clickhouse: a column the source added is in the table already (left from a DROP COLUMN), and the target has no _table column to tell the rows of the table the DDL added it to: the rows already there keep their values; re-snapshot the table to fill them",
					"table", w.target, "column", c.name, "source", ref)
				w.filled[add] = true
				continue
			}
			where += " AND " + strings.Join(conds, " AND ")
		}
		out = append(out, refillSpec{add: add, name: c.name, version: version, expr: expr, where: where, cause: "left from a DROP COLUMN"})
	}
	return out
}

// refill writes each fill's value into the rows it selects, and waits
// until ClickHouse has (a mutation runs in the background; 18.16 has no
// setting that waits). The inserts under way have ended (drain): the rows
// of batches from before the DDL are in the table.
func (w *writer) refill(ctx context.Context, l *tableLayout, fills []refillSpec) error {
	for _, f := range fills {
		// The value is computed for every row first: a value ClickHouse
		// cannot compute (a renamed column's CAST) fails here, with the
		// reason, where the mutation would retry in the background for
		// good.
		var n uint64
		err := retrying(ctx, "schema change", w.target, w.opts.maxBackoff, func() error {
			q := "SELECT count() FROM " + l.qualified() + " WHERE " + f.where + " AND NOT ignore(" + f.expr + ")"
			if err := w.conn.QueryRow(ctx, q).Scan(&n); err != nil {
				return &ddlError{msg: fmt.Sprintf("clickhouse %s: column %q was added in the source and the table has it already (%s): its rows from before the ADD cannot take its DEFAULT: %v (running %s)", w.target, f.name, f.cause, err, q), cause: err}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n > 0 {
			if err := w.mutate(ctx, l, "ALTER TABLE "+l.qualified()+" UPDATE "+quote(f.name)+" = "+f.expr+" WHERE "+f.where); err != nil {
				return err
			}
		}
		slog.Info("clickhouse: a column added in the source was in the table already ("+f.cause+"): its rows from before the ADD take the column's DEFAULT, as the source's",
			"table", w.target, "column", f.name, "value", f.expr, "rows", n, "older_than_version", f.version)
		w.filled[f.add] = true
	}
	return nil
}

// mutate runs the mutation stmt on table l and waits until ClickHouse has
// carried it out in every part: until the mutations of the table that
// were not there before it are done.
func (w *writer) mutate(ctx context.Context, l *tableLayout, stmt string) error {
	ids := func() (map[string]bool, error) {
		rows, err := w.conn.Query(ctx, "SELECT mutation_id, is_done FROM system.mutations WHERE database = "+quoteString(l.db)+" AND table = "+quoteString(l.table))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var id string
			var done uint8
			if err := rows.Scan(&id, &done); err != nil {
				return nil, err
			}
			out[id] = done != 0
		}
		return out, rows.Err()
	}
	var before map[string]bool
	err := retrying(ctx, "schema change", w.target, w.opts.maxBackoff, func() error {
		var err error
		if before, err = ids(); err != nil {
			return &ddlError{msg: fmt.Sprintf("clickhouse %s: reading system.mutations: %v", w.target, err), cause: err}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Run again after a cut-off: the same rows take the same value.
	if err := w.execRetrying(ctx, []string{stmt}); err != nil {
		return err
	}
	start, said := time.Now(), time.Now()
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		now, err := ids()
		if err != nil {
			if !retryable(err) || ctx.Err() != nil {
				return fmt.Errorf("clickhouse %s: reading system.mutations: %w", w.target, err)
			}
		} else {
			pending := 0
			for id, done := range now {
				if _, had := before[id]; !had && !done {
					pending++
				}
			}
			if pending == 0 {
				return nil
			}
		}
		if time.Since(said) >= 30*time.Second {
			slog.Info("clickhouse: waiting for ClickHouse to fill the rows of a column (a mutation; see system.mutations)", "table", w.target, "since", start.Format(time.RFC3339), "statement", stmt)
			said = time.Now()
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// zeroIn is the value of MySQL's zero of column c's type (what a NOT NULL
// column added without a DEFAULT gives the rows there) in the table's
// column tc: the type's zero, or its text where tc is a String that holds
// a number (a column left from a drop, of another type): 0, 0.00.
func zeroIn(c, tc *colSpec) string {
	if normType(tc.m.base) == "String" && normType(c.m.base) != "String" {
		if d, ok := c.field.Type.(arrow.DecimalType); ok {
			if d.GetScale() > 0 {
				return quoteString("0." + strings.Repeat("0", int(d.GetScale())))
			}
			return quoteString("0")
		}
		if _, _, ok := intKind(c.field.Type); ok || c.field.Type.ID() == arrow.FLOAT32 || c.field.Type.ID() == arrow.FLOAT64 {
			return quoteString("0")
		}
	}
	return "defaultValueOfArgumentType(" + quote(tc.name) + ")"
}
