package mysql

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// TestCollationMetadata: every text column carries its collation, from
// information_schema (snapshot, and the binlog with minimal metadata) and
// from the TableMap's collation ids (binlog_row_metadata=FULL).
func TestCollationMetadata(t *testing.T) {
	want := map[string]string{
		"gen": "utf8mb4_general_ci", "uni": "utf8mb4_unicode_ci", "lat": "latin1_swedish_ci",
		"bin": "utf8mb4_bin", "e": "utf8mb4_unicode_ci", "vb": "",
	}
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+`.t (id INT PRIMARY KEY,
				gen VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
				uni TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
				lat VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
				bin CHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
				e ENUM('a', 'b') CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
				vb VARBINARY(8))`,
				"INSERT INTO "+db+".t VALUES (1, 'a', 'b', 'c', 'd', 'a', 'x')")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			ctx := context.Background()
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			run(t, s, "INSERT INTO "+db+".t VALUES (2, 'A', 'B', 'C', 'D', 'b', 'y')")
			seen := map[string]bool{}
			dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			for !(seen[exec.OpRead] && seen[exec.OpInsert]) {
				b, err := st.Next(dctx)
				if err != nil {
					t.Fatalf("after %v: %v", seen, err)
				}
				if b.Record == nil || b.Record.NumRows() == 0 {
					if b.Record != nil {
						b.Record.Release()
					}
					continue
				}
				rows := batchRows(b)
				op := rows[0]["_op"]
				seen[op] = true
				for name, coll := range want {
					f := b.Record.Schema().Field(b.Record.Schema().FieldIndices(name)[0])
					got, _ := f.Metadata.GetValue(exec.MetaCollation)
					if got != coll {
						t.Errorf("%s row: column %s has collation %q, want %q", op, name, got, coll)
					}
				}
				b.Record.Release()
			}
		})
	}
}

// TestCollationWeightsMatchServer checks the collation tables etlq carries
// (stdlib/colldata, written by stdlib/internal/collgen) against the
// server, code point by code point: WEIGHT_STRING(ch COLLATE c) must be
// what stdlib gives for every character. It fails when the tables are
// stale or wrong.
func TestCollationWeightsMatchServer(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".cp (cp INT PRIMARY KEY, ch VARCHAR(1) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
		"INSERT INTO "+db+".cp SELECT seq, CONVERT(CHAR(seq USING utf32) USING utf8mb4) FROM "+db+
			".seq_0_to_1114111 WHERE seq < 55296 OR seq > 57343",
		"CREATE TABLE "+db+".l1 (b INT PRIMARY KEY, ch VARCHAR(1) CHARACTER SET latin1 COLLATE latin1_bin)",
		"INSERT INTO "+db+".l1 SELECT seq, UNHEX(LPAD(HEX(seq), 2, '0')) FROM "+db+".seq_0_to_255")
	c := conn(t, s)
	defer c.Close()
	for _, tc := range []struct{ etlq, server string }{
		{"utf8mb4_general_ci", "utf8mb4_general_ci"},
		{"utf8mb4_unicode_ci", "utf8mb4_unicode_ci"},
		{"utf8mb4_uca1400_ai_ci", "uca1400_ai_ci"},
		{"utf8mb4_0900_ai_ci", "uca1400_nopad_ai_ci"},
		{"latin1_swedish_ci", "latin1_swedish_ci"},
		{"latin1_bin", "latin1_bin"},
		{"utf8mb4_unicode_520_ci", "utf8mb4_unicode_520_ci"},
		{"latin1_general_ci", "latin1_general_ci"},
		{"latin1_general_cs", "latin1_general_cs"},
		{"latin1_german1_ci", "latin1_german1_ci"},
		{"latin1_german2_ci", "latin1_german2_ci"},
		{"latin1_danish_ci", "latin1_danish_ci"},
		{"latin1_spanish_ci", "latin1_spanish_ci"},
	} {
		coll, ok := stdlib.LookupCollation(tc.etlq)
		if !ok {
			t.Fatalf("no collation %s", tc.etlq)
		}
		latin1 := strings.HasPrefix(tc.server, "latin1")
		var queries []string
		if latin1 {
			queries = []string{fmt.Sprintf("SELECT ORD(CONVERT(ch USING utf32)), HEX(WEIGHT_STRING(ch COLLATE %s)) FROM %s.l1", tc.server, db)}
		} else {
			for lo := 0; lo < 0x110000; lo += 0x10000 {
				queries = append(queries, fmt.Sprintf("SELECT cp, HEX(WEIGHT_STRING(ch COLLATE %s)) FROM %s.cp WHERE cp >= %d AND cp < %d",
					tc.server, db, lo, lo+0x10000))
			}
		}
		checked, bad := 0, 0
		for _, q := range queries {
			r, err := c.Execute(q)
			if err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			for i := range r.Values {
				cp, _ := r.GetInt(i, 0)
				h, _ := r.GetString(i, 1)
				width := 4
				if latin1 {
					width = 2
				}
				var want []string
				for k := 0; k+width <= len(h); k += width {
					want = append(want, h[k:k+width])
				}
				var got []string
				for _, w := range coll.WeightString(string(rune(cp))) {
					got = append(got, fmt.Sprintf("%0*X", width, w))
				}
				checked++
				if strings.Join(got, "") != strings.Join(want, "") {
					bad++
					if bad <= 10 {
						t.Errorf("%s: U+%04X %s: etlq weights %v, server %v", tc.etlq, cp, strconv.Quote(string(rune(cp))), got, want)
					}
				}
			}
			r.Close()
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d code points differ from the server (regenerate: cd stdlib && go run ./internal/collgen)", tc.etlq, bad, checked)
		}
		if checked < 256 || !latin1 && checked != 0x110000-0x800 {
			t.Errorf("%s: checked %d code points", tc.etlq, checked)
		}
	}
}

// TestCollationOfASynthesizedColumn: a reader behind DDLs decodes a row
// with the TableMap's metadata (binlog_row_metadata=FULL); a column in
// MariaDB 11's default collation, utf8mb4_uca1400_ai_ci, whose id
// information_schema.COLLATIONS does not list, decodes and keeps its
// collation.
func TestCollationOfASynthesizedColumn(t *testing.T) {
	s := servers(t)[0]
	if s.name != "full" {
		t.Fatalf("servers()[0] is %q, want the server with full row metadata", s.name)
	}
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, a VARCHAR(8))")
	src := newSrc(t, s, nil)
	ref := connectors.TableRef{DB: db, Table: "t"}
	ctx := context.Background()
	st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}},
		Options: map[string]any{"schema_changes": "evolve"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run(t, s, "ALTER TABLE "+db+".t ADD COLUMN u VARCHAR(8) CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_ai_ci",
		"INSERT INTO "+db+".t VALUES (1, 'x', 'Æon')",
		"ALTER TABLE "+db+".t DROP COLUMN u",
		"INSERT INTO "+db+".t VALUES (2, 'y')")
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		b, err := st.Next(dctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Record == nil || b.Record.NumRows() == 0 {
			if b.Record != nil {
				b.Record.Release()
			}
			continue
		}
		rows := batchRows(b)
		idx := b.Record.Schema().FieldIndices("u")
		if rows[0]["id"] != "1" || len(idx) == 0 {
			b.Record.Release()
			t.Fatalf("first row %v: want id 1 with column u", rows[0])
		}
		got, _ := b.Record.Schema().Field(idx[0]).Metadata.GetValue(exec.MetaCollation)
		if got != "utf8mb4_uca1400_ai_ci" || rows[0]["u"] != "Æon" {
			t.Errorf("u = %q with collation %q, want \"Æon\" in utf8mb4_uca1400_ai_ci", rows[0]["u"], got)
		}
		b.Record.Release()
		return
	}
}

// TestCaseMappingMatchesServer: lower() and upper() map every code point as
// the server does under each collation's case table (stdlib's
// case_table.go, written by internal/casegen): MariaDB's default table
// (utf8mb4_general_ci, _bin, _unicode_ci, and text from no column) leaves
// 'ẞ', 'ƀ' or Cherokee unmapped where Go's unicode tables map them.
func TestCaseMappingMatchesServer(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".cp (cp INT PRIMARY KEY, ch VARCHAR(1) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
		"INSERT INTO "+db+".cp SELECT seq, CONVERT(CHAR(seq USING utf32) USING utf8mb4) FROM "+db+
			".seq_0_to_1114111 WHERE seq < 55296 OR seq > 57343",
		"CREATE TABLE "+db+".l1 (b INT PRIMARY KEY, ch VARCHAR(1) CHARACTER SET latin1 COLLATE latin1_bin)",
		"INSERT INTO "+db+".l1 SELECT seq, UNHEX(LPAD(HEX(seq), 2, '0')) FROM "+db+".seq_0_to_255")
	c := conn(t, s)
	defer c.Close()
	for _, tc := range []struct{ etlq, server string }{
		{"utf8mb4_nopad_bin", "utf8mb4_nopad_bin"},
		{"utf8mb4_bin", "utf8mb4_bin"},
		{"utf8mb4_general_ci", "utf8mb4_general_ci"},
		{"utf8mb4_unicode_ci", "utf8mb4_unicode_ci"},
		{"utf8mb4_unicode_520_ci", "utf8mb4_unicode_520_ci"},
		{"utf8mb4_uca1400_ai_ci", "uca1400_ai_ci"},
		{"utf8mb4_0900_ai_ci", "uca1400_nopad_ai_ci"},
		{"latin1_swedish_ci", "latin1_swedish_ci"},
		{"latin1_german2_ci", "latin1_german2_ci"},
		{"latin1_bin", "latin1_bin"},
	} {
		coll, ok := stdlib.LookupCollation(tc.etlq)
		if !ok {
			t.Fatalf("no collation %s", tc.etlq)
		}
		q := fmt.Sprintf("SELECT cp, HEX(ch), HEX(LOWER(ch COLLATE %[1]s)), HEX(UPPER(ch COLLATE %[1]s)) FROM %[2]s.cp", tc.server, db)
		if strings.HasPrefix(tc.server, "latin1") {
			q = fmt.Sprintf("SELECT b, HEX(CONVERT(ch USING utf8mb4)), HEX(CONVERT(LOWER(ch COLLATE %[1]s) USING utf8mb4)), "+
				"HEX(CONVERT(UPPER(ch COLLATE %[1]s) USING utf8mb4)) FROM %[2]s.l1", tc.server, db)
		}
		r, err := c.Execute(q)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		bad := 0
		for i := range r.Values {
			cp, _ := r.GetInt(i, 0)
			var ch, lo, up string
			for k, p := range []*string{&ch, &lo, &up} {
				h, _ := r.GetString(i, 1+k)
				b, err := hex.DecodeString(h)
				if err != nil {
					t.Fatal(err)
				}
				*p = string(b)
			}
			if gl, gu := coll.Lower(ch), coll.Upper(ch); gl != lo || gu != up {
				bad++
				if bad <= 10 {
					t.Errorf("%s: %d %q: etlq lower %q upper %q, server %q %q", tc.etlq, cp, ch, gl, gu, lo, up)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d characters map otherwise than on the server (regenerate: cd stdlib && go run ./internal/casegen)", tc.etlq, bad, len(r.Values))
		}
		r.Close()
	}
}
