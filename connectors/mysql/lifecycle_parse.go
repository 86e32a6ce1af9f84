package mysql

import (
	"strings"

	"github.com/etlq/etlq/connectors"
)

// This file recognizes the statements that change which tables exist —
// TRUNCATE, RENAME, DROP and CREATE TABLE, ALTER TABLE … RENAME — from
// their text in a binlog query event, just enough to follow a table's
// life (lifecycle.go). Column changes are the schema history's business.

// lifeKind is what a statement does to the tables it names.
type lifeKind int

const (
	lifeNone lifeKind = iota
	lifeTruncate
	lifeCreate // CREATE TABLE (also … LIKE, … SELECT)
	lifeDrop
	lifeRename // From[i] becomes To[i], in order
	lifeDropDB // DROP DATABASE: from[0].DB, every table of it
)

// lifeChange is one recognized statement.
type lifeChange struct {
	kind     lifeKind
	from, to []connectors.TableRef
}

// sqlTokens splits a statement into words: back-quoted identifiers
// (unquoted), quoted strings (kept with their quotes), and the
// punctuation , ( ) . ; as tokens of their own. Comments are skipped.
func sqlTokens(q string) []string {
	var out []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && strings.HasPrefix(q[i:], "-- ") || c == '#':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == '`':
			var b strings.Builder
			j := i + 1
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
			out = append(out, "`"+b.String())
			i = j + 1
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, q[i:min(j+1, len(q))])
			i = j + 1
		case strings.ContainsRune(",().;=", rune(c)):
			out = append(out, string(c))
			i++
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\n\r,().;=`'\"", rune(q[j])) {
				j++
			}
			out = append(out, q[i:j])
			i = j
		}
	}
	return out
}

// lifeParser walks the tokens of one statement.
type lifeParser struct {
	toks []string
	i    int
	db   string // the event's default database
}

func (p *lifeParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

// kw consumes the keywords ws (case-insensitive) when they come next.
func (p *lifeParser) kw(ws ...string) bool {
	for k, w := range ws {
		if p.i+k >= len(p.toks) || !strings.EqualFold(p.toks[p.i+k], w) {
			return false
		}
	}
	p.i += len(ws)
	return true
}

// name reads [db.]table.
func (p *lifeParser) name() (connectors.TableRef, bool) {
	ident := func() (string, bool) {
		t := p.peek()
		if t == "" || strings.ContainsAny(t[:1], ",().;='\"") {
			return "", false
		}
		p.i++
		return strings.TrimPrefix(t, "`"), true
	}
	a, ok := ident()
	if !ok {
		return connectors.TableRef{}, false
	}
	if p.peek() == "." {
		p.i++
		b, ok := ident()
		if !ok {
			return connectors.TableRef{}, false
		}
		return connectors.TableRef{DB: a, Table: b}, true
	}
	return connectors.TableRef{DB: p.db, Table: a}, true
}

// parseToolTrigger recognizes a trigger pt-online-schema-change creates on
// the table it copies: CREATE [DEFINER = …] TRIGGER `pt_osc_<db>_<t>_ins`
// (…_upd, …_del) … ON t FOR EACH ROW, whose body writes the change into
// the tool's copy (REPLACE INTO copy …, DELETE IGNORE FROM copy …). It
// returns t and the copy, whatever name --new-table-name gave it; db is
// the event's default database.
func parseToolTrigger(db, q string) (base, cp connectors.TableRef, ok bool) {
	p := &lifeParser{toks: sqlTokens(q), db: db}
	if !p.kw("create") {
		return base, cp, false
	}
	for p.i < min(len(p.toks), 16) && !p.kw("trigger") {
		p.i++
	}
	name, ok := p.name()
	if !ok || !strings.HasPrefix(strings.ToLower(name.Table), "pt_osc_") {
		return base, cp, false
	}
	for p.i < len(p.toks) && !p.kw("on") {
		p.i++
	}
	if base, ok = p.name(); !ok {
		return base, cp, false
	}
	for p.i < len(p.toks) {
		if p.kw("replace", "into") || p.kw("delete", "ignore", "from") {
			cp, ok = p.name()
			return base, cp, ok
		}
		p.i++
	}
	return base, cp, false
}

// parseLife recognizes a table lifecycle statement; db is the event's
// default database. Anything else is lifeNone.
func parseLife(db, q string) lifeChange {
	p := &lifeParser{toks: sqlTokens(q), db: db}
	switch {
	case p.kw("truncate"):
		p.kw("table")
		if t, ok := p.name(); ok {
			return lifeChange{kind: lifeTruncate, from: []connectors.TableRef{t}}
		}
	case p.kw("rename", "table"):
		var ch lifeChange
		for {
			a, ok := p.name()
			if !ok || !p.kw("to") {
				return lifeChange{}
			}
			b, ok := p.name()
			if !ok {
				return lifeChange{}
			}
			ch.from, ch.to = append(ch.from, a), append(ch.to, b)
			if p.peek() != "," {
				break
			}
			p.i++
		}
		ch.kind = lifeRename
		return ch
	case p.kw("alter"):
		p.kw("online")
		p.kw("ignore")
		if !p.kw("table") {
			return lifeChange{}
		}
		a, ok := p.name()
		if !ok {
			return lifeChange{}
		}
		// ALTER TABLE a RENAME [TO|AS] b, alone: other clauses change
		// columns too and are left to the schema history.
		if !p.kw("rename") || p.kw("column") || p.kw("index") || p.kw("key") {
			return lifeChange{}
		}
		if !p.kw("to") {
			p.kw("as")
		}
		b, ok := p.name()
		if !ok || p.i < len(p.toks) && p.peek() != ";" {
			return lifeChange{}
		}
		return lifeChange{kind: lifeRename, from: []connectors.TableRef{a}, to: []connectors.TableRef{b}}
	case p.kw("drop", "database"), p.kw("drop", "schema"):
		p.kw("if", "exists")
		if t := p.peek(); t != "" && !strings.ContainsAny(t[:1], ",().;='\"") {
			return lifeChange{kind: lifeDropDB, from: []connectors.TableRef{{DB: strings.TrimPrefix(t, "`")}}}
		}
	case p.kw("drop"):
		p.kw("temporary")
		if !p.kw("table") {
			return lifeChange{}
		}
		p.kw("if", "exists")
		var ch lifeChange
		for {
			a, ok := p.name()
			if !ok {
				break
			}
			ch.from = append(ch.from, a)
			if p.peek() != "," {
				break
			}
			p.i++
		}
		if len(ch.from) > 0 {
			ch.kind = lifeDrop
		}
		return ch
	case p.kw("create"):
		p.kw("or", "replace")
		if p.kw("temporary") || !p.kw("table") {
			return lifeChange{}
		}
		p.kw("if", "not", "exists")
		if t, ok := p.name(); ok {
			return lifeChange{kind: lifeCreate, to: []connectors.TableRef{t}}
		}
	}
	return lifeChange{}
}
