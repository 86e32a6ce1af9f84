package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.PositionSource = (*Source)(nil)

// CurrentMark returns the server's current binlog position as a mark
// state (file and offset only): `etlq verify` waits until a pipeline's
// checkpoint reaches it before it trusts a difference.
func (s *Source) CurrentMark(ctx context.Context) ([]byte, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pos, _, err := masterStatus(c, s.cfg.Flavor)
	if err != nil {
		return nil, err
	}
	return json.Marshal(markState{File: pos.File, Pos: pos.Pos, Flavor: s.cfg.Flavor})
}

// MarkReached reports whether the checkpoint mark state mark is at or after
// the position of the mark state at (binlog file sequence, then offset).
func (s *Source) MarkReached(mark, at []byte) (bool, error) {
	m, a, err := decodeStates(mark, at)
	if err != nil {
		return false, err
	}
	return binlogPos{File: m.File, Pos: m.Pos}.cmp(binlogPos{File: a.File, Pos: a.Pos}) >= 0, nil
}

var _ connectors.MarkVersioner = (*Source)(nil)

// MarkVersion returns the next _version the stream assigns at the mark
// state mark (connectors.MarkVersioner).
func (s *Source) MarkVersion(mark []byte) (uint64, bool) {
	m, err := decodeState(mark)
	if err != nil || m.Version == 0 {
		return 0, false
	}
	return m.Version, true
}

var _ connectors.SumSource = (*Source)(nil)

// DescribeMark writes a mark state's binlog position, and its GTID set when
// known, for a message (connectors.MarkDescriber).
func (s *Source) DescribeMark(mark []byte) string {
	m, err := decodeState(mark)
	if err != nil {
		return "an unreadable position"
	}
	d := fmt.Sprintf("%s:%d", m.File, m.Pos)
	if m.GTID != "" {
		d += " (GTID " + m.GTID + ")"
	}
	return d
}

// DescribeCheckpoint returns the schema mark holds for ref: a table it
// streams, or one read by name it waits for (connectors.CheckpointDescriber).
func (s *Source) DescribeCheckpoint(mark []byte, ref connectors.TableRef) *connectors.TableSchema {
	m, err := decodeState(mark)
	if err != nil {
		return nil
	}
	for _, t := range m.Schemas {
		if t.Ref == ref && !t.Shadow {
			return t.tableSchema()
		}
	}
	return nil
}

// sumHash is the SQL of a row's 64-bit hash (the first 8 bytes of the MD5
// of its canonical text, big-endian), as the ClickHouse sink computes it.
func sumHash(cols []connectors.SumColumn) (string, error) {
	parts, nulls := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		n := quoteIdent(c.Name)
		var e string
		switch c.Kind {
		case connectors.SumInt, connectors.SumDecimal, connectors.SumDouble:
			e = "CAST(" + n + " AS CHAR)"
		case connectors.SumDate:
			// The day number: a zero date has none (NULL, but not a NULL
			// value), so it never hashes like ClickHouse's day 0.
			e = "CAST(DATEDIFF(" + n + ", '1970-01-01') AS CHAR)"
		case connectors.SumString:
			e = "CONVERT(" + n + " USING utf8mb4)"
		case connectors.SumMicros:
			// The connection's time zone is UTC: a TIMESTAMP reads as its
			// instant in UTC, a DATETIME as its wall clock.
			e = "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', " + n + ") AS CHAR)"
		default:
			return "", fmt.Errorf("column %s: no checksum text for kind %q", c.Name, c.Kind)
		}
		parts[i] = "IFNULL(" + e + ", '\\\\N')"
		nulls[i] = "(" + n + " IS NULL)"
	}
	// The last field says which values are NULL: a NULL and the text \N
	// must not hash alike.
	parts = append(parts, "CONCAT("+strings.Join(nulls, ", ")+", '')")
	return "CAST(CONV(LEFT(MD5(CONCAT_WS(CHAR(31 USING utf8mb4), " + strings.Join(parts, ", ") + ")), 16), 16, 10) AS UNSIGNED)", nil
}

func rangeCond(k string, ranges []connectors.KeyRange) string {
	conds := make([]string, len(ranges))
	for i, r := range ranges {
		conds[i] = fmt.Sprintf("%s BETWEEN %d AND %d", k, r.Lo, r.Hi)
	}
	return "(" + strings.Join(conds, " OR ") + ")"
}

// ChunkBounds walks the key index, every rows at a time.
func (s *Source) ChunkBounds(ctx context.Context, t connectors.TableRef, key string, every int) ([]int64, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tbl, k := quoteIdent(t.DB)+"."+quoteIdent(t.Table), quoteIdent(key)
	var out []int64
	where := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := c.Execute(fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s LIMIT 1 OFFSET %d", k, tbl, where, k, every))
		if err != nil {
			return nil, fmt.Errorf("chunk bounds of %s: %v", t, err)
		}
		if r.RowNumber() == 0 {
			return out, nil
		}
		b, err := r.GetInt(0, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		where = fmt.Sprintf(" WHERE %s >= %d", k, b)
	}
}

// sumConn returns the SQL expression hashing a row of cols (sumHash) and a
// connection to run it on; the caller closes the connection.
func (s *Source) sumConn(ctx context.Context, cols []connectors.SumColumn) (string, *client.Conn, error) {
	h, err := sumHash(cols)
	if err != nil {
		return "", nil, err
	}
	c, err := s.connect(ctx)
	if err != nil {
		return "", nil, err
	}
	return h, c, nil
}

// RangeSums counts and hashes the ranges in one scan, grouped by
// INTERVAL over the ranges' lower bounds.
func (s *Source) RangeSums(ctx context.Context, t connectors.TableRef, key string, cols []connectors.SumColumn, ranges []connectors.KeyRange) ([]connectors.RangeSum, error) {
	h, c, err := s.sumConn(ctx, cols)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	k := quoteIdent(key)
	los := make([]string, len(ranges))
	for i, r := range ranges {
		los[i] = fmt.Sprint(r.Lo)
	}
	q := fmt.Sprintf("SELECT INTERVAL(%s, %s), COUNT(*), BIT_XOR(%s), MIN(%s), MAX(%s) FROM %s.%s WHERE %s GROUP BY 1",
		k, strings.Join(los, ", "), h, k, k, quoteIdent(t.DB), quoteIdent(t.Table), rangeCond(k, ranges))
	r, err := c.Execute(q)
	if err != nil {
		return nil, fmt.Errorf("checksums of %s: %v", t, err)
	}
	out := make([]connectors.RangeSum, len(ranges))
	for i := range r.RowNumber() {
		idx, _ := r.GetInt(i, 0)
		if idx < 1 || int(idx) > len(ranges) {
			return nil, fmt.Errorf("checksums of %s: range %d out of %d", t, idx, len(ranges))
		}
		var rs connectors.RangeSum
		rs.Rows, _ = r.GetInt(i, 1)
		rs.Hash, _ = r.GetUint(i, 2)
		rs.Min, _ = r.GetInt(i, 3)
		rs.Max, _ = r.GetInt(i, 4)
		out[idx-1] = rs
	}
	return out, nil
}

// RangeRows returns each row's hash by key.
func (s *Source) RangeRows(ctx context.Context, t connectors.TableRef, key string, cols []connectors.SumColumn, kr connectors.KeyRange) (map[int64]uint64, error) {
	h, c, err := s.sumConn(ctx, cols)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	k := quoteIdent(key)
	r, err := c.Execute(fmt.Sprintf("SELECT %s, %s FROM %s.%s WHERE %s", k, h, quoteIdent(t.DB), quoteIdent(t.Table), rangeCond(k, []connectors.KeyRange{kr})))
	if err != nil {
		return nil, fmt.Errorf("row checksums of %s: %v", t, err)
	}
	out := make(map[int64]uint64, r.RowNumber())
	for i := range r.RowNumber() {
		id, _ := r.GetInt(i, 0)
		out[id], _ = r.GetUint(i, 1)
	}
	return out, nil
}
