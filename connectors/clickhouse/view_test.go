package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// TestViewReplaceStatements: the view is replaced with CREATE OR REPLACE
// VIEW from 19.5; before, through a side view and one RENAME; a view that
// shows the table's columns already is left alone; a missing one is
// created; side views are dropped.
func TestViewReplaceStatements(t *testing.T) {
	want := []existingColumn{{"id", "Int64"}, {"v", "Nullable(String)"}, {"_version", "UInt64"}}
	sel := " AS SELECT `id`, `v`, `_version` FROM `d`.`t` FINAL WHERE `_is_deleted` = 0"
	old := viewState{exists: true, cols: []existingColumn{{"id", "Int64"}, {"_version", "UInt64"}}}
	for _, c := range []struct {
		name string
		v    serverVersion
		vs   viewState
		want []string
	}{
		{"18.16, other columns", serverVersion{18, 16, 1}, old, []string{
			"DROP TABLE IF EXISTS `d`.`t_current__etlq_new`",
			"CREATE VIEW `d`.`t_current__etlq_new`" + sel,
			"CREATE VIEW IF NOT EXISTS `d`.`t_current`" + sel,
			"DROP TABLE IF EXISTS `d`.`t_current__etlq_old`",
			"RENAME TABLE `d`.`t_current` TO `d`.`t_current__etlq_old`, `d`.`t_current__etlq_new` TO `d`.`t_current`",
			"DROP TABLE IF EXISTS `d`.`t_current__etlq_old`",
		}},
		{"21.8, other columns", serverVersion{21, 8, 0}, old, []string{"CREATE OR REPLACE VIEW `d`.`t_current`" + sel}},
		{"19.5, other types", serverVersion{19, 5, 3}, viewState{exists: true, cols: []existingColumn{{"id", "Int32"}, {"v", "Nullable(String)"}, {"_version", "UInt64"}}},
			[]string{"CREATE OR REPLACE VIEW `d`.`t_current`" + sel}},
		{"18.16, right", serverVersion{18, 16, 1}, viewState{exists: true, cols: want}, nil},
		{"21.8, right", serverVersion{21, 8, 0}, viewState{exists: true, cols: want}, nil},
		{"18.16, right, a side view left", serverVersion{18, 16, 1}, viewState{exists: true, cols: want, sides: []string{"t_current__etlq_old"}},
			[]string{"DROP TABLE IF EXISTS `d`.`t_current__etlq_old`"}},
		{"18.16, missing, the new one left", serverVersion{18, 16, 1}, viewState{sides: []string{"t_current__etlq_new"}},
			[]string{"DROP TABLE IF EXISTS `d`.`t_current__etlq_new`", "CREATE VIEW IF NOT EXISTS `d`.`t_current`" + sel}},
		{"21.8, missing", serverVersion{21, 8, 0}, viewState{}, []string{"CREATE VIEW IF NOT EXISTS `d`.`t_current`" + sel}},
	} {
		if got := viewRepair(c.v, "d", "t", c.vs, want); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

// TestViewNeverMissingWhileReplaced: readers polling the view while a
// schema change and row copies replace it several times never find it
// missing (it was dropped, then created).
func TestViewNeverMissingWhileReplaced(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	sch := sinktest.SinkSchema(fields, false)
	tg := e.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	w := e.open(tg)
	write(t, w, e.build(sch, sysRow(1, false, "read", 1, "a")), nil)
	flush(t, w)

	view := quote(e.db) + ".kv_current"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	reads := 0
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n uint64
				err := e.conn.QueryRow(ctx, "SELECT count() FROM "+view).Scan(&n)
				mu.Lock()
				reads++
				if err != nil {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	// Columns added by DDL, each a replacement of the view.
	for i := 1; i <= 4; i++ {
		fields = append(fields, ddlField(fmt.Sprintf("c%d", i), arrow.PrimitiveTypes.Int32, true, exec.MetaAddedByDDL, "true"))
		sch = sinktest.SinkSchema(fields, false)
		row := []any{int64(1 + i), "b"}
		for j := 1; j <= i; j++ {
			row = append(row, int32(j))
		}
		write(t, w, e.build(sch, sysRow(uint64(1+i), false, "insert", row...)), nil)
		flush(t, w)
	}
	// Row copies swapped in with another column each.
	for i := 1; i <= 3; i++ {
		f := append(append([]arrow.Field(nil), fields...), arrow.Field{Name: fmt.Sprintf("x%d", i), Type: arrow.PrimitiveTypes.Int32, Nullable: true})
		s := sinktest.SinkSchema(f, false)
		cp := e.sink.CopyTarget(e.target("kv", connectors.ModeUpsert, []string{"id"}, s, nil))
		if err := e.sink.DropCopy(ctx, cp); err != nil {
			t.Fatal(err)
		}
		cw, err := e.sink.Open(ctx, cp)
		if err != nil {
			t.Fatal(err)
		}
		row := []any{int64(10 + i), "c", int32(1), int32(2), int32(3), int32(4)}
		for j := 1; j <= i; j++ {
			row = append(row, int32(j))
		}
		write(t, cw, e.build(s, sysRow(uint64(10+i), false, "read", row...)), nil)
		flush(t, cw)
		cw.Close()
		if err := e.sink.SwapCopy(ctx, tg); err != nil {
			t.Fatal(err)
		}
		fields = f
	}
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d of %d reads of the view failed, first: %s", len(errs), reads, errs[0])
	}
	if got := e.text("SELECT name FROM system.columns WHERE database = '" + e.db + "' AND table = 'kv_current'"); got != "id\nv\nc1\nc2\nc3\nc4\nx1\nx2\nx3\n_version\n" {
		t.Errorf("view columns: %q", got)
	}
	if got := e.tables(); got != "kv\nkv_current\n" {
		t.Errorf("tables: %q", got)
	}
}

// TestViewRepairedAfterStop: what a replacement of the view stopped half
// way leaves — the view with the old columns and a side view, the view
// missing with the new one aside — is repaired by the next Open and by a
// swap run again; a view that is right is left alone (no RENAME, which on
// 18.16 waits for the queries running on it).
func TestViewRepairedAfterStop(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	sch := kvSchema()
	tg := e.target("kv", connectors.ModeUpsert, []string{"id"}, sch, nil)
	w := e.open(tg)
	write(t, w, e.build(sch, sysRow(1, false, "read", 1, "a")), nil)
	flush(t, w)
	w.Close()
	d := quote(e.db)
	sel := " AS SELECT `id`, `_version` FROM " + d + ".`kv` FINAL WHERE `_is_deleted` = 0"
	check := func(step string) {
		t.Helper()
		if got := e.text("SELECT id, v FROM " + d + ".kv_current"); got != "1\ta\n" {
			t.Errorf("%s: view: %q", step, got)
		}
		if got := e.tables(); got != "kv\nkv_current\n" {
			t.Errorf("%s: tables: %q", step, got)
		}
	}
	for _, c := range []struct {
		name  string
		stmts []string
		swap  bool
	}{
		{"old view, the new one aside (Open)", []string{"DROP TABLE " + d + ".kv_current", "CREATE VIEW " + d + ".kv_current" + sel,
			"CREATE VIEW " + d + ".kv_current__etlq_new AS SELECT 1"}, false},
		{"view missing, the new one aside, the old one aside (Open)", []string{"RENAME TABLE " + d + ".kv_current TO " + d + ".kv_current__etlq_old",
			"CREATE VIEW " + d + ".kv_current__etlq_new AS SELECT 1"}, false},
		{"old view (swap)", []string{"DROP TABLE " + d + ".kv_current", "CREATE VIEW " + d + ".kv_current" + sel}, true},
		{"view missing, the old one aside (swap)", []string{"RENAME TABLE " + d + ".kv_current TO " + d + ".kv_current__etlq_old"}, true},
	} {
		for _, q := range c.stmts {
			e.exec(q)
		}
		if c.swap {
			if err := e.sink.SwapCopy(ctx, tg); err != nil {
				t.Fatal(err)
			}
		} else {
			e.open(tg).Close()
		}
		check(c.name)
	}
	// Right: Open and a swap change nothing (the view keeps its metadata
	// file's time).
	before := e.text("SELECT metadata_modification_time FROM system.tables WHERE database = '" + e.db + "' AND name = 'kv_current'")
	e.open(tg).Close()
	if err := e.sink.SwapCopy(ctx, tg); err != nil {
		t.Fatal(err)
	}
	if after := e.text("SELECT metadata_modification_time FROM system.tables WHERE database = '" + e.db + "' AND name = 'kv_current'"); after != before {
		t.Errorf("a right view was made again: %s then %s", before, after)
	}
}

// TestTableStateWhileOthersDropped: reading a table's columns while other
// tables of its database are created, renamed and dropped (another
// pipeline replacing its view through side names) does not fail:
// ClickHouse 18 answers such a read of system.columns with "table doesn't
// exist" about the other table, and one pipeline stopped on it.
func TestTableStateWhileOthersDropped(t *testing.T) {
	e := newEnv(t, nil)
	q := func(n string) string { return quote(e.db) + "." + quote(n) }
	e.exec("CREATE DATABASE " + quote(e.db))
	e.exec("CREATE TABLE " + q("stable") + " (id Int64) ENGINE = MergeTree() ORDER BY id")
	ctx, cancel := context.WithCancel(context.Background())
	churned := make(chan int)
	go func() {
		n := 0
		defer func() { churned <- n }()
		for ctx.Err() == nil {
			for _, s := range []string{
				"CREATE VIEW " + q("v_new") + " AS SELECT id FROM " + q("stable"),
				"CREATE VIEW IF NOT EXISTS " + q("v") + " AS SELECT id FROM " + q("stable"),
				"RENAME TABLE " + q("v") + " TO " + q("v_old") + ", " + q("v_new") + " TO " + q("v"),
				"DROP TABLE IF EXISTS " + q("v_old"),
			} {
				if err := e.conn.Exec(context.Background(), s); err != nil {
					t.Errorf("%s: %v", s, err)
					return
				}
			}
			n++
		}
	}()
	reads := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); reads++ {
		st, err := readTableState(context.Background(), e.conn, e.db, "stable")
		if err != nil {
			t.Errorf("read %d: %v", reads, err)
			break
		}
		if !st.exists || len(st.columns) != 1 {
			t.Errorf("read %d: %+v", reads, st)
			break
		}
		if _, err := readViewState(context.Background(), e.conn, e.db, "stable"); err != nil {
			t.Errorf("view read %d: %v", reads, err)
			break
		}
	}
	cancel()
	t.Logf("%d reads while the views were replaced %d times", reads, <-churned)
}
