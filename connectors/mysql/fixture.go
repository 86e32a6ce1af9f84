package mysql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// FieldOf returns the Arrow field, with the etlq metadata, that this source
// gives a column of the MySQL type columnType (as COLUMN_TYPE writes it:
// "int(11) unsigned", "decimal(12,2)", "datetime(6)", "enum('a','b')", or
// "json" for a MariaDB JSON column), so that a pipeline test (`etlq test`)
// types its input exactly as a live source would. collation is the text
// column's collation ("": the character set's default, utf8mb4); pk is the
// 1-based position in the primary key, 0 if none.
func FieldOf(name, columnType, collation string, nullable bool, pk int) (arrow.Field, error) {
	ct := strings.ToLower(strings.TrimSpace(columnType))
	dt := ct
	if i := strings.IndexAny(dt, "( "); i >= 0 {
		dt = dt[:i]
	}
	c := &column{Name: name, DataType: dt, ColumnType: ct, Nullable: nullable, PK: pk, Collation: strings.ToLower(collation)}
	args := func() []int {
		open, end := strings.IndexByte(ct, '('), strings.IndexByte(ct, ')')
		if open < 0 || end < open {
			return nil
		}
		var out []int
		for _, s := range strings.Split(ct[open+1:end], ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	switch dt {
	case "decimal", "numeric":
		c.Precision, c.Scale = 10, 0
		if a := args(); len(a) >= 1 {
			c.Precision = a[0]
			if len(a) == 2 {
				c.Scale = a[1]
			}
		}
	case "datetime", "timestamp", "time":
		if a := args(); len(a) == 1 {
			c.Scale = a[0]
		}
	case "binary":
		c.OctetLen = 1
		if a := args(); len(a) == 1 {
			c.OctetLen = a[0]
		}
	case "enum", "set":
		// Members keep their case, as in the fixture (ColumnTypeOf).
		c.Members = parseMembers(strings.TrimSpace(columnType))
	}
	if isTextType(dt) {
		if c.Collation == "" {
			c.Collation = "utf8mb4_general_ci"
		}
		c.Charset, _, _ = strings.Cut(c.Collation, "_")
	}
	if err := c.classify(); err != nil {
		return arrow.Field{}, err
	}
	return c.field(), nil
}

// ColumnTypeOf is the inverse of FieldOf: the column type a field of a
// source batch was made from (its exec.MetaSourceType, or "json" for a
// MariaDB JSON column), and its collation.
func ColumnTypeOf(f arrow.Field) (string, string, error) {
	st, ok := f.Metadata.GetValue(exec.MetaSourceType)
	if !ok {
		return "", "", fmt.Errorf("column %q has no source type", f.Name)
	}
	if lt, _ := f.Metadata.GetValue(exec.MetaLogicalType); lt == "json" {
		st = "json"
	}
	coll, _ := f.Metadata.GetValue(exec.MetaCollation)
	return st, coll, nil
}
