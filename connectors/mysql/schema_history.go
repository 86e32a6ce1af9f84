package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/exec"
)

// schemaFromTableMap builds the schema an event was written with from its
// TABLE_MAP, when the server logs full row metadata (column names,
// signedness, charsets, ENUM/SET members). Columns whose name and binlog
// type match cur are taken from cur (keeping their exact source type); the
// others are synthesized. It is how a reader that lags behind several DDLs
// still decodes each event with the schema it was written with.
func (r *binlogReader) schemaFromTableMap(e *replication.TableMapEvent, cur *table) (*table, error) {
	names := e.ColumnNameString()
	if len(names) != len(e.ColumnType) {
		return nil, fmt.Errorf("no column metadata in the binlog")
	}
	unsigned := e.UnsignedMap()
	colls := e.CollationMap()
	enums := e.EnumStrValueMap()
	sets := e.SetStrValueMap()
	pk := map[int]int{}
	for i, c := range e.PrimaryKey {
		pk[int(c)] = i + 1
	}
	t := &table{Ref: cur.Ref}
	if n := len(names); n >= 2 && names[n-2] == "row_start" && names[n-1] == "row_end" &&
		isPeriodType(e.ColumnType[n-2], e.ColumnMeta[n-2]) && isPeriodType(e.ColumnType[n-1], e.ColumnMeta[n-1]) &&
		(cur.Versioned || pk[n-1] > 0) {
		// A system-versioned table's implicit period pair (versioned.go):
		// the schema knew it, or the server put row_end in the key, as it
		// does in every key of such a table.
		t.Versioned = true
		names = names[:n-2]
	}
	for i, name := range names {
		tp, meta := e.ColumnType[i], e.ColumnMeta[i]
		if ci := cur.colIndex(name); ci >= 0 && binlogTypeFits(tp, meta, cur.Cols[ci]) {
			c := *cur.Cols[ci]
			c.PK = pk[i]
			t.Cols = append(t.Cols, &c)
			continue
		}
		// The table map has no DEFAULT: a sink adding the column says
		// that the rows already there cannot get the source's.
		c := &column{Name: name, Nullable: true, PK: pk[i], Default: &colDefault{Expr: exec.DefaultUnknown}}
		if c.PK > 0 {
			c.Nullable = false
		}
		u := unsigned[i]
		ints := func(typ string, s, us kind) {
			c.DataType, c.ColumnType, c.Kind = typ, typ, s
			if u {
				c.ColumnType += " unsigned"
				c.Kind = us
			}
		}
		switch tp {
		case gm.MYSQL_TYPE_TINY:
			ints("tinyint", kInt8, kUint8)
		case gm.MYSQL_TYPE_SHORT:
			ints("smallint", kInt16, kUint16)
		case gm.MYSQL_TYPE_INT24:
			ints("mediumint", kInt32, kUint32)
		case gm.MYSQL_TYPE_LONG:
			ints("int", kInt32, kUint32)
		case gm.MYSQL_TYPE_LONGLONG:
			ints("bigint", kInt64, kUint64)
		case gm.MYSQL_TYPE_FLOAT:
			c.DataType, c.ColumnType, c.Kind = "float", "float", kFloat32
		case gm.MYSQL_TYPE_DOUBLE:
			c.DataType, c.ColumnType, c.Kind = "double", "double", kFloat64
		case gm.MYSQL_TYPE_NEWDECIMAL:
			c.Precision, c.Scale = int(meta>>8), int(meta&0xFF)
			c.DataType = "decimal"
			c.ColumnType = "decimal(" + strconv.Itoa(c.Precision) + "," + strconv.Itoa(c.Scale) + ")"
			if u {
				c.ColumnType += " unsigned"
			}
			c.Kind = kDecimal128
			if c.Precision > 38 {
				c.Kind = kDecimal256
			}
		case gm.MYSQL_TYPE_BIT:
			n := int(meta>>8)*8 + int(meta&0xFF)
			c.DataType, c.ColumnType, c.Kind = "bit", "bit("+strconv.Itoa(n)+")", kBit
		case gm.MYSQL_TYPE_TIMESTAMP, gm.MYSQL_TYPE_TIMESTAMP2:
			c.DataType, c.Kind, c.Scale = "timestamp", kTimestamp, fspOf(tp, meta)
			c.ColumnType = withFsp("timestamp", c.Scale)
		case gm.MYSQL_TYPE_DATETIME, gm.MYSQL_TYPE_DATETIME2:
			c.DataType, c.Kind, c.Scale = "datetime", kDatetime, fspOf(tp, meta)
			c.ColumnType = withFsp("datetime", c.Scale)
		case gm.MYSQL_TYPE_TIME, gm.MYSQL_TYPE_TIME2:
			c.DataType, c.Kind, c.Scale = "time", kTime, fspOf(tp, meta)
			c.ColumnType = withFsp("time", c.Scale)
		case gm.MYSQL_TYPE_DATE:
			c.DataType, c.ColumnType, c.Kind = "date", "date", kDate
		case gm.MYSQL_TYPE_YEAR:
			c.DataType, c.ColumnType, c.Kind = "year", "year(4)", kYear
		case gm.MYSQL_TYPE_GEOMETRY:
			c.DataType, c.ColumnType, c.Kind = "geometry", "geometry", kGeometry
		case gm.MYSQL_TYPE_JSON:
			c.DataType, c.ColumnType, c.Kind = "json", "json", kJSON
		case gm.MYSQL_TYPE_STRING, gm.MYSQL_TYPE_VARCHAR, gm.MYSQL_TYPE_VAR_STRING, gm.MYSQL_TYPE_BLOB:
			rt := tp
			if tp == gm.MYSQL_TYPE_STRING && meta >= 256 {
				rt = byte(meta >> 8)
				if rt&0x30 != 0x30 {
					rt |= 0x30
				}
			}
			switch rt {
			case gm.MYSQL_TYPE_ENUM:
				c.DataType, c.Kind, c.Members = "enum", kEnum, enums[i]
				c.ColumnType = "enum(" + quoteMembers(c.Members) + ")"
			case gm.MYSQL_TYPE_SET:
				c.DataType, c.Kind, c.Members = "set", kSet, sets[i]
				c.ColumnType = "set(" + quoteMembers(c.Members) + ")"
			default:
				cs, coll, err := r.charsetOf(colls[i])
				if err != nil {
					return nil, err
				}
				c.Charset, c.Collation = cs, coll
				typ := map[byte]string{gm.MYSQL_TYPE_STRING: "char", gm.MYSQL_TYPE_VARCHAR: "varchar",
					gm.MYSQL_TYPE_VAR_STRING: "varchar", gm.MYSQL_TYPE_BLOB: "text"}[rt]
				if cs == "binary" {
					typ = map[string]string{"char": "binary", "varchar": "varbinary", "text": "blob"}[typ]
					c.Kind = kBinary
					if typ == "binary" {
						c.OctetLen = int(meta & 0xFF)
						if meta >= 256 && byte(meta>>8)&0x30 != 0x30 {
							c.OctetLen = int(uint16(meta&0xFF) | uint16((byte(meta>>8)&0x30)^0x30)<<4)
						}
					}
				} else {
					if !charsetSupported(cs) {
						return nil, fmt.Errorf("column %q has character set %q, which etlq cannot decode", name, cs)
					}
					c.Kind = kString
				}
				c.DataType, c.ColumnType = typ, typ
			}
		default:
			return nil, fmt.Errorf("column %q has binlog type %d, which etlq does not support", name, tp)
		}
		t.Cols = append(t.Cols, c)
	}
	for i := 1; i <= len(e.PrimaryKey); i++ {
		for ci, c := range t.Cols {
			if c.PK == i {
				t.Key = append(t.Key, ci)
			}
		}
	}
	if len(e.PrimaryKey) == 0 {
		// No key metadata: keep cur's key where its columns still exist.
		for _, k := range cur.Key {
			if ci := t.colIndex(cur.Cols[k].Name); ci >= 0 {
				t.Key = append(t.Key, ci)
				t.Cols[ci].PK = len(t.Key)
			}
		}
	}
	return t, nil
}

func fspOf(tp byte, meta uint16) int {
	switch tp {
	case gm.MYSQL_TYPE_TIMESTAMP2, gm.MYSQL_TYPE_DATETIME2, gm.MYSQL_TYPE_TIME2:
		return int(meta)
	}
	return 0
}

func withFsp(typ string, fsp int) string {
	if fsp == 0 {
		return typ
	}
	return typ + "(" + strconv.Itoa(fsp) + ")"
}

func quoteMembers(ms []string) string {
	q := make([]string, len(ms))
	for i, m := range ms {
		q[i] = "'" + strings.ReplaceAll(m, "'", "''") + "'"
	}
	return strings.Join(q, ",")
}

// charsetOf maps a collation id to its character set and collation names,
// reading information_schema.COLLATIONS (and, on MariaDB 10.10+,
// COLLATION_CHARACTER_SET_APPLICABILITY) once.
func (r *binlogReader) charsetOf(id uint64) (string, string, error) {
	if r.collations == nil {
		c, err := r.cfg.src.connect(context.Background())
		if err != nil {
			return "", "", err
		}
		defer c.Close()
		res, err := c.Execute("SELECT ID, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLLATIONS")
		if err != nil {
			return "", "", fmt.Errorf("read collations: %v", err)
		}
		r.collations = map[uint64][2]string{63: {"binary", "binary"}}
		for i := 0; i < res.RowNumber(); i++ {
			n, _ := res.GetUint(i, 0)
			cs, _ := res.GetString(i, 1)
			coll, _ := res.GetString(i, 2)
			r.collations[n] = [2]string{strings.ToLower(cs), strings.ToLower(coll)}
		}
		// MariaDB 10.10+ lists the UCA 14 collations (utf8mb4_uca1400_ai_ci,
		// MariaDB 11's default) without an ID there: their ids are here.
		// Older servers and MySQL have no such column.
		if res, err := c.Execute("SELECT ID, CHARACTER_SET_NAME, FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE ID IS NOT NULL"); err == nil {
			for i := 0; i < res.RowNumber(); i++ {
				n, _ := res.GetUint(i, 0)
				cs, _ := res.GetString(i, 1)
				coll, _ := res.GetString(i, 2)
				r.collations[n] = [2]string{strings.ToLower(cs), strings.ToLower(coll)}
			}
		}
	}
	v, ok := r.collations[id]
	if !ok {
		return "", "", fmt.Errorf("unknown collation id %d", id)
	}
	return v[0], v[1], nil
}
