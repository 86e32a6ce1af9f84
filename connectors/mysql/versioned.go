package mysql

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors"
)

// This file is the capture of MariaDB's system-versioned tables (WITH
// SYSTEM VERSIONING) whose period columns are the implicit pair: the
// target holds the table's current rows, SELECT * FROM t (docs/
// architecture.md, "System-versioned tables: what MariaDB logs").
// Every row image ends with row_start and row_end (table.Versioned); a
// row whose row_end is the greatest TIMESTAMP is current, any other is
// history. The binlog reader maps each row:
//
//	Write_rows,  row_end = MAX          → insert
//	Write_rows,  row_end ≠ MAX          → nothing (the old version an UPDATE keeps)
//	Update_rows, after row_end = MAX    → update
//	Update_rows, after row_end ≠ MAX    → delete of the before image (DELETE, REPLACE)
//	Delete_rows, row_end ≠ MAX          → nothing (DELETE HISTORY)
//	Delete_rows, row_end = MAX          → delete (never seen)

// periodStart and periodEnd are the schema column (colDec.ci) of the
// hidden row_start and row_end of a versioned table's images.
const (
	periodStart = -1
	periodEnd   = -2
)

// periodColumn describes the hidden period columns for messages.
var periodColumn = column{Name: "row_start/row_end", DataType: "timestamp", ColumnType: "timestamp(6)", Scale: 6, Kind: kTimestamp}

// isPeriodType reports whether a binlog column is TIMESTAMP(6), the type
// of the implicit period columns.
func isPeriodType(tp byte, meta uint16) bool {
	return tp == gm.MYSQL_TYPE_TIMESTAMP2 && meta == 6
}

// rowEndMax is the row_end of a current row: TIMESTAMP's greatest value,
// in seconds and microseconds.
type rowEndMax struct {
	sec    uint32
	micros int64
}

// readRowEndMax asks the server for the greatest TIMESTAMP: FROM_UNIXTIME
// of a larger value is NULL. MariaDB 10.11 stops at 2147483647.999999
// (2038); 11.5 widened TIMESTAMP to 4294967295.999999 (2106).
func readRowEndMax(c *client.Conn) (rowEndMax, error) {
	r, err := c.Execute("SELECT COALESCE(UNIX_TIMESTAMP(FROM_UNIXTIME(4294967295.999999)), UNIX_TIMESTAMP(FROM_UNIXTIME(2147483647.999999)))")
	if err != nil {
		return rowEndMax{}, fmt.Errorf("read TIMESTAMP's greatest value (the row_end of current rows of system-versioned tables): %v", err)
	}
	s, _ := r.GetString(0, 0)
	return parseRowEndMax(s)
}

func parseRowEndMax(s string) (rowEndMax, error) {
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseUint(whole, 10, 32)
	if err != nil || len(frac) > 6 {
		return rowEndMax{}, fmt.Errorf("TIMESTAMP's greatest value: the server says %q", s)
	}
	frac += strings.Repeat("0", 6-len(frac))
	us, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return rowEndMax{}, fmt.Errorf("TIMESTAMP's greatest value: the server says %q", s)
	}
	return rowEndMax{sec: uint32(sec), micros: us}, nil
}

// is reports whether b, a TIMESTAMP(6) value of a row image (nil: NULL or
// not in the image), is the greatest TIMESTAMP: a current row. An image
// without row_end (a minimal row image) counts as current.
func (x rowEndMax) is(b []byte) bool {
	if b == nil {
		return true
	}
	return binary.BigEndian.Uint32(b[:4]) == x.sec && fracBinMicros(b[4:], 6) == x.micros
}

// versionedRow reads the row at data of a versioned table's rows event
// without decoding it into builders: n is its length (both images of an
// update), keep says it is a change of the current rows, asDelete that an
// update ends the before image's row (DELETE, REPLACE).
func (r *binlogReader) versionedRow(m *tableMap, data []byte, update bool, img1, img2 imageCols, boxA, boxB []any) (n int, keep, asDelete bool, err error) {
	if r.rowEndMax == nil {
		c, err := r.cfg.src.connect(context.Background())
		if err != nil {
			return 0, false, false, err
		}
		x, err := readRowEndMax(c)
		c.Close()
		if err != nil {
			return 0, false, false, err
		}
		r.rowEndMax = &x
	}
	n, err = r.dec.decodeImage(m, data, img1, nil, boxA)
	if err != nil {
		return 0, false, false, err
	}
	if !update {
		return n, r.rowEndMax.is(r.dec.rowEnd), false, nil
	}
	n2, err := r.dec.decodeImage(m, data[n:], img2, nil, boxB)
	if err != nil {
		return 0, false, false, err
	}
	return n + n2, true, !r.rowEndMax.is(r.dec.rowEnd), nil
}

// periodDecl is how a system-versioned table's period columns are made,
// from information_schema: "" for the implicit pair etlq captures,
// "declared" for columns named in the table (GENERATED ALWAYS AS ROW
// START / END), "transaction" for transaction-precise ones (BIGINT
// UNSIGNED), whose changes the binlog carries as statements, not rows.
func periodDecl(c *client.Conn, ref connectors.TableRef) (string, error) {
	r, err := c.Execute("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = " + quoteString(ref.DB) +
		" AND TABLE_NAME = " + quoteString(ref.Table) + " AND GENERATION_EXPRESSION IN ('ROW START', 'ROW END')")
	if err != nil {
		return "", fmt.Errorf("read the period columns of %s: %v", ref, err)
	}
	if r.RowNumber() == 0 {
		return "", nil
	}
	if typ, _ := r.GetString(0, 0); strings.EqualFold(typ, "bigint") {
		return "transaction", nil
	}
	return "declared", nil
}

// versionedError is the refusal of a system-versioned table etlq does not
// capture: one with declared period columns, or a transaction-precise
// one. (One with the implicit pair is captured.)
type versionedError struct {
	ref  connectors.TableRef
	decl string
}

func (e versionedError) Error() string {
	if e.decl == "transaction" {
		return e.ref.String() + " is a transaction-precise system-versioned table (BIGINT UNSIGNED GENERATED ALWAYS AS ROW START), which etlq does not capture: MariaDB logs its INSERTs, UPDATEs and DELETEs as statements, with no row events, so no binlog reader sees its rows. Capture a table without system versioning (ALTER TABLE … DROP SYSTEM VERSIONING), or one versioned by timestamp"
	}
	return e.ref.String() + " is a system-versioned table with declared period columns (GENERATED ALWAYS AS ROW START / ROW END, PERIOD FOR SYSTEM_TIME), which etlq does not capture yet: only tables made WITH SYSTEM VERSIONING without naming their period columns are. Capture a table without system versioning (ALTER TABLE … DROP SYSTEM VERSIONING), or a copy that triggers keep"
}

func (versionedError) NotATable() bool { return true }

// declaredVersioning refuses q, a statement the parser rejects, when it
// makes a streamed table system-versioned with declared period columns
// (ADD SYSTEM VERSIONING with … AS ROW START, PERIOD FOR SYSTEM_TIME):
// its later DELETEs are logged as updates and its UPDATEs add history
// rows, which etlq does not map for such a table. Marked stale instead, a
// server with full row metadata rebuilt the schema from the table map and
// took the period columns for ordinary ones, keeping deleted rows.
func (r *binlogReader) declaredVersioning(db, q string, at binlogPos) error {
	if _, with, add, _ := versioningClauses(q); !(with || add) || !declaresPeriod(q) {
		return nil
	}
	for _, ref := range ddlTargets(db, q) {
		for _, ts := range r.tabs.tables {
			if !ts.gone && ts.mode != connectors.SnapshotOnly && !ts.cur.before(at) &&
				strings.EqualFold(ts.ref.DB, ref.DB) && strings.EqualFold(ts.ref.Table, ref.Table) {
				return fmt.Errorf("at %s: %q makes %s a system-versioned table with declared period columns, which etlq does not capture yet (%s): %s",
					at, abbreviate(q, 200), ts.key, versionedError{ts.ref, "declared"}.Error(), resnapshotHint)
			}
		}
	}
	return nil
}
