package mysql

import (
	"fmt"
	"testing"
)

// TestStatementRows: the tables a write logged as a statement names as
// written — an INSERT … SELECT's source, a subquery's tables and a
// multi-table DELETE's read-only tables are not; an UPDATE of a join
// names every table of it. A statement the parser refuses is not ok.
func TestStatementRows(t *testing.T) {
	for _, c := range []struct {
		q, want string
		ok      bool
	}{
		{"INSERT INTO t (a) VALUES (1)", "[d.t]", true},
		{"insert into x.t select * from d.src", "[x.t]", true},
		{"REPLACE INTO `t` SET a = 1", "[d.t]", true},
		{"UPDATE t SET a = 1 WHERE id IN (SELECT id FROM other)", "[d.t]", true},
		{"UPDATE o JOIN e.u ON o.id = u.id SET o.n = u.k", "[d.o e.u]", true},
		{"DELETE FROM t WHERE id < 3", "[d.t]", true},
		{"DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", "[d.t1]", true},
		{"DELETE FROM t1 USING t1, t2 WHERE t1.id = t2.id", "[d.t1]", true},
		{"LOAD DATA INFILE '/tmp/x' INTO TABLE t", "[d.t]", true},
		{"INSERT INTO t VALUES (1) RETURNING id", "", false},
	} {
		refs, ok := statementRows("d", c.q)
		var got []string
		for _, r := range refs {
			got = append(got, r.DB+"."+r.Table)
		}
		if ok != c.ok || ok && fmt.Sprint(got) != c.want {
			t.Errorf("statementRows(%q) = %v, %v; want %s, %v", c.q, got, ok, c.want, c.ok)
		}
	}
	for q, want := range map[string]bool{"INSERT INTO t VALUES (1)": true, "  update t set a=1": true, "DELETE FROM t": true, "LOAD DATA INFILE 'x' INTO TABLE t": true,
		"SELECT 1": false, "GRANT ALL ON *.* TO x": false, "`insert` ": false} {
		if looksLikeDML(q) != want {
			t.Errorf("looksLikeDML(%q) = %v", q, !want)
		}
	}
}
