package lang

import (
	"testing"
)

func TestTmp(t *testing.T) {
	for _, src := range []string{
		"CREATE SOURCE a FROM mysql 'x'\nCREATE SINK b INTO clickhouse 'y';",
		"CREATE SOURCE a FROM mysql 'x",
		"CREATE SOURCE a FROM mysql 'x'; /* abc",
		"CREATE PIPELINE p FROM binlog a.b TRANSFORM x WHERE y = 1 INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE y = 1 WHERE z INTO stdout;",
		"CREATE PIPELINE p FORM binlog a.b INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b INTO stdout FORMAT jsonl MODE upsert KEY (key);",
		"CREATE PIPELINE p FROM binlog a.b WHERE a = INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE (a = 1 INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE a = 1 INTO stdout",
		"CREATE PIPELINE p FROM binlog a.b TRANSFORM a b INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b TRANSFORM a, INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b TRANSFORM a AS format INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b.c.d INTO stdout;",
		"CREATE TABLE x;",
		"SELECT 1;",
		"CREATE PIPELINE p FROM binlog a.b WHERE a = \"x\" INTO stdout;",
		"CREATE FUNCTION f(a FLOAT) RETURNS INT AS EXPR 'a';",
		"CREATE FUNCTION f(a INT) RETURNS INT AS LUA 'a';",
		"CREATE PIPELINE p FROM binlog a.b SNAPSHOT sometimes INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b INTO stdout WITH (a = b);",
		"CREATE PIPELINE p FROM binlog a.b INTO stdout LIMIT 5;",
		"FROM binlog a.b LIMIT 5;",
		"CREATE PIPELINE p FROM binlog a.b WHERE x IN () INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE t.x = 1 INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE x = INTERVAL '5' MINUTES INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE CASE x END INTO stdout;",
		"CREATE PIPELINE p INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b;",
		"CREATE PIPELINE p FROM binlog a.b WHERE x BETWEEN 1 INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE x IS 5 INTO stdout;",
		"CREATE PIPELINE p FROM binlog a.b WHERE f(1,) INTO stdout;",
		"CREATE PIPELINE p FROM binlog INTO stdout;",
		"CREATE SOURCE a FROM mysql;",
	} {
		_, err := ParseFile("f.etl", []byte(src))
		if err == nil {
			t.Logf("NO ERROR: %s", src)
			continue
		}
		t.Logf("%s\n%s", src, err.(Errors).Format([]byte(src)))
	}
}
