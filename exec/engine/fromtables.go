package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// fromTablesFile is where the tables each pipeline of a source read in
// the last run are kept: a table an edit of FROM leaves out is noticed
// at the next start (tablesLeftFrom).
func fromTablesFile(dir, source string) string {
	return filepath.Join(dir, "tables-"+source+".json")
}

// loadFromTables reads the tables (pipeline → "db.table" names) the last
// run of source kept; none when it kept none (an older etlq's state).
func loadFromTables(dir, source string) (map[string][]string, error) {
	return loadKept[map[string][]string](fromTablesFile(dir, source), "the tables")
}

// loadKept reads a state file a run keeps for the next (per pipeline:
// its definition, tables, target, SNAPSHOT) into a T; the zero T when
// there is none (an older etlq's state directory). A file that is not
// such JSON fails, naming what the next run keeps anew once it is
// removed.
func loadKept[T any](path, what string) (T, error) {
	var t T
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(data, &t); err != nil {
		var zero T
		return zero, fmt.Errorf("%s is damaged (remove it: the next run keeps %s anew): %v", path, what, err)
	}
	return t, nil
}

// saveFromTables keeps the tables of this run's pipelines over those of
// the last run (a pipeline that runs alone keeps its own).
func saveFromTables(dir, source string, pipes []*planner.Pipeline) error {
	t, err := loadFromTables(dir, source)
	if err != nil || t == nil {
		t = map[string][]string{}
	}
	for _, p := range pipes {
		var names []string
		for _, tp := range p.Tables {
			names = append(names, tp.Ref.String())
		}
		sort.Strings(names)
		t[p.Name] = names
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(fromTablesFile(dir, source), data)
}

// tablesLeftFrom returns the tables of old (the pipeline's tables in the
// last run) that p's FROM no longer names nor matches: FROM was edited
// (`FROM binlog shop.order_items, shop.order_2*` → `FROM binlog
// shop.order_2*`) or its pattern changed. A table that still matches but
// is not among p's tables was dropped at the source: the stream says what
// became of it (docs/live-tables.md), so it is not one of these.
func tablesLeftFrom(p *planner.Pipeline, old []string) []string {
	now := map[string]bool{}
	for _, tp := range p.Tables {
		now[tp.Ref.String()] = true
	}
	var out []string
	for _, n := range old {
		if now[n] {
			continue
		}
		db, table, ok := strings.Cut(n, ".")
		if !ok {
			continue
		}
		ref, matched := connectors.TableRef{DB: db, Table: table}, false
		for _, pat := range p.Patterns {
			if connectors.MatchRef(pat, ref) {
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, n)
		}
	}
	return out
}

// leftTable is a table that left a pipeline's FROM since the last run
// (tablesLeftFrom).
type leftTable struct {
	p     *planner.Pipeline
	table string
}

// removable reports whether apply removes the table's rows from the
// pipeline's target at start: an upsert ClickHouse target whose rows say
// their table (a _table output column), as a TRUNCATE of the table would
// (truncate.go). It returns the Where of that removal.
func (l leftTable) removable() (map[string]string, bool) {
	p := l.p
	if p.Target.Mode != connectors.ModeUpsert || p.SinkKind != "clickhouse" || len(p.Tables) == 0 {
		return nil, false
	}
	col := pickColumn(p.Tables[0], exec.ColTable)
	if col == "" {
		return nil, false
	}
	db, table, _ := strings.Cut(l.table, ".")
	where := map[string]string{col: table}
	if c := pickColumn(p.Tables[0], exec.ColDB); c != "" {
		where[c] = db
	}
	return where, true
}

// note says what becomes of the rows the table wrote into the
// pipeline's target: removed by apply (removable), or left there, and
// how to remove them.
func (l leftTable) note() string {
	p := l.p
	head := fmt.Sprintf("pipeline %s no longer reads %s (FROM changed since the last run): ", p.Name, l.table)
	if p.Target.Mode != connectors.ModeUpsert {
		return head + "the changes it wrote stay in the target " + p.Target.Name + " (MODE " + p.Target.Mode.String() + " keeps every change)"
	}
	if where, ok := l.removable(); ok {
		var conds []string
		for c, v := range where {
			conds = append(conds, fmt.Sprintf("%s = '%s'", c, v))
		}
		sort.Strings(conds)
		return head + fmt.Sprintf("apply removes its rows from the target %s (the rows with %s), as a DROP TABLE of it would", p.Target.Name, strings.Join(conds, " AND "))
	}
	return head + fmt.Sprintf("its rows stay in the target %s, which cannot tell them apart from the other tables' (no _table output column): drop the target and run apply again, which makes it anew and reads the pipeline's tables into it (or etlq resnapshot %s after emptying it)", p.Target.Name, p.Name)
}

// fromChanges returns, for the pipelines of pipes that the last run of
// source ran (known), the tables that left their FROM since.
func fromChanges(dir, source string, pipes []*planner.Pipeline, known map[string]bool) ([]leftTable, error) {
	old, err := loadFromTables(dir, source)
	if err != nil || old == nil {
		return nil, err
	}
	var out []leftTable
	for _, p := range pipes {
		if !known[p.Name] {
			continue
		}
		for _, t := range tablesLeftFrom(p, old[p.Name]) {
			out = append(out, leftTable{p: p, table: t})
		}
	}
	return out, nil
}

// removeLeftTables removes from their targets the rows of the tables that
// left their pipeline's FROM (removable), tombstones above every version
// the target holds, and waits for them; it warns of the others.
func (r *sourceRun) removeLeftTables(ctx context.Context, left []leftTable) error {
	for _, l := range left {
		where, ok := l.removable()
		var pr *pipeRun
		for _, x := range r.runs {
			if x.p == l.p {
				pr = x
			}
		}
		t, isT := pr.writer.(connectors.Truncater)
		vr, isV := pr.writer.(connectors.VersionReader)
		if !ok || !isT || !isV {
			if l.p.Target.Mode == connectors.ModeUpsert {
				r.opts.Log.Warn(l.note())
			} else {
				r.opts.Log.Info(l.note())
			}
			continue
		}
		v, err := vr.MaxVersion(ctx)
		if err != nil {
			return fmt.Errorf("pipeline %s: %w", l.p.Name, err)
		}
		db, table, _ := strings.Cut(l.table, ".")
		done := make(chan error, 1)
		if err := t.Truncate(ctx, connectors.Truncation{Table: connectors.TableRef{DB: db, Table: table}, Version: v + 1, Where: where},
			func(err error) { done <- err }); err != nil {
			return fmt.Errorf("pipeline %s: %w", l.p.Name, err)
		}
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("pipeline %s: removing the rows of %s, which left its FROM: %w", l.p.Name, l.table, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		r.opts.Log.Info(l.note(), "pipeline", l.p.Name, "table", l.table)
	}
	return nil
}
