package clickhouse

import (
	"context"
	"strings"

	"github.com/etlq/etlq/connectors"
)

// The row copy of an online schema change (connectors.RowCopier): the
// rows of a tool's copy of a table (gh-ost's _t_gho,
// pt-online-schema-change's _t_new) are written to a table next to the
// target, named after it with copySuffix, that no view shows; at the
// cut-over one RENAME TABLE puts it in the target's place.

const (
	copySuffix = "__etlq_copy"
	oldSuffix  = "__etlq_old"
)

var _ connectors.RowCopier = (*Sink)(nil)

// CanCopy refuses a copy of a target created with a Replicated engine:
// the copy would be created with the same ZooKeeper path.
func (s *Sink) CanCopy(t connectors.Target) string {
	o, err := resolveTargetOptions(t.Options, s.opts)
	if err != nil {
		return err.Error()
	}
	if strings.Contains(strings.ToLower(o.engine), "replicated") {
		return "its ENGINE is replicated: a copy next to it would share its ZooKeeper path"
	}
	return ""
}

// CopyTarget names the copy's table next to t's.
func (s *Sink) CopyTarget(t connectors.Target) connectors.Target {
	c := t
	if db, table, err := s.splitName(t.Name); err == nil {
		c.Name = backquote(db) + "." + backquote(table+copySuffix)
	} else {
		c.Name = t.Name + copySuffix
	}
	return c
}

// backquote writes a part of a target name as splitTargetName reads it.
func backquote(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// DropCopy drops the copy's table and its view.
func (s *Sink) DropCopy(ctx context.Context, t connectors.Target) error {
	conn, v, err := s.connect(ctx)
	if err != nil {
		return err
	}
	db, table, err := s.splitName(t.Name)
	if err != nil {
		return err
	}
	c := table + copySuffix
	return s.execDDL(ctx, conn, v, []string{
		"DROP TABLE IF EXISTS " + quote(db) + "." + quote(c+currentView),
		"DROP TABLE IF EXISTS " + quote(db) + "." + quote(c),
	})
}

// CopyExists reports whether the copy's table exists.
func (s *Sink) CopyExists(ctx context.Context, t connectors.Target) (bool, error) {
	conn, _, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	db, table, err := s.splitName(t.Name)
	if err != nil {
		return false, err
	}
	st, err := readTableState(ctx, conn, db, table+copySuffix)
	if err != nil {
		return false, s.errorf("reading %s.%s: %v", db, table+copySuffix, err)
	}
	return st.exists, nil
}

// SwapCopy renames the copy onto the target in one RENAME TABLE (the old
// table aside, dropped after), then makes the live-rows view show the
// copy's columns. Run again after a stop in the middle, it finishes.
func (s *Sink) SwapCopy(ctx context.Context, t connectors.Target) error {
	conn, v, err := s.connect(ctx)
	if err != nil {
		return err
	}
	db, table, err := s.splitName(t.Name)
	if err != nil {
		return err
	}
	q := func(n string) string { return quote(db) + "." + quote(n) }
	cp, err := readTableState(ctx, conn, db, table+copySuffix)
	if err != nil {
		return s.errorf("reading %s.%s: %v", db, table+copySuffix, err)
	}
	if cp.exists {
		// (Without the copy, a run stopped after the RENAME: the rest
		// is done again.)
		if err := s.execDDL(ctx, conn, v, []string{
			"DROP TABLE IF EXISTS " + q(table+oldSuffix),
			"RENAME TABLE " + q(table) + " TO " + q(table+oldSuffix) + ", " + q(table+copySuffix) + " TO " + q(table),
		}); err != nil {
			return err
		}
	}
	st, err := readTableState(ctx, conn, db, table)
	if err != nil {
		return s.errorf("reading %s.%s: %v", db, table, err)
	}
	stmts := []string{"DROP TABLE IF EXISTS " + q(table+copySuffix+currentView)}
	if t.Mode == connectors.ModeUpsert {
		names := make([]string, 0, len(st.columns))
		for _, c := range st.columns {
			if c.name != colIsDeleted {
				names = append(names, quote(c.name))
			}
		}
		stmts = append(stmts, "DROP TABLE IF EXISTS "+q(table+currentView),
			"CREATE VIEW IF NOT EXISTS "+q(table+currentView)+" AS SELECT "+strings.Join(names, ", ")+
				" FROM "+q(table)+" FINAL WHERE "+quote(colIsDeleted)+" = 0")
	}
	stmts = append(stmts, "DROP TABLE IF EXISTS "+q(table+oldSuffix))
	return s.execDDL(ctx, conn, v, stmts)
}
