package mysql

import (
	"strconv"
	"strings"

	"github.com/etlq/etlq/connectors"
)

// This file is the plain word scanner of DDL text: it strips MariaDB
// clauses the parser does not know before a second try, and, for a
// statement the parser still rejects, tells whether it is DDL and which
// tables it changes (ddl_binlog.go marks those stale).

// stripMariaDBClauses removes MariaDB-only clauses that change no schema
// so that the statement parses: WAIT n, NOWAIT, ALTER ONLINE, CREATE OR
// REPLACE (a create for the schema), ALGORITHM = NOCOPY, a column's
// INVISIBLE (its values are in the binlog's rows all the same). It also
// writes MariaDB's UUID, INET6 and INET4 column types as BINARY of a length
// no BINARY column can have (fixedBinStandIn), which typeOf turns back.
func stripMariaDBClauses(q string) string {
	toks := ddlWords(q)
	type span struct {
		from, to int
		with     string
	}
	var cut []span
	word := func(i int, w string) bool {
		return i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].text, w)
	}
	for i := 0; i < len(toks); i++ {
		switch {
		case !toks[i].quoted && fixedBinStandIn[strings.ToLower(toks[i].text)] != "" && isColumnType(toks, i):
			cut = append(cut, span{toks[i].start, toks[i].end, fixedBinStandIn[strings.ToLower(toks[i].text)]})
		case word(i, "INVISIBLE"):
			cut = append(cut, span{toks[i].start, toks[i].end, ""})
		case word(i, "NOWAIT"):
			cut = append(cut, span{toks[i].start, toks[i].end, ""})
		case word(i, "WAIT") && i+1 < len(toks):
			if _, err := strconv.ParseFloat(toks[i+1].text, 64); err == nil {
				cut = append(cut, span{toks[i].start, toks[i+1].end, ""})
				i++
			}
		case i == 1 && word(0, "ALTER") && word(1, "ONLINE"):
			cut = append(cut, span{toks[i].start, toks[i].end, ""})
		case i == 1 && word(0, "CREATE") && word(1, "OR") && word(2, "REPLACE"):
			cut = append(cut, span{toks[1].start, toks[2].end, ""})
			i = 2
		case word(i, "ALGORITHM"):
			j := i + 1
			if j < len(toks) && toks[j].text == "=" {
				j++
			}
			if j >= len(toks) {
				continue
			}
			from, to := toks[i].start, toks[j].end
			if i > 0 && toks[i-1].text == "," {
				from = toks[i-1].start
			} else if j+1 < len(toks) && toks[j+1].text == "," {
				to = toks[j+1].end
			}
			cut = append(cut, span{from, to, ""})
			i = j
		}
	}
	var b strings.Builder
	last := 0
	for _, c := range cut {
		b.WriteString(q[last:c.from])
		b.WriteByte(' ')
		b.WriteString(c.with)
		last = c.to
	}
	b.WriteString(q[last:])
	return b.String()
}

// fixedBinStandIn is the type the parser is given for a MariaDB type it
// does not know: BINARY longer than BINARY's 255 bytes, so that no real
// column is taken for one (fixedBinOf reads it back).
var fixedBinStandIn = map[string]string{"uuid": "BINARY(16016)", "inet6": "BINARY(16006)", "inet4": "BINARY(16004)"}

// fixedBinOf returns the MariaDB type a fixedBinStandIn length stands for.
func fixedBinOf(flen int) string {
	return map[int]string{16016: "uuid", 16006: "inet6", 16004: "inet4"}[flen]
}

// isColumnType reports whether word i, a type name, is where a column
// definition has its type: after the column's name (a name, not a keyword
// such as COLUMN, DROP or AFTER that also precede names), and followed by
// what may follow a type, not by "(" (UUID() is a function).
func isColumnType(toks []ddlWord, i int) bool {
	if i == 0 {
		return false
	}
	prev := toks[i-1]
	if !prev.quoted {
		if !isWordByte(prev.text[0]) {
			return false
		}
		switch strings.ToUpper(prev.text) {
		case "COLUMN", "DROP", "ADD", "CHANGE", "MODIFY", "AFTER", "FIRST", "BY", "KEY", "INDEX", "TO", "TABLE",
			"EXISTS", "ON", "AS", "DEFAULT", "SET", "ALTER", "RENAME", "REFERENCES", "USING", "WITH":
			return false
		}
	}
	if i+1 == len(toks) {
		return true
	}
	switch strings.ToUpper(toks[i+1].text) {
	case ",", ")", ";", "NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "KEY", "COMMENT", "AFTER", "FIRST",
		"INVISIBLE", "CHECK", "REFERENCES", "AS", "GENERATED", "CONSTRAINT":
		return !toks[i+1].quoted
	}
	return false
}

// ddlWord is one word of a statement outside comments and strings.
type ddlWord struct {
	text       string
	start, end int
	quoted     bool // `name`
}

// ddlWords splits q into words and punctuation, skipping comments (but not
// the text of executable /*!…*/ comments) and string literals.
func ddlWords(q string) []ddlWord {
	var out []ddlWord
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(q[i:], "-- ")):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case strings.HasPrefix(q[i:], "/*!") || strings.HasPrefix(q[i:], "/*M!"):
			// Executable comment: its version digits are skipped, its
			// text is read.
			i += 3
			if q[i-1] == 'M' {
				i++
			}
			for i < len(q) && q[i] >= '0' && q[i] <= '9' {
				i++
			}
		case strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return out
			}
			i += j + 4
		case strings.HasPrefix(q[i:], "*/"):
			i += 2
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, ddlWord{text: "''", start: i, end: min(j+1, len(q))})
			i = j + 1
		case c == '`':
			j := i + 1
			var b strings.Builder
			for j < len(q) {
				if q[j] == '`' {
					if j+1 < len(q) && q[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(q[j])
				j++
			}
			out = append(out, ddlWord{text: b.String(), start: i, end: min(j+1, len(q)), quoted: true})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			out = append(out, ddlWord{text: q[i:j], start: i, end: j})
			i = j
		default:
			out = append(out, ddlWord{text: q[i : i+1], start: i, end: i + 1})
			i++
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// looksLikeDDL reports whether q, with comments skipped, starts with a
// statement that may change a table's schema. It is the fallback test for
// statements the parser rejects.
func looksLikeDDL(q string) bool {
	w := ddlWords(q)
	if len(w) == 0 || w[0].quoted {
		return false
	}
	switch strings.ToUpper(w[0].text) {
	case "ALTER", "CREATE", "DROP", "RENAME", "TRUNCATE":
		return true
	}
	return false
}

// ddlOnTable reports whether q, a statement the parser rejects, creates,
// alters, renames, drops or truncates a table — not a trigger, view,
// routine, event, index, user or database, whose text may name tables
// without changing them (a trigger body inserting into one).
func ddlOnTable(q string) bool {
	w := ddlWords(q)
	if len(w) == 0 || w[0].quoted {
		return false
	}
	if strings.EqualFold(w[0].text, "TRUNCATE") {
		return true
	}
	for i, t := range w {
		if i > 12 || t.quoted {
			break
		}
		switch strings.ToUpper(t.text) {
		case "TABLE":
			return true
		case "TRIGGER", "PROCEDURE", "FUNCTION", "VIEW", "EVENT", "INDEX", "USER", "ROLE", "DATABASE", "SCHEMA",
			"SEQUENCE", "SERVER", "TABLESPACE", "PACKAGE", "LOGFILE", "AGGREGATE", "SPATIAL", "FULLTEXT", "UNIQUE":
			return false
		}
	}
	return false
}

// ddlTargets returns the tables a statement the parser rejects changes, as
// far as its words tell: the name after TABLE [IF [NOT] EXISTS], further
// names of DROP and RENAME TABLE, and the new name of ALTER TABLE …
// RENAME [TO]. A table only referenced (a foreign key, LIKE, a SELECT) is
// not one.
func ddlTargets(db, q string) []connectors.TableRef {
	w := ddlWords(q)
	name := func(i int) (connectors.TableRef, int, bool) {
		if i >= len(w) || (!w[i].quoted && !isWordByte(w[i].text[0])) {
			return connectors.TableRef{}, i, false
		}
		if i+2 < len(w) && w[i+1].text == "." {
			return connectors.TableRef{DB: w[i].text, Table: w[i+2].text}, i + 3, true
		}
		return connectors.TableRef{DB: db, Table: w[i].text}, i + 1, true
	}
	is := func(i int, kw string) bool { return i < len(w) && !w[i].quoted && strings.EqualFold(w[i].text, kw) }
	var out []connectors.TableRef
	first := -1
	for i := 0; i < len(w) && i < 13; i++ {
		if is(i, "TABLE") {
			first = i + 1
			break
		}
	}
	if first < 0 {
		if is(0, "TRUNCATE") {
			first = 1
		} else {
			return nil
		}
	}
	for is(first, "IF") || is(first, "NOT") || is(first, "EXISTS") {
		first++
	}
	ref, i, ok := name(first)
	if !ok {
		return nil
	}
	out = append(out, ref)
	switch {
	case is(0, "DROP") || is(0, "RENAME"):
		for i < len(w) && (w[i].text == "," || is(i, "TO")) {
			if ref, i, ok = name(i + 1); !ok {
				break
			}
			out = append(out, ref)
		}
	case is(0, "ALTER"):
		for j := i; j < len(w); j++ {
			if is(j, "RENAME") && !is(j+1, "COLUMN") && !is(j+1, "INDEX") && !is(j+1, "KEY") {
				k := j + 1
				if is(k, "TO") || is(k, "AS") {
					k++
				}
				if r, _, ok := name(k); ok {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// mentionedTables returns the refs among candidates that the words of q
// name, qualified or not (unqualified names resolve against db). It is how
// a statement the parser rejects is matched to the stream's tables.
func mentionedTables(db, q string, candidates []connectors.TableRef) []connectors.TableRef {
	w := ddlWords(q)
	seen := map[connectors.TableRef]bool{}
	var out []connectors.TableRef
	for i, t := range w {
		if t.text == "." {
			continue
		}
		ref := connectors.TableRef{DB: db, Table: t.text}
		if i+2 < len(w) && w[i+1].text == "." {
			continue // the database part of db.table
		}
		if i >= 2 && w[i-1].text == "." {
			ref.DB = w[i-2].text
		}
		for _, c := range candidates {
			if !seen[c] && strings.EqualFold(c.DB, ref.DB) && strings.EqualFold(c.Table, ref.Table) {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// abbreviate shortens s to at most n bytes for messages.
func abbreviate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// versioningClauses finds MariaDB's system-versioning clauses the parser
// does not know and returns q without them: WITH SYSTEM VERSIONING (a
// CREATE's table option, or a column's, which makes the table versioned
// too), WITHOUT SYSTEM VERSIONING (a column's: its changes add no history
// row, the layout is the same), and ALTER's ADD / DROP SYSTEM VERSIONING.
// with says WITH was found, add and drop the ALTER operations. Declared
// period columns (GENERATED ALWAYS AS ROW START, PERIOD FOR SYSTEM_TIME)
// are left: such a statement stays one the parser rejects.
func versioningClauses(q string) (out string, with, add, drop bool) {
	toks := ddlWords(q)
	word := func(i int, w string) bool {
		return i >= 0 && i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].text, w)
	}
	type span struct{ from, to int }
	var cut []span
	for i := 0; i+2 < len(toks); i++ {
		if !word(i+1, "SYSTEM") || !word(i+2, "VERSIONING") {
			continue
		}
		from, to := toks[i].start, toks[i+2].end
		switch {
		case word(i, "WITH"), word(i, "WITHOUT"):
			with = with || word(i, "WITH")
		case word(i, "ADD"), word(i, "DROP"):
			if word(i, "ADD") {
				add = true
			} else {
				drop = true
			}
			// An ALTER operation: its comma goes with it.
			if i > 0 && toks[i-1].text == "," {
				from = toks[i-1].start
			} else if i+3 < len(toks) && toks[i+3].text == "," {
				to = toks[i+3].end
			}
		default:
			continue
		}
		cut = append(cut, span{from, to})
		i += 2
	}
	if len(cut) == 0 {
		return q, false, false, false
	}
	var b strings.Builder
	last := 0
	for _, c := range cut {
		b.WriteString(q[last:c.from])
		b.WriteByte(' ')
		last = c.to
	}
	b.WriteString(q[last:])
	return b.String(), with, add, drop
}

// declaresPeriod reports whether q declares system-time period columns
// (GENERATED ALWAYS AS ROW START / END, PERIOD FOR SYSTEM_TIME).
func declaresPeriod(q string) bool {
	toks := ddlWords(q)
	word := func(i int, w string) bool {
		return i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].text, w)
	}
	for i := range toks {
		if word(i, "ROW") && (word(i+1, "START") || word(i+1, "END")) && i > 0 && word(i-1, "AS") ||
			word(i, "PERIOD") && word(i+1, "FOR") && word(i+2, "SYSTEM_TIME") {
			return true
		}
	}
	return false
}
