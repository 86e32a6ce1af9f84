package clickhouse

import (
	"testing"

	"github.com/ClickHouse/ch-go/proto"
)

// TestSpareColumnsAdopted: the columns of a sent block are kept and the
// next block's columns of the same kind write into their arrays, empty;
// a column of another kind is not adopted, a set above spareMaxBytes is
// not kept, and no more sets are kept than inserts run at once.
func TestSpareColumnsAdopted(t *testing.T) {
	w := &writer{opts: targetOptions{maxInflight: 2}}
	str := &proto.ColStr{}
	str.Append("hello")
	str.Append("world")
	nulls := &proto.ColUInt8{0, 1}
	ints := &proto.ColInt64{1, 2}
	w.keepSpare([]chTarget{{col: str, nulls: nulls}, {col: ints}, {}})

	set := w.takeSpare()
	if len(set) != 3 {
		t.Fatalf("want the kept set of 3 columns, got %d", len(set))
	}
	if w.takeSpare() != nil {
		t.Fatal("a set was taken twice")
	}
	s2 := chTarget{col: &proto.ColStr{}, nulls: &proto.ColUInt8{}}
	s2.adopt(set[0])
	got := s2.col.(*proto.ColStr)
	if got.Rows() != 0 || len(*s2.nulls) != 0 {
		t.Fatalf("an adopted column keeps values: %d rows, %d nulls", got.Rows(), len(*s2.nulls))
	}
	if cap(got.Buf) != cap(str.Buf) || &got.Buf[:1][0] != &str.Buf[:1][0] || &(*s2.nulls)[:1][0] != &(*nulls)[:1][0] {
		t.Fatal("the string column did not adopt the kept arrays")
	}
	got.Append("again")
	if got.Row(0) != "again" {
		t.Fatalf("after adoption the column reads %q", got.Row(0))
	}
	// Another kind in the same place: nothing adopted.
	f := chTarget{col: &proto.ColFloat64{}}
	f.adopt(set[1])
	if cap(*f.col.(*proto.ColFloat64)) != 0 {
		t.Fatal("a Float64 column adopted an Int64 column's array")
	}
	i2 := chTarget{col: &proto.ColInt64{}}
	i2.adopt(set[1])
	if cap(*i2.col.(*proto.ColInt64)) != cap(*ints) {
		t.Fatal("the Int64 column did not adopt the kept array")
	}
	// The empty place (a column the fast path does not cover) adopts nothing.
	(chTarget{col: &proto.ColInt64{}}).adopt(set[2])

	// Too large to keep.
	big := &proto.ColStr{Buf: make([]byte, 0, spareMaxBytes+1)}
	w.keepSpare([]chTarget{{col: big}})
	if w.takeSpare() != nil {
		t.Fatal("a set above spareMaxBytes was kept")
	}
	// At most max_inflight sets.
	for range 3 {
		w.keepSpare([]chTarget{{col: &proto.ColInt64{1}}})
	}
	n := 0
	for w.takeSpare() != nil {
		n++
	}
	if n != 2 {
		t.Fatalf("%d sets kept, want max_inflight = 2", n)
	}
}
