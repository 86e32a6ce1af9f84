package clickhouse

import (
	"context"
	"log/slog"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The live-rows view <table>_current of an upsert table shows every column
// of the table but _is_deleted, read FINAL, without tombstones. When the
// table's columns change (a column added or retyped, a rebuild's or row
// copy's swap, a re-key) the view is replaced so that it never goes
// missing: with CREATE OR REPLACE VIEW (ClickHouse 19.5 and later, one
// statement); before 19.5 the new view is created under a side name and
// one RENAME TABLE puts it in the view's place (the old one aside, dropped
// after). A run stopped in the middle leaves the view in place, with the
// old or the new columns, and maybe a side view: ensureView, run by every
// Open and every swap, drops the side views and replaces a view whose
// columns are not the table's. A view that already shows the table's
// columns is not touched: on 18.16 its RENAME (and DROP) waits for the
// queries running on it.

const (
	viewNewSuffix = "__etlq_new" // the new view before the RENAME
	viewOldSuffix = "__etlq_old" // the replaced view, dropped after
)

// hasCreateOrReplaceView reports CREATE OR REPLACE VIEW (19.5).
func (v serverVersion) hasCreateOrReplaceView() bool { return v.atLeast(19, 5) }

// viewState is what exists of the live-rows view of a table: the view and
// its columns, and side views a replacement stopped half way left.
type viewState struct {
	exists bool
	cols   []existingColumn
	sides  []string
}

// readViewState reads what exists of db.table's live-rows view.
func readViewState(ctx context.Context, conn driver.Conn, db, table string) (viewState, error) {
	return whileTablesMove(ctx, func() (viewState, error) { return readViewStateOnce(ctx, conn, db, table) })
}

func readViewStateOnce(ctx context.Context, conn driver.Conn, db, table string) (viewState, error) {
	var vs viewState
	view := table + currentView
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND name IN (?, ?, ?)",
		db, view, view+viewNewSuffix, view+viewOldSuffix)
	if err != nil {
		return vs, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return vs, err
		}
		if n == view {
			vs.exists = true
		} else {
			vs.sides = append(vs.sides, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || !vs.exists {
		return vs, err
	}
	st, err := readTableState(ctx, conn, db, view)
	vs.cols = st.columns
	return vs, err
}

// viewColumns are the columns the view of a table of columns cols shows.
func viewColumns(cols []existingColumn) []existingColumn {
	out := make([]existingColumn, 0, len(cols))
	for _, c := range cols {
		if c.name != colIsDeleted {
			out = append(out, c)
		}
	}
	return out
}

// shows reports whether the view exists with the columns want, in order.
func (vs viewState) shows(want []existingColumn) bool {
	if !vs.exists || len(vs.cols) != len(want) {
		return false
	}
	for i, c := range want {
		if vs.cols[i].name != c.name || normType(vs.cols[i].typ) != normType(c.typ) {
			return false
		}
	}
	return true
}

// viewQuery is the AS SELECT of the view of db.table showing cols.
func viewQuery(db, table string, cols []existingColumn) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quote(c.name)
	}
	return " AS SELECT " + strings.Join(names, ", ") + " FROM " + quote(db) + "." + quote(table) +
		" FINAL WHERE " + quote(colIsDeleted) + " = 0"
}

// viewRepair returns the statements that make the view of db.table, whose
// state is vs, show want and drop the side views; none when it does
// already. Run again from the start after a stop anywhere, they finish.
func viewRepair(v serverVersion, db, table string, vs viewState, want []existingColumn) []string {
	q := func(n string) string { return quote(db) + "." + quote(n) }
	view := table + currentView
	sel := viewQuery(db, table, want)
	var out []string
	switch {
	case !vs.exists:
		for _, n := range vs.sides {
			out = append(out, "DROP TABLE IF EXISTS "+q(n))
		}
		return append(out, "CREATE VIEW IF NOT EXISTS "+q(view)+sel)
	case vs.shows(want):
		for _, n := range vs.sides {
			out = append(out, "DROP TABLE IF EXISTS "+q(n))
		}
		return out
	case v.hasCreateOrReplaceView():
		for _, n := range vs.sides {
			out = append(out, "DROP TABLE IF EXISTS "+q(n))
		}
		return append(out, "CREATE OR REPLACE VIEW "+q(view)+sel)
	}
	// 18.x: the new view under a side name, then one RENAME puts it in
	// place. (The CREATE VIEW IF NOT EXISTS makes the view when a stop
	// left it missing, so that the RENAME finds it.)
	return []string{
		"DROP TABLE IF EXISTS " + q(view+viewNewSuffix),
		"CREATE VIEW " + q(view+viewNewSuffix) + sel,
		"CREATE VIEW IF NOT EXISTS " + q(view) + sel,
		"DROP TABLE IF EXISTS " + q(view+viewOldSuffix),
		"RENAME TABLE " + q(view) + " TO " + q(view+viewOldSuffix) + ", " + q(view+viewNewSuffix) + " TO " + q(view),
		"DROP TABLE IF EXISTS " + q(view+viewOldSuffix),
	}
}

// ensureView makes the live-rows view of db.table show the table's columns
// (every one but _is_deleted), reading both first: nothing is done when it
// does already. A refusal on the way (another writer of the table, scale-
// out, replacing the view at the same time and taking a side name) reads
// again and tries again, a few times.
func (s *Sink) ensureView(ctx context.Context, conn driver.Conn, v serverVersion, db, table string) error {
	for attempt := 0; ; attempt++ {
		st, err := readTableState(ctx, conn, db, table)
		if err != nil {
			return s.wrapf(err, "reading %s.%s: %v", db, table, err)
		}
		vs, err := readViewState(ctx, conn, db, table)
		if err != nil {
			return s.wrapf(err, "reading %s.%s: %v", db, table+currentView, err)
		}
		if !st.exists {
			return nil
		}
		stmts := viewRepair(v, db, table, vs, viewColumns(st.columns))
		if len(stmts) == 0 {
			return nil
		}
		if vs.exists && !vs.shows(viewColumns(st.columns)) {
			slog.Info("clickhouse: the live-rows view is made again with the table's columns", "view", db+"."+table+currentView)
		} else if len(vs.sides) > 0 {
			slog.Info("clickhouse: dropping side views a replacement of the live-rows view stopped half way left", "views", vs.sides)
		}
		err = s.execDDL(ctx, conn, v, stmts)
		if err == nil || retryable(err) || ctx.Err() != nil || attempt == 4 {
			return err
		}
	}
}
