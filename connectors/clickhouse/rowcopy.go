package clickhouse

import (
	"context"
	"log/slog"
	"strings"
	"time"

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
		return s.swapCopy(ctx, conn, v, db, table, t.Mode, s.maxBackoff(t))
	})
}

// swapCopy makes one attempt of SwapCopy.
func (s *Sink) swapCopy(ctx context.Context, conn driver.Conn, v serverVersion, db, table string, mode connectors.Mode, maxBackoff time.Duration) error {
	q := func(n string) string { return quote(db) + "." + quote(n) }
	read := func(n string) (tableState, error) {
		st, err := readTableState(ctx, conn, db, n)
		if err != nil {
			return st, s.wrapf(err, "reading %s.%s: %v", db, n, err)
		}
		return st, nil
	}
	// The old table of this table's previous swap may still be being
	// dropped: its name is taken again below.
	if err := s.awaitDrop(ctx, db+"."+table+oldSuffix); err != nil {
		return err
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
	s.dropLater(conn, v, db, table+oldSuffix, maxBackoff)
	return nil
}

// dropOldHook, when set (tests), runs in the background drop before its
// DROP TABLE.
var dropOldHook func(table string)

// closeDropWait bounds how long Close waits for background drops: one
// cut off is done again by the table's next swap (DROP … IF EXISTS first).
var closeDropWait = 30 * time.Second

// dropLater drops the table a swap put aside in the background. Dropping
// a table of many parts took ClickHouse 11–34 s (removing the parts'
// files, a trial with etlq behind after a restart), and the swap is on the
// source's path: every pipeline of the source wrote nothing meanwhile. The
// swap is complete without it — the copy is in place — and the next swap
// of the table waits for it (awaitDrop) or drops the table first itself.
func (s *Sink) dropLater(conn driver.Conn, v serverVersion, db, name string, maxBackoff time.Duration) {
	key := db + "." + name
	done := make(chan struct{})
	s.mu.Lock()
	if s.dropping == nil {
		s.dropping = map[string]chan struct{}{}
	}
	s.dropping[key] = done
	s.drops.Add(1)
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			if s.dropping[key] == done {
				delete(s.dropping, key)
			}
			s.mu.Unlock()
			close(done)
			s.drops.Done()
		}()
		if dropOldHook != nil {
			dropOldHook(key)
		}
		// Retried while ClickHouse is away, as the swap's statements are;
		// given up after 10 minutes.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		err := retrying(ctx, "dropping the table a swap replaced", key, maxBackoff, func() error {
			return s.execDDL(ctx, conn, v, []string{"DROP TABLE IF EXISTS " + quote(db) + "." + quote(name)})
		})
		if err != nil {
			slog.Warn("clickhouse: dropping the table a swap replaced failed; the table's next swap drops it", "table", key, "err", err)
		}
	}()
}

// awaitDrop waits until the background drop of table key (db.name), if
// any, has ended.
func (s *Sink) awaitDrop(ctx context.Context, key string) error {
	s.mu.Lock()
	done := s.dropping[key]
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitDrops waits up to d for every background drop to end.
func (s *Sink) awaitDrops(d time.Duration) {
	all := make(chan struct{})
	go func() {
		s.drops.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-time.After(d):
		slog.Warn("clickhouse: a table a swap replaced is still being dropped at the end; the table's next swap drops it", "waited", d)
	}
}
