package mysql

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestCompareMarks: checkpoints of one server are ordered by binlog file
// sequence, then offset; those of two servers, or with a snapshot in
// progress, are not ordered.
func TestCompareMarks(t *testing.T) {
	s := &Source{}
	at := func(file string, pos int, extra string) []byte {
		return []byte(`{"file":"` + file + `","pos":` + strconv.Itoa(pos) + `,"flavor":"mariadb","server_id":1,"version":5` + extra + `}`)
	}
	for _, c := range []struct {
		a, b []byte
		want int
	}{
		{at("binlog.000002", 400, ""), at("binlog.000002", 900, ""), -1},
		{at("binlog.000010", 4, ""), at("binlog.000009", 9000, ""), 1},
		{at("binlog.000003", 77, ""), at("binlog.000003", 77, `,"snapshot":{"db.t":{"done":true}}`), 0},
	} {
		got, err := s.CompareMarks(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("CompareMarks(%s, %s) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := s.CompareMarks(at("binlog.000001", 4, ""), at("binlog.000001", 8, `,"snapshot":{"db.t":{"ranges":[{"lo":null,"hi":["5"]}]}}`)); err == nil || !strings.Contains(err.Error(), "snapshot of db.t is in progress") {
		t.Errorf("a snapshot in progress is ordered: %v", err)
	}
	other := []byte(`{"file":"binlog.000001","pos":8,"flavor":"mariadb","server_id":2}`)
	if _, err := s.CompareMarks(at("binlog.000001", 4, ""), other); err == nil || !strings.Contains(err.Error(), "different servers") {
		t.Errorf("checkpoints of two servers are ordered: %v", err)
	}
}

// TestJoinMarks: the joined checkpoint keeps the source's tables and adds
// those only the rejoining pipeline's holds (schema history, snapshot
// progress), with the larger version counter; checkpoints at two positions
// are refused.
func TestJoinMarks(t *testing.T) {
	s := &Source{}
	into := []byte(`{"file":"binlog.000002","pos":900,"flavor":"mariadb","version":10,"snapshot":{"db.a":{"done":true}},` +
		`"schemas":[{"ref":{"db":"db","table":"a"},"cols":[{"name":"id","data_type":"int","column_type":"int","nullable":false,"pk":1}],"key":[0]},` +
		`{"ref":{"db":"db","table":"b"},"cols":[{"name":"id","data_type":"int","column_type":"int","nullable":false}],"shadow":true}]}`)
	from := []byte(`{"file":"binlog.000002","pos":900,"flavor":"mariadb","version":30,"snapshot":{"db.a":{"done":true},"db.b":{"done":true}},` +
		`"schemas":[{"ref":{"db":"db","table":"a"},"cols":[{"name":"old","data_type":"int","column_type":"int","nullable":true}]},` +
		`{"ref":{"db":"db","table":"b"},"cols":[{"name":"id","data_type":"int","column_type":"int","nullable":false},{"name":"x","data_type":"int","column_type":"int","nullable":true}]}]}`)
	m, got := joinedSchemas(t, s, into, from)
	if m.Version != 30 {
		t.Errorf("version %d, want 30", m.Version)
	}
	want := []string{"db.a id int notnull pk1", "db.b id int notnull, x int"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("joined schemas\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ss := m.Snapshot["db.b"]; ss == nil || !ss.Done {
		t.Errorf("db.b's snapshot progress is not joined: %v", m.Snapshot)
	}
	if _, err := s.JoinMarks(into, []byte(`{"file":"binlog.000002","pos":901,"flavor":"mariadb"}`)); err == nil {
		t.Error("checkpoints at two positions are joined")
	}
}

// TestJoinMarksWaiting: a table read by name that one checkpoint waits
// for (table.Waiting) and the other streams again is joined as streamed
// (its waiting schema goes); one only waited for stays waited for; a
// waiting schema never replaces a streamed one.
func TestJoinMarksWaiting(t *testing.T) {
	s := &Source{}
	col := func(name string) string {
		return `"cols":[{"name":"` + name + `","data_type":"int","column_type":"int","nullable":false,"pk":1}],"key":[0]`
	}
	into := []byte(`{"file":"binlog.000002","pos":900,"flavor":"mariadb","version":10,"schemas":[` +
		`{"ref":{"db":"db","table":"a"},` + col("old") + `,"waiting":true},` +
		`{"ref":{"db":"db","table":"c"},` + col("id") + `}]}`)
	from := []byte(`{"file":"binlog.000002","pos":900,"flavor":"mariadb","version":10,"schemas":[` +
		`{"ref":{"db":"db","table":"a"},` + col("id") + `},` +
		`{"ref":{"db":"db","table":"b"},` + col("id") + `,"waiting":true},` +
		`{"ref":{"db":"db","table":"c"},` + col("gone") + `,"waiting":true}]}`)
	_, got := joinedSchemas(t, s, into, from)
	want := []string{"db.c id int notnull pk1", "db.a id int notnull pk1", "db.b id int notnull pk1 waiting"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("joined schemas\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// joinedSchemas joins from into into and returns the joined state and its
// schemas as text ("db.t cols", " shadow" or " waiting" after).
func joinedSchemas(t *testing.T, s *Source, into, from []byte) (*markState, []string) {
	t.Helper()
	b, err := s.JoinMarks(into, from)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tb := range m.Schemas {
		got = append(got, tb.Ref.String()+" "+schemaText(tb)+map[bool]string{true: " shadow"}[tb.Shadow]+map[bool]string{true: " waiting"}[tb.Waiting])
	}
	return m, got
}

// TestStreamUntil: a stream asked to end at another checkpoint
// (StreamRequest.Until) delivers the changes up to it, its last Mark
// exactly there, and none after, though the binlog goes on past it; at
// the position it resumes from, it ends with nothing.
func TestStreamUntil(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".u (id INT PRIMARY KEY)")
			src := newSrc(t, s, nil)
			req := connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "u"}, Snapshot: connectors.SnapshotNever}}}
			open := func(resume, until []byte, once bool) connectors.Stream {
				t.Helper()
				r := req
				r.Resume, r.Until, r.Once = resume, until, once
				st, err := src.Open(context.Background(), r)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			ins := func(lo, hi int) {
				for i := lo; i <= hi; i++ {
					run(t, s, "INSERT INTO "+db+".u VALUES ("+strconv.Itoa(i)+")")
				}
			}
			ids := func(rows []row) string {
				var out []string
				for _, r := range rows {
					out = append(out, r["id"])
				}
				return strings.Join(out, ",")
			}
			st := open(nil, nil, true)
			m0 := st.(connectors.Starter).StartMark()
			drain(t, st, 20*time.Second, nil)
			ins(1, 10)
			rows, m1 := drain(t, open(m0.Bytes(), nil, true), 20*time.Second, nil)
			if ids(rows) != "1,2,3,4,5,6,7,8,9,10" || m1 == nil {
				t.Fatalf("from the start: rows %s, mark %v", ids(rows), m1)
			}
			ins(11, 20)
			rows, m := drain(t, open(m0.Bytes(), m1.Bytes(), false), 30*time.Second, nil)
			if ids(rows) != "1,2,3,4,5,6,7,8,9,10" {
				t.Errorf("until the checkpoint: rows %s", ids(rows))
			}
			if m == nil {
				t.Fatal("until the checkpoint: no mark")
			}
			if c, err := src.CompareMarks(m.Bytes(), m1.Bytes()); err != nil || c != 0 {
				t.Errorf("the last mark %s is not the checkpoint %s (%d, %v)", src.DescribeMark(m.Bytes()), src.DescribeMark(m1.Bytes()), c, err)
			}
			if rows, _ := drain(t, open(m1.Bytes(), m1.Bytes(), false), 30*time.Second, nil); len(rows) != 0 {
				t.Errorf("from the checkpoint until itself: rows %s", ids(rows))
			}
		})
	}
}

// TestForgetTables: a checkpoint without the tables read again keeps the
// others' schema history and snapshot progress, and its position.
func TestForgetTables(t *testing.T) {
	s := &Source{}
	m := []byte(`{"file":"binlog.000002","pos":900,"flavor":"mariadb","version":10,"snapshot":{"db.a":{"done":true},"db.b":{"done":true}},` +
		`"schemas":[{"ref":{"db":"db","table":"a"},"cols":[{"name":"id","data_type":"int","column_type":"int","nullable":false,"pk":1}],"key":[0]},` +
		`{"ref":{"db":"db","table":"b"},"cols":[{"name":"id","data_type":"int","column_type":"int","nullable":false}]}]}`)
	out, err := s.ForgetTables(m, []connectors.TableRef{{DB: "db", Table: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	x, err := decodeState(out)
	if err != nil {
		t.Fatal(err)
	}
	if x.File != "binlog.000002" || x.Pos != 900 || x.Version != 10 {
		t.Errorf("position or version changed: %s:%d v%d", x.File, x.Pos, x.Version)
	}
	if len(x.Schemas) != 1 || x.Schemas[0].Ref.Table != "a" {
		t.Errorf("schemas kept: %s", out)
	}
	if _, ok := x.Snapshot["db.b"]; ok || x.Snapshot["db.a"] == nil {
		t.Errorf("snapshot progress kept: %v", x.Snapshot)
	}
}

// TestEndSnapshots: the tables a mark has not started are recorded as
// read (a SNAPSHOT only pipeline's own scan read them), those it has
// (done or in progress) and every other member stay as they were.
func TestEndSnapshots(t *testing.T) {
	s := &Source{}
	mark := []byte(`{"file":"binlog.000003","pos":77,"flavor":"mariadb","server_id":1,"version":5,"future":[1],"snapshot":{"db.t":{"ranges":[{"lo":null,"hi":["5"]}]}}}`)
	t2 := connectors.TableRef{DB: "db", Table: "t2"}
	got, err := s.EndSnapshots(mark, []connectors.TableRef{{DB: "db", Table: "t"}, t2})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeState(got)
	if err != nil {
		t.Fatal(err)
	}
	if m.File != "binlog.000003" || m.Pos != 77 || m.Version != 5 || !strings.Contains(string(got), `"future":[1]`) {
		t.Errorf("other members changed: %s", got)
	}
	if ss := m.Snapshot["db.t"]; ss == nil || ss.Done || len(ss.Ranges) != 1 {
		t.Errorf("db.t's snapshot in progress changed: %s", got)
	}
	if ss := m.Snapshot["db.t2"]; ss == nil || !ss.Done {
		t.Errorf("db.t2 not recorded as read: %s", got)
	}
	if started, _ := s.SnapshotStarted(got, t2); !started {
		t.Errorf("SnapshotStarted(db.t2) = false after EndSnapshots")
	}
	// Nothing to add: the mark as it was.
	if again, err := s.EndSnapshots(got, []connectors.TableRef{t2}); err != nil || string(again) != string(got) {
		t.Errorf("EndSnapshots of a read table changed the mark: %s, %v", again, err)
	}
	// A mark without snapshot member (a stream of SNAPSHOT never tables).
	got, err = s.EndSnapshots([]byte(`{"file":"binlog.000003","pos":77}`), []connectors.TableRef{t2})
	if m, err2 := decodeState(got); err != nil || err2 != nil || m.Snapshot["db.t2"] == nil || !m.Snapshot["db.t2"].Done {
		t.Errorf("EndSnapshots without a snapshot member: %s, %v, %v", got, err, err2)
	}
}
