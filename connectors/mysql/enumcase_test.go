package mysql

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
)

// TestEnumSetMemberCase: ENUM and SET values keep the case of their
// members on both paths. The binlog carries only the member index, so the
// binlog path takes the text from the schema, whose COLUMN_TYPE the source
// lowers for matching: the members must come from the original text (found
// by the Sakila end-to-end test: rating 'PG-13' arrived as 'pg-13').
func TestEnumSetMemberCase(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, e ENUM('Small','MEDIUM','x-Large'), st SET('Red','GREEN','bLue'))",
				"INSERT INTO "+db+".t VALUES (1, 'x-Large', 'Red,bLue')")
			src := newSrc(t, s, nil)
			st, err := src.Open(context.Background(), connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotInitial}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rows, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 1 })
			run(t, s, "INSERT INTO "+db+".t VALUES (2, 'MEDIUM', 'GREEN,bLue')",
				"UPDATE "+db+".t SET e = 'Small', st = 'Red,GREEN' WHERE id = 1")
			more, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 2 })
			rows = append(rows, more...)
			want := []row{
				{"_op": "read", "id": "1", "e": "x-Large", "st": "Red,bLue"},
				{"_op": "insert", "id": "2", "e": "MEDIUM", "st": "GREEN,bLue"},
				{"_op": "update", "id": "1", "e": "Small", "st": "Red,GREEN"},
			}
			if len(rows) != len(want) {
				t.Fatalf("got %d rows, want %d: %v", len(rows), len(want), rows)
			}
			for i, w := range want {
				for k, v := range w {
					if rows[i][k] != v {
						t.Errorf("row %d %s = %q, want %q (%v)", i, k, rows[i][k], v, rows[i])
					}
				}
			}
		})
	}
}

// TestEnumMembersKeepCaseInSourceType: the source type a field carries
// (exec.MetaSourceType: what DESCRIBE shows, what `etlq record` writes
// into a fixture, canal_json's mysqlType) writes ENUM and SET members as
// the server's COLUMN_TYPE does, case kept, from the schema read at the
// start and after an ALTER read from the binlog. It showed
// enum('g','pg-13') for ENUM('G','PG-13'): COLUMN_TYPE is lower-cased
// for matching, and the field's source type was taken from it.
func TestEnumMembersKeepCaseInSourceType(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, e ENUM('G','PG-13','a''B','c\\\\D') NOT NULL, st SET('X','y'))")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			ctx := context.Background()
			field := func(fs []arrow.Field, name string) string {
				for _, f := range fs {
					if f.Name == name {
						return st0(f)
					}
				}
				return "<absent>"
			}
			ts, err := src.Describe(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			for col, want := range map[string]string{"e": `enum('G','PG-13','a''B','c\\D')`, "st": "set('X','y')"} {
				if got := field(ts.Fields, col); got != want {
					t.Errorf("described %s: source type %s, want %s", col, got, want)
				}
			}
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			run(t, s, "INSERT INTO "+db+".t VALUES (1, 'PG-13', 'X,y')",
				"ALTER TABLE "+db+".t MODIFY e ENUM('G','PG-13','NC-17') NOT NULL, MODIFY st SET('X','y','Zz')",
				"INSERT INTO "+db+".t VALUES (2, 'NC-17', 'Zz')")
			dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			want := map[string][2]string{
				"1": {`enum('G','PG-13','a''B','c\\D')`, "set('X','y')"},
				"2": {"enum('G','PG-13','NC-17')", "set('X','y','Zz')"},
			}
			for seen := 0; seen < 2; {
				b, err := st.Next(dctx)
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				if b.Record == nil {
					b.Release()
					continue
				}
				fs := b.Record.Schema().Fields()
				for _, r := range batchRows(b) {
					w, ok := want[r["id"]]
					if !ok {
						t.Fatalf("unexpected row %v", r)
					}
					seen++
					if got := field(fs, "e"); got != w[0] {
						t.Errorf("row %s: e's source type %s, want %s", r["id"], got, w[0])
					}
					if got := field(fs, "st"); got != w[1] {
						t.Errorf("row %s: st's source type %s, want %s", r["id"], got, w[1])
					}
				}
				b.Release()
			}
		})
	}
}

// TestEnumSetMembersOutsideBMP: ENUM and SET members with characters
// outside the Basic Multilingual Plane (emoji, 𝄞) arrive as written on
// both paths and in the field's source type. MariaDB's information_schema
// and SHOW CREATE TABLE are utf8mb3, which writes such a character as '?':
// the binlog path, which takes the member text from the schema, gave '?'
// for '🍕' where the snapshot gave '🍕' (found by the time-and-text trial).
func TestEnumSetMembersOutsideBMP(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, e ENUM('été','🍕','?','a?𝄞b') CHARACTER SET utf8mb4, "+
				"st SET('日本','😀x','?') CHARACTER SET utf8mb4)",
				"INSERT INTO "+db+".t VALUES (1, '🍕', '日本,😀x')")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			ctx := context.Background()
			ts, err := src.Describe(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range ts.Fields {
				want := map[string]string{"e": "enum('été','🍕','?','a?𝄞b')", "st": "set('日本','😀x','?')"}[f.Name]
				if want != "" && st0(f) != want {
					t.Errorf("source type of %s = %q, want %q", f.Name, st0(f), want)
				}
			}
			st, err := src.Open(ctx, connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rows, _ := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 1 })
			run(t, s, "INSERT INTO "+db+".t VALUES (2, 'a?𝄞b', '😀x,?'), (3, '?', '日本,😀x')",
				"UPDATE "+db+".t SET e = 'été' WHERE id = 1")
			more, mark := drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 3 })
			rows = append(rows, more...)
			st.Close()
			if mark == nil {
				t.Fatal("no mark")
			}
			// A checkpoint written before the members were read again
			// keeps information_schema's '?': a resumed stream takes the
			// server's members where the column type is still the same.
			state := mark.Bytes()
			for _, m := range []string{"🍕", "𝄞", "😀"} {
				state = bytes.ReplaceAll(state, []byte(m), []byte("?"))
			}
			st, err = src.Open(ctx, connectors.StreamRequest{
				Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotInitial}}, Resume: state})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			run(t, s, "INSERT INTO "+db+".t VALUES (4, '🍕', '😀x')")
			more, _ = drain(t, st, 20*time.Second, func(r []row) bool { return len(r) >= 1 })
			rows = append(rows, more...)
			want := []row{
				{"_op": "read", "id": "1", "e": "🍕", "st": "日本,😀x"},
				{"_op": "insert", "id": "2", "e": "a?𝄞b", "st": "😀x,?"},
				{"_op": "insert", "id": "3", "e": "?", "st": "日本,😀x"},
				{"_op": "update", "id": "1", "e": "été", "st": "日本,😀x"},
				{"_op": "insert", "id": "4", "e": "🍕", "st": "😀x"},
			}
			if len(rows) != len(want) {
				t.Fatalf("got %d rows, want %d: %v", len(rows), len(want), rows)
			}
			for i, w := range want {
				for k, v := range w {
					if rows[i][k] != v {
						t.Errorf("row %d %s = %q, want %q (%v)", i, k, rows[i][k], v, rows[i])
					}
				}
			}
		})
	}
}
