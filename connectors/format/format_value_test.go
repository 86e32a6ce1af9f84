package format

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

func TestAppendDecimal128MatchesToString(t *testing.T) {
	vals := []int64{0, 1, -1, 9, 10, -10, 12345, -12345, math.MaxInt64, math.MinInt64, 100, -100}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		vals = append(vals, r.Int64()>>r.IntN(63), -(r.Int64() >> r.IntN(63)))
	}
	for _, v := range vals {
		n := decimal128.FromI64(v)
		for _, sc := range []int32{0, 1, 2, 5, 18, 19, 20, 30} {
			if got, want := string(appendDecimal128(nil, n, sc)), n.ToString(sc); got != want {
				t.Fatalf("%d scale %d: got %s, want %s", v, sc, got, want)
			}
		}
	}
	big := decimal128.New(5, 0) // beyond int64: the slow path
	if got, want := string(appendDecimal128(nil, big, 2)), big.ToString(2); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
