package stdlib

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Temporal values: DATE is days since 1970-01-01, TIMESTAMP is µs since the
// epoch in UTC, TIME is a signed duration in µs.

const (
	usPerSec  = int64(1e6)
	usPerMin  = 60 * usPerSec
	usPerHour = 60 * usPerMin
	usPerDay  = 24 * usPerHour
)

// Zero and invalid dates ('0000-00-00', '2024-02-00'), kept by MySQL under a
// lenient sql_mode, have no day number. The MySQL source stores them as
// exact sentinels below every real date (docs/types.md): a DATE Y-M-D is
// math.MinInt32 + (Y·13+M)·32 + D, a TIMESTAMP math.MinInt64 +
// ((Y·13+M)·32+D)·86400·10⁶ + the µs of its time of day. Every function
// that shows, splits or converts a date goes through DateParts,
// TimestampParts, DateToTimestamp and TimestampToDate, which know them.
const (
	invalidDateBase  = int64(math.MinInt32)
	invalidDateLimit = invalidDateBase + 10000*13*32
	invalidTsBase    = int64(math.MinInt64)
	invalidTsLimit   = invalidTsBase + 10000*13*32*usPerDay
)

// IsInvalidTimestamp reports whether a TIMESTAMP (µs) has a zero or
// invalid date part.
func IsInvalidTimestamp(us int64) bool { return us < invalidTsLimit }

// InvalidDate returns the DATE sentinel of y-m-d (a date that is not a
// calendar date: month or day zero, or a day past the month's end).
func InvalidDate(y, m, d int64) int64 { return invalidDateBase + (y*13+m)*32 + d }

// DateParts returns the year, month and day of a DATE, zero and invalid
// dates included.
func DateParts(days int64) (y, m, d int64) {
	if days < invalidDateLimit {
		c := days - invalidDateBase
		return c / 32 / 13, c / 32 % 13, c % 32
	}
	return CivilFromDays(days)
}

// TimestampParts returns the date parts of a TIMESTAMP and the µs of its
// time of day, zero and invalid dates included.
func TimestampParts(us int64) (y, m, d, tod int64) {
	if us < invalidTsLimit {
		u := uint64(us) - uint64(1<<63) // us - math.MinInt64, without overflow
		c := int64(u / uint64(usPerDay))
		return c / 32 / 13, c / 32 % 13, c % 32, int64(u % uint64(usPerDay))
	}
	days := floorDiv(us, usPerDay)
	y, m, d = CivilFromDays(days)
	return y, m, d, us - days*usPerDay
}

// DateToTimestamp returns midnight of a DATE; a zero date stays zero.
func DateToTimestamp(days int64) int64 {
	if days < invalidDateLimit {
		return invalidTsBase + (days-invalidDateBase)*usPerDay
	}
	return days * usPerDay
}

// TimestampToDate returns the date part of a TIMESTAMP; a zero date stays
// zero.
func TimestampToDate(us int64) int64 {
	if us < invalidTsLimit {
		y, m, d, _ := TimestampParts(us)
		return InvalidDate(y, m, d)
	}
	return floorDiv(us, usPerDay)
}

// TimeOfDay returns the µs since midnight of a TIMESTAMP.
func TimeOfDay(us int64) int64 {
	_, _, _, tod := TimestampParts(us)
	return tod
}

// MaxTimeUs is MySQL's largest TIME, 838:59:59.000000.
const MaxTimeUs = 838*usPerHour + 59*usPerMin + 59*usPerSec

// DaysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date.
func DaysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// CivilFromDays is the inverse of DaysFromCivil.
func CivilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return
}

// isLeap reports a leap year as MySQL's calendar has them: year 0 is not
// one (calc_days_in_year), so '0000-02-29' is no date.
func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || (y%400 == 0 && y != 0)) }

// The proleptic Gregorian day numbers of 0000-01-01 and 0000-03-01.
var year0Jan1, year0Mar1 = DaysFromCivil(0, 1, 1), DaysFromCivil(0, 3, 1)

// mysqlDays is the day number of days (since 1970-01-01, proleptic
// Gregorian) in MySQL's calendar, which has no 29 February in year 0: the
// days of January and February of year 0 count one later. Functions that
// count days (dayofweek, datediff, timestampdiff, the weekdays of
// date_format) count on it, as MariaDB does.
func mysqlDays(days int64) int64 {
	if days >= year0Jan1 && days < year0Mar1 {
		return days + 1
	}
	return days
}

// daynr1970 is MariaDB's day number (calc_daynr, TO_DAYS) of 1970-01-01.
const daynr1970 = 719528

// mysqlDayUs is mysqlUs, and for an invalid date whose month and day are
// not zero — a day past its month's end, '2024-02-30', which
// ALLOW_INVALID_DATES keeps — the microseconds of MariaDB's day number for
// it (calc_daynr counts the days on into the next month: the day after
// '2024-02-29'), as dayofweek, datediff and timestampdiff read it; ok is
// false for a date with a zero month or day, which has none (NULL).
func mysqlDayUs(us int64) (int64, bool) {
	if !IsInvalidTimestamp(us) {
		return mysqlUs(us), true
	}
	y, m, d, tod := TimestampParts(us)
	if m == 0 || d == 0 {
		return 0, false
	}
	return (calcDaynr(y, m, d)-daynr1970)*usPerDay + tod, true
}

// mysqlUs is mysqlDays for a TIMESTAMP's microseconds.
func mysqlUs(us int64) int64 {
	if d := floorDiv(us, usPerDay); d >= year0Jan1 && d < year0Mar1 {
		return us + usPerDay
	}
	return us
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ParseDate parses 'YYYY-MM-DD' (also 'YYYYMMDD' and a trailing time part,
// which is ignored) to days since the epoch.
func ParseDate(s string) (int64, error) {
	us, err := ParseTimestamp(s)
	if err != nil {
		return 0, fmt.Errorf("invalid date %q", s)
	}
	return TimestampToDate(us), nil
}

var errBadTimestamp = errors.New("bad timestamp")

// ParseTimestamp parses 'YYYY-MM-DD[( |T)HH:MM:SS[.ffffff]]' (optionally
// followed by 'Z'; '/' or '.' may stand for '-') to µs since the epoch.
func ParseTimestamp(s string) (int64, error) {
	us, err := parseTimestamp(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid timestamp %q", s)
	}
	return us, nil
}

func parseTimestamp(s string) (int64, error) {
	s = strings.TrimSuffix(s, "Z")
	var datePart, timePart string
	if i := strings.IndexAny(s, " T"); i >= 0 {
		datePart, timePart = s[:i], strings.TrimSpace(s[i+1:])
	} else {
		datePart = s
	}
	// MySQL takes '/' and '.' between the date's parts too ('2024/02/29').
	datePart = strings.NewReplacer("/", "-", ".", "-").Replace(datePart)
	var y, m, d int64
	if strings.Count(datePart, "-") == 2 {
		parts := strings.Split(datePart, "-")
		var ok1, ok2, ok3 bool
		y, ok1 = atoi(parts[0], 4)
		m, ok2 = atoi(parts[1], 2)
		d, ok3 = atoi(parts[2], 2)
		if !ok1 || !ok2 || !ok3 || len(parts[0]) != 4 {
			return 0, errBadTimestamp
		}
	} else if len(datePart) == 8 && allDigits(datePart) {
		y, _ = atoi(datePart[:4], 4)
		m, _ = atoi(datePart[4:6], 2)
		d, _ = atoi(datePart[6:], 2)
	} else {
		return 0, errBadTimestamp
	}
	if m > 12 || d > 31 {
		return 0, errBadTimestamp
	}
	us := int64(0)
	if m == 0 || d == 0 {
		// MySQL's zero dates ('0000-00-00', '2024-02-00') read as their
		// sentinel; a day past the month's end is no date at all.
		us = DateToTimestamp(InvalidDate(y, m, d))
	} else if d > daysIn(y, m) {
		return 0, errBadTimestamp
	} else {
		us = DaysFromCivil(y, m, d) * usPerDay
	}
	if timePart != "" {
		t, err := parseClock(timePart, false)
		if err != nil || t >= usPerDay {
			return 0, errBadTimestamp
		}
		us += t
	}
	return us, nil
}

func atoi(s string, maxLen int) (int64, bool) {
	if s == "" || len(s) > maxLen || !allDigits(s) {
		return 0, false
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	return v, true
}

// parseClock parses 'H+:MM[:SS[.ffffff]]' to µs (further fractional
// digits are dropped); with allowLongHours the
// hours may exceed 23.
func parseClock(s string, allowLongHours bool) (int64, error) {
	frac := int64(0)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		f := s[i+1:]
		s = s[:i]
		if f == "" || !allDigits(f) {
			return 0, errBadTimestamp
		}
		for len(f) < 6 {
			f += "0"
		}
		// Digits beyond microseconds are cut, as MariaDB truncates them.
		v, _ := strconv.ParseInt(f[:6], 10, 64)
		frac = v
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, errBadTimestamp
	}
	h, ok1 := atoi(parts[0], 4)
	mi, ok2 := atoi(parts[1], 2)
	sec, ok3 := int64(0), true
	if len(parts) == 3 {
		sec, ok3 = atoi(parts[2], 2)
	}
	if !ok1 || !ok2 || !ok3 || mi > 59 || sec > 59 || (!allowLongHours && h > 23) {
		return 0, errBadTimestamp
	}
	return h*usPerHour + mi*usPerMin + sec*usPerSec + frac, nil
}

// ParseTime parses a TIME value '[-][D ]HH:MM:SS[.ffffff]' to µs.
func ParseTime(s string) (int64, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	days := int64(0)
	if i := strings.IndexByte(t, ' '); i >= 0 {
		d, ok := atoi(t[:i], 2)
		if !ok {
			return 0, fmt.Errorf("invalid time %q", s)
		}
		days, t = d, t[i+1:]
	}
	us, err := parseClock(t, true)
	if err != nil {
		return 0, fmt.Errorf("invalid time %q", s)
	}
	us += days * usPerDay
	if us > MaxTimeUs {
		return 0, fmt.Errorf("time %q is out of range", s)
	}
	if neg {
		us = -us
	}
	return us, nil
}

// FormatDate formats days since the epoch as 'YYYY-MM-DD' (a zero date as
// '0000-00-00').
func FormatDate(days int64) string {
	y, m, d := DateParts(days)
	return string(appendYMD(make([]byte, 0, 10), y, m, d))
}

func appendYMD(b []byte, y, m, d int64) []byte {
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, m, 2)
	b = append(b, '-')
	return appendPad(b, d, 2)
}

func appendPad(b []byte, v int64, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// FormatTimestamp formats µs since the epoch as 'YYYY-MM-DD HH:MM:SS' with
// fsp fractional digits (0..6); fsp < 0 prints 6 digits when the value has
// a fraction and none otherwise. A zero date prints as '0000-00-00 00:00:00'.
func FormatTimestamp(us int64, fsp int) string {
	y, m, d, rem := TimestampParts(us)
	b := appendYMD(make([]byte, 0, 26), y, m, d)
	b = append(b, ' ')
	b = appendClock(b, rem, fsp)
	return string(b)
}

func appendClock(b []byte, us int64, fsp int) []byte {
	h := us / usPerHour
	mi := us / usPerMin % 60
	s := us / usPerSec % 60
	frac := us % usPerSec
	b = appendPad(b, h, 2)
	b = append(b, ':')
	b = appendPad(b, mi, 2)
	b = append(b, ':')
	b = appendPad(b, s, 2)
	if fsp < 0 {
		if frac == 0 {
			return b
		}
		fsp = 6
	}
	if fsp > 0 {
		f := []byte(fmt.Sprintf("%06d", frac))
		b = append(b, '.')
		b = append(b, f[:fsp]...)
	}
	return b
}

// FormatTime formats a TIME (µs) as MySQL does: '-838:59:59.000000' style,
// with fsp fractional digits (fsp < 0: 6 when there is a fraction).
func FormatTime(us int64, fsp int) string {
	var b []byte
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	return string(appendClock(b, us, fsp))
}

// TimeOf returns a Go time (UTC) of µs since the epoch.
func TimeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }

// ParseInterval parses '5 MINUTE', '-2 day', '1:30 HOUR_MINUTE' is not
// supported; units: MICROSECOND SECOND MINUTE HOUR DAY WEEK MONTH QUARTER YEAR.
func ParseInterval(s string) (arrow.MonthDayNanoInterval, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return arrow.MonthDayNanoInterval{}, fmt.Errorf("invalid interval %q (want e.g. '5 MINUTE')", s)
	}
	n, err := strconv.ParseInt(strings.Trim(f[0], "'"), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return arrow.MonthDayNanoInterval{}, fmt.Errorf("interval %q is out of range", s)
	}
	if err != nil {
		return arrow.MonthDayNanoInterval{}, fmt.Errorf("invalid interval %q: %q is not an integer", s, f[0])
	}
	return MakeInterval(n, f[1])
}

// intervalRange bounds n units of an interval: the nanoseconds of a clock
// unit fit an int64, the days and months of a calendar unit an int32.
func intervalRange(n, per, max int64) bool { return n <= max/per && n >= -(max/per) }

// MakeInterval returns n units as an interval.
func MakeInterval(n int64, unit string) (arrow.MonthDayNanoInterval, error) {
	var iv arrow.MonthDayNanoInterval
	u := strings.TrimSuffix(strings.ToUpper(unit), "S")
	per := map[string]int64{"MICROSECOND": 1000, "SECOND": 1e9, "MINUTE": 60e9, "HOUR": 3600e9,
		"DAY": 1, "WEEK": 7, "MONTH": 1, "QUARTER": 3, "YEAR": 12}[u]
	max := int64(math.MaxInt64)
	if u == "DAY" || u == "WEEK" || u == "MONTH" || u == "QUARTER" || u == "YEAR" {
		max = math.MaxInt32
	}
	if per != 0 && !intervalRange(n, per, max) {
		return iv, fmt.Errorf("interval %d %s is out of range", n, u)
	}
	switch u {
	case "MICROSECOND":
		iv.Nanoseconds = n * 1000
	case "SECOND":
		iv.Nanoseconds = n * 1e9
	case "MINUTE":
		iv.Nanoseconds = n * 60e9
	case "HOUR":
		iv.Nanoseconds = n * 3600e9
	case "DAY":
		iv.Days = int32(n)
	case "WEEK":
		iv.Days = int32(7 * n)
	case "MONTH":
		iv.Months = int32(n)
	case "QUARTER":
		iv.Months = int32(3 * n)
	case "YEAR":
		iv.Months = int32(12 * n)
	default:
		return iv, fmt.Errorf("unknown interval unit %q", unit)
	}
	return iv, nil
}

// AddInterval adds iv (times sign) to a timestamp in µs the way MySQL's
// DATE_ADD does: months first, clamping the day to the month's last day.
func AddInterval(us int64, iv arrow.MonthDayNanoInterval, sign int64) (int64, bool) {
	if us < invalidTsLimit {
		return 0, false // a zero date plus anything is NULL, as in MySQL
	}
	if iv.Months != 0 {
		days := floorDiv(us, usPerDay)
		rem := us - days*usPerDay
		y, m, d := CivilFromDays(days)
		total := y*12 + (m - 1) + sign*int64(iv.Months)
		y, m = floorDiv(total, 12), total-floorDiv(total, 12)*12+1
		if d > daysIn(y, m) {
			d = daysIn(y, m)
		}
		us = DaysFromCivil(y, m, d)*usPerDay + rem
	}
	us += sign * (int64(iv.Days)*usPerDay + iv.Nanoseconds/1000)
	// MySQL's DATETIME range is years 1000..9999; allow 0001..9999, and
	// year 0 for an interval of months alone, as MySQL's period
	// arithmetic does (its day arithmetic stops at 0001-01-01).
	lo := minTimestampUs
	if iv.Days == 0 && iv.Nanoseconds == 0 {
		lo = year0Jan1 * usPerDay
	}
	if us < lo || us > maxTimestampUs {
		return 0, false
	}
	return us, true
}

var (
	minTimestampUs = DaysFromCivil(1, 1, 1) * usPerDay
	maxTimestampUs = DaysFromCivil(9999, 12, 31)*usPerDay + usPerDay - 1
)

// FormatInterval formats an interval in the language's syntax.
func FormatInterval(iv arrow.MonthDayNanoInterval) string {
	var parts []string
	if iv.Months != 0 {
		parts = append(parts, fmt.Sprintf("%d MONTH", iv.Months))
	}
	if iv.Days != 0 {
		parts = append(parts, fmt.Sprintf("%d DAY", iv.Days))
	}
	if iv.Nanoseconds != 0 || len(parts) == 0 {
		if iv.Nanoseconds%1000 == 0 {
			parts = append(parts, fmt.Sprintf("%d MICROSECOND", iv.Nanoseconds/1000))
		} else {
			parts = append(parts, fmt.Sprintf("%d NANOSECOND", iv.Nanoseconds))
		}
	}
	return strings.Join(parts, " + ")
}

// FloorDiv divides rounding toward negative infinity.
func FloorDiv(a, b int64) int64 { return floorDiv(a, b) }

// TextFSP returns the fractional second digits text such as
// '2024-01-01 00:00:00.12' or '10:11:12.5' writes (0 without a time or a
// fraction; at most 6, the digits a TIMESTAMP keeps): MariaDB's datetime
// precision of a constant text.
func TextFSP(s string) int {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return 0
	}
	j := strings.IndexByte(s[i:], '.')
	if j < 0 {
		return 0
	}
	n := 0
	for _, c := range s[i+j+1:] {
		if c < '0' || c > '9' {
			break
		}
		n++
	}
	return min(n, 6)
}
