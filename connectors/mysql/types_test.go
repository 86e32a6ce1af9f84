package mysql

import (
	"context"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

const zooTable = `CREATE TABLE %s.zoo (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  b1 BIT(1), b7 BIT(7), b64 BIT(64), bo BOOL,
  d1 DECIMAL(10,2), d2 DECIMAL(65,30), d3 DECIMAL(38,0), d4 DECIMAL(18,9), du DECIMAL(5,2) UNSIGNED, d5 DECIMAL(20,0),
  f FLOAT, dbl DOUBLE,
  c CHAR(10), vc VARCHAR(50), tx TEXT,
  cl CHAR(10) CHARACTER SET latin1, vl VARCHAR(50) CHARACTER SET latin1, tl TEXT CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(20), bl BLOB,
  e ENUM('a','b','c d'), st SET('x','y','z'),
  j JSON,
  dt DATE, tm0 TIME, tm3 TIME(3), tm6 TIME(6),
  dt0 DATETIME, dt3 DATETIME(3), dt6 DATETIME(6),
  ts0 TIMESTAMP NULL DEFAULT NULL, ts6 TIMESTAMP(6) NULL DEFAULT NULL,
  y YEAR,
  g GEOMETRY,
  gen BIGINT AS (i + 1) VIRTUAL, gens VARCHAR(60) AS (CONCAT(vc, 'x')) PERSISTENT
)`

var zooCols = []string{"id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "b1", "b7", "b64", "bo",
	"d1", "d2", "d3", "d4", "du", "d5", "f", "dbl", "c", "vc", "tx", "cl", "vl", "tl", "bn", "vb", "bl", "e", "st", "j",
	"dt", "tm0", "tm3", "tm6", "dt0", "dt3", "dt6", "ts0", "ts6", "y", "g"}

var zooRows = []string{
	`(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, b'0', b'0000000', 0, 0,
	  -99999999.99, -99999999999999999999999999999999999.999999999999999999999999999999, -99999999999999999999999999999999999999,
	  -999999999.999999999, 0.00, -99999999999999999999, -3.40282e38, -1.7976931348623157e308, '', '', '', '', '', '', '', '', '',
	  'a', '', '[]', '1000-01-01', '-838:59:59', '-838:59:58.999', '-00:00:00.000001',
	  '1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000', '1970-01-01 01:00:01', '1970-01-01 01:00:01.000001',
	  1901, ST_GeomFromText('POINT(1 2)'))`,
	`(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
	  b'1', b'1111111', 0xFFFFFFFFFFFFFFFF, 1,
	  99999999.99, 99999999999999999999999999999999999.999999999999999999999999999999, 99999999999999999999999999999999999999,
	  999999999.999999999, 999.99, 99999999999999999999, 3.40282e38, 1.7976931348623157e308,
	  'abc', 'ünïcødé 😀 "q" \\ x', REPEAT('long text ', 100), 'café €', 'ÿ Œuvre ‰', 'Ä€ÿ',
	  X'01', X'00FF00', X'DEADBEEF00', 'c d', 'x,z', '{"a": [1, 2.5, "x"], "b": null}',
	  '9999-12-31', '838:59:59', '838:59:59.999', '838:59:59.999999',
	  '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999', '2038-01-18 00:00:00', '2038-01-18 23:59:59.999999',
	  2155, ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'))`,
	`(3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, b'1', b'0101010', 1234567890123, 1,
	  0.01, 0.000000000000000000000000000001, 1, 0.000000001, 0.01, 12345678901234567890, 1.2345678, 0.1,
	  'pad  ', ' lead', 'tab\there', 'x', 'y', 'z', 'ab', X'00', X'0000', 'b', 'y', '{"k": "v"}',
	  '2024-02-29', '-12:34:56', '12:34:56.5', '100:00:00.000001',
	  '2024-02-29 12:34:56', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.000001', '2021-10-31 02:30:00', '2021-03-28 03:30:00.5',
	  2024, ST_GeomFromText('LINESTRING(0 0,1 1,2 2)'))`,
	`(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  NULL, NULL, NULL, NULL, NULL)`,
}

// zeroDates are inserted under a lenient sql_mode.
var zeroDates = []string{
	`INSERT INTO %s.zoo (id, dt, dt0, dt3, dt6, ts0, ts6, y, e) VALUES (4, '0000-00-00', '0000-00-00 00:00:00', '2020-00-00 10:00:00.123',
	  '2024-02-00 23:59:59.999999', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0, 'zzz')`,
	`INSERT INTO %s.zoo (id, dt, dt0) VALUES (6, '2024-00-15', '0000-01-00 00:00:01')`,
}

func fill(q, db string) string { return strings.ReplaceAll(q, "%s", db) }

// TestTypeZooSnapshotEqualsBinlog writes every column type with edge
// values, zero dates and NULLs, and checks that the snapshot path and the
// binlog path give the same Arrow values, and that CastText gives the
// server's CAST(col AS CHAR) text.
func TestTypeZooSnapshotEqualsBinlog(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, fill(zooTable, db))
			src := newSrc(t, s, nil)
			ctx := context.Background()
			c := conn(t, s)
			defer c.Close()
			startPos, _, err := masterStatus(c, "")
			if err != nil {
				t.Fatal(err)
			}
			stmts := []string{}
			for _, r := range zooRows {
				stmts = append(stmts, "INSERT INTO "+db+".zoo ("+strings.Join(zooCols, ",")+") VALUES "+r)
			}
			run(t, s, stmts...)
			lenient := []string{"SET SESSION sql_mode = ''"}
			for _, q := range zeroDates {
				lenient = append(lenient, fill(q, db))
			}
			run(t, s, lenient...)
			ref := connectors.TableRef{DB: db, Table: "zoo"}
			schema, err := src.Describe(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			mem := checkedMem(t)

			// Snapshot path, with the binary protocol (the default) and
			// the text protocol.
			st, err := src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}}}, mem)
			if err != nil {
				t.Fatal(err)
			}
			if sn := st.(*stream).snap; sn == nil || !sn.binaryOK(st.(*stream).tables[0].cur) {
				t.Fatal("snapshot does not use the binary protocol")
			}
			snap := collectRecords(t, st)
			if sn := st.(*stream).snap; !sn.binaryOK(st.(*stream).tables[0].cur) {
				t.Error("a column fell back to the text protocol")
			}
			st, err = src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}},
				Options: map[string]any{"snapshot_protocol": "text"}}, mem)
			if err != nil {
				t.Fatal(err)
			}
			snapText := collectRecords(t, st)
			defer releaseAll(snapText)
			if len(snapText) != len(snap) {
				t.Fatalf("rows: binary protocol %d, text protocol %d", len(snap), len(snapText))
			}
			for ri := range snap {
				for ci, f := range schema.Fields {
					if a, b := valueText(snap[ri].rec.Column(ci), snap[ri].i), valueText(snapText[ri].rec.Column(ci), snapText[ri].i); a != b {
						t.Errorf("row %d column %s (%s): binary protocol %s, text protocol %s", ri, f.Name, st0(f), a, b)
					}
				}
			}
			// Binlog path, from before the inserts.
			st, err = src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, Once: true,
				Options: map[string]any{"start_at": startPos.String()}}, mem)
			if err != nil {
				t.Fatal(err)
			}
			bin := collectRecords(t, st)
			defer releaseAll(snap)
			defer releaseAll(bin)
			if len(snap) != 6 || len(bin) != 6 {
				t.Fatalf("rows: snapshot %d, binlog %d, want 6", len(snap), len(bin))
			}
			// Server text of every column.
			var casts []string
			for _, f := range schema.Fields {
				if lt, _ := f.Metadata.GetValue(exec.MetaLogicalType); lt == "geometry" {
					casts = append(casts, quoteIdent(f.Name)) // no CAST for geometry: its bytes
				} else {
					casts = append(casts, "CAST("+quoteIdent(f.Name)+" AS CHAR)")
				}
			}
			cc := conn(t, s)
			defer cc.Close()
			if _, err := cc.Execute("SET time_zone = '+00:00'"); err != nil {
				t.Fatal(err)
			}
			res, err := cc.Execute("SELECT " + strings.Join(casts, ", ") + " FROM " + db + ".zoo ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			for ri := range snap {
				a, b := snap[ri], bin[ri]
				for ci, f := range schema.Fields {
					av, bv := valueText(a.rec.Column(ci), a.i), valueText(b.rec.Column(ci), b.i)
					if av != bv {
						t.Errorf("row id=%s column %s (%s): snapshot %s, binlog %s", valueText(a.rec.Column(0), a.i), f.Name, st0(f), av, bv)
					}
					want, _ := res.GetString(ri, ci)
					null, _ := res.IsNull(ri, ci)
					got, ok := CastText(f, a.rec.Column(ci), a.i)
					if null != !ok || (ok && got != want) {
						t.Errorf("row id=%s column %s (%s): CastText %q, server %q", valueText(a.rec.Column(0), a.i), f.Name, st0(f), got, want)
					}
				}
			}
			// Spot checks of the representation.
			check := func(ri int, col, want string) {
				t.Helper()
				idx := schema.Fields
				for ci, f := range idx {
					if f.Name == col {
						if got := valueText(snap[ri].rec.Column(ci), snap[ri].i); got != want {
							t.Errorf("row %d %s = %s, want %s", ri, col, got, want)
						}
					}
				}
			}
			check(3, "dt", strconv.Itoa(int(InvalidDateBase))) // 0000-00-00
			check(1, "bn", "01000000")                         // BINARY(4) keeps its 0x00 padding
			check(2, "bn", "61620000")
		})
	}
}

func st0(f arrow.Field) string { v, _ := f.Metadata.GetValue(exec.MetaSourceType); return v }

type recRow struct {
	rec arrow.RecordBatch
	i   int
}

// collectRecords reads a stream to EOF and returns its rows ordered by the
// first column (an INT key), keeping the records (release with releaseAll).
func collectRecords(t *testing.T, st connectors.Stream) []recRow {
	t.Helper()
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []recRow
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.NumRows() == 0 {
			b.Release()
			continue
		}
		for i := 0; i < int(b.Record.NumRows()); i++ {
			b.Record.Retain()
			out = append(out, recRow{b.Record, i})
		}
		b.Release()
	}
	sort.SliceStable(out, func(i, j int) bool {
		return valueNum(out[i]) < valueNum(out[j])
	})
	return out
}

func valueNum(r recRow) int {
	n, _ := strconv.Atoi(r.rec.Column(0).ValueStr(r.i))
	return n
}

func releaseAll(rs []recRow) {
	for _, r := range rs {
		r.rec.Release()
	}
}
