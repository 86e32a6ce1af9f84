package mysql

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.ForeignKeyReader = (*Source)(nil)

// ForeignKeyActions lists the foreign keys of tables whose ON DELETE or
// ON UPDATE rule changes their rows (CASCADE, SET NULL, SET DEFAULT):
// InnoDB carries those changes out inside the storage engine, and
// MariaDB (and MySQL before 9.x) writes no row event for them, so no
// binlog reader sees the child rows deleted or changed
// (connectors.ForeignKeyReader).
func (s *Source) ForeignKeyActions(ctx context.Context, tables []connectors.TableRef) ([]connectors.ForeignKeyAction, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	want := map[connectors.TableRef]bool{}
	dbs := map[string]bool{}
	for _, t := range tables {
		want[t] = true
		dbs[t.DB] = true
	}
	var in []string
	for db := range dbs {
		in = append(in, quoteString(db))
	}
	sort.Strings(in)
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := c.Execute(`SELECT rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME, rc.UNIQUE_CONSTRAINT_SCHEMA, rc.REFERENCED_TABLE_NAME, rc.DELETE_RULE, rc.UPDATE_RULE, ` +
		`(SELECT GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR ',') FROM information_schema.KEY_COLUMN_USAGE k ` +
		`WHERE k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME) ` +
		`FROM information_schema.REFERENTIAL_CONSTRAINTS rc WHERE rc.CONSTRAINT_SCHEMA IN (` + strings.Join(in, ", ") + `) ` +
		`AND (rc.DELETE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT') OR rc.UPDATE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT')) ` +
		`ORDER BY rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME`)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("read the foreign keys: %v", err))
	}
	var out []connectors.ForeignKeyAction
	for i := 0; i < r.RowNumber(); i++ {
		get := func(j int) string { v, _ := r.GetString(i, j); return v }
		child := connectors.TableRef{DB: get(0), Table: get(1)}
		if !want[child] {
			continue
		}
		fk := connectors.ForeignKeyAction{Child: child, Name: get(2), Parent: connectors.TableRef{DB: get(3), Table: get(4)},
			OnDelete: get(5), OnUpdate: get(6)}
		if cols := get(7); cols != "" {
			fk.Columns = strings.Split(cols, ",")
		}
		out = append(out, fk)
	}
	return out, nil
}
