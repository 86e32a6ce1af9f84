package lang

import (
	"strings"
	"testing"
)

// TestParseCommands: the REPL's SHOW, DESCRIBE, PLAN and HELP are parsed
// by the grammar, with their operands checked.
func TestParseCommands(t *testing.T) {
	st, err := ParseStatement("repl", "show tables from `s`.db like 'o%';")
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Show; s == nil || s.What.Name != "tables" || s.From.String() != "`s`.db" || s.Like.Value != "o%" {
		t.Errorf("SHOW TABLES: %s", Dump(st, DumpOptions{}))
	}
	if st, err = ParseStatement("repl", "DESC db.t"); err != nil || st.Describe == nil || st.Describe.Table.String() != "db.t" {
		t.Errorf("DESC: %v %v", st, err)
	}
	if st, err = ParseStatement("repl", "PLAN big_orders;"); err != nil || st.Plan == nil || st.Plan.Name.Name != "big_orders" {
		t.Errorf("PLAN: %v %v", st, err)
	}
	if st, err = ParseStatement("repl", "help;"); err != nil || st.Help == nil {
		t.Errorf("HELP: %v %v", st, err)
	}
	for in, want := range map[string]string{
		"SELECT * FROM a.b;":      `repl:1:1: "SELECT" does not begin a statement here: SHOW, DESCRIBE, FROM binlog, PLAN, CREATE SOURCE or CREATE FUNCTION (\help lists them)`,
		"SHOW;":                   "repl:1:5: SHOW what? SHOW TABLES, SHOW SOURCES, SHOW PIPELINES or SHOW FUNCTIONS",
		"SHOW TABLE;":             "repl:1:6: SHOW TABLE is not known: SHOW TABLES, SHOW SOURCES, SHOW PIPELINES or SHOW FUNCTIONS",
		"SHOW TABLES FROM a.b.c":  "repl:1:18: SHOW TABLES FROM takes a database: FROM [source.]database",
		"SHOW TABLES FROM;":       "repl:1:17: SHOW TABLES FROM takes a database: FROM [source.]database",
		"SHOW SOURCES FROM x;":    "unexpected FROM after SHOW SOURCES",
		"SHOW PIPELINES LIKE 'x'": "unexpected LIKE after SHOW PIPELINES",
		"SHOW TABLES LIKE;":       "repl:1:17: LIKE takes a pattern string: LIKE 'order%'",
		"SHOW TABLES LIKE `x`;":   "repl:1:18: LIKE takes a pattern string in single quotes: LIKE 'order%'",
		"SHOW TABLES LIKE x;":     "repl:1:18: LIKE takes a pattern string in single quotes: LIKE 'order%'",
		"DESCRIBE;":               "repl:1:9: DESCRIBE takes a table: DESCRIBE [source.]database.table",
		"DESCRIBE a.b.c.d;":       "a table name has at most 3 parts",
		"DESCRIBE a.b extra;":     `repl:1:14: unexpected "extra"`,
		"PLAN;":                   "repl:1:5: PLAN takes a pipeline name: PLAN pipeline",
	} {
		_, err := ParseStatement("repl", in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %s", in, err, want)
		}
	}
	// The command words stay valid names, and a file holds no command.
	if _, err := ParseFile("f.etl", []byte("CREATE FUNCTION show(desc INT64) RETURNS INT64 AS EXPR 'desc';")); err != nil {
		t.Errorf("command words as names: %v", err)
	}
	_, err = ParseFile("f.etl", []byte("SHOW TABLES;"))
	if err == nil || !strings.Contains(err.Error(), "f.etl:1:1: SHOW is a REPL command") {
		t.Errorf("SHOW in a file: %v", err)
	}
}

// TestTokens: the completion's view of an unfinished statement.
func TestTokens(t *testing.T) {
	var got []string
	for _, tok := range Tokens("FROM binlog `my db`.order_* -- c\n WHERE s = 'it''s' AND x IN ('ab") {
		kind := ""
		switch {
		case tok.Quoted:
			kind = "q:"
		case tok.String:
			kind = "s:"
		case tok.Name:
			kind = "n:"
		}
		got = append(got, kind+tok.Text)
	}
	want := "FROM n:binlog q:my db . n:order_* WHERE n:s = s:it's AND n:x IN ( s:ab"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if toks := Tokens("DESCRIBE a.`b"); len(toks) != 4 || toks[3].Text != "b" || !toks[0].Is("describe") {
		t.Errorf("unterminated name: %+v", toks)
	}
}
