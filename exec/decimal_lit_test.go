package exec_test

import (
	"testing"

	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/stdlib"
)

// TestIntegerLiteralDecimalWidth: an integer literal in a DECIMAL
// expression is as wide as its digits, as MariaDB types it — the wanted
// types are those of MariaDB 10.11's CREATE TABLE … AS SELECT over
// d DECIMAL(10,2) (i INT) and d4 DECIMAL(10,4) (b BIGINT). Before, the
// literal counted as a BIGINT's 19 digits: d * 100 was DECIMAL(29,2).
func TestIntegerLiteralDecimalWidth(t *testing.T) {
	d := exec.Col(0, "d", stdlib.Dec(10, 2))
	d4 := exec.Col(1, "d4", stdlib.Dec(10, 4))
	i := exec.Col(2, "i", stdlib.Type{Kind: stdlib.Int32})
	b := exec.Col(3, "b", stdlib.TInt64)
	lit := func(v int64) exec.Expr {
		e, err := exec.Lit(v, stdlib.TInt64)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	must := func(e exec.Expr, err error) exec.Expr {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	neg := must(exec.Unary("-", lit(100)))
	for _, c := range []struct {
		name string
		e    exec.Expr
		want stdlib.Type
	}{
		{"d * 100", must(exec.Binary("*", d, lit(100))), stdlib.Dec(13, 2)},
		{"d * -100", must(exec.Binary("*", d, neg)), stdlib.Dec(13, 2)},
		{"d / 3", must(exec.Binary("/", d, lit(3))), stdlib.Dec(14, 6)},
		{"d - 12345", must(exec.Binary("-", d, lit(12345))), stdlib.Dec(11, 2)},
		{"i / 3", must(exec.Binary("/", i, lit(3))), stdlib.Dec(14, 4)},
		{"1 / 3", must(exec.Binary("/", lit(1), lit(3))), stdlib.Dec(5, 4)},
		{"d4 + 0", must(exec.Binary("+", d4, lit(0))), stdlib.Dec(11, 4)},
		{"coalesce(d4, 0)", must(exec.Call("coalesce", []exec.Expr{d4, lit(0)})), stdlib.Dec(10, 4)},
		{"coalesce(d4, i)", must(exec.Call("coalesce", []exec.Expr{d4, i})), stdlib.Dec(14, 4)},
		{"coalesce(d4, b)", must(exec.Call("coalesce", []exec.Expr{d4, b})), stdlib.Dec(23, 4)},
		{"ifnull(d4, 0)", must(exec.Call("ifnull", []exec.Expr{d4, lit(0)})), stdlib.Dec(10, 4)},
	} {
		if got := c.e.Type(); got != c.want {
			t.Errorf("%s: %s, MariaDB's %s", c.name, got, c.want)
		}
	}
}
