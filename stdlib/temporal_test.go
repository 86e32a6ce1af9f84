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
