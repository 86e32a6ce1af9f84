package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/exec/engine"
)

// expirySource is a source that says when its binary log at a checkpoint
// may be purged and how many rows its tables hold, as mysql.Source does.
type expirySource struct {
	*source
	expiry *mysql.Expiry
	err    error
	rows   int64

	emu   sync.Mutex
	marks []string // the checkpoints asked about
	asked chan struct{}
}

func (s *expirySource) BinlogExpiry(_ context.Context, state []byte) (*mysql.Expiry, error) {
	s.emu.Lock()
	s.marks = append(s.marks, compact(state))
	s.emu.Unlock()
	if s.asked != nil {
		select {
		case s.asked <- struct{}{}:
		default:
		}
	}
	return s.expiry, s.err
}

func (s *expirySource) TableRows(_ context.Context, refs []connectors.TableRef) (int64, error) {
	return s.rows * int64(len(refs)), nil
}

// TestBinlogWarnings: check/plan/apply warn about a checkpoint whose
// binary log is purged or soon will be, about a first snapshot longer than
// the retention, and about a source that cannot say; a source whose
// pipelines follow no binlog is not asked.
func TestBinlogWarnings(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	src := &expirySource{source: newSource(mem)}
	useVerifyConnectors(src, &verifySink{table: map[string]string{}})
	p := plan(t, newCatalog(t, "orders", "orders_2024"), `CREATE PIPELINE a
  FROM binlog shop.shopdb.orders
  TRANSFORM id
  INTO clickhouse dw.analytics.a MODE append;
CREATE PIPELINE b
  FROM binlog shop.shopdb.orders_2024 SNAPSHOT never
  TRANSFORM id
  INTO clickhouse dw.analytics.b MODE append;
`)
	dir := t.TempDir()
	day := mysql.Expiry{Retention: 24 * time.Hour, Setting: "expire_logs_days = 1", WarnWithin: 6 * time.Hour}

	// No checkpoint: the snapshot of the tables read with one (a's only:
	// twice as many rows would warn of 55h).
	src.expiry = &day
	src.rows = 20_000_000_000
	w, _ := engine.BinlogWarnings(context.Background(), p, dir)
	if len(w) != 1 || !strings.Contains(w[0], "source shop: the snapshot of about 20000000000 rows takes about 27h47m0s") {
		t.Errorf("snapshot: %q", w)
	}
	src.rows = 1000
	if w, _ := engine.BinlogWarnings(context.Background(), p, dir); len(w) != 0 {
		t.Errorf("a short snapshot: %q", w)
	}

	// A checkpoint: its mark is asked about.
	writeCheckpoint(t, dir, `{"file":"binlog.000007","pos":4}`)
	purged := day
	purged.File, purged.Purged, purged.Oldest, purged.OldestAt = "binlog.000007", true, "binlog.000009", time.Now()
	src.expiry = &purged
	// on_binlog_gap = 'fail' (the default): apply refuses it, a gap.
	w, gaps := engine.BinlogWarnings(context.Background(), p, dir)
	if len(w) != 0 || len(gaps) != 1 || gaps[0].Source.Name != "shop" || !strings.Contains(gaps[0].Text, "source shop: the checkpoint's binary log binlog.000007 was purged on the server") {
		t.Errorf("purged: %q, %v", w, gaps)
	}
	if last := src.marks[len(src.marks)-1]; last != `{"file":"binlog.000007","pos":4}` {
		t.Errorf("asked about %s", last)
	}
	later := day
	later.File, later.PurgeAt = "binlog.000007", time.Now().Add(20*time.Hour)
	src.expiry = &later
	if w, _ := engine.BinlogWarnings(context.Background(), p, dir); len(w) != 0 {
		t.Errorf("20h left of a 6h warning: %q", w)
	}

	src.err = errors.New("access denied")
	w, _ = engine.BinlogWarnings(context.Background(), p, dir)
	if len(w) != 1 || w[0] != "source shop: cannot read the binary log retention: access denied" {
		t.Errorf("error: %q", w)
	}

	if err := os.WriteFile(filepath.Join(dir, "source-shop.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, _ := engine.BinlogWarnings(context.Background(), p, dir); len(w) != 1 || !strings.HasPrefix(w[0], "source shop: ") {
		t.Errorf("a broken checkpoint: %q", w)
	}

	only := plan(t, newCatalog(t, "orders"), `CREATE PIPELINE a
  FROM binlog shop.shopdb.orders SNAPSHOT only
  TRANSFORM id
  INTO clickhouse dw.analytics.a MODE append;
`)
	n := len(src.marks)
	if w, _ := engine.BinlogWarnings(context.Background(), only, dir); len(w) != 0 || len(src.marks) != n {
		t.Errorf("SNAPSHOT only: %q, asked %d times", w, len(src.marks)-n)
	}
}

// TestRunPurgeClock: apply exports, per source, the seconds until the
// server may purge its checkpoint's binary log (0 and known once it is
// purged), asked in the background.
func TestRunPurgeClock(t *testing.T) {
	e := newEnv(t, newCatalog(t, "orders"), upsertPipeline)
	src := &expirySource{source: e.src, asked: make(chan struct{}, 1)}
	e.src.add("orders", ins(1, "new", 1))
	writeCheckpoint(t, e.dir, `{"pos":0}`)
	src.expiry = &mysql.Expiry{Retention: 24 * time.Hour, File: "binlog.000001", PurgeAt: time.Now().Add(time.Hour)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := e.opts(false)
	o.Sources = map[string]connectors.Source{"shop": src}
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, e.plan, o) }()
	<-src.asked // the check at start
	// The first answer is not known yet: it asks the server in the
	// background.
	first := true
	giveUp := time.After(time.Minute)
	for {
		var found bool
		for _, s := range e.st.Sources() {
			if s.Source != "shop" {
				continue
			}
			found = true
			if first && s.PurgeKnown {
				t.Error("the time left is known before the server was asked")
			}
			first = false
			if s.PurgeKnown {
				if s.PurgeIn <= 0 || s.PurgeIn > 3600 {
					t.Errorf("%v seconds left of an hour", s.PurgeIn)
				}
				goto known
			}
		}
		_ = found
		select {
		case <-giveUp:
			t.Fatal("the time left was never known")
		case err := <-done:
			t.Fatalf("the run ended: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
known:
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
