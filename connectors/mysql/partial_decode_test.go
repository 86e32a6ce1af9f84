package mysql

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// TestDecodeUpdateFullNodup: under binlog_row_image = FULL_NODUP (MariaDB
// 11.4+) an update's before image holds every column and its after image
// only the updated ones; a column the statement did not update kept its
// value, which the before image holds — the after row takes it from there
// (as mariadb-binlog --flashback rebuilds such images), never NULL. The
// shared servers are 10.11, without FULL_NODUP: the event is made here.
func TestDecodeUpdateFullNodup(t *testing.T) {
	tb := &table{Ref: connectors.TableRef{DB: "d", Table: "t"}, Key: []int{0}, Cols: []*column{
		{Name: "id", Kind: kInt32}, {Name: "n", Kind: kInt32, Nullable: true}, {Name: "a", Kind: kString, Nullable: true}}}
	m := &tableMap{types: []byte{gm.MYSQL_TYPE_LONG, gm.MYSQL_TYPE_LONG, gm.MYSQL_TYPE_VARCHAR}, metas: []uint16{0, 0, 80}}
	if err := m.bind(tb); err != nil {
		t.Fatal(err)
	}
	// before: every column (id 1, n 10, a 'one'); after: n only (11).
	data := []byte{0, 1, 0, 0, 0, 10, 0, 0, 0, 3, 'o', 'n', 'e', 0, 11, 0, 0, 0}
	before := newImageCols([]byte{0b111}, 3)
	after := newImageCols([]byte{0b010}, 3)
	if err := checkImages(m, exec.OpUpdate, "binlog.000001:4", before, &after); err != nil {
		t.Fatal(err)
	}
	newCols := func() []outCol {
		return []outCol{newOutCol(arrow.PrimitiveTypes.Int32), newOutCol(arrow.PrimitiveTypes.Int32), newOutCol(arrow.BinaryTypes.String)}
	}
	bcols, cols := newCols(), newCols()
	var d rowsDecoder
	n, err := d.decodeUpdate(m, data, before, after, bcols, cols, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(data) {
		t.Errorf("consumed %d bytes of %d", n, len(data))
	}
	text := func(cs []outCol) string {
		var parts []string
		for _, c := range cs {
			a := c.newArray()
			if a.Len() != 1 {
				t.Errorf("a column of %d rows", a.Len())
			}
			parts = append(parts, valueText(a, 0))
			a.Release()
		}
		return strings.Join(parts, "|")
	}
	if got := text(bcols); got != "1|10|one" {
		t.Errorf("before: %s", got)
	}
	if got := text(cols); got != "1|11|one" {
		t.Errorf("after: %s, want 1|11|one", got)
	}
}
