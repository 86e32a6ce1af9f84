package lang

import (
	"sort"
	"strconv"
	"strings"
)

// Format prints f in canonical layout: upper-case keywords, one clause per
// line indented by 2 spaces, TRANSFORM items and WITH options one per line
// when there are more than 3, one blank line between statements, comments
// kept (a comment inside a clause moves to the line above it; a block
// comment after the "," in front of a list item stays in front of it;
// the function body language is printed as the keyword EXPR). Format is
// idempotent and its output parses to the same AST (positions and the
// spelling of keywords and type aliases aside). Strings are printed as
// written, so expanded ${NAME} values never appear.
func Format(f *File) []byte {
	fm := &formatter{comments: append([]*Comment(nil), f.Comments...)}
	sort.Slice(fm.comments, func(i, j int) bool { return fm.comments[i].Pos.Offset < fm.comments[j].Pos.Offset })
	prevEnd := -1
	for i, st := range f.Statements {
		if i > 0 {
			fm.out.WriteByte('\n')
		}
		fm.statement(st, prevEnd)
		prevEnd = st.EndPos.Offset
	}
	// Comments after the last statement.
	rest := fm.comments[fm.next:]
	for i, c := range rest {
		if len(f.Statements) > 0 && i == 0 || i > 0 && c.Pos.Line > rest[i-1].EndPos.Line+1 {
			fm.out.WriteByte('\n')
		}
		fm.out.WriteString(c.Text + "\n")
	}
	return []byte(fm.out.String())
}

// line is one output line of a statement, with the source range it came
// from (for placing comments). End is -1 for lines that hold no source.
type line struct {
	indent     int
	text       string
	more       []string // continuation lines, indented relative to text
	start, end int      // source byte offsets
	startLine  int      // source line of start
	endLine    int      // source line of end
}

type formatter struct {
	out      strings.Builder
	comments []*Comment
	next     int // first comment not yet printed
}

func (fm *formatter) statement(st *Statement, prevEnd int) {
	lines := statementLines(st)
	if len(lines) == 0 {
		return
	}
	// Comments that belong to this statement: those before the end of its
	// last line of source, and those after it on the same source line.
	// A comment further down (before or after the ";") is left to the next
	// statement, so that a "-- …" comment never swallows another one.
	lastEnd, lastLine := st.EndPos.Offset, st.EndPos.Line
	if k := prevWithSource(lines, len(lines)); k >= 0 {
		lastEnd, lastLine = lines[k].end, lines[k].endLine
	}
	var mine []*Comment
	for fm.next < len(fm.comments) {
		c := fm.comments[fm.next]
		if c.Pos.Offset >= lastEnd && c.Pos.Line != lastLine {
			break
		}
		mine = append(mine, c)
		fm.next++
	}
	leading := make([][]*Comment, len(lines))
	trailing := make([][]*Comment, len(lines))
	for _, c := range mine {
		k := placeComment(lines, c)
		if k < 0 {
			trailing[-k-1] = append(trailing[-k-1], c)
		} else {
			leading[k] = append(leading[k], c)
		}
	}
	for k, l := range lines {
		pad := strings.Repeat("  ", l.indent)
		var inline []string
		if k > 0 {
			// Block comments on the source line where line k begins, before
			// it, stay in front of it ("/* why */ amount * 100 AS cents").
			n := len(leading[k])
			for n > 0 && isInlineBefore(leading[k][n-1], l) {
				n--
			}
			for _, c := range leading[k][n:] {
				inline = append(inline, c.Text)
			}
			leading[k] = leading[k][:n]
		}
		for i, c := range leading[k] {
			// Keep a blank line between separate comment blocks of the
			// statement's leading comments.
			if k == 0 && i > 0 && c.Pos.Line > leading[k][i-1].EndPos.Line+1 {
				fm.out.WriteByte('\n')
			}
			fm.out.WriteString(pad + c.Text + "\n")
			if k == 0 && i == len(leading[k])-1 && l.start >= 0 && lineOf(st) > c.EndPos.Line+1 {
				fm.out.WriteByte('\n')
			}
		}
		fm.out.WriteString(pad)
		for _, c := range inline {
			fm.out.WriteString(c + " ")
		}
		fm.out.WriteString(l.text)
		for _, m := range l.more {
			fm.out.WriteString("\n" + pad + m)
		}
		if k == len(lines)-1 {
			fm.out.WriteByte(';')
		}
		for _, c := range trailing[k] {
			fm.out.WriteString(" " + c.Text)
		}
		fm.out.WriteByte('\n')
	}
}

func lineOf(st *Statement) int { return st.Pos.Line }

// isInlineBefore reports whether c is a one-line block comment that ends
// on the source line where l begins, before l's source.
func isInlineBefore(c *Comment, l line) bool {
	return l.start >= 0 && c.Pos.Offset < l.start && c.EndPos.Line == l.startLine &&
		c.Pos.Line == c.EndPos.Line && strings.HasPrefix(c.Text, "/*")
}

// placeComment returns the line a comment goes before (k), or -(k+1) when
// it trails line k: a comment that starts on the source line where line k
// ends, after it, and before the next line begins.
func placeComment(lines []line, c *Comment) int {
	off := c.Pos.Offset
	for k, l := range lines {
		if l.start < 0 {
			continue
		}
		if off < l.start {
			// Before line k: trailing for the previous source line when on
			// the same source line.
			// A comment after a "," that ends where line k begins (an
			// item of a list, "a, /* b */ b") belongs to line k.
			if p := prevWithSource(lines, k); p >= 0 && lines[p].endLine == c.Pos.Line && off >= lines[p].end &&
				!(c.afterComma && c.EndPos.Line == l.startLine) {
				return -(p + 1)
			}
			return k
		}
		if off < l.end {
			return k // inside the line's source: moves above it
		}
	}
	last := prevWithSource(lines, len(lines))
	if last < 0 {
		return 0
	}
	if lines[last].endLine == c.Pos.Line {
		return -(last + 1)
	}
	// Between the last clause and ";" or after ";" on the same line.
	return -(len(lines))
}

func prevWithSource(lines []line, k int) int {
	for p := k - 1; p >= 0; p-- {
		if lines[p].start >= 0 {
			return p
		}
	}
	return -1
}

func srcLine(indent int, text string, n Node) line {
	if n == nil || isNilNode(n) {
		return line{indent: indent, text: text, start: -1, end: -1}
	}
	return line{indent: indent, text: text, start: n.Position().Offset, end: n.EndPosition().Offset,
		startLine: n.Position().Line, endLine: n.EndPosition().Line}
}

// spanLine is a line made of the source from a to b.
func spanLine(indent int, text string, a, b Node) line {
	l := srcLine(indent, text, a)
	if b != nil && !isNilNode(b) && l.start >= 0 {
		l.end = b.EndPosition().Offset
		l.endLine = b.EndPosition().Line
	}
	return l
}

func statementLines(st *Statement) []line {
	switch {
	case st.Source != nil:
		s := st.Source
		return connectionLines(st, "CREATE SOURCE "+identText(s.Name)+" FROM "+identText(s.Kind)+" "+strText(s.DSN), s.DSN, s.With)
	case st.Sink != nil:
		s := st.Sink
		return connectionLines(st, "CREATE SINK "+identText(s.Name)+" INTO "+identText(s.Kind)+" "+strText(s.DSN), s.DSN, s.With)
	case st.Function != nil:
		fn := st.Function
		params := make([]string, len(fn.Params))
		for i, p := range fn.Params {
			params[i] = identText(p.Name) + " " + p.Type.String()
		}
		head := spanLine(0, "CREATE FUNCTION "+identText(fn.Name)+"("+strings.Join(params, ", ")+") RETURNS "+fn.Returns.String(), st, fn.Returns)
		return []line{head, spanLine(1, "AS "+langText(fn.Lang)+" "+strText(fn.Body), fn.Lang, fn.Body)}
	case st.Pipeline != nil:
		return pipelineLines(st, st.Pipeline)
	case st.Query != nil:
		q := st.Query
		p := &CreatePipeline{Clauses: q.Clauses, From: q.From, Snapshot: q.Snapshot, Where: q.Where, Transform: q.Transform}
		lines := pipelineLines(st, p)[1:]
		lines[0].indent = 0
		for i := 1; i < len(lines); i++ {
			if lines[i].indent > 0 {
				lines[i].indent--
			}
		}
		if q.Limit != nil {
			lines = append(lines, srcLine(0, "LIMIT "+strconv.Itoa(*q.Limit), clauseByName(q.Clauses, "LIMIT")))
		}
		return lines
	}
	return nil
}

// langText prints the language of a function body (AS EXPR) upper-case,
// as a keyword, unless it is a back-quoted name.
func langText(id *Ident) string {
	if id != nil && !id.Quoted && isBareName(strings.ToUpper(id.Name)) {
		return strings.ToUpper(id.Name)
	}
	return identText(id)
}

func strText(s *StringLit) string {
	if s == nil {
		return "''"
	}
	if s.Raw != "" {
		return s.Raw
	}
	return quoteString(s.Value)
}

func connectionLines(st *Statement, head string, last Node, opts []*Option) []line {
	lines := []line{spanLine(0, head, st, last)}
	if opts != nil {
		lines = append(lines, optionLines(1, opts, nil)...)
	}
	return lines
}

// optionLines prints WITH (…) on one line, or one option per line when
// there are more than 3.
func optionLines(indent int, opts []*Option, cl *Clause) []line {
	texts := make([]string, len(opts))
	for i, o := range opts {
		texts[i] = identText(o.Name) + " = " + FormatExpr(o.Value)
	}
	if len(opts) <= 3 {
		l := line{indent: indent, text: "WITH (" + strings.Join(texts, ", ") + ")", start: -1, end: -1}
		if cl != nil {
			l = srcLine(indent, l.text, cl)
		} else if len(opts) > 0 {
			l = spanLine(indent, l.text, opts[0], opts[len(opts)-1])
			l.start -= 1 // cover "WITH (" loosely: comments before the first option move above
		}
		return []line{l}
	}
	head := line{indent: indent, text: "WITH (", start: -1, end: -1}
	if cl != nil {
		end := kwEnd(cl.Pos, "WITH")
		head = line{indent: indent, text: "WITH (", start: cl.Pos.Offset, end: end.Offset, startLine: cl.Pos.Line, endLine: end.Line}
	}
	lines := []line{head}
	for i, o := range opts {
		t := texts[i]
		if i < len(opts)-1 {
			t += ","
		}
		lines = append(lines, srcLine(indent+1, t, o))
	}
	return append(lines, line{indent: indent, text: ")", start: -1, end: -1})
}

func clauseByName(cls []*Clause, name string) Node {
	for _, cl := range cls {
		if clauseName(cl) == name {
			return cl
		}
	}
	return nil
}

func pipelineLines(st *Statement, p *CreatePipeline) []line {
	lines := []line{spanLine(0, "CREATE PIPELINE "+identText(p.Name), st, p.Name)}
	at := func(name string) Node { return clauseByName(p.Clauses, name) }
	if p.From != nil {
		names := make([]string, len(p.From))
		for i, t := range p.From {
			names[i] = tableText(t)
		}
		lines = append(lines, srcLine(1, "FROM binlog "+strings.Join(names, ", "), at("FROM")))
	}
	if p.Snapshot != nil {
		lines = append(lines, srcLine(1, "SNAPSHOT "+identText(p.Snapshot), at("SNAPSHOT")))
	}
	if p.Where != nil {
		cond := conditionLines(p.Where)
		l := srcLine(1, "WHERE "+cond[0], at("WHERE"))
		l.more = cond[1:]
		lines = append(lines, l)
	}
	if p.Transform != nil {
		items := make([]string, len(p.Transform))
		for i, it := range p.Transform {
			items[i] = selectItemText(it)
		}
		cl := at("TRANSFORM")
		if len(items) <= 3 {
			lines = append(lines, srcLine(1, "TRANSFORM "+strings.Join(items, ", "), cl))
		} else {
			head := line{indent: 1, text: "TRANSFORM", start: -1, end: -1}
			if cl != nil {
				end := kwEnd(cl.Position(), "TRANSFORM")
				head = line{indent: 1, text: "TRANSFORM", start: cl.Position().Offset, end: end.Offset, startLine: cl.Position().Line, endLine: end.Line}
			}
			lines = append(lines, head)
			for i, it := range p.Transform {
				t := items[i]
				if i < len(items)-1 {
					t += ","
				}
				lines = append(lines, srcLine(2, t, it))
			}
		}
	}
	if p.Into != nil {
		t := "INTO " + identText(p.Into.Kind)
		if p.Into.Table != nil {
			t += " " + tableText(p.Into.Table)
		}
		if p.Into.Target != nil {
			t += " " + strText(p.Into.Target)
		}
		lines = append(lines, srcLine(1, t, at("INTO")))
	}
	if p.Format != nil {
		lines = append(lines, srcLine(1, "FORMAT "+identText(p.Format), at("FORMAT")))
	}
	if p.Mode != nil {
		lines = append(lines, srcLine(1, "MODE "+identText(p.Mode), at("MODE")))
	}
	if p.Key != nil {
		keys := make([]string, len(p.Key))
		for i, k := range p.Key {
			keys[i] = identText(k)
		}
		lines = append(lines, srcLine(1, "KEY ("+strings.Join(keys, ", ")+")", at("KEY")))
	}
	if p.With != nil {
		var cl *Clause
		if n := at("WITH"); n != nil {
			cl = n.(*Clause)
		}
		lines = append(lines, optionLines(1, p.With, cl)...)
	}
	return lines
}

// PipelineDefinition is the canonical text of what decides the rows a
// pipeline writes into its target: its WHERE, TRANSFORM, MODE and KEY
// (not FROM, INTO, SNAPSHOT or WITH). apply compares it with the text of
// the last run to tell a pipeline edited in the file.
func PipelineDefinition(p *CreatePipeline) string {
	var b strings.Builder
	if p.Where != nil {
		b.WriteString("WHERE " + FormatExpr(p.Where) + "\n")
	}
	if p.Transform != nil {
		items := make([]string, len(p.Transform))
		for i, it := range p.Transform {
			items[i] = selectItemText(it)
		}
		b.WriteString("TRANSFORM " + strings.Join(items, ", ") + "\n")
	}
	if p.Mode != nil {
		b.WriteString("MODE " + strings.ToLower(p.Mode.Name) + "\n")
	}
	if p.Key != nil {
		keys := make([]string, len(p.Key))
		for i, k := range p.Key {
			keys[i] = identText(k)
		}
		b.WriteString("KEY (" + strings.Join(keys, ", ") + ")\n")
	}
	return b.String()
}

// FunctionDefinition is the canonical text of a CREATE FUNCTION: its
// parameters, return type and body. A pipeline's definition includes
// those of the functions it calls (planner), so that an edited body reads
// its table again as an edited WHERE does.
func FunctionDefinition(fn *CreateFunction) string {
	params := make([]string, len(fn.Params))
	for i, p := range fn.Params {
		params[i] = identText(p.Name) + " " + p.Type.String()
	}
	return "FUNCTION " + strings.ToLower(fn.Name.Name) + "(" + strings.Join(params, ", ") + ") RETURNS " + fn.Returns.String() +
		" AS " + strings.ToUpper(fn.Lang.Name) + " " + quoteString(fn.Body.Value) + "\n"
}

func tableText(t *TableName) string {
	parts := make([]string, len(t.Parts))
	for i, p := range t.Parts {
		parts[i] = identText(p)
	}
	return strings.Join(parts, ".")
}

func selectItemText(it *SelectItem) string {
	if it.Star {
		if len(it.Except) == 0 {
			return "*"
		}
		names := make([]string, len(it.Except))
		for i, n := range it.Except {
			names[i] = identText(n)
		}
		return "* EXCEPT (" + strings.Join(names, ", ") + ")"
	}
	s := FormatExpr(it.Expr)
	if it.Alias != nil {
		s += " AS " + identText(it.Alias)
	}
	return s
}

// maxLine is the line length above which a WHERE condition is split.
const maxLine = 80

// conditionLines prints a condition; a long AND (or OR) chain is split
// before each operator, the continuation lines indented by 2 more spaces.
// (Lines are returned apart, never joined by "\n", because a string
// literal may hold a newline that must not be indented.)
func conditionLines(e Expr) []string {
	one := FormatExpr(e)
	b, ok := e.(*Binary)
	if len(one)+8 <= maxLine || !ok || (b.Op != "AND" && b.Op != "OR") {
		return []string{one}
	}
	var terms []Expr
	for {
		terms = append(terms, b.R)
		l, ok := b.L.(*Binary)
		if !ok || l.Op != b.Op {
			terms = append(terms, b.L)
			break
		}
		b = l
	}
	p := binaryOps[b.Op]
	var out []string
	for i := len(terms) - 1; i >= 0; i-- {
		var sb strings.Builder
		min := p + 1
		if i == len(terms)-1 {
			min = p
		} else {
			sb.WriteString("  " + b.Op + " ")
		}
		writeExpr(&sb, terms[i], min, p)
		out = append(out, sb.String())
	}
	return out
}
