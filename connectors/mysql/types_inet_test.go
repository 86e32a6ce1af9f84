package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// uuidInetRows are UUID, INET6 and INET4 values chosen for their bytes:
// UUIDs MariaDB stores with its segments swapped (version 1..5, RFC
// variant) and as they are (version 0, variant 0), values ending in 0x00
// bytes (the binlog drops a fixed binary value's trailing zero bytes),
// and INET6 addresses of each text form MariaDB writes: a gap of one or
// more zero groups (the first of the longest), none, IPv4-compatible and
// IPv4-mapped addresses.
var uuidInetRows = [][3]string{
	{"123e4567-e89b-12d3-a456-426614174000", "2001:db8::ff00:42:8329", "192.168.0.1"},
	{"f47ac10b-58cc-4372-a567-0e02b2c3d479", "::ffff:1.2.3.4", "0.0.0.0"},
	{"00000000-0000-0000-0000-000000000000", "::", "255.255.255.255"},
	{"f47ac10b-58cc-4372-0567-0e02b2c3d400", "::1.2.3.4", "10.0.0.0"},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", "2001:db8::", "1.0.0.0"},
	{"00000000-0000-1000-8000-000000000000", "::1", "127.0.0.1"},
	{"01234567-89ab-7def-8123-456789abcdef", "1:0:2:3:4:5:6:7", "0.0.0.1"},
	{"a0000000-0000-0000-0000-000000000001", "1:0:0:2:0:0:0:3", "0.1.0.0"},
	{"00000000-0000-0000-0000-0000000000ff", "1:2:3:4:5:6:7:8", "8.8.4.4"},
	{"00000000-0000-0000-0000-000000000100", "::ffff:0.0.0.0", "100.64.0.0"},
	{"ffffffff-0000-5fff-bfff-000000000000", "::ffff:0:1.2.3.4", "172.16.0.0"},
	{"00000000-0000-6000-8000-000000000000", "fe80::1:0:0:0", "224.0.0.0"},
	{"", "::0.0.1.0", ""},
	{"", "0:0:0:0:0:1:0:0", ""},
}

// TestUUIDInetSnapshotEqualsBinlog: MariaDB's UUID, INET6 and INET4 (10.7,
// 10.10) columns arrive as the text the server shows for them, the same
// through the snapshot (both protocols) and the binlog, and as CAST(col AS
// CHAR) gives it; a UUID primary key is read in chunks. They used to be
// refused: a table with such a column could not be read at all.
func TestUUIDInetSnapshotEqualsBinlog(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".nt (id INT PRIMARY KEY, u UUID, i6 INET6, i4 INET4, uk UUID NOT NULL, UNIQUE KEY (uk))",
				"CREATE TABLE "+db+".uk (u UUID PRIMARY KEY, v INT)")
			src := newSrc(t, s, map[string]any{"chunk_rows": 3})
			ctx := context.Background()
			c := conn(t, s)
			defer c.Close()
			startPos, _, err := masterStatus(c, "")
			if err != nil {
				t.Fatal(err)
			}
			lit := func(v string) string {
				if v == "" {
					return "NULL"
				}
				return "'" + v + "'"
			}
			var stmts []string
			for i, r := range uuidInetRows {
				stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.nt VALUES (%d, %s, %s, %s, UUID())", db, i+1, lit(r[0]), lit(r[1]), lit(r[2])))
				if r[0] != "" {
					stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.uk VALUES (%s, %d)", db, lit(r[0]), i+1))
				}
			}
			stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.nt VALUES (99, NULL, NULL, NULL, UUID())", db))
			run(t, s, stmts...)

			for _, table := range []string{"nt", "uk"} {
				ref := connectors.TableRef{DB: db, Table: table}
				schema, err := src.Describe(ctx, ref)
				if err != nil {
					t.Fatal(err)
				}
				mem := checkedMem(t)
				open := func(req connectors.StreamRequest) []recRow {
					t.Helper()
					st, err := src.OpenWithAllocator(ctx, req, mem)
					if err != nil {
						t.Fatal(err)
					}
					return collectRecords(t, st)
				}
				snap := open(connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}}})
				defer releaseAll(snap)
				snapText := open(connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}},
					Options: map[string]any{"snapshot_protocol": "text"}})
				defer releaseAll(snapText)
				bin := open(connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, Once: true,
					Options: map[string]any{"start_at": startPos.String()}})
				defer releaseAll(bin)

				// The server's text, in the order the rows are compared in.
				var casts []string
				for _, f := range schema.Fields {
					casts = append(casts, "CAST("+quoteIdent(f.Name)+" AS CHAR)")
				}
				keyCol := "id"
				if table == "uk" {
					keyCol = "v"
				}
				res, err := c.Execute("SELECT " + strings.Join(casts, ", ") + " FROM " + db + "." + table + " ORDER BY " + keyCol)
				if err != nil {
					t.Fatal(err)
				}
				if len(snap) != res.RowNumber() || len(snapText) != res.RowNumber() || len(bin) != res.RowNumber() {
					t.Fatalf("%s rows: snapshot %d, text protocol %d, binlog %d, server %d", table, len(snap), len(snapText), len(bin), res.RowNumber())
				}
				byKey := func(rows []recRow) map[string]recRow {
					ki := 0
					if table == "uk" {
						ki = 1
					}
					m := map[string]recRow{}
					for _, r := range rows {
						m[valueText(r.rec.Column(ki), r.i)] = r
					}
					return m
				}
				snapBy, textBy, binBy := byKey(snap), byKey(snapText), byKey(bin)
				for ri := 0; ri < res.RowNumber(); ri++ {
					key, _ := res.GetString(ri, 0)
					if table == "uk" {
						key, _ = res.GetString(ri, 1)
					}
					for ci, f := range schema.Fields {
						want, _ := res.GetString(ri, ci)
						if null, _ := res.IsNull(ri, ci); null {
							want = "NULL"
						}
						for _, p := range []struct {
							name string
							rows map[string]recRow
						}{{"snapshot", snapBy}, {"text protocol", textBy}, {"binlog", binBy}} {
							r, ok := p.rows[key]
							if !ok {
								t.Errorf("%s: %s has no row %s", table, p.name, key)
								continue
							}
							if got := valueText(r.rec.Column(ci), r.i); got != want {
								t.Errorf("%s row %s column %s (%s): %s %q, server %q", table, key, f.Name, st0(f), p.name, got, want)
							}
							if got, ok := CastText(f, r.rec.Column(ci), r.i); (want == "NULL") == ok || (ok && got != want) {
								t.Errorf("%s row %s column %s: CastText %q, server %q", table, key, f.Name, got, want)
							}
						}
						wantLT := map[string]string{"u": "uuid", "uk": "uuid", "i6": "inet6", "i4": "inet4"}[f.Name]
						if lt, _ := f.Metadata.GetValue(exec.MetaLogicalType); lt != wantLT {
							t.Errorf("%s column %s: logical type %q, want %q", table, f.Name, lt, wantLT)
						}
					}
				}
			}
		})
	}
}

// TestDDLAddsUUIDInetColumns: an ALTER TABLE that adds UUID, INET6, INET4
// and INVISIBLE columns while the table is streamed — syntax the DDL
// parser does not know — is applied to the schema history, so the rows
// after it decode also without the binlog's column metadata. They used to
// stop the stream ("re-snapshot the table") on a server with the default
// binlog_row_metadata.
func TestDDLAddsUUIDInetColumns(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, a INT)", "INSERT INTO "+db+".t VALUES (1, 10)")
			src := newSrc(t, s, nil)
			refs := []connectors.TableRef{{DB: db, Table: "t"}}
			_, mark, err := openDrain(t, src, refs, nil)
			if err != nil || mark == nil {
				t.Fatalf("snapshot: %v", err)
			}
			run(t, s, "ALTER TABLE "+db+".t ADD COLUMN u UUID DEFAULT '1234567812345678-1234-1234567890AB' AFTER id, "+
				"ADD uuid INET6 NOT NULL DEFAULT '::0001:0:0:0:0', ADD i4 INET4, ADD x INT INVISIBLE DEFAULT 5",
				"INSERT INTO "+db+".t (id, u, uuid, i4, x, a) VALUES (2, 'f47ac10b-58cc-4372-a567-0e02b2c3d400', '1:0:0:2:0:0:0:0', '10.0.0.0', 20, 200)",
				"INSERT INTO "+db+".t (id, a) VALUES (3, 300)")
			rows, _, err := openDrain(t, src, refs, mark)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]row{
				"2": {"u": "f47ac10b-58cc-4372-a567-0e02b2c3d400", "uuid": "1:0:0:2::", "i4": "10.0.0.0", "x": "20", "a": "200"},
				"3": {"u": "12345678-1234-5678-1234-1234567890ab", "uuid": "0:0:0:1::", "i4": "NULL", "x": "5", "a": "300"},
			}
			for id, w := range want {
				r := rowByID(rows, "t", id)
				if r == nil {
					t.Fatalf("no row %s: %v", id, rows)
				}
				for k, v := range w {
					if r[k] != v {
						t.Errorf("row %s column %s = %q, want %q", id, k, r[k], v)
					}
				}
			}
		})
	}
}

// TestFixedBinDefault: a UUID, INET6 or INET4 column's DEFAULT is kept as
// the server shows the value, whatever way the DDL wrote it.
func TestFixedBinDefault(t *testing.T) {
	for _, c := range []struct {
		k       kind
		in, out string
	}{
		{kUUID, "1234567812345678-1234-1234567890AB", "12345678-1234-5678-1234-1234567890ab"},
		{kUUID, "not-a-uuid", "not-a-uuid"},
		{kInet6, "::0001:0:0:0:0", "0:0:0:1::"},
		{kInet6, "::FFFF:1.2.3.4", "::ffff:1.2.3.4"},
		{kInet6, "1.2.3.4", "1.2.3.4"},
		{kInet4, "010.0.0.1", "10.0.0.1"},
	} {
		col := &column{Name: "c", Kind: c.k}
		d := &colDefault{Value: c.in}
		storedDefault(col, d)
		if d.Value != c.out {
			t.Errorf("%v %q: default %q, want %q", c.k, c.in, d.Value, c.out)
		}
	}
}
