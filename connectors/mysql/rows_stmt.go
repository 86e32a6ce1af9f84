package mysql

import (
	"strings"
	"unicode/utf8"

	"github.com/etlq/etlq/connectors"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Statement-based writes (docs/schema-changes.md, "Writes logged as
// statements, XA rollbacks"):
// a session with binlog_format = STATEMENT (SET SESSION, which tools such
// as pt-table-checksum do) or MIXED (the server's default on MariaDB, set
// globally after etlq started: sessions opened since log that way) logs
// its INSERT, UPDATE, DELETE, REPLACE and LOAD DATA as the statement's
// text, with no row event. So does MariaDB when it empties a MEMORY table
// at its start ("DELETE FROM t"). The rows those statements changed were
// dropped without a word: no row event names them. They are now tables
// whose rows a statement changed without row events, as after ALTER TABLE
// … TRUNCATE PARTITION (rows_ddl.go): read again in place where the
// targets allow it, a WARN naming what the targets keep where not, and
// a WARN, once a stream, saying the server must log in ROW format.

// dmlVerbs are the first words of the statements statementRows parses.
var dmlVerbs = map[string]bool{"INSERT": true, "REPLACE": true, "UPDATE": true, "DELETE": true, "LOAD": true}

// looksLikeDML reports whether q starts as a statement that writes rows.
func looksLikeDML(q string) bool {
	w := ddlWords(q)
	return len(w) > 0 && !w[0].quoted && dmlVerbs[strings.ToUpper(w[0].text)]
}

// statementRows returns the tables whose rows the statement q (default
// database db), logged as a statement, writes; ok is false when q cannot
// be parsed (the tables are then unknown). An UPDATE or a DELETE of
// several tables names every table it joins (any may be written).
func statementRows(db, q string) (refs []connectors.TableRef, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			refs, ok = nil, false
		}
	}()
	stmts, _, err := parser.New().Parse(q, "", "")
	if err != nil {
		if q2 := stripMariaDBClauses(q); q2 != q {
			stmts, _, err = parser.New().Parse(q2, "", "")
		}
		if err != nil {
			return nil, false
		}
	}
	seen := map[connectors.TableRef]bool{}
	add := func(n ast.Node) {
		if n == nil {
			return
		}
		c := &tableNames{}
		n.Accept(c)
		for _, t := range c.names {
			if r := refOf(db, t); !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
	}
	for _, s := range stmts {
		switch n := s.(type) {
		case *ast.InsertStmt:
			if n.Table != nil {
				add(n.Table)
			}
		case *ast.UpdateStmt:
			if n.TableRefs != nil {
				add(n.TableRefs)
			}
		case *ast.DeleteStmt:
			switch {
			case n.IsMultiTable && n.Tables != nil:
				add(n.Tables)
			case n.TableRefs != nil:
				add(n.TableRefs)
			}
		case *ast.LoadDataStmt:
			if n.Table != nil {
				add(n.Table)
			}
		}
	}
	return refs, true
}

// tableNames collects the table names of an AST, outside subqueries
// (which are read, not written).
type tableNames struct{ names []*ast.TableName }

func (c *tableNames) Enter(n ast.Node) (ast.Node, bool) {
	switch t := n.(type) {
	case *ast.SubqueryExpr, *ast.SelectStmt, *ast.SetOprStmt:
		return n, true
	case *ast.TableName:
		c.names = append(c.names, t)
	}
	return n, false
}

func (c *tableNames) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// statementWrite handles q, a statement that writes rows logged as a
// statement at position at: the streamed tables it names are read again
// in place (rereadChanged); one it cannot be parsed for gets a WARN when
// its text names a streamed table.
func (r *binlogReader) statementWrite(schema, q string, at binlogPos) {
	refs, ok := statementRows(schema, q)
	if !ok {
		// Unparsed: every streamed table whose name is a word of it.
		words := map[string]bool{}
		for _, w := range ddlWords(q) {
			words[strings.ToLower(w.text)] = true
		}
		for ref, ts := range r.tabs.byRef {
			if !ts.gone && words[strings.ToLower(ref.Table)] {
				refs = append(refs, ref)
			}
		}
	}
	var changes []rowsChange
	for _, ref := range refs {
		if ts := r.tabs.byRef[ref]; ts != nil && !ts.gone {
			changes = append(changes, rowsChange{ref: ref, why: "a write logged as a statement (binlog_format STATEMENT or MIXED in its session): " + clip(q, 200)})
		}
	}
	if len(changes) == 0 {
		return
	}
	if !r.warnedStatement {
		r.warnedStatement = true
		r.cfg.log.Warn("the server logged a write to a streamed table as a statement, not as row events: a session with binlog_format = STATEMENT or MIXED (SET GLOBAL binlog_format = 'ROW' and reconnect the writers; tools such as pt-table-checksum set it per session). Each such table is read again, or its targets keep what the statement changed (the WARN that follows says which)",
			"position", at.String(), "statement", clip(q, 200))
	}
	r.rereadChanged(changes, at)
}

// clip returns s cut to n bytes with an ellipsis.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
