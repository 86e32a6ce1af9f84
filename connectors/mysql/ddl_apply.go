package mysql

import (
	"fmt"
	"sort"
	"strings"
)

// This file applies parsed DDL (ddl_parse.go) to a stored schema, the way
// the server applied it to the table: the schema history moves with the
// binlog instead of being read from information_schema, which is already at
// the table's latest shape when a reader behind the DDL meets it.

// ddlApplier applies DDL changes to schemas of one server.
type ddlApplier struct {
	// flavor is "mariadb" or "mysql": MariaDB's JSON is LONGTEXT, MySQL
	// 8 prints integer types without a display width.
	flavor string
	// defaultCollation returns a character set's default collation ("":
	// unknown); nil knows none.
	defaultCollation func(charset string) string
	// dbCharset returns a database's default character set and collation
	// ("": unknown), which a CREATE TABLE that names none gives the table;
	// nil knows none.
	dbCharset func(db string) (charset, collation string)
}

// clone returns a deep copy of t without its staleness. RenamedFrom is
// kept: a sink that has not seen a row since the rename still needs it.
func (t *table) clone() *table {
	nt := &table{Ref: t.Ref, Charset: t.Charset, Collation: t.Collation, Versioned: t.Versioned}
	for _, c := range t.Cols {
		cc := *c
		nt.Cols = append(nt.Cols, &cc)
	}
	nt.Key = append([]int(nil), t.Key...)
	return nt
}

// rebuildKey sets Key from the columns' PK positions.
func (t *table) rebuildKey() {
	t.Key = t.Key[:0]
	var idx []int
	for i, c := range t.Cols {
		if c.PK > 0 {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return t.Cols[idx[a]].PK < t.Cols[idx[b]].PK })
	for n, i := range idx {
		t.Cols[i].PK = n + 1
		t.Key = append(t.Key, i)
	}
	if len(t.Key) == 0 {
		t.Key = nil
	}
}

// alter returns t with the operations of a applied; t is not changed.
func (ap ddlApplier) alter(t *table, a *alterTable) (*table, error) {
	nt := t.clone()
	for _, op := range a.Ops {
		if err := ap.apply(nt, op); err != nil {
			return nil, fmt.Errorf("%s: %v", op.Kind, err)
		}
	}
	nt.rebuildKey()
	return nt, nil
}

// create returns the schema of a CREATE TABLE with its columns written out.
func (ap ddlApplier) create(c *createTable) (*table, error) {
	if c.Def == nil || c.AsSelect {
		return nil, fmt.Errorf("the statement does not list the table's columns")
	}
	nt := &table{Ref: c.Ref, Charset: c.Charset, Collation: c.Collation, Versioned: c.Versioned}
	cs, coll := c.Charset, c.Collation
	if cs == "" && coll == "" && ap.dbCharset != nil {
		// As the server does: the database's default. Without it the
		// table's text columns were taken as utf8mb4, and a latin1
		// database's rows reached the targets as raw latin1 bytes.
		cs, coll = ap.dbCharset(c.Ref.DB)
	}
	ap.tableCharset(nt, cs, coll)
	for _, col := range c.Def.Cols {
		d := &colDef{column: *col, HasCharset: col.Charset != "" || col.Collation != ""}
		nc, err := ap.column(nt, d)
		if err != nil {
			return nil, err
		}
		nt.Cols = append(nt.Cols, nc)
	}
	nt.rebuildKey()
	return nt, nil
}

// tableCharset sets the table's default character set and collation.
func (ap ddlApplier) tableCharset(t *table, cs, coll string) {
	switch {
	case cs != "" && coll == "":
		coll = ap.collationOf(cs)
	case cs == "" && coll != "":
		cs, _, _ = strings.Cut(coll, "_")
	}
	if cs != "" {
		t.Charset, t.Collation = cs, coll
	}
}

func (ap ddlApplier) collationOf(cs string) string {
	if ap.defaultCollation == nil {
		return ""
	}
	return ap.defaultCollation(cs)
}

// isText reports whether a column holds text in a character set.
func isText(c *column) bool {
	switch c.DataType {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return c.Charset != "binary" && !c.JSON
	}
	return false
}

// column completes a column definition for table t: its character set
// (the table's unless it names one), MariaDB's JSON, its kind.
func (ap ddlApplier) column(t *table, d *colDef) (*column, error) {
	c := d.column
	if c.DataType == "json" && ap.flavor == "mariadb" {
		c.DataType, c.ColumnType, c.JSON = "longtext", "longtext", true
		c.Charset, c.Collation = "utf8mb4", "utf8mb4_bin"
	}
	if ap.flavor == "mysql" {
		switch c.DataType {
		case "tinyint", "smallint", "mediumint", "int", "bigint":
			// MySQL 8 prints no display width (but tinyint(1)).
			if i := strings.IndexByte(c.ColumnType, '('); i > 0 && !strings.HasPrefix(c.ColumnType, "tinyint(1)") {
				j := strings.IndexByte(c.ColumnType, ')')
				c.ColumnType = c.ColumnType[:i] + c.ColumnType[j+1:]
			}
		}
	}
	if isText(&c) || c.DataType == "enum" || c.DataType == "set" {
		switch {
		case c.Charset == "" && c.Collation != "":
			c.Charset, _, _ = strings.Cut(c.Collation, "_")
		case c.Charset != "" && c.Collation == "":
			c.Collation = ap.collationOf(c.Charset)
		case c.Charset == "":
			c.Charset, c.Collation = t.defaultCharset()
		}
		if c.Charset == "binary" && isTextType(c.DataType) {
			// CHAR(n) CHARACTER SET binary is BINARY(n).
			c.DataType = map[string]string{"char": "binary", "varchar": "varbinary", "tinytext": "tinyblob",
				"text": "blob", "mediumtext": "mediumblob", "longtext": "longblob"}[c.DataType]
			c.ColumnType = c.DataType + strings.TrimPrefix(c.ColumnType, d.DataType)
			c.Collation = ""
		}
	}
	if c.Default != nil {
		dv := *c.Default
		c.Default = &dv
	}
	if err := c.classify(); err != nil {
		return nil, err
	}
	storedDefault(&c, c.Default)
	return &c, nil
}

func isTextType(dt string) bool {
	switch dt {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		return true
	}
	return false
}

// defaultCharset is the table's default character set and collation; a
// history written before tables recorded theirs takes the one of its first
// text column, else utf8mb4.
func (t *table) defaultCharset() (string, string) {
	if t.Charset != "" {
		return t.Charset, t.Collation
	}
	for _, c := range t.Cols {
		if isText(c) && c.Charset != "" {
			return c.Charset, c.Collation
		}
	}
	return "utf8mb4", ""
}

// place inserts c into t at the position op asks (the end by default).
func place(t *table, c *column, op alterOp) error {
	at := len(t.Cols)
	switch {
	case op.First:
		at = 0
	case op.After != "":
		i := t.colIndex(op.After)
		if i < 0 {
			return fmt.Errorf("AFTER %q: no such column (columns: %s)", op.After, strings.Join(t.columnNames(), ", "))
		}
		at = i + 1
	}
	t.Cols = append(t.Cols, nil)
	copy(t.Cols[at+1:], t.Cols[at:])
	t.Cols[at] = c
	return nil
}

func (ap ddlApplier) apply(t *table, op alterOp) error {
	switch op.Kind {
	case alterAddColumn:
		if t.colIndex(op.Col.Name) >= 0 {
			if op.IfNotExists {
				return nil
			}
			return fmt.Errorf("column %q already exists", op.Col.Name)
		}
		c, err := ap.column(t, op.Col)
		if err != nil {
			return err
		}
		c.PK = 0
		c.Added = true
		if c.Default == nil && !c.Nullable && c.Kind == kEnum && len(c.Members) > 0 {
			// MySQL gives the rows already there an ENUM NOT NULL's
			// first member.
			c.Default = &colDefault{Value: c.Members[0]}
		}
		return place(t, c, op)
	case alterDropColumn:
		i := t.colIndex(op.Name)
		if i < 0 {
			if op.IfExists {
				return nil
			}
			return fmt.Errorf("no column %q (columns: %s)", op.Name, strings.Join(t.columnNames(), ", "))
		}
		t.Cols = append(t.Cols[:i], t.Cols[i+1:]...)
	case alterModifyColumn, alterChangeColumn:
		i := t.colIndex(op.Name)
		if i < 0 {
			if op.IfExists {
				return nil
			}
			return fmt.Errorf("no column %q (columns: %s)", op.Name, strings.Join(t.columnNames(), ", "))
		}
		old := t.Cols[i]
		c, err := ap.column(t, op.Col)
		if err != nil {
			return err
		}
		c.PK = old.PK
		if c.PK > 0 {
			c.Nullable = false
		}
		c.RoundedFrom = old.RoundedFrom
		if c.RoundedFrom == "" && roundsValues(old, c) {
			c.RoundedFrom = old.ColumnType
		}
		if !strings.EqualFold(old.Name, c.Name) {
			c.RenamedFrom, c.Added = old.Name, true
		} else {
			c.RenamedFrom, c.Added, c.Joined, c.AddedAt = old.RenamedFrom, old.Added, old.Joined, old.AddedAt
			if !sameDefault(old.Default, c.Default) {
				forgetAdd(c)
			}
		}
		t.Cols = append(t.Cols[:i], t.Cols[i+1:]...)
		if !op.First && op.After == "" {
			// In place.
			t.Cols = append(t.Cols, nil)
			copy(t.Cols[i+1:], t.Cols[i:])
			t.Cols[i] = c
			return nil
		}
		return place(t, c, op)
	case alterRenameColumn:
		i := t.colIndex(op.Name)
		if i < 0 {
			return fmt.Errorf("no column %q (columns: %s)", op.Name, strings.Join(t.columnNames(), ", "))
		}
		if j := t.colIndex(op.NewName); j >= 0 && j != i {
			return fmt.Errorf("column %q already exists", op.NewName)
		}
		c := t.Cols[i]
		c.RenamedFrom, c.Added, c.Joined, c.AddedAt = c.Name, true, false, 0
		c.Name = op.NewName
	case alterColumnDefault:
		i := t.colIndex(op.Name)
		if i < 0 {
			return fmt.Errorf("no column %q (columns: %s)", op.Name, strings.Join(t.columnNames(), ", "))
		}
		d := op.Col.Default
		if d != nil {
			dv := *d
			d = &dv
			storedDefault(t.Cols[i], d)
		}
		if !sameDefault(t.Cols[i].Default, d) {
			forgetAdd(t.Cols[i])
		}
		t.Cols[i].Default = d
	case alterAddPrimaryKey, alterAddUniqueKey:
		if op.Kind == alterAddUniqueKey {
			// A unique key is the table's key only without a primary
			// key and when every column is NOT NULL (readKey).
			if hasPK(t) {
				return nil
			}
			for _, n := range op.Key {
				if i := t.colIndex(n); i < 0 || t.Cols[i].Nullable {
					return nil
				}
			}
		}
		for _, c := range t.Cols {
			c.PK = 0
		}
		for n, name := range op.Key {
			i := t.colIndex(name)
			if i < 0 {
				return fmt.Errorf("key column %q: no such column", name)
			}
			t.Cols[i].PK = n + 1
			t.Cols[i].Nullable = false
		}
	case alterDropPrimaryKey:
		for _, c := range t.Cols {
			c.PK = 0
		}
	case alterVersioning:
		// The hidden period pair is appended (ADD) or goes (DROP): it is
		// no column of t.Cols, only where the images end (Versioned).
		t.Versioned = op.Versioned
	case alterCharset:
		cs, coll := op.Charset, op.Collation
		if cs == "" && coll != "" {
			cs, _, _ = strings.Cut(coll, "_")
		}
		if coll == "" {
			coll = ap.collationOf(cs)
		}
		if op.Convert {
			for i, c := range t.Cols {
				if !isText(c) {
					continue
				}
				nc := *c
				nc.Charset, nc.Collation = cs, coll
				if nc.Charset == "binary" {
					nc.Collation = ""
				}
				if err := nc.classify(); err != nil {
					return err
				}
				t.Cols[i] = &nc
			}
		}
		t.Charset, t.Collation = cs, coll
	}
	return nil
}

func hasPK(t *table) bool {
	for _, c := range t.Cols {
		if c.PK > 0 {
			return true
		}
	}
	return false
}

// roundsValues reports whether MySQL changes the values of the rows
// already there when column old becomes c: fewer DECIMAL fraction digits
// or DOUBLE to FLOAT round them. (Fewer integer digits keep them: a strict
// server refuses the ALTER when one does not fit.)
func roundsValues(old, c *column) bool {
	isDec := func(k kind) bool { return k == kDecimal128 || k == kDecimal256 }
	switch {
	case isDec(old.Kind) && isDec(c.Kind):
		return c.Scale < old.Scale
	case old.Kind == kFloat64 && c.Kind == kFloat32:
		return true
	}
	return false
}

// forgetAdd unmarks a column as added (or renamed) by a DDL once a later
// DDL gives it another DEFAULT. The mark (exec.MetaAddedByDDL, with the
// ADD's version) travels with every later batch of the table — in the
// scale-out log, with every message — and a writer that meets it without
// having filled that ADD (a worker started again) fills the rows from
// before the ADD with the column's DEFAULT as the batch has it: after
// ALTER COLUMN … SET DEFAULT, the new one, which no row at the source
// holds (the trial's 311563 rows read 9.999 where MySQL had 1.500). The
// ADD's own change still carries the mark and the ADD's DEFAULT, so a
// replay from before it fills as before. TestSetDefaultThenWorkerRestartScaleOut.
func forgetAdd(c *column) {
	if c.RenamedFrom != "" && c.Added {
		return // a rename fills with the old column's values, not a DEFAULT
	}
	c.Added, c.AddedAt = false, 0
}

// sameDefault says whether two DEFAULTs are the same.
func sameDefault(a, b *colDefault) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Null == b.Null && a.Value == b.Value && a.Number == b.Number && a.Expr == b.Expr && string(a.Bin) == string(b.Bin)
}
