package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// joinTable routes the batches of a table the stream delivers without a
// route yet — one created (or renamed) under a pipeline's pattern while
// the stream runs — to each pipeline whose pattern it matches, planned for
// its schema. SNAPSHOT only pipelines take no table that joins later.
func (r *sourceRun) joinTable(ctx context.Context, b *exec.Batch) error {
	key := b.DB + "." + b.Table
	r.routes[key] = nil // looked at: an unmatched table is not looked at again
	for _, pr := range r.runs {
		if pr.p.Snapshot == connectors.SnapshotOnly {
			continue
		}
		for _, pat := range pr.p.Patterns {
			if !connectors.MatchRef(pat, connectors.TableRef{DB: b.DB, Table: b.Table}) {
				continue
			}
			sig := outputSig(pr.p)
			tp, err := pr.p.Rebind(ctx, tableSchemaOf(b))
			if err != nil {
				return fmt.Errorf("pipeline %s: table %s joined under %s: %w", pr.p.Name, key, pat, err)
			}
			if outputSig(pr.p) != sig {
				if err := pr.realign(ctx, key); err != nil {
					return err
				}
			}
			tr, err := pr.tableRunFor(tp)
			if err != nil {
				return err
			}
			pr.tables[key] = tr
			r.routes[key] = append(r.routes[key], pr)
			pr.log.Info("table joined the pipeline", "pipeline", pr.p.Name, "table", key, "pattern", pat.String(), "columns", len(tp.Output))
			break
		}
	}
	return nil
}

// outputSig is a pipeline's output columns as text (names and types), to
// tell whether planning one table again changed them.
func outputSig(p *planner.Pipeline) string {
	s := ""
	for _, c := range p.Output {
		s += c.Name + " " + c.Type.String() + ";"
	}
	return s
}

// realign plans again every table of pr but except after the pipeline's
// union output changed (a shard gained a column, or a wider type): each
// then gives the new output columns, NULL where it lacks one.
func (pr *pipeRun) realign(ctx context.Context, except string) error {
	for key, tr := range pr.tables {
		if key == except {
			continue
		}
		tp, err := pr.p.Rebind(ctx, schemaOfInput(tr.plan.Ref, tr.plan.Input))
		if err != nil {
			return fmt.Errorf("pipeline %s: %s after the change of %s: %w", pr.p.Name, key, except, err)
		}
		ntr, err := pr.tableRunFor(tp)
		if err != nil {
			return err
		}
		pr.tables[key] = ntr
	}
	return nil
}

// schemaOfInput recovers a table's schema from its source batch layout
// (exec.LayoutOf).
func schemaOfInput(ref connectors.TableRef, s *arrow.Schema) *connectors.TableSchema {
	l, _ := exec.LayoutOf(s) // (no columns when it is not a source layout)
	n := l.Columns
	ts := &connectors.TableSchema{Ref: ref}
	pk := map[int]string{}
	for i := range n {
		f := s.Field(i)
		ts.Fields = append(ts.Fields, f)
		if v, ok := f.Metadata.GetValue(exec.MetaPrimaryKey); ok {
			var k int
			fmt.Sscan(v, &k)
			pk[k] = f.Name
		}
	}
	for k := 1; pk[k] != ""; k++ {
		ts.PrimaryKey = append(ts.PrimaryKey, pk[k])
	}
	return ts
}
