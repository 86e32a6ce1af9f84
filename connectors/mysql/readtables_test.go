package mysql

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestReadTablesBatch: reading many tables' schemas in one batch of
// queries (readTables, used when a stream opens and when the planner
// describes a pattern's tables) gives each table the schema it has read
// alone: columns, key (primary, or the first NOT NULL unique), character
// set, JSON columns; a table that does not exist is left out.
func TestReadTablesBatch(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s,
		"CREATE TABLE "+db+".t_a (id INT PRIMARY KEY, e ENUM('x','Y'), d DECIMAL(10,3), ts DATETIME(3)) DEFAULT CHARSET latin1",
		"CREATE TABLE "+db+".t_b (a INT NOT NULL, b VARCHAR(10) NOT NULL, j JSON, UNIQUE KEY u (b, a), KEY k (a))",
		"CREATE TABLE "+db+".t_c (x INT NULL, y BINARY(4), UNIQUE KEY n (x))",
		"CREATE TABLE "+db+".t_d (k BIGINT, v TEXT, PRIMARY KEY (k))",
	)
	c := conn(t, s)
	defer c.Close()
	var refs []connectors.TableRef
	for _, n := range []string{"t_a", "t_b", "t_c", "t_d", "t_missing"} {
		refs = append(refs, connectors.TableRef{DB: db, Table: n})
	}
	got, err := readTables(c, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[refs[4]] != nil {
		t.Fatalf("readTables returned %d tables (%v), want the 4 that exist", len(got), got)
	}
	text := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, ref := range refs[:4] {
		alone, err := readTable(c, ref)
		if err != nil {
			t.Fatal(err)
		}
		if text(got[ref]) != text(alone) {
			t.Errorf("%s: in a batch %s\nalone %s", ref, text(got[ref]), text(alone))
		}
	}
	if k := got[refs[1]].Key; len(k) != 2 || got[refs[1]].Cols[k[0]].Name != "b" {
		t.Errorf("t_b's key: %v, want the unique (b, a)", k)
	}
	if !got[refs[1]].Cols[2].JSON {
		t.Errorf("t_b.j is not marked JSON")
	}
	if len(got[refs[2]].Key) != 0 {
		t.Errorf("t_c has a key %v: its unique index is nullable", got[refs[2]].Key)
	}
	if got[refs[0]].Charset != "latin1" {
		t.Errorf("t_a's charset %q", got[refs[0]].Charset)
	}

	// The planner's path: Tables, then Describe of each, from one batch.
	src := newSrc(t, s, nil)
	ctx := context.Background()
	listed, err := src.Tables(ctx, db, "t_*")
	if err != nil || len(listed) != 4 {
		t.Fatalf("Tables: %v, %v", listed, err)
	}
	for _, ref := range listed {
		ts, err := src.Describe(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if text(ts) != text(got[ref].tableSchema()) {
			t.Errorf("Describe(%s) after Tables: %s, want %s", ref, text(ts), text(got[ref].tableSchema()))
		}
	}
	// Tables connects once, the first Describe once to read the batch;
	// the other three are answered from it (each connected before).
	if n := src.connects.Load(); n > 2 {
		t.Errorf("Tables and 4 Describes connected %d times, want 2", n)
	}
	if _, err := src.Describe(ctx, refs[4]); err == nil {
		t.Errorf("Describe of a missing table: no error")
	}

	// A listed table etlq cannot read fails its own Describe only.
	run(t, s, "CREATE TABLE "+db+".t_e (id INT PRIMARY KEY, s VARCHAR(5) CHARACTER SET sjis)")
	listed, err = src.Tables(ctx, db, "t_*")
	if err != nil || len(listed) != 5 {
		t.Fatalf("Tables: %v, %v", listed, err)
	}
	for _, ref := range listed {
		_, err := src.Describe(ctx, ref)
		if bad := ref.Table == "t_e"; (err != nil) != bad {
			t.Errorf("Describe(%s) after Tables: %v", ref, err)
		} else if bad && !strings.Contains(err.Error(), "sjis") {
			t.Errorf("Describe(%s): %v, want the character set named", ref, err)
		}
	}
}
