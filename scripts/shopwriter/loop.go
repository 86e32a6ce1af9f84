package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// loop writes one random change every 1/rate seconds until ctx ends, and a
// summary line every report interval and at the end.
func (w *writer) loop(ctx context.Context, rate float64, report time.Duration, out io.Writer) error {
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	next := start
	lastReport, lastOps, lastRows := start, 0, 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	summary := func(final bool) {
		now := time.Now()
		label := "last"
		since, ops, rows := now.Sub(lastReport), w.stats.ops-lastOps, w.stats.rows()-lastRows
		if final {
			label, since, ops, rows = "total", now.Sub(start), w.stats.ops, w.stats.rows()
		}
		secs := max(since.Seconds(), 1e-9)
		live := "?"
		if r, err := w.exec("SELECT COUNT(*) FROM `" + w.db + "`.orders"); err == nil {
			n, _ := r.GetInt(0, 0)
			live = fmt.Sprint(n)
		}
		fmt.Fprintf(out, "shopwriter: %s %s %.0f ops/s, %.0f rows/s | rows inserted=%d updated=%d deleted=%d in %d ops (%d txs) | orders=%s max_id=%d\n",
			now.Format("15:04:05"), label, float64(ops)/secs, float64(rows)/secs,
			w.stats.inserts, w.stats.updates, w.stats.deletes, w.stats.ops, w.stats.txs, live, w.maxOrder)
		lastReport, lastOps, lastRows = now, w.stats.ops, w.stats.rows()
	}
	for {
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				summary(true)
				return nil
			case <-timer.C:
			}
		} else if d < -time.Second {
			next = time.Now() // fell behind: do not burst to catch up
		}
		if ctx.Err() != nil {
			summary(true)
			return nil
		}
		if err := w.step(); err != nil {
			return err
		}
		w.stats.ops++
		if time.Since(lastReport) >= report {
			summary(false)
		}
	}
}

// step performs one random change: new orders most often, then status
// moves, amount changes, deletes and customer changes.
func (w *writer) step() error {
	switch p := w.rng.IntN(100); {
	case p < 45:
		return w.insertOrder()
	case p < 75:
		return w.advanceStatus()
	case p < 85:
		return w.changeAmount()
	case p < 92:
		return w.deleteOrder()
	case p < 96:
		return w.insertCustomer()
	default:
		return w.updateCustomer()
	}
}

func (w *writer) q() string { return "`" + w.db + "`" }

// insertOrder inserts an order and its items in one transaction.
func (w *writer) insertOrder() error {
	o, items := w.order(0, time.Now().UTC().Format(timeLayout))
	if err := w.conn.Begin(); err != nil {
		return err
	}
	r, err := w.exec("INSERT INTO " + w.q() + ".orders (id, customer, status, amount, created_at, note) VALUES " + o)
	if err != nil {
		w.conn.Rollback()
		return err
	}
	id := r.InsertId
	var rows string
	for i, it := range items {
		if i > 0 {
			rows += ","
		}
		rows += fmt.Sprintf(it, id)
	}
	if _, err := w.exec("INSERT INTO " + w.q() + ".order_items (order_id, sku, qty, price) VALUES " + rows); err != nil {
		w.conn.Rollback()
		return err
	}
	if err := w.conn.Commit(); err != nil {
		return err
	}
	w.stats.txs++
	w.stats.inserts += 1 + len(items)
	w.maxOrder = max(w.maxOrder, id)
	return nil
}

// recentOrder picks an id among the newest orders, where status changes
// happen in a real shop.
func (w *writer) recentOrder() uint64 {
	if w.maxOrder == 0 {
		return 0
	}
	back := w.rng.Uint64N(min(w.maxOrder, 2000))
	return w.maxOrder - back
}

// tryUpdate runs an update for up to five random ids until one row changes.
func (w *writer) tryUpdate(pick func() uint64, sql func(id uint64) string) error {
	for range 5 {
		id := pick()
		if id == 0 {
			return nil
		}
		r, err := w.exec(sql(id))
		if err != nil {
			return err
		}
		if r.AffectedRows > 0 {
			w.stats.updates += int(r.AffectedRows)
			return nil
		}
	}
	return nil
}

func (w *writer) advanceStatus() error {
	fromNew := "paid"
	if w.rng.IntN(7) == 0 {
		fromNew = "cancelled"
	}
	return w.tryUpdate(w.recentOrder, func(id uint64) string {
		return fmt.Sprintf("UPDATE %s.orders SET status = IF(status = 'new', '%s', 'shipped') WHERE id = %d AND status IN ('new', 'paid')",
			w.q(), fromNew, id)
	})
}

func (w *writer) changeAmount() error {
	pct := 80 + w.rng.IntN(40) // a discount or a surcharge
	return w.tryUpdate(w.recentOrder, func(id uint64) string {
		return fmt.Sprintf("UPDATE %s.orders SET amount = ROUND(amount * %d / 100, 2) WHERE id = %d AND status <> 'cancelled'",
			w.q(), pct, id)
	})
}

// deleteOrder deletes a random order and its items in one transaction.
func (w *writer) deleteOrder() error {
	for range 5 {
		if w.maxOrder == 0 {
			return nil
		}
		id := 1 + w.rng.Uint64N(w.maxOrder)
		if err := w.conn.Begin(); err != nil {
			return err
		}
		r, err := w.exec(fmt.Sprintf("DELETE FROM %s.order_items WHERE order_id = %d", w.q(), id))
		if err != nil {
			w.conn.Rollback()
			return err
		}
		items := int(r.AffectedRows)
		r, err = w.exec(fmt.Sprintf("DELETE FROM %s.orders WHERE id = %d", w.q(), id))
		if err != nil {
			w.conn.Rollback()
			return err
		}
		if err := w.conn.Commit(); err != nil {
			return err
		}
		w.stats.txs++
		w.stats.deletes += items + int(r.AffectedRows)
		if r.AffectedRows > 0 {
			return nil
		}
	}
	return nil
}

func (w *writer) insertCustomer() error {
	id := w.maxCustomer + 1
	if _, err := w.exec("INSERT INTO " + w.q() + ".customers (id, name, email, country, created_at) VALUES " +
		w.customerRow(id, time.Now().UTC().Format(timeLayout))); err != nil {
		return err
	}
	w.maxCustomer = id
	w.stats.inserts++
	return nil
}

func (w *writer) updateCustomer() error {
	return w.tryUpdate(func() uint64 {
		if w.maxCustomer == 0 {
			return 0
		}
		return 1 + w.rng.Uint64N(w.maxCustomer)
	}, func(id uint64) string {
		return fmt.Sprintf("UPDATE %s.customers SET country = %s WHERE id = %d",
			w.q(), quote(countries[w.rng.IntN(len(countries))]), id)
	})
}
