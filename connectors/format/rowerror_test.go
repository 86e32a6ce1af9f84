package format_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// TestValueErrorNamesTheRow: a value a format cannot write fails with the
// source table, the row's position, operation and key, and the column,
// as exec.RowError says them, never without the row.
func TestValueErrorNamesTheRow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	key := arrow.NewMetadata([]string{exec.MetaPrimaryKey}, []string{"1"})
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: key},
		{Name: "iv", Type: arrow.FixedWidthTypes.MonthInterval},
		{Name: exec.SysOp, Type: arrow.BinaryTypes.String},
		{Name: exec.SysPos, Type: arrow.BinaryTypes.String},
	}, nil)
	rb := array.NewRecordBuilder(mem, s)
	defer rb.Release()
	rb.Field(0).(*array.Int64Builder).AppendValues([]int64{41, 42}, nil)
	rb.Field(1).(*array.MonthIntervalBuilder).AppendValues([]arrow.MonthInterval{1, 2}, nil)
	rb.Field(2).(*array.StringBuilder).AppendValues([]string{"insert", "update"}, nil)
	rb.Field(3).(*array.StringBuilder).AppendValues([]string{"bin.000001:10", "bin.000001:20"}, nil)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	b := &exec.Batch{Record: rec, DB: "shop", Table: "t", Sel: []int32{1}}
	for _, name := range []string{format.JSONL, format.CanalJSON} {
		enc, err := format.New(name, format.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		_, err = enc.Encode(nil, b)
		want := `row of shop.t at bin.000001:20 (update, id = 42): column "iv"`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
}
