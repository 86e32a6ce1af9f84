package mysql

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

var _ connectors.WhereMatcher = (*Source)(nil)

// matchRows is how many rows one query of MatchWhere evaluates.
const matchRows = 200

// MatchWhere evaluates where in the server over rows made of literals of
// the table's column types: each row is a SELECT of one CAST per column
// (CAST(… AS DECIMAL(12,2)), CAST(… AS CHAR CHARACTER SET latin1) COLLATE
// latin1_swedish_ci, FROM_BASE64(…) for binary …), the rows a UNION ALL
// derived table named as the table, and where its WHERE. So a comparison
// is made as MariaDB makes it over the table itself (a case-insensitive
// collation, a DECIMAL against a float, dates), on a connection in UTC
// as the snapshot's (TIMESTAMP values are UTC). The table is not read.
func (s *Source) MatchWhere(ctx context.Context, table connectors.TableRef, cols []arrow.Field, where string, rows []map[string]*string) ([]bool, error) {
	if err := checkWhere(where); err != nil {
		return nil, err
	}
	out := make([]bool, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	if where == "" {
		for i := range out {
			out[i] = true
		}
		return out, nil
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for lo := 0; lo < len(rows); lo += matchRows {
		hi := min(lo+matchRows, len(rows))
		var q strings.Builder
		q.WriteString("SELECT `__etlq_i` FROM (")
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteString(" UNION ALL ")
			}
			fmt.Fprintf(&q, "SELECT %d AS `__etlq_i`", i)
			for _, f := range cols {
				q.WriteString(", ")
				q.WriteString(typedLiteral(f, rows[i][f.Name]))
				q.WriteString(" AS ")
				q.WriteString(quoteIdent(f.Name))
			}
		}
		q.WriteString(") AS ")
		q.WriteString(quoteIdent(table.Table))
		q.WriteString(" WHERE ")
		q.WriteString(whereOf(where))
		r, err := c.Execute(q.String())
		if err != nil {
			return nil, fmt.Errorf("--where %q over the rows of %s: %v", where, table, err)
		}
		for k := range r.Values {
			n, err := r.GetInt(k, 0)
			if err != nil || n < int64(lo) || n >= int64(hi) {
				return nil, fmt.Errorf("--where %q over the rows of %s: unexpected row number %d (%v)", where, table, n, err)
			}
			out[n] = true
		}
	}
	return out, nil
}

// typedLiteral is the SQL expression of value v (nil: NULL) of column f
// with f's source type: CAST of the text (a hex literal: no quoting), or
// FROM_BASE64 for a binary column's base64 text.
func typedLiteral(f arrow.Field, v *string) string {
	lit := "NULL"
	if v != nil {
		lit = "_utf8mb4 X'" + hex.EncodeToString([]byte(*v)) + "'"
	}
	st, _ := f.Metadata.GetValue(exec.MetaSourceType)
	st = strings.ToLower(st)
	base, args := st, ""
	if i := strings.IndexAny(base, "( "); i >= 0 {
		base = st[:i]
		if st[i] == '(' {
			if j := strings.IndexByte(st[i:], ')'); j > 0 {
				args = st[i+1 : i+j]
			}
		}
	}
	unsigned := strings.Contains(st, "unsigned")
	fsp := 0
	if n, err := strconv.Atoi(args); err == nil {
		fsp = n
	}
	switch base {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "bool", "boolean":
		if unsigned {
			return "CAST(" + lit + " AS UNSIGNED)"
		}
		return "CAST(" + lit + " AS SIGNED)"
	case "year", "bit":
		return "CAST(" + lit + " AS UNSIGNED)"
	case "decimal", "numeric", "dec", "fixed":
		if args == "" {
			args = "10,0"
		}
		return "CAST(" + lit + " AS DECIMAL(" + args + "))"
	case "float":
		return "CAST(" + lit + " AS FLOAT)"
	case "double", "real":
		return "CAST(" + lit + " AS DOUBLE)"
	case "date":
		return "CAST(" + lit + " AS DATE)"
	case "datetime", "timestamp":
		// (A TIMESTAMP compares in the session's time zone, UTC here
		// as in the snapshot's, where its value is.)
		return fmt.Sprintf("CAST(%s AS DATETIME(%d))", lit, fsp)
	case "time":
		return fmt.Sprintf("CAST(%s AS TIME(%d))", lit, fsp)
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return "FROM_BASE64(" + lit + ")"
	case "uuid", "inet6", "inet4":
		return "CAST(" + lit + " AS " + strings.ToUpper(base) + ")"
	case "json":
		return "CAST(" + lit + " AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin"
	}
	// Text: CHAR, VARCHAR, TEXT, ENUM, SET, in the column's collation.
	// (An ENUM or SET in a numeric context is its index in the table,
	// which a text value is not: `e = 2` compares the text with 2.)
	coll, _ := f.Metadata.GetValue(exec.MetaCollation)
	if coll == "" || !validCollation(coll) {
		return "CAST(" + lit + " AS CHAR CHARACTER SET utf8mb4)"
	}
	cs, _, _ := strings.Cut(coll, "_")
	if coll == "binary" {
		return "CAST(" + lit + " AS BINARY)"
	}
	return "CAST(" + lit + " AS CHAR CHARACTER SET " + cs + ") COLLATE " + coll
}

// validCollation: a collation name is letters, digits and underscores
// (it is written into the query unquoted).
func validCollation(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
