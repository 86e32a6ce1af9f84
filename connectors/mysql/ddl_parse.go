package mysql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	pmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/types"

	// The parser's value expressions need a driver; test_driver is the
	// small one without TiDB's runtime (go-mysql's canal uses it too).
	driver "github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/etlq/etlq/connectors"
)

// This file turns the text of a DDL statement, as the binlog's query event
// carries it, into typed schema changes (ddl_apply.go applies them to a
// stored schema). It parses with the TiDB SQL parser, so a statement is
// recognised however it is written: comments, line breaks, executable
// comments (/*!…*/), back-quoted and qualified names, several tables in one
// statement. Names without a database are resolved against the event's
// default database.

// ddlChange is one schema change a DDL statement makes: *createTable,
// *dropTable, *renameTable, *truncateTable or *alterTable.
type ddlChange interface {
	// tables returns the tables the change reads or writes.
	tables() []connectors.TableRef
}

// createTable is CREATE TABLE. Def holds the columns and key written in the
// statement (nil for LIKE); AsSelect marks CREATE TABLE … SELECT, whose
// columns the text alone does not give.
type createTable struct {
	Ref         connectors.TableRef
	IfNotExists bool
	Temporary   bool
	Like        *connectors.TableRef
	AsSelect    bool
	Def         *table
	// Charset and Collation are the table's default character set and
	// collation, when the statement names them.
	Charset, Collation string
	// Filled, when set, names the statement that made the table with
	// rows no row event carries (MariaDB's CONVERT PARTITION … TO
	// TABLE, rows_ddl.go): it joins the stream with a snapshot.
	Filled string
	// Versioned says WITH SYSTEM VERSIONING: the table gets the hidden
	// period pair (table.Versioned).
	Versioned bool
}

// dropTable is one table of DROP TABLE.
type dropTable struct {
	Ref       connectors.TableRef
	IfExists  bool
	Temporary bool
}

// renameTable is one pair of RENAME TABLE (or ALTER TABLE … RENAME TO).
type renameTable struct {
	From, To connectors.TableRef
}

// truncateTable is TRUNCATE TABLE.
type truncateTable struct {
	Ref connectors.TableRef
}

// alterTable is ALTER TABLE: its operations in statement order. A RENAME TO
// inside it is returned as a separate *renameTable after it.
type alterTable struct {
	Ref connectors.TableRef
	Ops []alterOp
	// Rows, when set, names the partition operation of the statement
	// that changes the table's rows without a row event in the binlog
	// (TRUNCATE, DROP or EXCHANGE PARTITION): the rows it removes or
	// brings in reach no target unless the table is read again
	// (rows_ddl.go). Exchange is the other table of EXCHANGE PARTITION
	// … WITH TABLE, whose rows change as well.
	Rows     string
	Exchange *connectors.TableRef
}

func (c *createTable) tables() []connectors.TableRef {
	if c.Like != nil {
		return []connectors.TableRef{c.Ref, *c.Like}
	}
	return []connectors.TableRef{c.Ref}
}
func (c *dropTable) tables() []connectors.TableRef     { return []connectors.TableRef{c.Ref} }
func (c *renameTable) tables() []connectors.TableRef   { return []connectors.TableRef{c.From, c.To} }
func (c *truncateTable) tables() []connectors.TableRef { return []connectors.TableRef{c.Ref} }
func (c *alterTable) tables() []connectors.TableRef    { return []connectors.TableRef{c.Ref} }

// alterKind is what one ALTER TABLE operation does.
type alterKind uint8

const (
	alterAddColumn      alterKind = iota + 1 // ADD [COLUMN] Col [FIRST | AFTER After]
	alterDropColumn                          // DROP [COLUMN] Name
	alterModifyColumn                        // MODIFY [COLUMN] Col [FIRST | AFTER After]
	alterChangeColumn                        // CHANGE [COLUMN] Name Col [FIRST | AFTER After]
	alterRenameColumn                        // RENAME COLUMN Name TO NewName
	alterColumnDefault                       // ALTER [COLUMN] Name SET DEFAULT … | DROP DEFAULT
	alterAddPrimaryKey                       // ADD PRIMARY KEY (Key)
	alterDropPrimaryKey                      // DROP PRIMARY KEY
	alterAddUniqueKey                        // ADD UNIQUE (Key)
	alterCharset                             // [DEFAULT] CHARACTER SET / COLLATE; Convert: CONVERT TO
	alterVersioning                          // ADD SYSTEM VERSIONING (Versioned) | DROP SYSTEM VERSIONING
)

func (k alterKind) String() string {
	switch k {
	case alterAddColumn:
		return "add column"
	case alterDropColumn:
		return "drop column"
	case alterModifyColumn:
		return "modify column"
	case alterChangeColumn:
		return "change column"
	case alterRenameColumn:
		return "rename column"
	case alterColumnDefault:
		return "alter column default"
	case alterAddPrimaryKey:
		return "add primary key"
	case alterDropPrimaryKey:
		return "drop primary key"
	case alterAddUniqueKey:
		return "add unique key"
	case alterCharset:
		return "character set"
	case alterVersioning:
		return "system versioning"
	}
	return "alter"
}

// alterOp is one operation of ALTER TABLE.
type alterOp struct {
	Kind alterKind
	// Col is the new definition (add, modify, change; the default only for
	// alterColumnDefault).
	Col *colDef
	// Name is the column the operation changes (drop, change, rename,
	// alter default); NewName is a renamed column's new name.
	Name, NewName string
	// First and After place an added, modified or changed column.
	First bool
	After string
	// Key lists the columns of an added primary or unique key.
	Key []string
	// Charset and Collation of alterCharset; Convert says CONVERT TO
	// (the string columns change too), not only the table default.
	Charset, Collation string
	Convert            bool
	// IfExists / IfNotExists are MariaDB's guards on columns.
	IfExists, IfNotExists bool
	// Versioned is alterVersioning's ADD (true) or DROP (false).
	Versioned bool
}

// colDef is a column definition from a DDL statement.
type colDef struct {
	column
	// HasCharset says the definition named its character set or
	// collation; otherwise a string column takes the table's default.
	HasCharset bool
	// PrimaryKey and Unique are inline key attributes.
	PrimaryKey, Unique bool
	// Generated is a generated (computed) column.
	Generated bool
}

// colDefault is a column's DEFAULT (column.Default): NULL, a literal value (Value, as
// MySQL would print it, unquoted), or an expression (Expr, SQL text: its
// value for existing rows is not known from the statement).
type colDefault struct {
	Null  bool
	Value string
	// Number says Value is a numeric literal.
	Number bool
	Expr   string
	// Bin holds the bytes of an x'…' or b'…' literal (Value is then
	// empty); storedDefault makes them the column's value. JSON keeps
	// them as base64: a string would lose bytes that are not UTF-8.
	Bin []byte `json:",omitempty"`
}

// literal returns the default as SQL: a number, a quoted string, or the
// expression's text (exec.MetaDefault).
func (d *colDefault) literal() string {
	switch {
	case d.Null:
		return "NULL"
	case d.Expr != "":
		return d.Expr
	case d.Number:
		return d.Value
	case d.Bin != nil:
		return "'" + strings.ReplaceAll(string(d.Bin), "'", "''") + "'"
	}
	return "'" + strings.ReplaceAll(d.Value, "'", "''") + "'"
}

// ddlSyntaxError is a statement the parser rejects: MariaDB-only syntax,
// say. Tables lists the tables the statement names, as far as a plain scan
// of its words tells.
type ddlSyntaxError struct {
	Query string
	Err   error
}

func (e *ddlSyntaxError) Error() string {
	return fmt.Sprintf("cannot parse DDL %q: %s", abbreviate(e.Query, 200), firstLine(e.Err))
}

// parseDDL parses the statement text q of a query event whose default
// database is db, and returns its schema changes in order. Statements that
// change no table (CREATE USER, GRANT, CREATE DATABASE …) give none. A
// statement the parser rejects gives a *ddlSyntaxError.
func parseDDL(db, q string) (changes []ddlChange, err error) {
	defer func() {
		// A statement that trips the parser or an AST case not foreseen
		// is a statement etlq cannot apply, not a crash of the stream.
		if v := recover(); v != nil {
			changes, err = nil, &ddlSyntaxError{Query: q, Err: fmt.Errorf("parser failure: %v", v)}
		}
	}()
	if q2, with, add, drop := versioningClauses(q); q2 != q && !declaresPeriod(q) {
		return parseVersioned(db, q, q2, with, add, drop)
	}
	p := parser.New()
	// ANSI_QUOTES is off on the servers etlq reads: "x" is a string.
	stmts, _, err := p.Parse(q, "", "")
	if err != nil {
		// MariaDB syntax TiDB does not know: try once more without the
		// clauses that change no schema.
		if q2 := stripMariaDBClauses(q); q2 != q {
			if stmts, _, err = p.Parse(q2, "", ""); err == nil {
				return ddlChangesOf(db, stmts)
			}
		}
		if ch, ok := convertPartition(db, q); ok {
			return ch, nil
		}
		return nil, &ddlSyntaxError{Query: q, Err: err}
	}
	return ddlChangesOf(db, stmts)
}

// parseVersioned parses q, a statement with system-versioning clauses,
// as q2, the statement without them, and adds what they do: a CREATE's
// table is versioned, an ALTER adds or drops the versioning (an ALTER
// that does nothing else is one without operations).
func parseVersioned(db, q, q2 string, with, add, drop bool) ([]ddlChange, error) {
	changes, err := parseDDL(db, q2)
	if err != nil && (add || drop) {
		w := ddlWords(q2)
		refs := ddlTargets(db, q2)
		last := len(w)
		for last > 0 && w[last-1].text == ";" {
			last--
		}
		if len(refs) == 1 && last > 0 && w[0].text != "" && strings.EqualFold(w[0].text, "ALTER") &&
			(w[last-1].quoted || isWordByte(w[last-1].text[0])) && strings.EqualFold(w[last-1].text, refs[0].Table) {
			changes, err = []ddlChange{&alterTable{Ref: refs[0]}}, nil
		}
	}
	if err != nil {
		if se, ok := err.(*ddlSyntaxError); ok {
			se.Query = q
		}
		return nil, err
	}
	for _, ch := range changes {
		switch c := ch.(type) {
		case *createTable:
			c.Versioned = c.Versioned || with
		case *alterTable:
			if add {
				c.Ops = append(c.Ops, alterOp{Kind: alterVersioning, Versioned: true})
			}
			if drop {
				c.Ops = append(c.Ops, alterOp{Kind: alterVersioning})
			}
		}
	}
	return changes, nil
}

func ddlChangesOf(db string, stmts []ast.StmtNode) ([]ddlChange, error) {
	var out []ddlChange
	for _, s := range stmts {
		ch, err := changesOfStmt(db, s)
		if err != nil {
			return nil, err
		}
		out = append(out, ch...)
	}
	return out, nil
}

func refOf(db string, t *ast.TableName) connectors.TableRef {
	r := connectors.TableRef{DB: t.Schema.O, Table: t.Name.O}
	if r.DB == "" {
		r.DB = db
	}
	return r
}

func changesOfStmt(db string, s ast.StmtNode) ([]ddlChange, error) {
	switch n := s.(type) {
	case *ast.CreateTableStmt:
		c := &createTable{Ref: refOf(db, n.Table), IfNotExists: n.IfNotExists, Temporary: n.TemporaryKeyword != ast.TemporaryNone}
		if n.ReferTable != nil {
			like := refOf(db, n.ReferTable)
			c.Like = &like
			return []ddlChange{c}, nil
		}
		for _, o := range n.Options {
			switch o.Tp {
			case ast.TableOptionCharset:
				c.Charset = strings.ToLower(o.StrValue)
			case ast.TableOptionCollate:
				c.Collation = strings.ToLower(o.StrValue)
			}
		}
		c.AsSelect = n.Select != nil
		t := &table{Ref: c.Ref}
		var pk []string
		var uniques [][]string
		for _, cd := range n.Cols {
			d, err := columnDefOf(cd)
			if err != nil {
				return nil, fmt.Errorf("CREATE TABLE %s: %v", c.Ref, err)
			}
			if d.PrimaryKey {
				pk = []string{d.Name}
			}
			if d.Unique {
				uniques = append(uniques, []string{d.Name})
			}
			col := d.column
			t.Cols = append(t.Cols, &col)
		}
		for _, con := range n.Constraints {
			switch con.Tp {
			case ast.ConstraintPrimaryKey:
				pk = keyColumns(con)
			case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
				uniques = append(uniques, keyColumns(con))
			}
		}
		setKey(t, pk, uniques)
		c.Def = t
		return []ddlChange{c}, nil
	case *ast.DropTableStmt:
		if n.IsView {
			return nil, nil
		}
		var out []ddlChange
		for _, t := range n.Tables {
			out = append(out, &dropTable{Ref: refOf(db, t), IfExists: n.IfExists, Temporary: n.TemporaryKeyword != ast.TemporaryNone})
		}
		return out, nil
	case *ast.RenameTableStmt:
		var out []ddlChange
		for _, tt := range n.TableToTables {
			out = append(out, &renameTable{From: refOf(db, tt.OldTable), To: refOf(db, tt.NewTable)})
		}
		return out, nil
	case *ast.TruncateTableStmt:
		return []ddlChange{&truncateTable{Ref: refOf(db, n.Table)}}, nil
	case *ast.AlterTableStmt:
		return alterChanges(db, n)
	}
	return nil, nil
}

func alterChanges(db string, n *ast.AlterTableStmt) ([]ddlChange, error) {
	a := &alterTable{Ref: refOf(db, n.Table)}
	out := []ddlChange{a}
	pos := func(sp *ast.AlterTableSpec, op *alterOp) {
		if sp.Position == nil {
			return
		}
		switch sp.Position.Tp {
		case ast.ColumnPositionFirst:
			op.First = true
		case ast.ColumnPositionAfter:
			op.After = sp.Position.RelativeColumn.Name.O
		}
	}
	for _, sp := range n.Specs {
		switch sp.Tp {
		case ast.AlterTableAddColumns:
			for i, cd := range sp.NewColumns {
				d, err := columnDefOf(cd)
				if err != nil {
					return nil, fmt.Errorf("ALTER TABLE %s: %v", a.Ref, err)
				}
				op := alterOp{Kind: alterAddColumn, Col: d, IfNotExists: sp.IfNotExists}
				if i == 0 {
					pos(sp, &op)
				} else {
					// ADD (a INT, b INT): each after the one before.
					op.After = sp.NewColumns[i-1].Name.Name.O
				}
				a.Ops = append(a.Ops, op)
				if d.PrimaryKey {
					a.Ops = append(a.Ops, alterOp{Kind: alterAddPrimaryKey, Key: []string{d.Name}})
				}
			}
			for _, con := range sp.NewConstraints {
				if op, ok := keyOp(con); ok {
					a.Ops = append(a.Ops, op)
				}
			}
		case ast.AlterTableDropColumn:
			a.Ops = append(a.Ops, alterOp{Kind: alterDropColumn, Name: sp.OldColumnName.Name.O, IfExists: sp.IfExists})
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			d, err := columnDefOf(sp.NewColumns[0])
			if err != nil {
				return nil, fmt.Errorf("ALTER TABLE %s: %v", a.Ref, err)
			}
			op := alterOp{Kind: alterModifyColumn, Col: d, Name: d.Name, IfExists: sp.IfExists}
			if sp.Tp == ast.AlterTableChangeColumn {
				op.Kind, op.Name = alterChangeColumn, sp.OldColumnName.Name.O
			}
			pos(sp, &op)
			a.Ops = append(a.Ops, op)
			if d.PrimaryKey {
				a.Ops = append(a.Ops, alterOp{Kind: alterAddPrimaryKey, Key: []string{d.Name}})
			}
		case ast.AlterTableRenameColumn:
			a.Ops = append(a.Ops, alterOp{Kind: alterRenameColumn, Name: sp.OldColumnName.Name.O, NewName: sp.NewColumnName.Name.O})
		case ast.AlterTableAlterColumn:
			cd := sp.NewColumns[0]
			op := alterOp{Kind: alterColumnDefault, Name: cd.Name.Name.O, Col: &colDef{}}
			op.Col.Name = op.Name
			// SET DEFAULT gives an option without a type; DROP DEFAULT none.
			for _, o := range cd.Options {
				if o.Expr != nil {
					op.Col.Default = defaultOf(o.Expr)
				}
			}
			a.Ops = append(a.Ops, op)
		case ast.AlterTableAddConstraint:
			if op, ok := keyOp(sp.Constraint); ok {
				a.Ops = append(a.Ops, op)
			}
		case ast.AlterTableDropPrimaryKey:
			a.Ops = append(a.Ops, alterOp{Kind: alterDropPrimaryKey})
		case ast.AlterTableOption:
			op := alterOp{Kind: alterCharset}
			for _, o := range sp.Options {
				switch o.Tp {
				case ast.TableOptionCharset:
					op.Charset = strings.ToLower(o.StrValue)
					op.Convert = o.UintValue == ast.TableOptionCharsetWithConvertTo
				case ast.TableOptionCollate:
					op.Collation = strings.ToLower(o.StrValue)
				}
			}
			if op.Charset != "" || op.Collation != "" {
				a.Ops = append(a.Ops, op)
			}
		case ast.AlterTableRenameTable:
			out = append(out, &renameTable{From: a.Ref, To: refOf(a.Ref.DB, sp.NewTable)})
		case ast.AlterTableTruncatePartition:
			a.Rows = "TRUNCATE PARTITION"
		case ast.AlterTableDropPartition:
			a.Rows = "DROP PARTITION"
		case ast.AlterTableExchangePartition:
			with := refOf(a.Ref.DB, sp.NewTable)
			a.Rows, a.Exchange = "EXCHANGE PARTITION … WITH TABLE "+with.String(), &with
		}
	}
	return out, nil
}

func keyOp(con *ast.Constraint) (alterOp, bool) {
	if con == nil {
		return alterOp{}, false
	}
	switch con.Tp {
	case ast.ConstraintPrimaryKey:
		return alterOp{Kind: alterAddPrimaryKey, Key: keyColumns(con)}, true
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		return alterOp{Kind: alterAddUniqueKey, Key: keyColumns(con)}, true
	}
	return alterOp{}, false
}

func keyColumns(con *ast.Constraint) []string {
	var out []string
	for _, k := range con.Keys {
		if k.Column != nil {
			out = append(out, k.Column.Name.O)
		}
	}
	return out
}

// setKey sets t's key: the primary key, else the first unique key whose
// columns are all NOT NULL (as readKey does).
func setKey(t *table, pk []string, uniques [][]string) {
	t.Key = nil
	for _, c := range t.Cols {
		c.PK = 0
	}
	cand := pk
	if cand == nil {
		for _, u := range uniques {
			ok := len(u) > 0
			for _, n := range u {
				if i := t.colIndex(n); i < 0 || t.Cols[i].Nullable {
					ok = false
				}
			}
			if ok {
				cand = u
				break
			}
		}
	}
	for _, n := range cand {
		if i := t.colIndex(n); i >= 0 {
			t.Key = append(t.Key, i)
			t.Cols[i].PK = len(t.Key)
			t.Cols[i].Nullable = false
		}
	}
}

// columnDefOf converts a parsed column definition. The character set of a
// string column without one is left empty for the table's default.
func columnDefOf(cd *ast.ColumnDef) (*colDef, error) {
	d := &colDef{column: column{Name: cd.Name.Name.O, Nullable: true}}
	if err := typeOf(cd.Tp, d); err != nil {
		return nil, fmt.Errorf("column %q: %v", d.Name, err)
	}
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			d.Nullable = false
		case ast.ColumnOptionNull:
			d.Nullable = true
		case ast.ColumnOptionPrimaryKey:
			d.PrimaryKey, d.Nullable = true, false
		case ast.ColumnOptionUniqKey:
			d.Unique = true
		case ast.ColumnOptionDefaultValue:
			d.Default = defaultOf(o.Expr)
		case ast.ColumnOptionCollate:
			d.Collation, d.HasCharset = strings.ToLower(o.StrValue), true
		case ast.ColumnOptionGenerated:
			d.Generated = true
		case ast.ColumnOptionCheck:
			// MariaDB's JSON is LONGTEXT CHECK (json_valid(col)).
			if o.Expr != nil && strings.EqualFold(restore(o.Expr), "json_valid(`"+d.Name+"`)") && d.DataType == "longtext" {
				d.JSON = true
			}
		}
	}
	return d, nil
}

// restore prints an expression back as SQL text.
func restore(e ast.Node) string {
	var b strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.RestoreStringSingleQuotes|format.RestoreKeyWordUppercase|format.RestoreNameBackQuotes, &b)); err != nil {
		return ""
	}
	return b.String()
}

// defaultOf reads a DEFAULT clause.
func defaultOf(e ast.ExprNode) *colDefault {
	neg := false
	if u, ok := e.(*ast.UnaryOperationExpr); ok && (u.Op == opcode.Minus || u.Op == opcode.Plus) {
		neg = u.Op == opcode.Minus
		e = u.V
	}
	if p, ok := e.(*ast.ParenthesesExpr); ok && !neg {
		if v, ok := p.Expr.(ast.ValueExpr); ok {
			e = v
		}
	}
	v, ok := e.(ast.ValueExpr)
	if !ok {
		return &colDefault{Expr: restore(e)}
	}
	val := v.GetValue()
	d := &colDefault{}
	switch x := val.(type) {
	case nil:
		d.Null = true
		return d
	case int64:
		d.Value, d.Number = strconv.FormatInt(x, 10), true
	case uint64:
		d.Value, d.Number = strconv.FormatUint(x, 10), true
	case float64:
		d.Value, d.Number = strconv.FormatFloat(x, 'g', -1, 64), true
	case float32:
		d.Value, d.Number = strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case string:
		d.Value = x
	case []byte:
		d.Value = string(x)
	case driver.BinaryLiteral: // x'…', b'…'
		if neg {
			return &colDefault{Expr: "-" + restore(e)}
		}
		d.Bin = append([]byte{}, x...)
		return d
	case fmt.Stringer: // decimal literals
		d.Value = x.String()
		_, isNum := strconv.ParseFloat(d.Value, 64)
		d.Number = isNum == nil
	default:
		return &colDefault{Expr: restore(e)}
	}
	if neg {
		if !d.Number {
			return &colDefault{Expr: "-" + restore(e)}
		}
		d.Value = "-" + d.Value
	}
	return d
}

// typeOf fills the type fields of d from a parsed field type, the way
// information_schema describes them (MariaDB's spelling: int(11)).
func typeOf(ft *types.FieldType, d *colDef) error {
	flen, dec := ft.GetFlen(), ft.GetDecimal()
	unsigned := pmysql.HasUnsignedFlag(ft.GetFlag())
	zerofill := pmysql.HasZerofillFlag(ft.GetFlag())
	cs, coll := strings.ToLower(ft.GetCharset()), strings.ToLower(ft.GetCollate())
	if cs != "" || coll != "" {
		d.HasCharset = true
		d.Charset, d.Collation = cs, coll
	}
	binaryFlag := pmysql.HasBinaryFlag(ft.GetFlag()) || cs == "binary"
	suffix := ""
	if unsigned {
		suffix += " unsigned"
	}
	if zerofill {
		suffix += " zerofill"
	}
	ints := func(name string, width, uwidth int) {
		d.DataType = name
		w := flen
		if w <= 0 {
			w = width
			if unsigned {
				w = uwidth
			}
		}
		d.ColumnType = name + "(" + strconv.Itoa(w) + ")" + suffix
	}
	withLen := func(name string, n int) string {
		if n < 0 {
			return name
		}
		return name + "(" + strconv.Itoa(n) + ")"
	}
	switch ft.GetType() {
	case pmysql.TypeTiny:
		ints("tinyint", 4, 3)
	case pmysql.TypeShort:
		ints("smallint", 6, 5)
	case pmysql.TypeInt24:
		ints("mediumint", 9, 8)
	case pmysql.TypeLong:
		ints("int", 11, 10)
	case pmysql.TypeLonglong:
		ints("bigint", 20, 20)
	case pmysql.TypeFloat:
		d.DataType, d.ColumnType = "float", "float"+suffix
		if flen > 0 && dec >= 0 {
			d.ColumnType = "float(" + strconv.Itoa(flen) + "," + strconv.Itoa(dec) + ")" + suffix
		}
	case pmysql.TypeDouble:
		d.DataType, d.ColumnType = "double", "double"+suffix
		if flen > 0 && dec >= 0 {
			d.ColumnType = "double(" + strconv.Itoa(flen) + "," + strconv.Itoa(dec) + ")" + suffix
		}
	case pmysql.TypeNewDecimal:
		if flen <= 0 {
			flen = 10
		}
		if dec < 0 {
			dec = 0
		}
		d.DataType, d.Precision, d.Scale = "decimal", flen, dec
		d.ColumnType = "decimal(" + strconv.Itoa(flen) + "," + strconv.Itoa(dec) + ")" + suffix
	case pmysql.TypeBit:
		if flen <= 0 {
			flen = 1
		}
		d.DataType, d.ColumnType = "bit", withLen("bit", flen)
	case pmysql.TypeDate:
		d.DataType, d.ColumnType = "date", "date"
	case pmysql.TypeDatetime, pmysql.TypeTimestamp, pmysql.TypeDuration:
		name := map[byte]string{pmysql.TypeDatetime: "datetime", pmysql.TypeTimestamp: "timestamp", pmysql.TypeDuration: "time"}[ft.GetType()]
		if dec < 0 {
			dec = 0
		}
		d.DataType, d.Scale, d.ColumnType = name, dec, withFsp(name, dec)
	case pmysql.TypeYear:
		d.DataType, d.ColumnType = "year", "year(4)"
	case pmysql.TypeString:
		if t := fixedBinOf(flen); t != "" && binaryFlag {
			// MariaDB's UUID, INET6 or INET4 (stripMariaDBClauses).
			d.DataType, d.ColumnType = t, t
			d.Charset, d.Collation, d.HasCharset = "", "", false
			break
		}
		if binaryFlag && (cs == "binary" || cs == "") {
			if flen < 0 {
				flen = 1
			}
			d.DataType, d.ColumnType, d.OctetLen = "binary", withLen("binary", flen), flen
			d.Charset, d.Collation = "binary", ""
		} else {
			if flen < 0 {
				flen = 1
			}
			d.DataType, d.ColumnType = "char", withLen("char", flen)
		}
	case pmysql.TypeVarchar, pmysql.TypeVarString:
		if binaryFlag && (cs == "binary" || cs == "") {
			d.DataType, d.ColumnType = "varbinary", withLen("varbinary", flen)
			d.Charset, d.Collation = "binary", ""
		} else {
			d.DataType, d.ColumnType = "varchar", withLen("varchar", flen)
		}
	case pmysql.TypeTinyBlob, pmysql.TypeBlob, pmysql.TypeMediumBlob, pmysql.TypeLongBlob:
		size := map[byte]string{pmysql.TypeTinyBlob: "tiny", pmysql.TypeBlob: "", pmysql.TypeMediumBlob: "medium", pmysql.TypeLongBlob: "long"}[ft.GetType()]
		if binaryFlag && (cs == "binary" || cs == "") {
			d.DataType = size + "blob"
			d.Charset, d.Collation = "binary", ""
		} else {
			d.DataType = size + "text"
		}
		d.ColumnType = d.DataType
	case pmysql.TypeEnum, pmysql.TypeSet:
		d.DataType = "enum"
		if ft.GetType() == pmysql.TypeSet {
			d.DataType = "set"
		}
		d.Members = append([]string(nil), ft.GetElems()...)
		d.ColumnType = strings.ToLower(d.DataType + "(" + quoteMembers(d.Members) + ")")
	case pmysql.TypeJSON:
		d.DataType, d.ColumnType = "json", "json"
	case pmysql.TypeGeometry:
		d.DataType, d.ColumnType = "geometry", "geometry"
	default:
		return fmt.Errorf("type %s is not supported", ft.String())
	}
	return nil
}
