package mysql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
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
	if h := fmt.Sprint(s.dataHint(b)); h != "[1 23]" {
		t.Errorf("b's own hint: %s, want [1 23]", h)
	}
}

// TestRowReaderLearnsHint: a chunk read without a hint (a table's first
// chunks) reserves its next records' string data from its first record's,
// an eighth over the average, instead of growing each record's buffer
// from nothing by doubling; a hint shared with other readers is copied,
// not changed; and a record whose strings run longer raises it.
func TestRowReaderLearnsHint(t *testing.T) {
	s := servers(t)[0]
	db := uniqueDB(t, s)
	run(t, s, "CREATE TABLE "+db+".h (id INT PRIMARY KEY, s VARCHAR(64))")
	c := conn(t, s)
	defer c.Close()
	tbl, err := readTable(c, connectors.TableRef{DB: db, Table: "h"})
	if err != nil {
		t.Fatal(err)
	}
	row := func(rr *rowReader, v string) {
		p := append([]byte{1, '7', byte(len(v))}, v...) // text protocol: lenenc values
		if err := rr.row(p); err != nil {
			t.Fatal(err)
		}
	}
	strCap := func(rr *rowReader) int { return cap(rr.cols[1].(*strCol).data) }
	for _, shared := range [][]int{nil, {1, 4}} {
		rr := newRowReader(tbl, shared)
		for range 100 {
			row(rr, "0123456789") // 10 bytes a row
		}
		rr.record().Release()
		rr.reserve(1000, 1<<20)
		if got, want := strCap(rr), 1000*hintFor(10); got < want {
			t.Errorf("hint %v: room for %d bytes after a record of 10 bytes a row, want %d or more", shared, got, want)
		}
		if shared != nil && (shared[0] != 1 || shared[1] != 4) {
			t.Errorf("the shared hint was changed: %v", shared)
		}
		for range 100 {
			row(rr, strings.Repeat("x", 40))
		}
		rr.record().Release()
		if rr.hint[1] != hintFor(40) {
			t.Errorf("hint %v after a record of 40 bytes a row, want %d", rr.hint, hintFor(40))
		}
	}
}
