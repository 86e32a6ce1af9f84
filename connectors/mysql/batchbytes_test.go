package mysql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestBatchesCutByBytes: batches are cut at BatchBytes of row data as
// well as at BatchRows rows, in the binlog (inside one transaction) and in
// the snapshot (inside one chunk), so that rows of large values do not
// make batches of thousands of them (docs/benchmarks.md, "Hard shapes").
func TestBatchesCutByBytes(t *testing.T) {
	const rows, valueLen, maxBytes = 100, 1000, 10_000
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".big (id INT PRIMARY KEY, v VARCHAR(2000) NOT NULL)")
			src := newSrc(t, s, nil)
			ref := connectors.TableRef{DB: db, Table: "big"}
			ctx := context.Background()
			// Every batch holds at most 10 rows: the 10th row's 1,000
			// bytes take the batch to maxBytes.
			check := func(what string, st connectors.Stream, stop func(n int) bool) {
				t.Helper()
				ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				n, batches := 0, 0
				for !stop(n) {
					b, err := st.Next(ctx)
					if err != nil {
						break
					}
					if b.Record != nil {
						got := int(b.Record.NumRows())
						if got > maxBytes/valueLen {
							t.Errorf("%s: a batch of %d rows of %d bytes, want at most %d (BatchBytes %d)", what, got, valueLen, maxBytes/valueLen, maxBytes)
						}
						n += got
						batches++
					}
					b.Release()
				}
				if n != rows || batches < rows*valueLen/maxBytes {
					t.Errorf("%s: %d rows in %d batches, want %d rows in at least %d", what, n, batches, rows, rows*valueLen/maxBytes)
				}
			}
			st, err := src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotNever}}, BatchBytes: maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			// One transaction of 100 rows.
			ins := "INSERT INTO " + db + ".big VALUES "
			for i := 0; i < rows; i++ {
				if i > 0 {
					ins += ","
				}
				ins += fmt.Sprintf("(%d, REPEAT('x', %d))", i, valueLen)
			}
			run(t, s, ins)
			check("binlog", st, func(n int) bool { return n >= rows })
			st.Close()

			st, err = src.Open(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref, Snapshot: connectors.SnapshotOnly}}, Once: true, BatchBytes: maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			check("snapshot", st, func(int) bool { return false })
			st.Close()
		})
	}
}
