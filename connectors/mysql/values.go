package mysql

import (
	"math"
	"math/big"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// Zero and invalid dates (kept under a lenient sql_mode, e.g. '0000-00-00' or
// '2024-02-00') have no day number, so they are stored as sentinels below the
// range of real MySQL dates. The encoding is exact and reversible; see
// docs/types.md.
const (
	// InvalidDateBase is the Date32 value of '0000-00-00'. An invalid date
	// Y-M-D (month or day zero, or a day past the month's end) is
	// InvalidDateBase + (Y*13+M)*32 + D.
	InvalidDateBase int32 = math.MinInt32
	// InvalidDatetimeBase is the Timestamp(µs) value of '0000-00-00 00:00:00'.
	// An invalid datetime is InvalidDatetimeBase + ((Y*13+M)*32+D)*86400e6 +
	// the microseconds of its time of day.
	InvalidDatetimeBase int64 = math.MinInt64

	usPerDay = 86400 * 1000000
	// invalidDateLimit: every encoded invalid date is below it, every real
	// date (years 0..9999) above.
	invalidDateLimit int32 = InvalidDateBase + (10000*13)*32
)

// validDate reports whether y-m-d is a real calendar date.
func validDate(y, m, d int) bool {
	return m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		yy++
	}
	return int(yy), m, d
}

// EncodeDate returns the Date32 value of a MySQL DATE.
func EncodeDate(y, m, d int) int32 {
	if validDate(y, m, d) {
		return int32(daysFromCivil(y, m, d))
	}
	return InvalidDateBase + int32((y*13+m)*32+d)
}

// DecodeDate returns the year, month and day of a Date32 value made by
// EncodeDate; ok is false for an invalid (zero) date.
func DecodeDate(v int32) (y, m, d int, ok bool) {
	if v < invalidDateLimit {
		c := int(v - InvalidDateBase)
		return c / 32 / 13, c / 32 % 13, c % 32, false
	}
	y, m, d = civilFromDays(int64(v))
	return y, m, d, true
}

// EncodeDatetime returns the Timestamp(µs) value of a MySQL DATETIME (a wall
// clock taken as UTC) or of a TIMESTAMP already in UTC.
func EncodeDatetime(y, mo, d, h, mi, s, us int) int64 {
	tod := int64(h)*3600e6 + int64(mi)*60e6 + int64(s)*1e6 + int64(us)
	if validDate(y, mo, d) {
		return daysFromCivil(y, mo, d)*usPerDay + tod
	}
	return InvalidDatetimeBase + int64((y*13+mo)*32+d)*usPerDay + tod
}

// DecodeDatetime returns the parts of a value made by EncodeDatetime; ok is
// false for an invalid (zero) datetime.
func DecodeDatetime(v int64) (y, mo, d, h, mi, s, us int, ok bool) {
	var days, tod int64
	ok = v >= InvalidDatetimeBase+int64(10000*13*32)*usPerDay
	if ok {
		days, tod = floorDiv(v, usPerDay)
		y, mo, d = civilFromDays(days)
	} else {
		c, r := floorDiv(v-InvalidDatetimeBase, usPerDay)
		y, mo, d, tod = int(c/32/13), int(c/32%13), int(c%32), r
	}
	h = int(tod / 3600e6)
	mi = int(tod / 60e6 % 60)
	s = int(tod / 1e6 % 60)
	us = int(tod % 1e6)
	return
}

func floorDiv(a, b int64) (q, r int64) {
	q, r = a/b, a%b
	if r < 0 {
		q--
		r += b
	}
	return
}

// latin1High maps MySQL's latin1 (which is Windows-1252, with the five
// unassigned bytes passed through) bytes 0x80..0x9F to runes.
var latin1High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// appendLatin1 appends the UTF-8 form of latin1 bytes to dst.
func appendLatin1(dst, src []byte) []byte {
	for _, c := range src {
		switch {
		case c < 0x80:
			dst = append(dst, c)
		case c < 0xA0:
			dst = utf8.AppendRune(dst, latin1High[c-0x80])
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

var pow10u64 = [20]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// decimalText parses MySQL's DECIMAL text ("-12.340") into an unscaled
// integer at the given scale. Small values come back in u (with neg); big
// ones in b.
func decimalText(s []byte, scale int) (u uint64, neg bool, b *big.Int, ok bool) {
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	digits := make([]byte, 0, len(s)+scale)
	frac := -1
	for _, c := range s {
		switch {
		case c == '.' && frac < 0:
			frac = 0
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			if frac >= 0 {
				frac++
			}
		default:
			return 0, false, nil, false
		}
	}
	if frac < 0 {
		frac = 0
	}
	if frac > scale {
		return 0, false, nil, false
	}
	for ; frac < scale; frac++ {
		digits = append(digits, '0')
	}
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) <= 19 {
		for _, c := range digits {
			u = u*10 + uint64(c-'0')
		}
		if len(digits) < 19 || u < 1<<63 {
			return u, neg, nil, true
		}
		u = 0
	}
	b, okb := new(big.Int).SetString(string(digits), 10)
	if !okb {
		return 0, false, nil, false
	}
	if neg {
		b.Neg(b)
	}
	return 0, neg, b, true
}

func dec128(u uint64, neg bool, b *big.Int) decimal128.Num {
	if b != nil {
		return decimal128.FromBigInt(b)
	}
	n := decimal128.FromU64(u)
	if neg {
		n = n.Negate()
	}
	return n
}

func dec256(u uint64, neg bool, b *big.Int) decimal256.Num {
	if b != nil {
		return decimal256.FromBigInt(b)
	}
	n := decimal256.FromU64(u)
	if neg {
		n = n.Negate()
	}
	return n
}

var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decimalBinSize returns the size of MySQL's binary DECIMAL(p,s).
func decimalBinSize(p, s int) int {
	intg := p - s
	return intg/9*4 + dig2bytes[intg%9] + s/9*4 + dig2bytes[s%9]
}

// decimalBin decodes MySQL's binary DECIMAL(p,s) into an unscaled integer:
// small (p <= 18) values in u/neg, others in b.
func decimalBin(data []byte, p, s int) (u uint64, neg bool, b *big.Int, n int) {
	intg := p - s
	intg0, intg0x := intg/9, intg%9
	frac0, frac0x := s/9, s%9
	n = intg0*4 + dig2bytes[intg0x] + frac0*4 + dig2bytes[frac0x]
	var mask byte
	if data[0]&0x80 == 0 {
		neg = true
		mask = 0xFF
	}
	var buf [40]byte
	var d []byte
	if n <= len(buf) {
		d = buf[:n]
	} else {
		d = make([]byte, n)
	}
	copy(d, data[:n])
	d[0] ^= 0x80
	if mask != 0 {
		for i := range d {
			d[i] ^= mask
		}
	}
	be := func(x []byte) uint64 {
		var v uint64
		for _, c := range x {
			v = v<<8 | uint64(c)
		}
		return v
	}
	pos := 0
	if p <= 18 {
		if k := dig2bytes[intg0x]; k > 0 {
			u = be(d[:k])
			pos = k
		}
		for i := 0; i < intg0; i++ {
			u = u*1e9 + be(d[pos:pos+4])
			pos += 4
		}
		for i := 0; i < frac0; i++ {
			u = u*1e9 + be(d[pos:pos+4])
			pos += 4
		}
		if k := dig2bytes[frac0x]; k > 0 {
			u = u*pow10u64[frac0x] + be(d[pos:pos+k])
		}
		return u, neg, nil, n
	}
	b = new(big.Int)
	e9 := big.NewInt(1e9)
	tmp := new(big.Int)
	if k := dig2bytes[intg0x]; k > 0 {
		b.SetUint64(be(d[:k]))
		pos = k
	}
	for i := 0; i < intg0+frac0; i++ {
		b.Mul(b, e9).Add(b, tmp.SetUint64(be(d[pos:pos+4])))
		pos += 4
	}
	if k := dig2bytes[frac0x]; k > 0 {
		b.Mul(b, tmp.SetUint64(pow10u64[frac0x])).Add(b, new(big.Int).SetUint64(be(d[pos:pos+k])))
	}
	if neg {
		b.Neg(b)
	}
	return 0, neg, b, n
}
