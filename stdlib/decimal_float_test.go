package stdlib

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// TestDecToFloatIsNearest: a DECIMAL becomes the float64 nearest its
// value, as MySQL's decimal2double (strtod of its text) gives it. The
// unscaled integer beyond 2^53 was made a float64 first and then divided,
// rounding twice: 1599812690727.238000 (DECIMAL(20,6)) became
// 1599812690727.2378, so CAST(a AS DOUBLE) and a + f differed from
// MariaDB's in the last digit (found by the trial-lang run).
func TestDecToFloatIsNearest(t *testing.T) {
	check := func(v decimal256.Num, scale int32) {
		t.Helper()
		want, err := strconv.ParseFloat(DecString(v, scale), 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := DecToFloat(v, scale); got != want {
			t.Errorf("DecToFloat(%s) = %v, want %v", DecString(v, scale), got, want)
		}
	}
	check(decimal256.FromI64(1599812690727238000), 6)
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		v := r.Int64() >> r.IntN(63)
		if r.IntN(2) == 0 {
			v = -v
		}
		check(decimal256.FromI64(v), int32(r.IntN(31)))
	}
	big, _ := decimal256.FromString("123456789012345678901234567890.123456789", 65, 30)
	check(big, 30)
}
