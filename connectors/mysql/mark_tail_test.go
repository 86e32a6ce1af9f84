package mysql

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/etlq/etlq/connectors"
)

// TestMarkSchemasShared: the marks between two schema changes share one
// copy of the schemas (their Tail) instead of each holding its own (~1 MiB
// with 1,000 tables, a mark every 100 ms); each mark's whole state still
// holds the schemas as of its position, the ones before a change included.
func TestMarkSchemasShared(t *testing.T) {
	st := &stream{name: "s"}
	st.schemasDirty = true
	for k := 0; k < 3; k++ {
		ref := connectors.TableRef{DB: "d", Table: fmt.Sprintf("t_%d", k)}
		st.tables = append(st.tables, &tableState{ref: ref, key: ref.String(),
			cur: &table{Ref: ref, Cols: []*column{{Name: "id", ColumnType: "bigint(20)"}}, Key: []int{0}}})
	}
	m1 := st.mark(binlogPos{File: "binlog.000001", Pos: 100})
	m2 := st.mark(binlogPos{File: "binlog.000001", Pos: 200})
	if len(m1.Tail) == 0 || len(m2.Tail) == 0 || unsafe.SliceData(m1.Tail) != unsafe.SliceData(m2.Tail) {
		t.Fatalf("two marks without a schema change between them do not share their schemas: tails of %d and %d bytes", len(m1.Tail), len(m2.Tail))
	}
	// A column added to t_1: the next mark has it, the earlier ones not.
	st.tables[1].cur = &table{Ref: st.tables[1].ref, Cols: []*column{{Name: "id", ColumnType: "bigint(20)"}, {Name: "v", ColumnType: "int(11)"}}, Key: []int{0}}
	st.schemasDirty = true
	m3 := st.mark(binlogPos{File: "binlog.000001", Pos: 300})
	for _, c := range []struct {
		name  string
		state []byte
		pos   uint32
		cols1 int
	}{{"m1", m1.Bytes(), 100, 1}, {"m2", m2.Bytes(), 200, 1}, {"m3", m3.Bytes(), 300, 2}} {
		ms, err := decodeState(c.state)
		if err != nil {
			t.Fatalf("%s: %v (%s)", c.name, err, c.state)
		}
		if uint32(ms.Pos) != c.pos || len(ms.Schemas) != 3 || len(ms.Schemas[1].Cols) != c.cols1 {
			t.Errorf("%s: position %d, %d schemas, t_1 with %d columns; want %d, 3, %d: %s", c.name, ms.Pos, len(ms.Schemas), len(ms.Schemas[1].Cols), c.pos, c.cols1, c.state)
		}
	}
}
