package lang

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ClauseOrder is the order in which pipeline clauses must be written
// (LIMIT only in REPL queries).
var ClauseOrder = []string{"FROM", "SNAPSHOT", "WHERE", "TRANSFORM", "INTO", "FORMAT", "MODE", "KEY", "WITH", "LIMIT"}

// SnapshotModes lists the values of SNAPSHOT.
var SnapshotModes = []string{"initial", "never", "only"}

// Modes lists the values of MODE.
var Modes = []string{"append", "upsert", "changelog"}

// checker finishes the AST after participle (unescaped strings, pipeline
// fields from clauses) and reports what the grammar cannot: missing ";",
// clauses out of order or repeated, bad option values.
type checker struct {
	errs Errors
}

func (c *checker) errorf(n Node, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: n.Position(), EndPos: n.EndPosition(), Msg: fmt.Sprintf(format, args...)})
}

func checkFile(f *File) Errors {
	var c checker
	for _, st := range f.Statements {
		c.statement(st, false)
	}
	sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Pos.Offset < c.errs[j].Pos.Offset })
	return c.errs
}

func (c *checker) statement(st *Statement, repl bool) {
	switch {
	case st.Source != nil:
		c.stringLit(st.Source.DSN)
		c.options(st.Source.With)
	case st.Sink != nil:
		c.stringLit(st.Sink.DSN)
		c.options(st.Sink.With)
	case st.Function != nil:
		c.function(st.Function)
	case st.Pipeline != nil:
		c.pipeline(st.Pipeline)
	case st.Query != nil:
		c.query(st.Query)
		if !repl {
			c.errs = append(c.errs, &Error{Pos: st.Pos, EndPos: kwEnd(st.Pos, "FROM"),
				Msg: "a query without CREATE PIPELINE is only allowed in the REPL (write CREATE PIPELINE name FROM … INTO …)"})
		}
	case st.Show != nil || st.Describe != nil || st.Plan != nil || st.Help != nil:
		if !repl {
			kw := firstWord(st)
			c.errs = append(c.errs, &Error{Pos: st.Pos, EndPos: kwEnd(st.Pos, kw),
				Msg: kw + " is a REPL command: a file holds CREATE statements (try it in etlq repl)"})
			break
		}
		c.command(st)
	}
	c.nodes(st)
	if !st.Semi && !repl {
		// Point just after the statement's last character, where ";" belongs.
		end := st.EndPos
		c.errs = append(c.errs, &Error{Pos: end, EndPos: end, Msg: "missing \";\" at the end of the statement"})
	}
}

// firstWord is the keyword a REPL command begins with, upper case.
func firstWord(st *Statement) string {
	switch {
	case st.Show != nil:
		return "SHOW"
	case st.Describe != nil:
		return strings.ToUpper(st.Describe.Keyword)
	case st.Plan != nil:
		return "PLAN"
	}
	return "HELP"
}

// command checks a REPL command's operands: the grammar takes them
// loosely, so that the errors here can say what is missing.
func (c *checker) command(st *Statement) {
	add := func(pos, end Pos, format string, args ...any) {
		c.errs = append(c.errs, &Error{Pos: pos, EndPos: end, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case st.Show != nil:
		s := st.Show
		const kinds = "SHOW TABLES, SHOW SOURCES, SHOW PIPELINES or SHOW FUNCTIONS"
		if s.What == nil {
			add(s.EndPos, s.EndPos, "SHOW what? %s", kinds)
			return
		}
		what := strings.ToUpper(s.What.Name)
		if s.What.Quoted || !slices.Contains(ShowKinds, what) {
			add(s.What.Pos, s.What.EndPos, "SHOW %s is not known: %s", s.What.Raw, kinds)
			return
		}
		if s.HasFrom && what != "TABLES" {
			add(s.What.EndPos, s.What.EndPos, "unexpected FROM after SHOW %s", what)
			return
		}
		if s.HasFrom && (s.From == nil || len(s.From.Parts) > 2) {
			at := s.EndPos
			if s.From != nil {
				at = s.From.Pos
			}
			add(at, at, "SHOW TABLES FROM takes a database: FROM [source.]database")
			return
		}
		if s.HasLike && what != "TABLES" && what != "FUNCTIONS" {
			add(s.What.EndPos, s.What.EndPos, "unexpected LIKE after SHOW %s", what)
			return
		}
		if s.HasLike && s.Like == nil {
			add(s.EndPos, s.EndPos, "LIKE takes a pattern string: LIKE 'order%%'")
			return
		}
		c.stringLit(s.Like)
	case st.Describe != nil:
		d := st.Describe
		if d.Table == nil { // more than 3 parts: nodes says so
			add(d.EndPos, d.EndPos, "DESCRIBE takes a table: DESCRIBE [source.]database.table")
		}
	case st.Plan != nil:
		if st.Plan.Name == nil {
			add(st.Plan.EndPos, st.Plan.EndPos, "PLAN takes a pipeline name: PLAN pipeline")
		}
	}
}

// kwEnd is the end of the keyword kw written at p.
func kwEnd(p Pos, kw string) Pos {
	p.Advance(kw)
	return p
}

func (c *checker) stringLit(s *StringLit) {
	if s != nil {
		s.Value = unquoteString(s.Raw)
	}
}

func (c *checker) options(opts []*Option) {
	seen := map[string]*Option{}
	for _, o := range opts {
		name := strings.ToLower(o.Name.Name)
		if first, ok := seen[name]; ok {
			c.errorf(o.Name, "option %s is set twice (first at line %d)", quote(o.Name.Name), first.Pos.Line)
		}
		seen[name] = o
		if !isOptionValue(o.Value) {
			c.errorf(o.Value, "option %s needs a literal value: a string, a number or TRUE/FALSE", quote(o.Name.Name))
		}
	}
}

func isOptionValue(e Expr) bool {
	switch e := e.(type) {
	case *Literal:
		switch e.Kind {
		case LitString, LitInt, LitFloat, LitBool:
			return true
		}
	case *Unary:
		if l, ok := e.X.(*Literal); ok && e.Op == "-" {
			return l.Kind == LitInt || l.Kind == LitFloat
		}
	}
	return false
}

func (c *checker) function(fn *CreateFunction) {
	c.stringLit(fn.Body)
	if !strings.EqualFold(fn.Lang.Name, "EXPR") {
		c.errorf(fn.Lang, "unsupported function language %s (expected EXPR)", quote(fn.Lang.Name))
	} else {
		fn.Lang.Name = "EXPR" // a keyword: Raw keeps the spelling
	}
	seen := map[string]bool{}
	for _, p := range fn.Params {
		if seen[p.Name.Name] {
			c.errorf(p.Name, "duplicate parameter %s", quote(p.Name.Name))
		}
		seen[p.Name.Name] = true
	}
}

// clauseName is the keyword of a clause.
func clauseName(cl *Clause) string {
	switch {
	case cl.From != nil:
		return "FROM"
	case cl.Snapshot != nil:
		return "SNAPSHOT"
	case cl.Where != nil:
		return "WHERE"
	case cl.Transform != nil:
		return "TRANSFORM"
	case cl.Into != nil:
		return "INTO"
	case cl.Format != nil:
		return "FORMAT"
	case cl.Mode != nil:
		return "MODE"
	case cl.Key != nil:
		return "KEY"
	case cl.With != nil:
		return "WITH"
	case cl.Limit != nil:
		return "LIMIT"
	}
	return ""
}

func clauseRank(name string) int {
	for i, n := range ClauseOrder {
		if n == name {
			return i
		}
	}
	return -1
}

// clauses checks order, repetition and which clauses are allowed, and
// returns the clauses by name.
func (c *checker) clauses(cls []*Clause, allowed map[string]bool, what string) map[string]*Clause {
	byName := map[string]*Clause{}
	var last *Clause
	for _, cl := range cls {
		name := clauseName(cl)
		kw := &Error{Pos: cl.Pos, EndPos: kwEnd(cl.Pos, name)}
		switch {
		case !allowed[name]:
			kw.Msg = fmt.Sprintf("%s is not allowed in %s", name, what)
		case byName[name] != nil:
			kw.Msg = fmt.Sprintf("duplicate %s clause (the first is at line %d)", name, byName[name].Pos.Line)
		case last != nil && clauseRank(name) < clauseRank(clauseName(last)):
			kw.Msg = fmt.Sprintf("%s must come before %s", name, clauseName(last))
		}
		if kw.Msg != "" {
			c.errs = append(c.errs, kw)
			continue
		}
		byName[name] = cl
		last = cl
		if cl.Into != nil {
			c.stringLit(cl.Into.Target)
		}
		if cl.With != nil {
			c.options(cl.With)
		}
		if cl.Snapshot != nil {
			c.oneOf(cl.Snapshot, "SNAPSHOT", SnapshotModes)
		}
		if cl.Mode != nil {
			c.oneOf(cl.Mode, "MODE", Modes)
		}
		if cl.Limit != nil {
			v, err := strconv.Atoi(cl.Limit.Raw)
			if err != nil {
				c.errorf(cl.Limit, "LIMIT %s is too large", cl.Limit.Raw)
			}
			cl.Limit.Value = v
		}
	}
	return byName
}

func (c *checker) oneOf(id *Ident, clause string, values []string) {
	for _, v := range values {
		if strings.EqualFold(id.Name, v) {
			return
		}
	}
	c.errorf(id, "unknown %s %s (expected %s)", clause, quote(id.Name), strings.Join(values, ", "))
}

// hasClause reports whether cls has a clause of that name, in order or not.
func hasClause(cls []*Clause, name string) bool {
	for _, cl := range cls {
		if clauseName(cl) == name {
			return true
		}
	}
	return false
}

var pipelineClauses = toSet([]string{"FROM", "SNAPSHOT", "WHERE", "TRANSFORM", "INTO", "FORMAT", "MODE", "KEY", "WITH"})
var queryClauses = toSet([]string{"FROM", "SNAPSHOT", "WHERE", "TRANSFORM", "LIMIT"})

func (c *checker) pipeline(p *CreatePipeline) {
	by := c.clauses(p.Clauses, pipelineClauses, "CREATE PIPELINE (LIMIT is for REPL queries)")
	if cl := by["FROM"]; cl != nil {
		p.From = cl.From
	} else if !hasClause(p.Clauses, "FROM") {
		c.errorf(p.Name, "pipeline %s has no FROM binlog clause", quote(p.Name.Name))
	}
	if cl := by["SNAPSHOT"]; cl != nil {
		p.Snapshot = cl.Snapshot
	}
	if cl := by["WHERE"]; cl != nil {
		p.Where = cl.Where
	}
	if cl := by["TRANSFORM"]; cl != nil {
		p.Transform = cl.Transform
		c.selectItems(cl.Transform)
	}
	if cl := by["INTO"]; cl != nil {
		p.Into = cl.Into
	} else if !hasClause(p.Clauses, "INTO") {
		// (An INTO out of order is that error alone: it is there.)
		c.errorf(p.Name, "pipeline %s has no INTO clause", quote(p.Name.Name))
	}
	if cl := by["FORMAT"]; cl != nil {
		p.Format = cl.Format
	}
	if cl := by["MODE"]; cl != nil {
		p.Mode = cl.Mode
	}
	if cl := by["KEY"]; cl != nil {
		p.Key = cl.Key
	}
	if cl := by["WITH"]; cl != nil {
		p.With = cl.With
	}
}

func (c *checker) query(q *Query) {
	by := c.clauses(q.Clauses, queryClauses, "a REPL query (it shows rows; use CREATE PIPELINE to send them somewhere)")
	if cl := by["FROM"]; cl != nil {
		q.From = cl.From
	}
	if cl := by["SNAPSHOT"]; cl != nil {
		q.Snapshot = cl.Snapshot
	}
	if cl := by["WHERE"]; cl != nil {
		q.Where = cl.Where
	}
	if cl := by["TRANSFORM"]; cl != nil {
		q.Transform = cl.Transform
		c.selectItems(cl.Transform)
	}
	if cl := by["LIMIT"]; cl != nil {
		v := cl.Limit.Value
		q.Limit = &v
	}
}

func (c *checker) selectItems(items []*SelectItem) {
	for _, it := range items {
		if it.Star && it.Alias != nil {
			c.errorf(it.Alias, "* cannot have an alias")
		}
	}
}

// nodes checks the types and table names under n.
func (c *checker) nodes(n Node) {
	Walk(n, func(n Node) bool {
		switch n := n.(type) {
		case *TypeName:
			if err := checkTypeName(n); err != nil {
				c.errs = append(c.errs, err)
			}
		case *TableName:
			if len(n.Parts) > 3 {
				c.errs = append(c.errs, &Error{Pos: n.Parts[3].Pos, EndPos: n.EndPos,
					Msg: "a table name has at most 3 parts: [source.]database.table"})
			}
		}
		return true
	})
}

func (c *checker) expr(e Expr) { c.nodes(e) }
