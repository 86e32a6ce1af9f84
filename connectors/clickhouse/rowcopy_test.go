package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestCopyTargetNames: the copy of a target is a table next to it, its
// name read back as written (back quotes), and a target of a Replicated
// engine takes no copy.
func TestCopyTargetNames(t *testing.T) {
	s, err := NewSink("dw", "clickhouse://h:9000/dflt", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"db.t":         "db|t__etlq_copy",
		"t":            "dflt|t__etlq_copy",
		"`a.b`.`c``d`": "a.b|c`d__etlq_copy",
	} {
		c := s.CopyTarget(connectors.Target{Name: name})
		db, table, err := s.splitName(c.Name)
		if got := db + "|" + table; err != nil || got != want {
			t.Errorf("%s: copy %q = %q (%v), want %q", name, c.Name, got, err, want)
		}
	}
	if why := s.CanCopy(connectors.Target{Name: "db.t"}); why != "" {
		t.Errorf("default engine: %s", why)
	}
	why := s.CanCopy(connectors.Target{Name: "db.t", Options: map[string]any{"engine": "ReplicatedReplacingMergeTree('/ch/{shard}/t', '{replica}', _version)"}})
	if !strings.Contains(why, "ZooKeeper") {
		t.Errorf("replicated engine: %q", why)
	}
}

// TestRowCopyWhileUnreachable (issue #12): ClickHouse cut off right before
// the swap of a copy (a rebuild, a row copy) and back after 3 s. The swap,
// and the copy maintenance around it (whether a copy exists, dropping one,
// creating one: Open), wait for it and finish, as inserts do, instead of
// failing. (Failed before: SwapCopy returned "connection refused".)
func TestRowCopyWhileUnreachable(t *testing.T) {
	base := newEnv(t, nil)
	s, p := base.proxied(map[string]any{"dial_timeout": "300ms", "max_backoff": "200ms"})
	ctx := context.Background()
	sch := kvSchema()
	tg := base.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	cp := s.CopyTarget(tg)
	for _, x := range []struct {
		tg   connectors.Target
		rows [][]any
	}{
		{tg, [][]any{sysRow(1, false, "read", 1, "old"), sysRow(1, false, "read", 2, "old")}},
		{cp, [][]any{sysRow(2, false, "read", 1, "new"), sysRow(2, false, "read", 2, "new"), sysRow(2, false, "read", 3, "new")}},
	} {
		w, err := s.Open(ctx, x.tg)
		if err != nil {
			t.Fatal(err)
		}
		var a acks
		write(t, w, base.build(sch, x.rows...), a.done(0))
		flush(t, w)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Each step starts with ClickHouse cut off and must wait until it is
	// back: the swap 3 s, the others 1 s.
	for _, step := range []struct {
		name string
		away time.Duration
		do   func() error
	}{
		{"swap", 3 * time.Second, func() error { return s.SwapCopy(ctx, tg) }},
		{"copy exists", time.Second, func() error {
			if ok, err := s.CopyExists(ctx, tg); err != nil || ok {
				return fmt.Errorf("%v, %v, want false", ok, err)
			}
			return nil
		}},
		// What a rebuild does next: a fresh copy.
		{"drop copy", time.Second, func() error { return s.DropCopy(ctx, tg) }},
		{"open copy", time.Second, func() error {
			w, err := s.Open(ctx, cp)
			if err != nil {
				return err
			}
			return w.Close()
		}},
	} {
		p.cut()
		errs := make(chan error, 1)
		go func() { errs <- step.do() }()
		select {
		case err := <-errs:
			t.Fatalf("%s returned while ClickHouse was unreachable: %v", step.name, err)
		case <-time.After(step.away):
		}
		p.restore()
		if err := <-errs; err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
	}
	if got := base.text("SELECT id, v FROM " + quote(base.db) + ".kv_current ORDER BY id"); got != "1\tnew\n2\tnew\n3\tnew\n" {
		t.Errorf("target after the swap: %q", got)
	}
	s.awaitDrops(time.Minute)
	if got := base.tables(); got != "kv\nkv__etlq_copy\nkv__etlq_copy_current\nkv_current\n" {
		t.Errorf("tables after the swap: %q", got)
	}
}

// TestSwapCopyAfterHalfRename: a swap stopped between the two renames of
// its RENAME TABLE (ClickHouse before 20 renames one pair after the other;
// a cut connection leaves the outcome unknown) is finished when run again:
// the copy takes the target's place, the old table is not dropped first
// with the target's rows while the copy is not in place yet.
func TestSwapCopyAfterHalfRename(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	sch := kvSchema()
	tg := e.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	cp := e.sink.CopyTarget(tg)
	for _, x := range []struct {
		tg connectors.Target
		v  string
	}{{tg, "old"}, {cp, "new"}} {
		w := e.open(x.tg)
		var a acks
		write(t, w, e.build(sch, sysRow(1, false, "read", 1, x.v)), a.done(0))
		flush(t, w)
	}
	e.exec("RENAME TABLE " + quote(e.db) + ".kv TO " + quote(e.db) + ".kv" + oldSuffix)
	if err := e.sink.SwapCopy(ctx, tg); err != nil {
		t.Fatal(err)
	}
	if got := e.text("SELECT id, v FROM " + quote(e.db) + ".kv_current ORDER BY id"); got != "1\tnew\n" {
		t.Errorf("target after the swap: %q", got)
	}
	if got := e.tables(); got != "kv\nkv_current\n" {
		t.Errorf("tables after the swap: %q", got)
	}
}

// TestSwapDoesNotWaitForTheOldTablesDrop: the table a swap puts aside is
// dropped in the background. ClickHouse took 11–34 s to drop one of ~2,300
// parts (a trial: etlq behind after a restart, an online schema change's
// cut-over), and every pipeline of the source wrote nothing meanwhile. Here
// the drop is held (dropOldHook) while the swap must return, the new table
// take rows, and a second swap of the same table wait for the first drop
// (it reuses the name); Close waits for the drops.
func TestSwapDoesNotWaitForTheOldTablesDrop(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	sch := kvSchema()
	tg := e.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	fill := func(x connectors.Target, id int, v string) {
		w := e.open(x)
		var a acks
		write(t, w, e.build(sch, sysRow(uint64(id), false, "read", id, v)), a.done(0))
		flush(t, w)
	}
	release := make(chan struct{})
	held := make(chan string, 2)
	dropOldHook = func(table string) {
		held <- table
		<-release
	}
	defer func() { dropOldHook = nil }()

	fill(tg, 1, "old")
	fill(e.sink.CopyTarget(tg), 1, "new")
	if err := e.sink.SwapCopy(ctx, tg); err != nil {
		t.Fatal(err)
	}
	if got := <-held; got != e.db+".kv"+oldSuffix {
		t.Errorf("dropped in the background: %s", got)
	}
	// The swap has returned with the drop held: the target is the copy
	// and takes rows.
	fill(tg, 2, "after")
	if got := e.text("SELECT id, v FROM " + quote(e.db) + ".kv_current ORDER BY id"); got != "1\tnew\n2\tafter\n" {
		t.Errorf("target after the swap: %q", got)
	}
	// A second swap waits for the first drop.
	fill(e.sink.CopyTarget(tg), 3, "second")
	second := make(chan error, 1)
	go func() { second <- e.sink.SwapCopy(ctx, tg) }()
	select {
	case err := <-second:
		t.Fatalf("the second swap did not wait for the first one's drop: %v", err)
	case <-time.After(time.Second):
	}
	release <- struct{}{}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	<-held
	release <- struct{}{}
	if got := e.text("SELECT id, v FROM " + quote(e.db) + ".kv_current ORDER BY id"); got != "3\tsecond\n" {
		t.Errorf("target after the second swap: %q", got)
	}
	if got := e.tables(); got != "kv\nkv_current\n" {
		t.Errorf("tables after the drops: %q", got)
	}
}
