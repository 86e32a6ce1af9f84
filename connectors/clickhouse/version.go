package clickhouse

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// serverVersion is a ClickHouse server version, read once per sink with
// SELECT version(). Every choice that differs between server generations
// (DDL syntax, types, settings) asks it, never the server again.
type serverVersion struct {
	Major, Minor, Patch int
}

// parseVersion parses "18.16.1", "24.3.2.23" or "23.8.1.2992 (official build)".
func parseVersion(s string) (serverVersion, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " -"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return serverVersion{}, fmt.Errorf("cannot parse clickhouse version %q", s)
	}
	var v [3]int
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return serverVersion{}, fmt.Errorf("cannot parse clickhouse version %q", s)
		}
		v[i] = n
	}
	return serverVersion{v[0], v[1], v[2]}, nil
}

func (v serverVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// atLeast reports whether v is major.minor or later.
func (v serverVersion) atLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// hasDateTime64 reports DateTime64(p, tz) (20.1).
func (v serverVersion) hasDateTime64() bool { return v.atLeast(20, 1) }

// hasDate32 reports Date32 (21.9).
func (v serverVersion) hasDate32() bool { return v.atLeast(21, 9) }

// hasAddColumnIfNotExists reports ALTER TABLE … ADD COLUMN IF NOT EXISTS
// (18.16 rejects it).
func (v serverVersion) hasAddColumnIfNotExists() bool { return v.atLeast(19, 1) }

// maxDecimalPrecision is the widest Decimal the server stores without an
// experimental setting: 38 until Decimal256 became generally available
// (experimental from 20.8, usable without a setting from 22.1).
func (v serverVersion) maxDecimalPrecision() int {
	if v.atLeast(22, 1) {
		return 76
	}
	return 38
}

// dateType is the inclusive range of days since 1970-01-01 that the
// server's date type holds, and that type's name.
func (v serverVersion) dateType() (name string, minDays, maxDays int64) {
	if v.hasDate32() {
		if v.atLeast(22, 3) {
			return "Date32", days(1900, 1, 1), days(2299, 12, 31)
		}
		return "Date32", days(1925, 1, 1), days(2283, 11, 11)
	}
	// Date stores up to day 65535 (2149-06-06), but 18.x date functions
	// and text output only know dates up to 2105-12-31.
	return "Date", 0, days(2105, 12, 31)
}

// days returns the days since 1970-01-01 of a date.
func days(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// dateTime64Range is the range of DateTime64 in seconds since the epoch
// that etlq writes: the server's, cut at 2262-04-11 where clickhouse-go's
// encoding (through int64 nanoseconds) ends.
func (v serverVersion) dateTime64Range() (minSec, maxSec int64) {
	maxSec = math.MaxInt64/int64(time.Second) - 1
	if v.atLeast(22, 3) {
		return days(1900, 1, 1) * 86400, maxSec
	}
	return days(1925, 1, 1) * 86400, maxSec
}
