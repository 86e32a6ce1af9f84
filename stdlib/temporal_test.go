package stdlib

import (
	"math"
	"testing"
)

// TestZeroDateText: MySQL's zero and invalid dates, stored as the source's
// sentinels (docs/types.md), print as MySQL prints them, keep a column's
// fractional digits, and read back from their text.
func TestZeroDateText(t *testing.T) {
	zeroTs := int64(math.MinInt64)
	tsOf := func(y, m, d, tod int64) int64 { return DateToTimestamp(InvalidDate(y, m, d)) + tod }
	for _, c := range []struct {
		got, want string
	}{
		{FormatDate(math.MinInt32), "0000-00-00"},
		{FormatDate(InvalidDate(2024, 2, 0)), "2024-02-00"},
		{FormatTimestamp(zeroTs, 6), "0000-00-00 00:00:00.000000"},
		{FormatTimestamp(zeroTs, 3), "0000-00-00 00:00:00.000"},
		{FormatTimestamp(zeroTs, -1), "0000-00-00 00:00:00"},
		{FormatTimestamp(tsOf(2024, 0, 15, 36612500000), 6), "2024-00-15 10:10:12.500000"},
		{DateFormat(zeroTs, "%Y-%m-%d %H:%i:%s.%f"), "0000-00-00 00:00:00.000000"},
		{DateFormat(tsOf(2024, 2, 0, 0), "%W %M %e %j"), "Wednesday February 0 031"},
		{FormatDate(TimestampToDate(tsOf(2024, 2, 0, 5))), "2024-02-00"},
		{FormatTimestamp(DateToTimestamp(InvalidDate(0, 1, 0)), 0), "0000-01-00 00:00:00"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if _, ok := DateFormatOK(zeroTs, "%W"); ok {
		t.Error("date_format(zero date, '%W') must be NULL")
	}
	if d, err := ParseDate("0000-00-00"); err != nil || d != math.MinInt32 {
		t.Errorf("ParseDate('0000-00-00') = %d, %v", d, err)
	}
	if us, err := ParseTimestamp("2024-02-00 10:11:12"); err != nil || FormatTimestamp(us, 0) != "2024-02-00 10:11:12" {
		t.Errorf("ParseTimestamp('2024-02-00 10:11:12') = %d, %v", us, err)
	}
	if _, err := ParseDate("2024-02-30"); err == nil {
		t.Error("2024-02-30 is no date")
	}
	if y, m, d, tod := TimestampParts(zeroTs); y|m|d|tod != 0 {
		t.Errorf("parts of the zero timestamp: %d %d %d %d", y, m, d, tod)
	}
}

// TestDateFormatWeeks: date_format's week specifiers (%U %u %V %v %X %x)
// give MariaDB's numbers — they were written out as the letters — around
// the turn of the year, where the week-year and the calendar year part;
// a date with year or month 0 is NULL (MariaDB prints meaningless numbers
// there). The expected values are MariaDB 10.11's.
func TestDateFormatWeeks(t *testing.T) {
	for _, c := range []struct{ date, want string }{
		{"2024-01-01", "00 01 53 01 2023 2024"},
		{"2023-01-01", "01 00 01 52 2023 2022"},
		{"2022-01-01", "00 00 52 52 2021 2021"},
		{"2021-01-03", "01 00 01 53 2021 2020"},
		{"2020-12-31", "52 53 52 53 2020 2020"},
		{"2019-12-30", "52 53 52 01 2019 2020"},
		{"2018-12-31", "52 53 52 01 2018 2019"},
		{"2017-01-01", "01 00 01 52 2017 2016"},
		{"2016-01-03", "01 00 01 53 2016 2015"},
		{"2027-01-01", "00 00 52 53 2026 2026"},
		{"2024-12-29", "52 52 52 52 2024 2024"},
		{"2000-01-01", "00 00 52 52 1999 1999"},
		{"2024-02-29", "08 09 08 09 2024 2024"},
		{"2024-06-15", "23 24 23 24 2024 2024"},
		{"0001-01-01", "00 01 53 01 0000 0001"},
		{"9999-12-31", "52 52 52 52 9999 9999"},
	} {
		d, err := ParseDate(c.date)
		if err != nil {
			t.Fatal(err)
		}
		if got := DateFormat(DateToTimestamp(d), "%U %u %V %v %X %x"); got != c.want {
			t.Errorf("date_format('%s', '%%U %%u %%V %%v %%X %%x') = %q, want %q", c.date, got, c.want)
		}
	}
	feb0 := DateToTimestamp(InvalidDate(2024, 2, 0))
	if got := DateFormat(feb0, "%U %u %V %v %X %x"); got != "04 05 04 05 2024 2024" {
		t.Errorf("date_format('2024-02-00', …) = %q", got)
	}
	for _, us := range []int64{math.MinInt64, DateToTimestamp(InvalidDate(2024, 0, 15)), DateToTimestamp(InvalidDate(0, 1, 1))} {
		for _, f := range []string{"%U", "%u", "%V", "%v", "%X", "%x"} {
			if s, ok := DateFormatOK(us, f); ok {
				t.Errorf("date_format(%s, '%s') = %q, want NULL", FormatTimestamp(us, 0), f, s)
			}
		}
	}
}

// TestDateDelimiters: text dates with '/' or '.' between their parts read
// as MySQL reads them ('2024/02/29', '2024.02.29 10:11:12'); they were no
// date, so CAST refused a VARCHAR column MariaDB casts.
func TestDateDelimiters(t *testing.T) {
	for in, want := range map[string]string{
		"2024/02/29":          "2024-02-29 00:00:00",
		"2024.02.29 10:11:12": "2024-02-29 10:11:12",
		"2024/2/9":            "2024-02-09 00:00:00",
		"2024-02/29":          "2024-02-29 00:00:00",
		"2024/02/29T10:11:12": "2024-02-29 10:11:12",
	} {
		us, err := ParseTimestamp(in)
		if err != nil || FormatTimestamp(us, 0) != want {
			t.Errorf("ParseTimestamp(%q) = %s, %v; want %s", in, FormatTimestamp(us, 0), err, want)
		}
	}
	for _, bad := range []string{"2024/02", "2024//02", "2024:02:29", "2024/02/30"} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) must fail", bad)
		}
	}
}

// TestConvertTZInvalidDate: convert_tz of a day past its month's end
// ('2024-02-30', which ALLOW_INVALID_DATES keeps) reads it on into the next
// month, as MariaDB 10.11 does (2024-03-01 15:30:00 for +00:00 → +05:30);
// outside the TIMESTAMP range ('0000-02-30') it is kept as it is, and a
// zero month or day is NULL. The expected values are MariaDB's
// (TestExprDifferentialZeroDates compares with both servers).
func TestConvertTZInvalidDate(t *testing.T) {
	tsOf := func(y, m, d, tod int64) int64 { return DateToTimestamp(InvalidDate(y, m, d)) + tod }
	h := int64(3600e6)
	in := []int64{tsOf(2024, 2, 30, 10*h), tsOf(2024, 2, 31, 20*h), tsOf(2024, 4, 31, 0), tsOf(0, 2, 30, 12*h), tsOf(2024, 2, 0, 10*h), math.MinInt64}
	want := []string{"2024-03-01 15:30:00", "2024-03-03 01:30:00", "2024-05-01 05:30:00", "0000-02-30 12:00:00", "NULL", "NULL"}
	n := len(in)
	args := []*Vector{{Type: TTimestamp, I64: in}, NewConst(TString), NewConst(TString)}
	args[1].Str[0], args[2].Str[0] = "+00:00", "+05:30"
	args[1], args[2] = broadcast(args[1], n), broadcast(args[2], n)
	out := NewVector(TTimestamp, n)
	convertTZKernel(&Ctx{}, args, nil, n, out)
	for i := range in {
		got := "NULL"
		if !out.IsNull(i) {
			got = FormatTimestamp(out.I64[i], -1)
		}
		if got != want[i] {
			t.Errorf("convert_tz(%s, '+00:00', '+05:30') = %s, want %s", FormatTimestamp(in[i], -1), got, want[i])
		}
	}
}

func broadcast(c *Vector, n int) *Vector {
	v := NewVector(c.Type, n)
	for i := range n {
		v.Str[i] = c.Str[0]
	}
	return v
}
