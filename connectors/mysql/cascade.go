package mysql

import (
	"context"
	"strings"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Foreign-key cascades (docs/schema-changes.md, "Foreign-key cascades"):
// MariaDB and MySQL do not log what InnoDB does for a foreign key's ON
// DELETE CASCADE / SET NULL or ON UPDATE CASCADE / SET NULL: the binlog
// has the parent's row event, and none for the child rows the server
// deleted or changed with it. A streamed child table's targets kept
// those rows, silently. The stream now knows the cascading foreign keys
// of the server (loadCascades, at the open; again after a DDL) and, at a
// delete from a parent — or an update of one, for ON UPDATE rules —
// WARNs that the streamed child's targets keep what the cascade changed,
// naming the position and what to run: once a minute per foreign key at most,
// with the count since the last WARN.

// cascadeFK is a foreign key of a child table whose rule changes the
// child's rows when the parent's change.
type cascadeFK struct {
	child            connectors.TableRef
	name             string
	onDelete, onUpdt string // the rules, "" when RESTRICT or NO ACTION
}

// cascadeKey names a foreign key: its child table and its name.
type cascadeKey struct {
	child connectors.TableRef
	name  string
}

// cascadeWarn is the WARN state of one foreign key.
type cascadeWarn struct {
	last  time.Time
	count int
}

// loadCascades reads the cascading foreign keys of the streamed tables
// refs, by parent table, as etlq check does (ForeignKeyActions: MariaDB
// hides REFERENTIAL_CONSTRAINTS from a user with SELECT alone, the grants
// the docs ask for); nil when it cannot (the stream goes on without the
// WARNs).
func loadCascades(ctx context.Context, s *Source, refs []connectors.TableRef) map[connectors.TableRef][]cascadeFK {
	fks, err := s.ForeignKeyActions(ctx, refs)
	if err != nil {
		return nil
	}
	rule := func(r string) string {
		if connectors.ChangesRows(r) {
			return r
		}
		return ""
	}
	out := map[connectors.TableRef][]cascadeFK{}
	for _, fk := range fks {
		out[fk.Parent] = append(out[fk.Parent], cascadeFK{child: fk.Child, name: fk.Name, onDelete: rule(fk.OnDelete), onUpdt: rule(fk.OnUpdate)})
	}
	return out
}

// streamedRefs are the refs of the tables the stream reads the binlog of.
func streamedRefs(tabs map[connectors.TableRef]*tableState) []connectors.TableRef {
	var refs []connectors.TableRef
	for ref, ts := range tabs {
		if !ts.gone && ts.mode != connectors.SnapshotOnly {
			refs = append(refs, ref)
		}
	}
	return refs
}

// noteCascade WARNs, for a rows event of kind kind on table ref at
// position at, of the streamed child tables whose rows a foreign key's
// rule changed without row events.
func (r *binlogReader) noteCascade(ref connectors.TableRef, kind replication.EnumRowsEventType, at binlogPos) {
	fks := r.cfg.cascades[ref]
	if len(fks) == 0 {
		return
	}
	for _, fk := range fks {
		rule, what := fk.onDelete, "ON DELETE"
		if kind == replication.EnumRowsEventTypeUpdate {
			// (An update that leaves the referenced columns alone
			// cascades nothing; the parent's columns are not compared
			// here, so the WARN says "may".)
			rule, what = fk.onUpdt, "ON UPDATE"
		} else if kind != replication.EnumRowsEventTypeDelete {
			continue
		}
		ts := r.tabs.byRef[fk.child]
		if rule == "" || ts == nil || ts.gone || ts.mode == connectors.SnapshotOnly {
			continue
		}
		if r.cascadeWarned == nil {
			r.cascadeWarned = map[cascadeKey]*cascadeWarn{}
		}
		key := cascadeKey{fk.child, fk.name}
		w := r.cascadeWarned[key]
		if w == nil {
			w = &cascadeWarn{}
			r.cascadeWarned[key] = w
		}
		w.count++
		if !w.last.IsZero() && time.Since(w.last) < time.Minute {
			continue
		}
		verb := "deleted or changed"
		if what == "ON UPDATE" {
			verb = "may have changed"
		}
		r.cfg.log.Warn(ts.key+": the foreign key "+fk.name+" ("+what+" "+rule+") "+verb+" rows of it with a change of "+ref.String()+", and the server logs no row event for what a foreign key does: the table's targets keep those rows as they were. Run etlq verify --repair on it (upsert targets) to mend them",
			"table", ts.key, "parent", ref.String(), "position", at.String(), "parent_changes", w.count)
		w.last, w.count = time.Now(), 0
	}
}

// reloadCascades reads the cascading foreign keys again after DDL q when
// it may have made, dropped or moved one (a foreign key clause, a drop or
// a rename of a table that has them), as the server has them now.
func (r *binlogReader) reloadCascades(q string) {
	u := strings.ToUpper(q)
	if !strings.Contains(u, "REFERENCES") && !strings.Contains(u, "FOREIGN KEY") && (len(r.cfg.cascades) == 0 || !strings.Contains(u, "DROP") && !strings.Contains(u, "RENAME")) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m := loadCascades(ctx, r.cfg.src, streamedRefs(r.tabs.byRef)); m != nil {
		r.cfg.cascades = m
		r.cascadeIDs = nil // (table maps come again in every transaction)
	}
}
