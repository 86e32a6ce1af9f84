package mysql

import (
	"fmt"
	"testing"
)

// TestDataHintFromSameLayout: a table not read yet reserves its string
// columns' room from the hint of the last table read with the same
// columns (names, declared types, charsets), not from nothing; a table of
// another layout gets no hint, and a table's own hint comes first.
func TestDataHintFromSameLayout(t *testing.T) {
	s := &snapshotter{hints: map[*table][]int{}}
	mk := func(sType string) *table {
		return &table{Cols: []*column{{Name: "id", ColumnType: "bigint(20)"}, {Name: "s", ColumnType: sType, Charset: "utf8mb4"}}}
	}
	a, b, other := mk("varchar(32)"), mk("varchar(32)"), mk("varchar(64)")
	if h := s.dataHint(b); h != nil {
		t.Fatalf("hint %v before any table was read", h)
	}
	s.noteDataHint(a, &rowReader{rows: 10, bytes: []int64{0, 70}})
	if h := fmt.Sprint(s.dataHint(b)); h != "[1 8]" {
		t.Errorf("hint of a table of a's layout: %s, want [1 8]", h)
	}
	if h := s.dataHint(other); h != nil {
		t.Errorf("hint of a table of another layout: %v, want none", h)
	}
	s.noteDataHint(b, &rowReader{rows: 10, bytes: []int64{0, 200}})
	s.noteDataHint(a, &rowReader{rows: 10, bytes: []int64{0, 10}})
	if h := fmt.Sprint(s.dataHint(b)); h != "[1 21]" {
		t.Errorf("b's own hint: %s, want [1 21]", h)
	}
}
