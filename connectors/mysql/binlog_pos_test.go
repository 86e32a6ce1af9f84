package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestResumeAtImpossiblePosition: a checkpoint whose position is in the
// middle of an event, or past the end of its binlog file, ends the stream
// with a clear error — Once or not — instead of reconnecting hundreds of
// times a second for good (mid-event) or ending a Once run at once with
// nothing read (past the end).
func TestResumeAtImpossiblePosition(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20))", "INSERT INTO "+db+".t VALUES (1,'a')")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			st, err := src.Open(context.Background(), connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true})
			if err != nil {
				t.Fatal(err)
			}
			_, mark := drain(t, st, 20*time.Second, nil)
			st.Close()
			if mark == nil {
				t.Fatal("no mark")
			}
			// Events after the mark, so that the position +5 is inside one.
			run(t, s, "INSERT INTO "+db+".t VALUES (2,'b')", "INSERT INTO "+db+".t VALUES (3,'c')")
			for _, tc := range []struct {
				name  string
				shift int64
				want  string
			}{
				{"mid_event", 5, "not the start of an event"},
				{"past_end", 1 << 30, "past the end of the server's file"},
			} {
				for _, once := range []bool{true, false} {
					var m map[string]any
					if err := json.Unmarshal(mark.Bytes(), &m); err != nil {
						t.Fatal(err)
					}
					m["pos"] = m["pos"].(float64) + float64(tc.shift)
					resume, _ := json.Marshal(m)
					start := time.Now()
					err := openAndRead(src, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: once, Resume: resume}, 60*time.Second)
					switch {
					case err == nil || errors.Is(err, io.EOF):
						t.Errorf("%s once=%v: the stream ended without an error", tc.name, once)
					case errors.Is(err, context.DeadlineExceeded):
						t.Errorf("%s once=%v: no error within 60 s", tc.name, once)
					case !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "empty state directory"):
						t.Errorf("%s once=%v: error %q does not say %q and what to do", tc.name, once, err, tc.want)
					default:
						t.Logf("%s once=%v, after %v: %v", tc.name, once, time.Since(start).Round(time.Millisecond), err)
					}
				}
			}
		})
	}
}

// openAndRead opens a stream and reads it until an error or io.EOF, and
// returns that; the reconnects it made must be few.
func openAndRead(src *Source, req connectors.StreamRequest, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := src.Open(ctx, req)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		b, err := st.Next(ctx)
		if err != nil {
			if n := st.(connectors.Reconnecter).Reconnects(); n > 1 {
				return errors.Join(err, errors.New("reconnected "+itoa(n)+" times to an impossible position"))
			}
			return err
		}
		b.Release()
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestLagCaughtUp: a stream that is caught up reports a lag of 0, right
// after it starts too: the events a dump begins with carry the binlog
// file's creation time, and made the lag of an idle source minutes, and a
// caught-up stream's lag used to saw between 0 and 1 s.
func TestLagCaughtUp(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "t"}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					b, err := st.Next(ctx)
					if err != nil {
						return
					}
					b.Release()
				}
			}()
			defer func() { cancel(); <-done }()
			// Sampled from the start until the lag has read 0 ten times.
			// Other tests write to the same server meanwhile: the bounds
			// leave room for a loaded machine, not for a binlog file's age
			// (minutes) nor for a lag that never reads 0 (a heartbeat
			// counted as an event of this second: 0 to 1 s).
			zeros, max := 0, 0.0
			for deadline := time.Now().Add(60 * time.Second); zeros < 10; time.Sleep(50 * time.Millisecond) {
				lag := st.Lag()
				if lag == 0 {
					zeros++
				}
				if lag > max {
					max = lag
				}
				if time.Now().After(deadline) {
					t.Fatalf("the lag read 0 only %d times in 60 s (last %.3f)", zeros, lag)
				}
			}
			if max > 20 {
				t.Errorf("an idle, caught-up stream reported a lag of %.1f s", max)
			}
		})
	}
}

// TestSchemaAt: the schema a checkpoint's history keeps for a table, as a
// planner asks for it (connectors.MarkSchemas); a shadow of a helper table
// and a schema marked stale are none.
func TestSchemaAt(t *testing.T) {
	ref := connectors.TableRef{DB: "db", Table: "t"}
	cols := func() []*column {
		return []*column{{Name: "id", DataType: "int", ColumnType: "int(11)", PK: 1, Kind: kInt32}, {Name: "v", DataType: "int", ColumnType: "int(11)", Nullable: true, Kind: kInt32}}
	}
	mark := func(tabs ...*table) []byte {
		b, err := json.Marshal(markState{File: "binlog.000001", Pos: 4, Schemas: tabs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s := &Source{}
	ts, err := s.SchemaAt(mark(&table{Ref: ref, Cols: cols(), Key: []int{0}}), ref)
	if err != nil || ts == nil || strings.Join(ts.PrimaryKey, ",") != "id" || len(ts.Fields) != 2 {
		t.Fatalf("SchemaAt = %+v, %v; want the two columns, key (id)", ts, err)
	}
	for name, tab := range map[string]*table{
		"another table": {Ref: connectors.TableRef{DB: "db", Table: "u"}, Cols: cols(), Key: []int{0}},
		"a shadow":      {Ref: ref, Cols: cols(), Key: []int{0}, Shadow: true},
		"stale":         {Ref: ref, Cols: cols(), Key: []int{0}, Stale: "an ALTER it could not apply"},
	} {
		if ts, err := s.SchemaAt(mark(tab), ref); err != nil || ts != nil {
			t.Errorf("%s: SchemaAt = %+v, %v; want none", name, ts, err)
		}
	}
	if _, err := s.SchemaAt([]byte("{"), ref); err == nil {
		t.Error("SchemaAt of a damaged mark: no error")
	}
}
