package clickhouse

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// TestWideningWhileAnotherWriterInserts: two writers of one table (two
// scale-out workers); the first keeps a long INSERT open (full batches of
// a busy stream), the second meets a column widening and runs ALTER TABLE
// … MODIFY COLUMN. The widening must complete in about the time of the
// ALTER itself, and every row must arrive. Before, on ClickHouse 18.16,
// the ALTER waited for the open INSERT and the INSERT, at its end, waited
// behind the ALTER: both hung until a timeout ended the INSERT (the
// whole scale-out group stalled ~60 s, a new-user trial). The 20 s bound
// is a hang check, not a speed assertion: the hang lasts until the
// INSERT's timeout (minutes), the ALTER alone takes well under a second.
func TestWideningWhileAnotherWriterInserts(t *testing.T) {
	for _, mode := range []connectors.Mode{connectors.ModeUpsert, connectors.ModeAppend} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, nil)
			f1 := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true}}
			s1 := sinktest.SinkSchema(f1, false)
			opts := map[string]any{"batch_rows": 10, "insert_rows": 100000, "flush_interval": "60s"}
			tg := e.target("orders", mode, []string{"id"}, s1, opts)
			w1 := e.open(tg)
			w2 := e.openSecond(t, tg)
			var a acks
			id := 0
			batch := func(w connectors.Writer, s *arrow.Schema, i int) {
				var rows [][]any
				for j := 0; j < 10; j++ {
					id++
					rows = append(rows, sysRow(uint64(id), false, "insert", int64(id), "1.50"))
				}
				write(t, w, e.build(s, rows...), a.done(i))
			}
			// w1's INSERT is open, a block sent (a full batch keeps it open).
			batch(w1, s1, 0)
			batch(w1, s1, 1)
			waitCount(t, w1.(*writer).blocks.Load, 2, 20*time.Second, "blocks sent")

			f2 := []arrow.Field{f1[0], {Name: "amount", Type: &arrow.Decimal128Type{Precision: 16, Scale: 2}, Nullable: true}}
			s2 := sinktest.SinkSchema(f2, false)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				var rows [][]any
				for j := 0; j < 3; j++ {
					rows = append(rows, sysRow(uint64(1000+j), false, "insert", int64(1000+j), "12345678901234.25"))
				}
				if err := w2.Write(ctx, e.build(s2, rows...), a.done(100)); err != nil {
					errc <- err
					return
				}
				errc <- w2.Flush(ctx)
			}()
			// w1 goes on writing meanwhile, as a busy worker does.
			for i := 2; i < 6; i++ {
				batch(w1, s1, i)
				time.Sleep(200 * time.Millisecond)
			}
			if err := <-errc; err != nil {
				t.Fatalf("the widening did not complete within 20 s (a hang: the ALTER alone takes under a second) after %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			t.Logf("widening took %v", time.Since(start).Round(time.Millisecond))
			fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer fcancel()
			if err := w1.Flush(fctx); err != nil {
				t.Fatalf("the other writer's flush: %v", err)
			}
			_, errs := a.snapshot()
			if len(errs) != 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := e.text("SELECT count(), uniqExact(id), toString(max(amount)) FROM " + quote(e.db) + ".orders"); got != "63\t63\t12345678901234.25\n" {
				t.Errorf("rows: %q", got)
			}
			if typ := e.text("SELECT type FROM system.columns WHERE database = '" + e.db + "' AND table = 'orders' AND name = 'amount'"); typ != "Nullable(Decimal(16, 2))\n" {
				t.Errorf("amount is %s", typ)
			}
		})
	}
}

// TestAlterOf: what the watch takes for an ALTER of db.orders.
func TestAlterOf(t *testing.T) {
	re := alterOf("db", "orders")
	for q, want := range map[string]bool{
		"ALTER TABLE `db`.`orders` MODIFY COLUMN `amount` Decimal(16, 2)":                      true,
		"  alter table db.orders add column x Int32":                                           true,
		"ALTER TABLE \"db\" . \"orders\" DROP COLUMN x":                                        true,
		"ALTER TABLE orders DELETE WHERE 1":                                                    true, // (its database unknown: ending early is harmless)
		"ALTER TABLE `db`.`orders2` MODIFY COLUMN a Int64":                                     false,
		"ALTER TABLE `db2`.`orders` MODIFY COLUMN a Int64":                                     false,
		"SELECT query FROM system.processes WHERE positionCaseInsensitive(query, 'alter') > 0": false,
		"INSERT INTO `db`.`orders` (id) VALUES":                                                false,
	} {
		if got := re.MatchString(q); got != want {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
}
