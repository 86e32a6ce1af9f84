package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// fkWarnings warns, once per key at the first pipeline that follows the
// binlog of its table and naming all that do, of each foreign key whose
// ON DELETE / ON UPDATE action changes its rows (CASCADE, SET NULL,
// SET DEFAULT): those changes never reach the target, as InnoDB makes
// them and MariaDB logs no row event for them
// (connectors.ForeignKeyReader; docs/architecture.md, "What the binlog
// does not show"). Before, check said ok and the target kept the rows a
// parent's DELETE removed, silently, until verify. A source that does not
// answer is reported elsewhere (checkStreams): no warning from it.
func fkWarnings(ctx context.Context, plan *planner.Plan) lang.Errors {
	var warns lang.Errors
	for _, d := range plan.Sources {
		var tables []connectors.TableRef
		seen := map[connectors.TableRef]bool{}
		for _, p := range plan.Pipelines {
			if p.Source != d.Name || p.Snapshot == connectors.SnapshotOnly {
				continue
			}
			for _, t := range p.Tables {
				if !seen[t.Ref] {
					seen[t.Ref] = true
					tables = append(tables, t.Ref)
				}
			}
		}
		if len(tables) == 0 {
			continue
		}
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			continue
		}
		fr, ok := src.(connectors.ForeignKeyReader)
		if !ok {
			src.Close()
			continue
		}
		fks, err := fr.ForeignKeyActions(ctx, tables)
		src.Close()
		if err != nil {
			warns = append(warns, &lang.Error{Pos: d.Pos, EndPos: d.Pos, Msg: fmt.Sprintf("source %s: cannot read the tables' foreign keys (whose ON DELETE / ON UPDATE actions the binlog does not show): %v", d.Name, err)})
			continue
		}
		// One warning per key, at the first pipeline that reads its table
		// and naming every one: a key is the table's, and five pipelines
		// over sakila.payment gave its three keys fifteen warnings.
		for _, fk := range fks {
			var readers []string
			var at *planner.Pipeline
			for _, p := range plan.Pipelines {
				if p.Source != d.Name || p.Snapshot == connectors.SnapshotOnly {
					continue
				}
				for _, t := range p.Tables {
					if t.Ref == fk.Child {
						if at == nil {
							at = p
						}
						readers = append(readers, p.Name)
						break
					}
				}
			}
			if at == nil {
				continue
			}
			var rules, does []string
			if connectors.ChangesRows(fk.OnDelete) {
				rules = append(rules, "ON DELETE "+fk.OnDelete)
				does = append(does, "a DELETE of a "+fk.Parent.String()+" row "+effect(fk.OnDelete, "deletes", fk.Columns)+" its "+fk.Child.String()+" rows")
			}
			if connectors.ChangesRows(fk.OnUpdate) {
				rules = append(rules, "ON UPDATE "+fk.OnUpdate)
				does = append(does, "an UPDATE of a "+fk.Parent.String()+" key "+effect(fk.OnUpdate, "changes "+strings.Join(fk.Columns, ", ")+" of", fk.Columns)+" its "+fk.Child.String()+" rows")
			}
			who := "pipeline " + readers[0]
			if len(readers) > 1 {
				who = "pipelines " + strings.Join(readers, ", ")
			}
			warns = append(warns, &lang.Error{Pos: at.Pos, EndPos: at.Pos, Msg: fmt.Sprintf(
				"%s: %s has foreign key %s (%s) REFERENCES %s %s: the server makes the changes of that action without a row event in the binary log (%s), so the target keeps those rows as they were; run etlq verify --repair after such changes, or have the application change the %s rows itself (docs/architecture.md, \"What the binlog does not show\")",
				who, fk.Child, fk.Name, strings.Join(fk.Columns, ", "), fk.Parent, strings.Join(rules, " "), strings.Join(does, "; "), fk.Child)})
		}
	}
	return warns
}

// effect says what rule does to the child rows: verb for CASCADE, else
// the columns it sets.
func effect(rule, verb string, cols []string) string {
	switch rule {
	case "SET NULL":
		return "sets " + strings.Join(cols, ", ") + " to NULL in"
	case "SET DEFAULT":
		return "sets " + strings.Join(cols, ", ") + " to their default in"
	}
	return verb
}
