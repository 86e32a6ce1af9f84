package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A key column whose type the source widened (ALTER TABLE t MODIFY id
// BIGINT on an INT key): ClickHouse cannot alter a column of the sorting
// key in place ("ALTER of key column id must be metadata-only"), so the
// table is copied into a new one that has the wider type, in ClickHouse
// itself — every row and version, each key value widened exactly — and
// the new table takes the old one's name. Nothing stops: the source's
// batches wait for the copy (ClickHouse's INSERT … SELECT, at its speed)
// and go on.
//
// Several writers of one table (scale-out workers, docs/scale-out.md) meet
// the widening at once. One re-keys, the others wait and find the table
// widened: a writer takes a lock table in ClickHouse (CREATE TABLE fails
// for all but one), checks under it that the live table still has the
// narrower key, and copies into a table of its own name. A writer waiting
// for the lock goes on as soon as the live table has the wider key. The
// lock holds a heartbeat row; a lock whose heartbeat stopped (its writer
// was killed) is taken over after rekeyLockStale.

// rekeySuffix and prekeySuffix name the copy being filled and, for a
// moment, the old table.
const (
	rekeySuffix  = "__etlq_rekey"
	prekeySuffix = "__etlq_prekey"
	lockSuffix   = "__etlq_rekey_lock"
)

// rekeyCopied, when set (tests), runs between the copy and its check.
var rekeyCopied func()

// rekeyLockStale is how old a lock's last heartbeat is when its writer is
// taken for dead.
var rekeyLockStale = 2 * time.Minute

// chCode is the ClickHouse error code of err, 0 if it has none.
func chCode(err error) int32 {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex.Code
	}
	return 0
}

// tableEngine returns db.table's engine_full. ClickHouse 18.16 computes
// the column for every table of the database, whatever the WHERE, so the
// read fails while another table of it is renamed or dropped (another
// pipeline making its view again, t_current__etlq_old:
// TestOldBatchesAfterWidening's re-key of u failed so in a CI run):
// whileTablesMove reads it again.
func tableEngine(ctx context.Context, conn driver.Conn, db, table string) (string, error) {
	return whileTablesMove(ctx, func() (string, error) {
		var engine string
		err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = "+quoteString(db)+
			" AND name = "+quoteString(table)).Scan(&engine)
		return engine, err
	})
}

// keyWidened reports whether the live table already has the types of cols
// (another writer re-keyed it).
func (w *writer) keyWidened(ctx context.Context, l *tableLayout, cols []colSpec) (bool, error) {
	st, err := readTableState(ctx, w.conn, l.db, l.table)
	if err != nil {
		return false, fmt.Errorf("clickhouse %s: key column types: %w", w.target, err)
	}
	have := map[string]string{}
	for _, c := range st.columns {
		have[c.name] = c.typ
	}
	for _, c := range cols {
		if have[c.name] != c.chType() {
			return false, nil
		}
	}
	return true, nil
}

// rekeyLock takes the table's re-key lock, or waits until another writer
// has re-keyed the table (done). unlock drops the lock.
func (w *writer) rekeyLock(ctx context.Context, l *tableLayout, cols []colSpec, token string) (unlock func(), done bool, err error) {
	lock := quote(l.db) + "." + quote(l.table+lockSuffix)
	beat := "INSERT INTO " + lock + " SELECT " + quoteString(lockOwner(token)) + ", now()"
	var logged, emptySince time.Time
	for attempt := 0; ; attempt++ {
		err := w.conn.Exec(ctx, "CREATE TABLE "+lock+" (owner String, at DateTime) ENGINE = TinyLog")
		if err == nil {
			if err := w.conn.Exec(ctx, beat); err != nil {
				_ = w.conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+lock)
				return nil, false, fmt.Errorf("clickhouse %s: re-key lock: %w", w.target, err)
			}
			hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
			ended := make(chan struct{})
			go func() {
				defer close(ended)
				t := time.NewTicker(rekeyLockStale / 8)
				defer t.Stop()
				for {
					select {
					case <-hctx.Done():
						return
					case <-t.C:
						_ = w.conn.Exec(hctx, beat)
					}
				}
			}()
			return func() {
				stop()
				<-ended
				_ = w.conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+lock)
			}, false, nil
		}
		if chCode(err) != 57 && !retryable(err) { // 57: TABLE_ALREADY_EXISTS
			return nil, false, fmt.Errorf("clickhouse %s: re-key lock: %w", w.target, err)
		}
		if done, err := w.keyWidened(ctx, l, cols); err != nil || done {
			return nil, done, err
		}
		var last, now time.Time
		var beats uint64
		var owner string
		err = w.conn.QueryRow(ctx, "SELECT max(at), now(), count(), argMax(owner, at) FROM "+lock).Scan(&last, &now, &beats, &owner)
		if err == nil && beats == 0 {
			// Made, its first heartbeat not written yet: stale if it
			// stays so.
			if emptySince.IsZero() {
				emptySince = time.Now()
			}
			last, now = emptySince, time.Now()
		}
		gone := err == nil && beats > 0 && ownerGone(owner)
		if err == nil && (gone || now.Sub(last) > rekeyLockStale) {
			// Its writer stopped beating, or is a process of this
			// machine that no longer runs (killed, then etlq started
			// again): the first to rename the lock away takes it over.
			stale := quote(l.db) + "." + quote(l.table+lockSuffix+"_"+token)
			if err := w.conn.Exec(ctx, "RENAME TABLE "+lock+" TO "+stale); err == nil {
				why := "its heartbeat stopped"
				if gone {
					why = "its writer, a process of this machine, no longer runs"
				}
				slog.Warn("clickhouse: took over a re-key lock whose writer stopped", "table", w.target, "heartbeat", last, "why", why)
				_ = w.conn.Exec(ctx, "DROP TABLE IF EXISTS "+stale)
			}
			continue
		}
		if time.Since(logged) > 30*time.Second {
			logged = time.Now()
			args := []any{"table", w.target, "lock", l.table + lockSuffix}
			if err == nil {
				// A writer killed in its copy beats no more: say when its
				// lock is taken over, not only that this one waits.
				args = append(args, "last_heartbeat", now.Sub(last).Round(time.Second).String()+" ago",
					"taken_over_after", rekeyLockStale.String()+" without one")
			}
			slog.Info("clickhouse: another writer is copying the table into the wider key: waiting", args...)
		}
		if err := sleep(ctx, 100*time.Millisecond+time.Duration(min(attempt, 9))*50*time.Millisecond); err != nil {
			return nil, false, err
		}
	}
}

// execRetrying runs stmts, retrying while ClickHouse is away: every
// attempt runs them all, so they must be safe to run again.
func (w *writer) execRetrying(ctx context.Context, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	return retrying(ctx, "schema change", w.target, w.opts.maxBackoff, func() error {
		return w.s.execDDL(ctx, w.conn, w.layout.version, stmts)
	})
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
	var tb [4]byte
	_, _ = rand.Read(tb[:])
	token := hex.EncodeToString(tb[:])
	unlock, done, err := w.rekeyLock(ctx, l, cols, token)
	if err != nil {
		return err
	}
	if !done {
		defer unlock()
		// Under the lock: a writer that held it before may have re-keyed.
		if done, err = w.keyWidened(ctx, l, cols); err != nil {
			return err
		}
	}
	if done {
		slog.Info("clickhouse: another writer copied the table into the wider key", "table", w.target, "columns", names)
		return nil
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
	engine, err := tableEngine(ctx, w.conn, l.db, l.table)
	if err != nil {
		return fmt.Errorf("clickhouse %s: engine to copy: %w", w.target, err)
	}
	// Names of this writer's own: a writer that took a stale lock over
	// must not drop a copy still being filled.
	copyName := quote(l.db) + "." + quote(l.table+rekeySuffix+"_"+token)
	oldName := quote(l.db) + "." + quote(l.table+prekeySuffix+"_"+token)
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
	// The parts the copy reads: another pipeline writing the table meanwhile
	// (it did not meet the widening, so it does not wait for the lock)
	// puts its rows into new parts, which the catch-up after the swap
	// reads (rekeyCatchUp).
	parts, err := activeParts(ctx, w.conn, l.db, l.table)
	if err != nil {
		return fmt.Errorf("clickhouse %s: parts to copy: %w", w.target, err)
	}
	versioned := false
	for _, d := range defs {
		versioned = versioned || d.name == colVersion
	}
	stmts := []string{
		// Left over by a run of an earlier version stopped half way: the
		// table still has its old key, so the copy is made again.
		"DROP TABLE IF EXISTS " + quote(l.db) + "." + quote(l.table+rekeySuffix),
		"DROP TABLE IF EXISTS " + quote(l.db) + "." + quote(l.table+prekeySuffix),
		// Left by an attempt cut off with ClickHouse: made again whole.
		"DROP TABLE IF EXISTS " + copyName,
		"CREATE TABLE " + copyName + " (" + strings.Join(cdefs, ", ") + ") ENGINE = " + engine,
		"INSERT INTO " + copyName + " (" + strings.Join(into, ", ") + ") SELECT " + strings.Join(from, ", ") + " FROM " + l.qualified(),
	}
	if err := w.execRetrying(ctx, stmts); err != nil {
		_ = w.conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+copyName)
		return err
	}
	if rekeyCopied != nil {
		rekeyCopied()
	}
	// The rows a reader sees: a ReplacingMergeTree merges its parts in the
	// background, each table at its own time, and a plain count() of one
	// drops while the other's does not (the check failed 1 run in 11:
	// "the copy with the wider key has 401 rows, the table 390").
	final := ""
	if strings.Contains(engine, "ReplacingMergeTree") {
		final = " FINAL"
	}
	var n, m uint64
	if err := retrying(ctx, "counting the copy's rows", w.target, w.opts.maxBackoff, func() error {
		if err := w.conn.QueryRow(ctx, "SELECT count() FROM "+l.qualified()+final).Scan(&n); err != nil {
			return err
		}
		return w.conn.QueryRow(ctx, "SELECT count() FROM "+copyName+final).Scan(&m)
	}); err != nil {
		return err
	}
	// A table with versions: rows another writer added meanwhile are
	// caught up after the swap, so a difference is not refused; but then
	// every row of the old table is checked, not only its new parts.
	full := n != m
	if n != m && !versioned {
		_ = w.conn.Exec(ctx, "DROP TABLE IF EXISTS "+copyName)
		return fmt.Errorf("clickhouse %s: the copy with the wider key has %d rows, the table %d: left as it was", w.target, m, n)
	}
	// Each attempt reads what is done first: a RENAME cut off with
	// ClickHouse may have been made (ClickHouse before 20: one pair of
	// names of it).
	if err := retrying(ctx, "swapping the copy with the wider key in", w.target, w.opts.maxBackoff, func() error {
		cp, err := readTableState(ctx, w.conn, l.db, l.table+rekeySuffix+"_"+token)
		if err != nil {
			return err
		}
		var stmts []string
		if cp.exists {
			tg, err := readTableState(ctx, w.conn, l.db, l.table)
			if err != nil {
				return err
			}
			if tg.exists {
				stmts = append(stmts, "RENAME TABLE "+l.qualified()+" TO "+oldName+", "+copyName+" TO "+l.qualified())
			} else {
				stmts = append(stmts, "RENAME TABLE "+copyName+" TO "+l.qualified())
			}
		}
		if !versioned {
			stmts = append(stmts, "DROP TABLE IF EXISTS "+oldName)
		}
		return w.s.execDDL(ctx, w.conn, w.layout.version, stmts)
	}); err != nil {
		return err
	}
	if versioned {
		caught, err := w.rekeyCatchUp(ctx, l, oldName, parts, full, newType, into, from)
		if err != nil {
			return fmt.Errorf("clickhouse %s: rows other writers wrote during the copy with the wider key are in %s, not yet in the table (copy them by hand, then drop it): %w", w.target, oldName, err)
		}
		if caught > 0 {
			slog.Info("clickhouse: rows another writer wrote during the copy with the wider key caught up", "table", w.target, "rows", caught)
		}
		if err := w.execRetrying(ctx, []string{"DROP TABLE IF EXISTS " + oldName}); err != nil {
			return err
		}
	}
	slog.Info("clickhouse: the table has the wider key now", "table", w.target, "rows", n, "columns", names)
	return nil
}

// activeParts returns the names of db.table's active parts.
func activeParts(ctx context.Context, conn driver.Conn, db, table string) ([]string, error) {
	return queryStrings(ctx, conn, "SELECT name FROM system.parts WHERE database = "+quoteString(db)+" AND table = "+quoteString(table)+" AND active")
}

// queryStrings returns the first column of q's rows, a String column.
func queryStrings(ctx context.Context, conn driver.Conn, q string) ([]string, error) {
	rows, err := conn.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// rekeyCatchUp copies into the re-keyed table the rows of the old one
// (now oldName) that it lacks: those another pipeline wrote into the old
// table after the copy began — an insert, or an update of a key the copy
// has, between the copy and the RENAME. Candidates are the rows of parts
// the copy did not read (not in parts; every part when full), and a row
// counts as lacking when the table has no row of its key and _version: a
// row copied twice (a merge of a copied part with a new one) is not
// written again. It returns how many rows it wrote.
func (w *writer) rekeyCatchUp(ctx context.Context, l *tableLayout, oldName string, parts []string, full bool, newType map[string]string, into, from []string) (uint64, error) {
	cond := "1"
	if !full && len(parts) > 0 {
		q := make([]string, len(parts))
		for i, p := range parts {
			q[i] = quoteString(p)
		}
		cond = "_part NOT IN (" + strings.Join(q, ", ") + ")"
	}
	var oldKey, newKey []string
	for _, k := range append(append([]string(nil), l.key...), colVersion) {
		newKey = append(newKey, quote(k))
		if t, ok := newType[k]; ok {
			oldKey = append(oldKey, "CAST("+quote(k)+" AS "+t+")")
		} else {
			oldKey = append(oldKey, quote(k))
		}
	}
	tuple := func(xs []string) string { return "(" + strings.Join(xs, ", ") + ")" }
	// The new table's rows of the candidates' keys only: the set stays the
	// size of what is caught up, not of the table.
	lacking := cond + " AND " + tuple(oldKey) + " NOT IN (SELECT " + strings.Join(newKey, ", ") + " FROM " + l.qualified() +
		" WHERE " + tuple(newKey[:len(newKey)-1]) + " IN (SELECT " + strings.Join(oldKey[:len(oldKey)-1], ", ") + " FROM " + oldName + " WHERE " + cond + "))"
	var n uint64
	if err := retrying(ctx, "counting the rows to catch up", w.target, w.opts.maxBackoff, func() error {
		return w.conn.QueryRow(ctx, "SELECT count() FROM "+oldName+" WHERE "+lacking).Scan(&n)
	}); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	// Not retried: an INSERT cut off may have been made; a row written
	// twice would be one more version of a key in a changelog table.
	if err := w.conn.Exec(ctx, "INSERT INTO "+l.qualified()+" ("+strings.Join(into, ", ")+") SELECT "+strings.Join(from, ", ")+" FROM "+oldName+" WHERE "+lacking); err != nil {
		return 0, err
	}
	return n, nil
}
