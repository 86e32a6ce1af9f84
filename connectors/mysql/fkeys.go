package mysql

import (
	"context"
	"fmt"
	"regexp"
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
		`WHERE k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME), ` +
		`(SELECT GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR ',') FROM information_schema.KEY_COLUMN_USAGE k ` +
		`WHERE k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = rc.TABLE_NAME AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME) ` +
		`FROM information_schema.REFERENTIAL_CONSTRAINTS rc WHERE rc.CONSTRAINT_SCHEMA IN (` + strings.Join(in, ", ") + `) ` +
		`ORDER BY rc.CONSTRAINT_SCHEMA, rc.TABLE_NAME, rc.CONSTRAINT_NAME`)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("read the foreign keys: %v", err))
	}
	type fkName struct {
		child connectors.TableRef
		name  string
	}
	listed := map[fkName]bool{}
	var all []connectors.ForeignKeyAction
	for i := 0; i < r.RowNumber(); i++ {
		get := func(j int) string { v, _ := r.GetString(i, j); return v }
		child := connectors.TableRef{DB: get(0), Table: get(1)}
		if !want[child] {
			continue
		}
		listed[fkName{child, get(2)}] = true
		fk := connectors.ForeignKeyAction{Child: child, Name: get(2), Parent: connectors.TableRef{DB: get(3), Table: get(4)},
			OnDelete: get(5), OnUpdate: get(6)}
		if cols := get(7); cols != "" {
			fk.Columns = strings.Split(cols, ",")
		}
		if cols := get(8); cols != "" {
			fk.Referenced = strings.Split(cols, ",")
		}
		all = append(all, fk)
	}
	// MariaDB lists a table's foreign keys in REFERENTIAL_CONSTRAINTS only
	// to a user with a privilege on it other than SELECT: to the user the
	// docs ask for (SELECT, REPLICATION SLAVE, BINLOG MONITOR) the view is
	// empty, and check warned of nothing. KEY_COLUMN_USAGE shows the keys
	// with SELECT alone, and SHOW CREATE TABLE their actions: the keys
	// REFERENTIAL_CONSTRAINTS left out are read from there.
	k, err := c.Execute(`SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, ` +
		`GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR ','), ` +
		`GROUP_CONCAT(REFERENCED_COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR ',') FROM information_schema.KEY_COLUMN_USAGE ` +
		`WHERE TABLE_SCHEMA IN (` + strings.Join(in, ", ") + `) AND REFERENCED_TABLE_NAME IS NOT NULL ` +
		`GROUP BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME ` +
		`ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME`)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("read the foreign keys: %v", err))
	}
	actions := map[connectors.TableRef]map[string][2]string{}
	for i := 0; i < k.RowNumber(); i++ {
		get := func(j int) string { v, _ := k.GetString(i, j); return v }
		child := connectors.TableRef{DB: get(0), Table: get(1)}
		if !want[child] || listed[fkName{child, get(2)}] {
			continue
		}
		acts, ok := actions[child]
		if !ok {
			sc, err := c.Execute("SHOW CREATE TABLE " + quoteIdent(child.DB) + "." + quoteIdent(child.Table))
			if err != nil {
				return nil, ctxErr(ctx, fmt.Errorf("read the foreign keys of %s: %v", child, err))
			}
			ddl := ""
			if sc.RowNumber() > 0 {
				ddl, _ = sc.GetString(0, 1)
			}
			acts = foreignKeyClauses(ddl)
			actions[child] = acts
		}
		a, ok := acts[get(2)]
		if !ok {
			continue
		}
		fk := connectors.ForeignKeyAction{Child: child, Name: get(2), Parent: connectors.TableRef{DB: get(3), Table: get(4)},
			OnDelete: a[0], OnUpdate: a[1]}
		if cols := get(5); cols != "" {
			fk.Columns = strings.Split(cols, ",")
		}
		if cols := get(6); cols != "" {
			fk.Referenced = strings.Split(cols, ",")
		}
		all = append(all, fk)
	}
	var out []connectors.ForeignKeyAction
	for _, fk := range all {
		if connectors.ChangesRows(fk.OnDelete) || connectors.ChangesRows(fk.OnUpdate) {
			out = append(out, fk)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Child.DB != b.Child.DB {
			return a.Child.DB < b.Child.DB
		}
		if a.Child.Table != b.Child.Table {
			return a.Child.Table < b.Child.Table
		}
		return a.Name < b.Name
	})
	return out, nil
}

// fkClauseRe matches a foreign key line of SHOW CREATE TABLE: its name,
// and the ON DELETE / ON UPDATE clauses after the referenced columns.
var fkClauseRe = regexp.MustCompile("^\\s*CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY .*\\)((?: ON (?:DELETE|UPDATE) (?:CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION))*),?$")
var fkActionRe = regexp.MustCompile(` ON (DELETE|UPDATE) (CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION)`)

// foreignKeyClauses reads the foreign keys of a SHOW CREATE TABLE text:
// per constraint name, its ON DELETE and ON UPDATE rules (RESTRICT when
// the clause is left out, as information_schema says).
func foreignKeyClauses(ddl string) map[string][2]string {
	out := map[string][2]string{}
	for _, line := range strings.Split(ddl, "\n") {
		m := fkClauseRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rules := [2]string{"RESTRICT", "RESTRICT"}
		for _, a := range fkActionRe.FindAllStringSubmatch(m[2], -1) {
			if a[1] == "DELETE" {
				rules[0] = a[2]
			} else {
				rules[1] = a[2]
			}
		}
		out[strings.ReplaceAll(m[1], "``", "`")] = rules
	}
	return out
}
