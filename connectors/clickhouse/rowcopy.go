package clickhouse

import (
	"context"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

// DropCopy drops the copy's table and its view, waiting while ClickHouse
// is unreachable.
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
	return retrying(ctx, "dropping the copy", t.Name, s.maxBackoff(t), func() error {
		return s.execDDL(ctx, conn, v, []string{
			"DROP TABLE IF EXISTS " + quote(db) + "." + quote(c+currentView),
			"DROP TABLE IF EXISTS " + quote(db) + "." + quote(c),
		})
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
	var st tableState
	err = retrying(ctx, "reading the copy", t.Name, s.maxBackoff(t), func() (err error) {
		if st, err = readTableState(ctx, conn, db, table+copySuffix); err != nil {
			return s.wrapf(err, "reading %s.%s: %v", db, table+copySuffix, err)
		}
		return nil
	})
	return st.exists, err
}

// SwapCopy renames the copy onto the target (the old table aside,
// dropped after), then makes the live-rows view show the copy's columns.
// It reads what is done before each step, so that it is run again after a
// stop in the middle, or after an attempt cut off by an unreachable
// ClickHouse (whose outcome is unknown), and finishes; while ClickHouse is
// unreachable it waits.
func (s *Sink) SwapCopy(ctx context.Context, t connectors.Target) error {
	conn, v, err := s.connect(ctx)
	if err != nil {
		return err
	}
	db, table, err := s.splitName(t.Name)
	if err != nil {
		return err
	}
	return retrying(ctx, "swapping the copy in", t.Name, s.maxBackoff(t), func() error {
		return s.swapCopy(ctx, conn, v, db, table, t.Mode)
	})
}

// swapCopy makes one attempt of SwapCopy.
func (s *Sink) swapCopy(ctx context.Context, conn driver.Conn, v serverVersion, db, table string, mode connectors.Mode) error {
	q := func(n string) string { return quote(db) + "." + quote(n) }
	read := func(n string) (tableState, error) {
		st, err := readTableState(ctx, conn, db, n)
		if err != nil {
			return st, s.wrapf(err, "reading %s.%s: %v", db, n, err)
		}
		return st, nil
	}
	cp, err := read(table + copySuffix)
	if err != nil {
		return err
	}
	if cp.exists {
		// (Without the copy, a run stopped after the RENAME: the rest
		// is done again.)
		tg, err := read(table)
		if err != nil {
			return err
		}
		rename := []string{"RENAME TABLE " + q(table+copySuffix) + " TO " + q(table)}
		if tg.exists {
			rename = []string{
				"DROP TABLE IF EXISTS " + q(table+oldSuffix),
				"RENAME TABLE " + q(table) + " TO " + q(table+oldSuffix) + ", " + q(table+copySuffix) + " TO " + q(table),
			}
		}
		// (Without the target, a RENAME stopped half way — ClickHouse
		// before 20 renames one pair after the other — put it aside
		// already: the copy takes its place, the old table stays
		// until the end.)
		if err := s.execDDL(ctx, conn, v, rename); err != nil {
			return err
		}
	}
	if err := s.execDDL(ctx, conn, v, []string{"DROP TABLE IF EXISTS " + q(table+copySuffix+currentView)}); err != nil {
		return err
	}
	if mode == connectors.ModeUpsert {
		// Replaced (never missing) when the copy's columns differ,
		// else left as it is (view.go).
		if err := s.ensureView(ctx, conn, v, db, table); err != nil {
			return err
		}
	}
	return s.execDDL(ctx, conn, v, []string{"DROP TABLE IF EXISTS " + q(table+oldSuffix)})
}
