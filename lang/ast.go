// Package lang is the front end of etlq: the lexer, the parser (participle
// for statements, precedence climbing for expressions), the AST with source
// positions, ${NAME} expansion, the canonical formatter and error reporting.
//
// lang imports no other etlq layer.
package lang

import "github.com/alecthomas/participle/v2/lexer"

// Pos is a position in a source file: Filename, Offset (bytes), Line and
// Column (both 1-based, Column counts runes).
type Pos = lexer.Position

// Node is implemented by every AST node. Position is where the node starts,
// EndPosition is just after its last character.
type Node interface {
	Position() Pos
	EndPosition() Pos
}

// File is a parsed .etl file.
type File struct {
	Pos        Pos
	EndPos     Pos
	Statements []*Statement `parser:"@@*"`
	// Comments holds every comment of the file in source order.
	Comments []*Comment
}

// Comment is a "-- …" or "/* … */" comment, Text as written.
type Comment struct {
	Pos    Pos
	EndPos Pos
	Text   string
	// afterComma: the token before the comment is a ",", so the comment
	// belongs to what follows it on its line (fmt keeps it there).
	afterComma bool
}

// Statement is one statement of a file; exactly one field is set. Query
// and the REPL's commands (Show, Describe, PlanPipeline, Help) are only
// accepted by ParseStatement (the REPL), never in a file.
type Statement struct {
	Pos      Pos
	EndPos   Pos
	Source   *CreateSource   `parser:"( 'CREATE' ( @@"`
	Sink     *CreateSink     `parser:"           | @@"`
	Function *CreateFunction `parser:"           | @@"`
	Pipeline *CreatePipeline `parser:"           | @@ )"`
	Query    *Query          `parser:"| @@"`
	Show     *Show           `parser:"| @@"`
	Describe *Describe       `parser:"| @@"`
	Plan     *PlanPipeline   `parser:"| @@"`
	Help     *Help           `parser:"| @@ )"`
	Semi     bool            `parser:"@';'?"`
}

// Show is the REPL's SHOW TABLES [FROM [source.]db] [LIKE 'pattern'],
// SHOW SOURCES, SHOW PIPELINES or SHOW FUNCTIONS [LIKE 'pattern']. The
// grammar takes any name after SHOW and FROM and LIKE without their
// operand, so that the checker can say what is missing.
type Show struct {
	Pos     Pos
	EndPos  Pos
	What    *Ident     `parser:"'SHOW' @@?"`
	HasFrom bool       `parser:"( @'FROM'"`
	From    *TableName `parser:"  @@? )?"`
	HasLike bool       `parser:"( @'LIKE'"`
	Like    *StringLit `parser:"  @@? )?"`
}

// Describe is the REPL's DESCRIBE [source.]db.table (or DESC).
type Describe struct {
	Pos     Pos
	EndPos  Pos
	Keyword string     `parser:"@( 'DESCRIBE' | 'DESC' )"`
	Table   *TableName `parser:"@@?"`
}

// PlanPipeline is the REPL's PLAN pipeline.
type PlanPipeline struct {
	Pos    Pos
	EndPos Pos
	Name   *Ident `parser:"'PLAN' @@?"`
}

// Help is the REPL's HELP.
type Help struct {
	Pos    Pos
	EndPos Pos
	Help   bool `parser:"@'HELP'"`
}

// ShowKinds lists what SHOW shows, upper case.
var ShowKinds = []string{"TABLES", "SOURCES", "PIPELINES", "FUNCTIONS"}

// Ident is a name. A back-quoted name has Quoted set and Name holds it
// without the quotes (with “ unescaped). Raw is the name as written.
type Ident struct {
	Pos    Pos
	EndPos Pos
	Name   string
	Quoted bool
	Raw    string
}

// StringLit is a string literal: Raw as written (quotes included), Value
// unescaped (” → ') and, after Expand, with ${NAME} replaced.
type StringLit struct {
	Pos    Pos
	EndPos Pos
	Raw    string `parser:"@String"`
	Value  string
}

// Option is "name = value" in a WITH (…) list. Value is a literal: a
// string, a number (possibly negated) or a boolean.
type Option struct {
	Pos    Pos
	EndPos Pos
	Name   *Ident `parser:"@@ '='"`
	Value  Expr   `parser:"@@"`
}

// CreateSource is CREATE SOURCE name FROM kind 'dsn' [WITH (…)].
type CreateSource struct {
	Pos    Pos
	EndPos Pos
	Name   *Ident     `parser:"'SOURCE' @@"`
	Kind   *Ident     `parser:"'FROM' @@"`
	DSN    *StringLit `parser:"@@"`
	With   []*Option  `parser:"( 'WITH' '(' ( @@ ( ',' @@ )* )? ')' )?"`
}

// CreateSink is CREATE SINK name INTO kind 'dsn' [WITH (…)].
type CreateSink struct {
	Pos    Pos
	EndPos Pos
	Name   *Ident     `parser:"'SINK' @@"`
	Kind   *Ident     `parser:"'INTO' @@"`
	DSN    *StringLit `parser:"@@"`
	With   []*Option  `parser:"( 'WITH' '(' ( @@ ( ',' @@ )* )? ')' )?"`
}

// TypeName is a type: Name is the canonical upper-case name (INT64,
// DECIMAL, STRING, TIMESTAMP …; aliases such as BIGINT are mapped to it),
// Written the name as the user wrote it, Params the numbers in parentheses
// (DECIMAL(p,s)).
type TypeName struct {
	Pos     Pos
	EndPos  Pos
	Name    string
	Written string
	Params  []int
}

// Param is one parameter of a CREATE FUNCTION.
type Param struct {
	Pos    Pos
	EndPos Pos
	Name   *Ident    `parser:"@@"`
	Type   *TypeName `parser:"@@"`
}

// CreateFunction is CREATE FUNCTION name(params) RETURNS type AS lang 'body'.
type CreateFunction struct {
	Pos     Pos
	EndPos  Pos
	Name    *Ident     `parser:"'FUNCTION' @@"`
	Params  []*Param   `parser:"'(' ( @@ ( ',' @@ )* )? ')'"`
	Returns *TypeName  `parser:"'RETURNS' @@"`
	Lang    *Ident     `parser:"'AS' @@"`
	Body    *StringLit `parser:"@@"`
}

// TableName is a dotted name of 1 to 3 parts; a part may hold * and ?
// globs (e.g. order_*), written as one part.
type TableName struct {
	Pos    Pos
	EndPos Pos
	Parts  []*Ident
}

// SelectItem is one TRANSFORM item: "*", "* EXCEPT (a, b)" or
// "expr [AS alias]".
type SelectItem struct {
	Pos    Pos
	EndPos Pos
	Star   bool     `parser:"  @'*'"`
	Except []*Ident `parser:"    ( 'EXCEPT' '(' @@ ( ',' @@ )* ')' )?"`
	Expr   Expr     `parser:"| @@"`
	Alias  *Ident   `parser:"  ( 'AS' @@ )?"`
}

// IntoClause is the sink of a pipeline: "INTO clickhouse [sink.]db.table",
// "INTO stdout", "INTO file 'path'", "INTO http 'url'". Table is set when a
// name follows the kind, Target when a string does.
type IntoClause struct {
	Pos    Pos
	EndPos Pos
	Kind   *Ident     `parser:"'INTO' @@"`
	Table  *TableName `parser:"( @@"`
	Target *StringLit `parser:"| @@ )?"`
}

// IntLit is an integer literal outside expressions (LIMIT n).
type IntLit struct {
	Pos    Pos
	EndPos Pos
	Raw    string `parser:"@Int"`
	Value  int
}

// Clause is one clause of a CREATE PIPELINE or a REPL query, in source
// order; exactly one field is set. The parser accepts clauses in any order
// and then reports clauses that are out of order, repeated or not allowed,
// so that the messages can say what is wrong.
type Clause struct {
	Pos       Pos
	EndPos    Pos
	From      []*TableName  `parser:"  'FROM' 'BINLOG' @@ ( ',' @@ )*"`
	Snapshot  *Ident        `parser:"| 'SNAPSHOT' @@"`
	Where     Expr          `parser:"| 'WHERE' @@"`
	Transform []*SelectItem `parser:"| 'TRANSFORM' @@ ( ',' @@ )*"`
	Into      *IntoClause   `parser:"| @@"`
	Format    *Ident        `parser:"| 'FORMAT' @@"`
	Mode      *Ident        `parser:"| 'MODE' @@"`
	Key       []*Ident      `parser:"| 'KEY' '(' @@ ( ',' @@ )* ')'"`
	With      []*Option     `parser:"| 'WITH' '(' ( @@ ( ',' @@ )* )? ')'"`
	Limit     *IntLit       `parser:"| 'LIMIT' @@"`
}

// CreatePipeline is CREATE PIPELINE name followed by its clauses. The
// fields after Clauses are filled from Clauses once the order is checked.
type CreatePipeline struct {
	Pos     Pos
	EndPos  Pos
	Name    *Ident    `parser:"'PIPELINE' @@"`
	Clauses []*Clause `parser:"@@*"`

	From      []*TableName  // FROM binlog a.b, c.d
	Snapshot  *Ident        // initial|never|only, nil = not written
	Where     Expr          // nil = none
	Transform []*SelectItem // nil = not written (means *)
	Into      *IntoClause
	Format    *Ident
	Mode      *Ident
	Key       []*Ident
	With      []*Option
}

// Query is a REPL query: FROM binlog … [SNAPSHOT …] [WHERE …]
// [TRANSFORM …] [LIMIT n]. It is not allowed in files.
type Query struct {
	Pos     Pos
	EndPos  Pos
	Clauses []*Clause `parser:"(?= 'FROM') @@+"`

	From      []*TableName
	Snapshot  *Ident
	Where     Expr
	Transform []*SelectItem
	Limit     *int
}

// Expr is an expression node: *Literal, *ColumnRef, *Unary, *Binary,
// *IsNull, *In, *Between, *Like, *Case, *Cast, *Collate, *Call or *Paren.
type Expr interface {
	Node
	exprNode()
}

// LitKind is the kind of a Literal.
type LitKind int

// Literal kinds.
const (
	LitInt LitKind = iota
	LitFloat
	LitString
	LitBool
	LitNull
	LitTimestamp
	LitDate
	LitInterval
)

var litKindNames = [...]string{"int", "float", "string", "bool", "null", "timestamp", "date", "interval"}

// String returns the kind's name in lower case ("int", "timestamp" …).
func (k LitKind) String() string {
	if int(k) < len(litKindNames) {
		return litKindNames[k]
	}
	return "invalid"
}

// Literal is a constant. Raw is the literal as written (e.g. "'it”s'",
// "INTERVAL '5' MINUTE"); Value its text: the number as written, the
// unescaped string, "true"/"false", "" for NULL, the quoted text of a typed
// literal; Unit the upper-case unit of an INTERVAL.
type Literal struct {
	Pos    Pos
	EndPos Pos
	Kind   LitKind
	Raw    string
	Value  string
	Unit   string
	// Refs are the values of the ${NAME} and ${file:PATH} references of
	// an option's string, in Value (set by Expand): the parts a secret
	// option holds from the environment or a file.
	Refs []string
}

// ColumnRef is a column: "col", "before.col", or a metadata column such as
// "_op" (metadata columns are ordinary names starting with "_").
type ColumnRef struct {
	Pos    Pos
	EndPos Pos
	Before bool
	Name   *Ident
}

// Unary is "-x" or "NOT x".
type Unary struct {
	Pos    Pos
	EndPos Pos
	Op     string // "-" or "NOT"
	X      Expr
}

// Binary is "l op r"; Op is one of OR AND = <> != < <= > >= || + - * / %.
type Binary struct {
	Pos    Pos
	EndPos Pos
	Op     string
	L, R   Expr
}

// IsNull is "x IS [NOT] NULL".
type IsNull struct {
	Pos    Pos
	EndPos Pos
	X      Expr
	Not    bool
}

// In is "x [NOT] IN (list)".
type In struct {
	Pos    Pos
	EndPos Pos
	X      Expr
	List   []Expr
	Not    bool
}

// Between is "x [NOT] BETWEEN lo AND hi".
type Between struct {
	Pos       Pos
	EndPos    Pos
	X, Lo, Hi Expr
	Not       bool
}

// Like is "x [NOT] LIKE pattern".
type Like struct {
	Pos        Pos
	EndPos     Pos
	X, Pattern Expr
	Not        bool
}

// Case is "CASE [operand] WHEN … THEN … [ELSE …] END"; Operand is nil for
// the searched form.
type Case struct {
	Pos     Pos
	EndPos  Pos
	Operand Expr
	Whens   []*When
	Else    Expr
}

// When is one "WHEN cond THEN result" of a Case.
type When struct {
	Pos    Pos
	EndPos Pos
	Cond   Expr
	Result Expr
}

// Cast is "CAST(x AS type)" or, with Postfix, "x::type".
type Cast struct {
	Pos     Pos
	EndPos  Pos
	X       Expr
	Type    *TypeName
	Postfix bool
}

// Collate is "x COLLATE name": x compared under the collation name
// (utf8mb4_bin, …), which wins over a column's own.
type Collate struct {
	Pos    Pos
	EndPos Pos
	X      Expr
	Name   *Ident
}

// Call is a function call "f(a, b)"; Args is empty for "f()".
type Call struct {
	Pos    Pos
	EndPos Pos
	Name   *Ident
	Args   []Expr
}

// Paren is a parenthesised expression, kept so that fmt prints what the
// user wrote.
type Paren struct {
	Pos    Pos
	EndPos Pos
	X      Expr
}

func (*Literal) exprNode()   {}
func (*ColumnRef) exprNode() {}
func (*Unary) exprNode()     {}
func (*Binary) exprNode()    {}
func (*IsNull) exprNode()    {}
func (*In) exprNode()        {}
func (*Between) exprNode()   {}
func (*Like) exprNode()      {}
func (*Case) exprNode()      {}
func (*Cast) exprNode()      {}
func (*Collate) exprNode()   {}
func (*Call) exprNode()      {}
func (*Paren) exprNode()     {}

// Position returns where the node starts.
func (n *File) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *File) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Comment) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Comment) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Statement) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Statement) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Ident) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Ident) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *StringLit) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *StringLit) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Option) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Option) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *CreateSource) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *CreateSource) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *CreateSink) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *CreateSink) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *TypeName) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *TypeName) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Param) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Param) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *CreateFunction) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *CreateFunction) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *TableName) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *TableName) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *SelectItem) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *SelectItem) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *IntoClause) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *IntoClause) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *IntLit) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *IntLit) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Clause) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Clause) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *CreatePipeline) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *CreatePipeline) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Query) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Query) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *When) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *When) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Literal) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Literal) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *ColumnRef) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *ColumnRef) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Unary) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Unary) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Binary) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Binary) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *IsNull) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *IsNull) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *In) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *In) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Between) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Between) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Like) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Like) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Case) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Case) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Cast) Position() Pos { return n.Pos }

// Position returns where the node starts.
func (n *Collate) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Collate) EndPosition() Pos { return n.EndPos }

// EndPosition returns where the node ends.
func (n *Cast) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Call) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Call) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Paren) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Paren) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Show) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Show) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Describe) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Describe) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *PlanPipeline) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *PlanPipeline) EndPosition() Pos { return n.EndPos }

// Position returns where the node starts.
func (n *Help) Position() Pos { return n.Pos }

// EndPosition returns where the node ends.
func (n *Help) EndPosition() Pos { return n.EndPos }
