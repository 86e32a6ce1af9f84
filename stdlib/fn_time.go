package stdlib

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // convert_tz must not depend on the host's zoneinfo
)

func init() {
	Register(&Func{Name: "now", NullFree: true, Sig: "now() → TIMESTAMP", Doc: "The statement time in UTC, to the second (the same for every row of a batch).", MinArgs: 0, MaxArgs: 0,
		Bind: func(args []Arg) (*Bound, error) {
			return &Bound{Ret: TTimestamp, Volatile: true, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				now := c.Now
				if now.IsZero() {
					now = time.Now()
				}
				us := now.Unix() * usPerSec
				Sel(sel, n, func(i int) { out.I64[i] = us })
			}}, nil
		}})
	Register(&Func{Name: "date", NullFree: true, Sig: "date(t) → DATE", Doc: "The date part of a timestamp.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"date(TIMESTAMP '2024-02-29 23:59:59')", "2024-02-29"}},
		Bind: simple("date", TDate, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) { out.I64[i] = TimestampToDate(a[0].I64[i]) })
		}, timeArg)})
	// The parts of a zero date are zeros, as in MySQL.
	part := func(name, doc string, ex Example, f func(us int64) int64) {
		Register(&Func{Name: name, NullFree: true, Sig: name + "(t) → INT64", Doc: doc, MySQL: true, MinArgs: 1, MaxArgs: 1,
			Examples: []Example{ex},
			Bind: simple(name, TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) { out.I64[i] = f(a[0].I64[i]) })
			}, timeArg)})
	}
	ymd := func(us int64) (y, m, d int64) { y, m, d, _ = TimestampParts(us); return }
	tod := TimeOfDay
	part("year", "The year of t.", Example{"year(DATE '2024-02-29')", "2024"}, func(us int64) int64 { y, _, _ := ymd(us); return y })
	part("month", "The month of t, 1..12.", Example{"month(DATE '2024-02-29')", "2"}, func(us int64) int64 { _, m, _ := ymd(us); return m })
	part("day", "The day of the month of t, 1..31.", Example{"day(DATE '2024-02-29')", "29"}, func(us int64) int64 { _, _, d := ymd(us); return d })
	day, _ := Lookup("day")
	alias("dayofmonth", day)
	// hour, minute and second also take a TIME, a signed duration that
	// may exceed a day: its parts, of its absolute value (as MySQL:
	// HOUR('-838:59:59') is 838).
	clock := func(name, doc string, ex []Example, ofDay func(us int64) int64, ofTime func(abs int64) int64) {
		Register(&Func{Name: name, NullFree: true, Sig: name + "(t) → INT64", Doc: doc, MySQL: true, MinArgs: 1, MaxArgs: 1,
			Examples: ex,
			Bind: func(args []Arg) (*Bound, error) {
				f, class := ofDay, timeArg
				if args[0].Type.Kind == Time {
					f = func(us int64) int64 { return ofTime(max(us, -us)) }
					class = func(string, int, Type) (Type, error) { return TTime, nil }
				}
				return simple(name, TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
					Sel(sel, n, func(i int) { out.I64[i] = f(a[0].I64[i]) })
				}, class)(args)
			}})
	}
	clock("hour", "The hour of t, 0..23; of a TIME, its hours (up to 838).",
		[]Example{{"hour(TIMESTAMP '2024-01-02 13:14:15')", "13"}, {"hour(CAST('-838:59:59' AS TIME))", "838"}},
		func(us int64) int64 { return tod(us) / usPerHour }, func(abs int64) int64 { return abs / usPerHour })
	clock("minute", "The minute of t (or of a TIME), 0..59.",
		[]Example{{"minute(TIMESTAMP '2024-01-02 13:14:15')", "14"}, {"minute(CAST('100:30:15' AS TIME))", "30"}},
		func(us int64) int64 { return tod(us) / usPerMin % 60 }, func(abs int64) int64 { return abs / usPerMin % 60 })
	clock("second", "The second of t (or of a TIME), 0..59.",
		[]Example{{"second(TIMESTAMP '2024-01-02 13:14:15')", "15"}, {"second(CAST('-00:00:01.5' AS TIME))", "1"}},
		func(us int64) int64 { return tod(us) / usPerSec % 60 }, func(abs int64) int64 { return abs / usPerSec % 60 })
	Register(&Func{Name: "dayofweek", Sig: "dayofweek(t) → INT64", Doc: "The weekday of t, 1 = Sunday … 7 = Saturday; NULL for a zero date.", MySQL: true, MinArgs: 1, MaxArgs: 1,
		Examples: []Example{{"dayofweek(DATE '2024-02-29')", "5"}},
		Bind: simple("dayofweek", TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				us, ok := mysqlDayUs(a[0].I64[i])
				if !ok {
					out.SetNull(i, n) // as MySQL: a zero month or day has no weekday
					return
				}
				d := floorDiv(us, usPerDay) // 1970-01-01 was a Thursday (5)
				out.I64[i] = ((d+4)%7+7)%7 + 1
			})
		}, timeArg)})
	Register(&Func{Name: "date_trunc", Sig: "date_trunc(unit, t) → TIMESTAMP", Doc: "t cut down to the start of its year, quarter, month, week (Monday), day, hour, minute or second.",
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"date_trunc('month', TIMESTAMP '2024-02-29 10:11:12')", "2024-02-01 00:00:00"}, {"date_trunc('hour', TIMESTAMP '2024-02-29 10:11:12')", "2024-02-29 10:00:00"}},
		Bind: bindDateTrunc})
	Register(&Func{Name: "date_add", Sig: "date_add(t, i INTERVAL) → TIMESTAMP | DATE", Doc: "t plus an interval (months clamp to the month's last day).", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"date_add(DATE '2024-01-31', INTERVAL '1' MONTH)", "2024-02-29"}, {"date_add(TIMESTAMP '2024-01-01 00:00:00', INTERVAL '90' MINUTE)", "2024-01-01 01:30:00"}},
		Bind: bindDateAdd(1)})
	Register(&Func{Name: "date_sub", Sig: "date_sub(t, i INTERVAL) → TIMESTAMP | DATE", Doc: "t minus an interval.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"date_sub(DATE '2024-03-31', INTERVAL '1' MONTH)", "2024-02-29"}},
		Bind: bindDateAdd(-1)})
	Register(&Func{Name: "datediff", Sig: "datediff(a, b) → INT64", Doc: "Days from b to a (date parts only).", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"datediff(DATE '2024-03-01', DATE '2024-02-28')", "2"}},
		Bind: simple("datediff", TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				x, okx := mysqlDayUs(a[0].I64[i])
				y, oky := mysqlDayUs(a[1].I64[i])
				if !okx || !oky {
					out.SetNull(i, n) // as MySQL: a zero date has no day number
					return
				}
				out.I64[i] = floorDiv(x, usPerDay) - floorDiv(y, usPerDay)
			})
		}, timeArg)})
	Register(&Func{Name: "timestampdiff", Sig: "timestampdiff(unit, a, b) → INT64", Doc: "Whole units (microsecond … year) from a to b.", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"timestampdiff('MONTH', DATE '2024-01-31', DATE '2024-02-29')", "0"}, {"timestampdiff('HOUR', TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-02 01:59:00')", "25"}},
		Bind: bindTimestampDiff})
	Register(&Func{Name: "unix_timestamp", Sig: "unix_timestamp([t]) → INT64 | DECIMAL(16+n,n)", Doc: "Seconds since 1970-01-01 UTC of t (default now): for a t with n fractional digits (a DATETIME(n) or TIMESTAMP(n) column, a literal or constant text that writes n digits, 6 for other text and computed timestamps) a DECIMAL(16+n,n) that keeps them, as MariaDB; an INT64 for n = 0 and a DATE. NULL for a t outside 1970-01-01 00:00:00 … 2038-01-19 03:14:07.999999 (as MariaDB 10.11) and for a zero date.", MySQL: true,
		MinArgs: 0, MaxArgs: 1, Examples: []Example{{"unix_timestamp(TIMESTAMP '2024-01-01 00:00:00')", "1704067200"}, {"unix_timestamp('2024-01-01 00:00:00.123456')", "1704067200.123456"}, {"unix_timestamp(TIMESTAMP '2024-01-01 00:00:00.5')", "1704067200.5"}},
		Bind: func(args []Arg) (*Bound, error) {
			if len(args) == 0 {
				return &Bound{Ret: TInt64, Volatile: true, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
					now := c.Now
					if now.IsZero() {
						now = time.Now()
					}
					Sel(sel, n, func(i int) { out.I64[i] = now.Unix() })
				}}, nil
			}
			fsp := args[0].fsp()
			if fsp == 0 {
				return simple("unix_timestamp", TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
					Sel(sel, n, func(i int) {
						// Zero and invalid dates are below 0 (their sentinels).
						us := a[0].I64[i]
						if us < 0 || us > maxUnixTimeUs {
							out.SetNull(i, n)
							return
						}
						out.I64[i] = us / usPerSec
					})
				}, timeArg)(args)
			}
			// MariaDB's DECIMAL(16+n, n): the fraction's n digits, the
			// digits beyond cut (a DATETIME(n) has none).
			div := int64(pow10u64[6-fsp])
			return simple("unix_timestamp", Dec(16+int32(fsp), int32(fsp)), func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) {
					us := a[0].I64[i]
					if us < 0 || us > maxUnixTimeUs {
						out.SetNull(i, n)
						return
					}
					out.Dec[i] = DecFromInt(us / div)
				})
			}, timeArg)(args)
		}})
	Register(&Func{Name: "from_unixtime", Sig: "from_unixtime(n) → TIMESTAMP", Doc: "The UTC timestamp n seconds after 1970-01-01, the digits of n beyond microseconds cut (as MariaDB); NULL for an n outside 0 … 2147483647.999999 (as MariaDB 10.11: 2038-01-19 03:14:07.999999 is the last), a negative n however small included.", MySQL: true,
		MinArgs: 1, MaxArgs: 1, Examples: []Example{{"from_unixtime(1704067200)", "2024-01-01 00:00:00"}, {"from_unixtime(1.9999999)", "1970-01-01 00:00:01.999999"}},
		Bind: bindFromUnixtime})
	Register(&Func{Name: "date_format", Sig: "date_format(t, fmt) → STRING", Doc: "t formatted with MySQL's % specifiers (%Y-%m-%d %H:%i:%s, %W, %M, %f, the weeks %U %u %V %v and their years %X %x, …).", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"date_format(TIMESTAMP '2024-02-29 13:04:05', '%Y/%m/%d %H:%i:%s')", "2024/02/29 13:04:05"}, {"date_format(DATE '2024-02-29', '%W %M %e %y %j')", "Thursday February 29 24 060"}, {"date_format(DATE '2024-01-01', '%x-W%v %X-W%V %u %U')", "2024-W01 2023-W53 01 00"}},
		Bind: func(args []Arg) (*Bound, error) {
			if _, err := timeArg("date_format", 0, args[0].Type); err != nil {
				return nil, err
			}
			return &Bound{Ret: TString, Args: []Type{TTimestamp, TString}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
				Sel(sel, n, func(i int) {
					var ok bool
					if out.Str[i], ok = DateFormatOK(a[0].I64[i], a[1].Str[i]); !ok {
						out.SetNull(i, n)
					}
				})
			}}, nil
		}})
	Register(&Func{Name: "convert_tz", Sig: "convert_tz(t, from, to) → TIMESTAMP", Doc: "t read as wall time in zone from, shown in zone to (names like 'Europe/Berlin', in any case as in MariaDB, or offsets like '+02:00'); NULL for an unknown zone or an offset outside -12:59…+13:00, as MariaDB. A wall time the clocks skip (a spring-forward gap) reads as the gap's end, and one they show twice (the fall back) as the first of the two, as MariaDB.", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"convert_tz(TIMESTAMP '2024-07-01 12:00:00', '+00:00', '+02:00')", "2024-07-01 14:00:00"}},
		Bind: simple("convert_tz", TTimestamp, convertTZKernel, timeArg, textArg)})
}

// bindFromUnixtime binds from_unixtime(n): n keeps its own type (an
// integer, a DECIMAL of any scale, a FLOAT64),
// so that a negative n is NULL however small, and the digits beyond
// microseconds are cut rather than rounded, as MariaDB.
func bindFromUnixtime(args []Arg) (*Bound, error) {
	t, err := numArg("from_unixtime", 0, args[0].Type)
	if err != nil {
		return nil, err
	}
	set := func(out *Vector, i, n int, us int64, ok bool) {
		if !ok || us < 0 || us > maxUnixTimeUs {
			out.SetNull(i, n)
			return
		}
		out.I64[i] = us
	}
	switch {
	case t.IsSigned() || t.Kind == Bool:
		return &Bound{Ret: TTimestamp, Args: []Type{TInt64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				v := a[0].I64[i]
				set(out, i, n, v*usPerSec, v >= 0 && v <= math.MaxInt32)
			})
		}}, nil
	case t.IsUnsigned():
		return &Bound{Ret: TTimestamp, Args: []Type{TUint64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				v := a[0].U64[i]
				set(out, i, n, int64(v)*usPerSec, v <= math.MaxInt32)
			})
		}}, nil
	case t.IsFloat():
		return &Bound{Ret: TTimestamp, Args: []Type{TFloat64}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				f := a[0].F64[i]
				if !(f >= 0 && f < math.MaxInt32+1) {
					out.SetNull(i, n)
					return
				}
				// The double's shortest text, cut after six digits (as
				// MariaDB's double → DECIMAL): 1704067200.123456 is not
				// 1704067200.123455 for the binary's error.
				ip, frac, _ := strings.Cut(strconv.FormatFloat(f, 'f', -1, 64), ".")
				frac = (frac + "000000")[:6]
				sec, err1 := strconv.ParseInt(ip, 10, 64)
				us, err2 := strconv.ParseInt(frac, 10, 64)
				set(out, i, n, sec*usPerSec+us, err1 == nil && err2 == nil)
			})
		}}, nil
	}
	scale := int(t.Scale) // a DECIMAL
	return &Bound{Ret: TTimestamp, Args: []Type{t}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) {
			d := a[0].Dec[i]
			if d.Sign() < 0 {
				out.SetNull(i, n)
				return
			}
			b := d.BigInt()
			if scale > 6 {
				b.Quo(b, pow10big[scale-6])
			} else if scale < 6 {
				b.Mul(b, pow10big[6-scale])
			}
			set(out, i, n, b.Int64(), b.IsInt64())
		})
	}}, nil
}

// maxUnixTimeUs is the last instant (2038-01-19 03:14:07.999999 UTC, in
// microseconds) that MariaDB 10.11's unix_timestamp() and from_unixtime()
// take; outside 0…maxUnixTimeUs both give NULL.
const maxUnixTimeUs = math.MaxInt32*usPerSec + usPerSec - 1

var dateTruncUnits = map[string]bool{"year": true, "quarter": true, "month": true, "week": true, "day": true, "hour": true, "minute": true, "second": true}

func bindDateTrunc(args []Arg) (*Bound, error) {
	if u, ok := constString(args[0]); ok && !dateTruncUnits[strings.ToLower(u)] {
		return nil, &ArgError{Arg: 0, Msg: fmt.Sprintf("unknown unit %q for \"date_trunc\" (expected year, quarter, month, week, day, hour, minute or second)", u)}
	}
	return simple("date_trunc", TTimestamp, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) {
			unit := strings.ToLower(a[0].Str[i])
			us := a[1].I64[i]
			if IsInvalidTimestamp(us) && dateTruncUnits[unit] {
				out.SetNull(i, n)
				return
			}
			days := floorDiv(us, usPerDay)
			y, m, _ := CivilFromDays(days)
			switch unit {
			case "year":
				out.I64[i] = DaysFromCivil(y, 1, 1) * usPerDay
			case "quarter":
				out.I64[i] = DaysFromCivil(y, (m-1)/3*3+1, 1) * usPerDay
			case "month":
				out.I64[i] = DaysFromCivil(y, m, 1) * usPerDay
			case "week":
				wd := ((days+3)%7 + 7) % 7 // 0 = Monday
				out.I64[i] = (days - wd) * usPerDay
			case "day":
				out.I64[i] = days * usPerDay
			case "hour":
				out.I64[i] = floorDiv(us, usPerHour) * usPerHour
			case "minute":
				out.I64[i] = floorDiv(us, usPerMin) * usPerMin
			case "second":
				out.I64[i] = floorDiv(us, usPerSec) * usPerSec
			default:
				c.Fail(i, fmt.Sprintf("unknown unit %q", unit))
				out.SetNull(i, n)
			}
		})
	}, textArg, timeArg)(args)
}

func bindDateAdd(sign int64) func([]Arg) (*Bound, error) {
	name := "date_add"
	if sign < 0 {
		name = "date_sub"
	}
	return func(args []Arg) (*Bound, error) {
		if _, err := timeArg(name, 0, args[0].Type); err != nil {
			return nil, err
		}
		if args[1].Type.Kind != Interval && args[1].Type.Kind != Null {
			return nil, argErr(name, 1, "an INTERVAL", args[1].Type)
		}
		ret := TTimestamp
		if args[0].Type.Kind == Date && args[1].Const != nil && !args[1].Const.IsNull(0) && args[1].Const.Iv[0].Nanoseconds == 0 {
			ret = TDate
		}
		return &Bound{Ret: ret, Args: []Type{TTimestamp, TInterval}, Kernel: func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
			Sel(sel, n, func(i int) {
				r, ok := AddInterval(a[0].I64[i], a[1].Iv[i], sign)
				if !ok {
					out.SetNull(i, n)
					return
				}
				if ret == TDate {
					r = TimestampToDate(r)
				}
				out.I64[i] = r
			})
		}}, nil
	}
}

// timestampdiffUnits are the units of timestampdiff, singular, upper case
// (a trailing S is dropped: 'months' is MONTH).
var timestampdiffUnits = map[string]bool{"MICROSECOND": true, "SECOND": true, "MINUTE": true, "HOUR": true, "DAY": true, "WEEK": true, "MONTH": true, "QUARTER": true, "YEAR": true}

func bindTimestampDiff(args []Arg) (*Bound, error) {
	if u, ok := constString(args[0]); ok && !timestampdiffUnits[strings.TrimSuffix(strings.ToUpper(u), "S")] {
		return nil, &ArgError{Arg: 0, Msg: fmt.Sprintf("unknown unit %q for \"timestampdiff\" (expected MICROSECOND, SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or YEAR)", u)}
	}
	return simple("timestampdiff", TInt64, func(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
		Sel(sel, n, func(i int) {
			unit := strings.TrimSuffix(strings.ToUpper(a[0].Str[i]), "S")
			x, y := a[1].I64[i], a[2].I64[i]
			// Units up to a week count on MySQL's day numbers (no 29
			// February in year 0; a day past its month's end counts on
			// into the next); months on the dates' fields.
			mx, okx := mysqlDayUs(x)
			my, oky := mysqlDayUs(y)
			if !okx || !oky {
				out.SetNull(i, n)
				return
			}
			var r int64
			switch unit {
			case "MICROSECOND":
				r = my - mx
			case "SECOND":
				r = (my - mx) / usPerSec
			case "MINUTE":
				r = (my - mx) / usPerMin
			case "HOUR":
				r = (my - mx) / usPerHour
			case "DAY":
				r = (my - mx) / usPerDay
			case "WEEK":
				r = (my - mx) / (7 * usPerDay)
			case "MONTH", "QUARTER", "YEAR":
				r = monthsBetween(x, y, mx, my)
				switch unit {
				case "QUARTER":
					r /= 3
				case "YEAR":
					r /= 12
				}
			default:
				c.Fail(i, fmt.Sprintf("unknown unit %q", a[0].Str[i]))
				out.SetNull(i, n)
				return
			}
			out.I64[i] = r
		})
	}, textArg, timeArg, timeArg)(args)
}

// monthsBetween counts whole months from x to y as MySQL does: a month is
// complete when the day and time of y reach those of x. mx and my are x
// and y on MySQL's day numbers (mysqlDayUs), which order them.
func monthsBetween(x, y, mx, my int64) int64 {
	neg := false
	if my < mx {
		x, y, neg = y, x, true
	}
	y1, m1, d1, t1 := TimestampParts(x)
	y2, m2, d2, t2 := TimestampParts(y)
	months := (y2-y1)*12 + (m2 - m1)
	if d2 < d1 || (d2 == d1 && t2 < t1) {
		months--
	}
	if neg {
		return -months
	}
	return months
}

var (
	zoneMu    sync.Mutex
	zoneCache = map[string]*time.Location{}
)

// zoneByLowerName maps each zone name, lower-cased, to its name.
var zoneByLowerName = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(zoneNames))
	for _, n := range zoneNames {
		m[strings.ToLower(n)] = n
	}
	return m
})

// zone returns the location named by a MySQL time zone spec; names match
// whatever their case, as in MariaDB.
func zone(spec string) (*time.Location, bool) {
	zoneMu.Lock()
	defer zoneMu.Unlock()
	if l, ok := zoneCache[spec]; ok {
		return l, l != nil
	}
	var loc *time.Location
	s := strings.TrimSpace(spec)
	if len(s) >= 5 && (s[0] == '+' || s[0] == '-') && s[len(s)-3] == ':' {
		h, err1 := strconv.Atoi(s[1 : len(s)-3])
		m, err2 := strconv.Atoi(s[len(s)-2:])
		if err1 == nil && err2 == nil && h >= 0 && m >= 0 && m < 60 {
			off := h*3600 + m*60
			if s[0] == '-' {
				off = -off
			}
			// MariaDB's offsets run from -12:59 to +13:00 (tztime.cc,
			// str_to_offset); another is no zone, NULL.
			if off >= -(12*3600+59*60) && off <= 13*3600 {
				loc = time.FixedZone(s, off)
			}
		}
	} else if strings.EqualFold(s, "UTC") || strings.EqualFold(s, "SYSTEM") {
		loc = time.UTC
	} else if l, err := time.LoadLocation(s); err == nil && s != "" && s != "Local" {
		loc = l
	} else if name, ok := zoneByLowerName()[strings.ToLower(s)]; ok {
		// MariaDB finds a name whatever its case ('europe/berlin').
		if l, err := time.LoadLocation(name); err == nil {
			loc = l
		}
	}
	zoneCache[spec] = loc
	return loc, loc != nil
}

func convertTZKernel(c *Ctx, a []*Vector, sel []int32, n int, out *Vector) {
	Sel(sel, n, func(i int) {
		from, ok1 := zone(a[1].Str[i])
		to, ok2 := zone(a[2].Str[i])
		if !ok1 || !ok2 {
			out.SetNull(i, n)
			return
		}
		us := a[0].I64[i]
		w := TimeOf(us)
		if IsInvalidTimestamp(us) {
			// A day past its month's end ('2024-02-30', which
			// ALLOW_INVALID_DATES keeps) is read on into the next month,
			// as MariaDB's TIME_to_gmt_sec counts it (calc_daynr): 2024-03-01.
			// A date with a zero month or day is NULL, as in MariaDB.
			day, ok := mysqlDayUs(us)
			if !ok {
				out.SetNull(i, n)
				return
			}
			w = TimeOf(day)
		}
		// Read the wall time in from, then show the instant in to.
		inst := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), from)
		if g := inst.In(from); g.Hour() != w.Hour() || g.Minute() != w.Minute() || g.Second() != w.Second() {
			// A wall time in a spring-forward gap, which Go reads with the
			// offset before it: the instant the gap ends, the fraction
			// kept, as MariaDB.
			start, end := inst.ZoneBounds()
			t := end
			if time.Date(g.Year(), g.Month(), g.Day(), g.Hour(), g.Minute(), g.Second(), 0, time.UTC).After(w.Truncate(time.Second)) {
				t = start
			}
			inst = t.Add(time.Duration(w.Nanosecond()))
		} else if start, _ := inst.ZoneBounds(); !start.IsZero() {
			// A wall time the clocks show twice (the fall back: 02:30 in
			// Berlin on 2024-10-27, first in summer time, then in winter
			// time) is the first of the two, as MariaDB reads it; Go's
			// time.Date may give the second (it did east of UTC).
			_, off := inst.Zone()
			_, prevOff := start.Add(-time.Nanosecond).Zone()
			if d := time.Duration(prevOff-off) * time.Second; d > 0 && inst.Sub(start) < d {
				inst = inst.Add(-d)
			}
		}
		if u := inst.Unix(); u < 1 || u > math.MaxInt32 {
			// As MySQL: outside the TIMESTAMP range nothing is converted
			// (an invalid date there is kept as it is: '0000-02-30').
			out.I64[i] = us
			return
		}
		v := inst.In(to)
		_, off := v.Zone()
		out.I64[i] = inst.UnixMicro() + int64(off)*usPerSec
	})
}

var (
	monthNames = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	dayNames   = [...]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
)

// DateFormat formats a timestamp (µs) with MySQL's DATE_FORMAT specifiers.
func DateFormat(us int64, f string) string {
	s, _ := DateFormatOK(us, f)
	return s
}

// calcDaynr is MariaDB's calc_daynr: a day number that also exists for
// dates with a zero day or month (the weekday of '2024-02-00' is that of
// '2024-01-31'), 0 for year and month zero.
func calcDaynr(y, m, d int64) int64 {
	if y == 0 && m == 0 {
		return 0
	}
	delsum := 365*y + 31*(m-1) + d
	if m <= 2 {
		y--
	} else {
		delsum -= (m*4 + 23) / 10
	}
	return delsum + y/4 - ((y/100+1)*3)/4
}

// The week behaviour flags of MySQL's calc_week.
const (
	weekMondayFirst  = 1 // weeks begin on Monday (else Sunday)
	weekYear         = 2 // a week of the turn of the year belongs to one year (1..53), not week 0
	weekFirstWeekday = 4 // week 1 is the first with the first weekday (else the first with 4 days or more)
)

// weekModes maps date_format's week specifiers to calc_week's flags.
var weekModes = map[byte]int{
	'U': weekFirstWeekday, 'u': weekMondayFirst,
	'V': weekYear | weekFirstWeekday, 'v': weekYear | weekMondayFirst,
	'X': weekYear | weekFirstWeekday, 'x': weekYear | weekMondayFirst,
}

// calcWeek is MySQL's calc_week: the week of y-m-d under the flags
// (weekMondayFirst, weekYear, weekFirstWeekday) and the year it belongs
// to.
func calcWeek(y, m, d int64, flags int) (week, year int64) {
	daynr := calcDaynr(y, m, d)
	firstDaynr := calcDaynr(y, 1, 1)
	mondayFirst := flags&weekMondayFirst != 0
	inYear := flags&weekYear != 0
	firstWeekday := flags&weekFirstWeekday != 0
	weekday := calcWeekday(firstDaynr, !mondayFirst)
	late := func(wd int64) bool { // the year's first days belong to the week before
		return (firstWeekday && wd != 0) || (!firstWeekday && wd >= 4)
	}
	year = y
	if m == 1 && d <= 7-weekday {
		if !inYear && late(weekday) {
			return 0, year
		}
		inYear = true
		year--
		n := daysInYear(year)
		firstDaynr -= n
		weekday = (weekday + 53*7 - n) % 7
	}
	var days int64
	if late(weekday) {
		days = daynr - (firstDaynr + (7 - weekday))
	} else {
		days = daynr - (firstDaynr - weekday)
	}
	if inYear && days >= 52*7 {
		weekday = (weekday + daysInYear(year)) % 7
		if (!firstWeekday && weekday < 4) || (firstWeekday && weekday == 0) {
			return 1, year + 1
		}
	}
	return days/7 + 1, year
}

// calcWeekday is MySQL's calc_weekday: 0 = Monday, or 0 = Sunday when
// sundayFirst.
func calcWeekday(daynr int64, sundayFirst bool) int64 {
	if sundayFirst {
		return (daynr + 6) % 7
	}
	return (daynr + 5) % 7
}

// daysInYear is MySQL's calc_days_in_year.
func daysInYear(y int64) int64 {
	if y&3 == 0 && (y%100 != 0 || (y%400 == 0 && y != 0)) {
		return 366
	}
	return 365
}

// DateFormatOK is DateFormat; ok is false (NULL, as MySQL) when a zero or
// invalid date meets a specifier it has no value for: a month name for
// month 0, a day of the year for year or month 0, a weekday for year and
// month 0.
func DateFormatOK(us int64, f string) (string, bool) {
	y, m, d, rem := TimestampParts(us)
	h, mi, s, frac := rem/usPerHour, rem/usPerMin%60, rem/usPerSec%60, rem%usPerSec
	var wd, yday int64 // wd: 0 = Monday
	if IsInvalidTimestamp(us) {
		daynr := calcDaynr(y, m, d)
		wd = (daynr + 5) % 7
		yday = daynr - calcDaynr(y, 1, 1) + 1
	} else {
		days := floorDiv(us, usPerDay)
		wd = ((mysqlDays(days)+3)%7 + 7) % 7
		yday = days - DaysFromCivil(y, 1, 1) + 1
	}
	noWeekday := y == 0 && m == 0
	h12 := h % 12
	if h12 == 0 {
		h12 = 12
	}
	ampm := "AM"
	if h >= 12 {
		ampm = "PM"
	}
	var b strings.Builder
	pad := func(v int64, w int) { b.Write(appendPad(nil, v, w)) }
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			pad(y, 4)
		case 'y':
			pad(y%100, 2)
		case 'm':
			pad(m, 2)
		case 'c':
			pad(m, 1)
		case 'd':
			pad(d, 2)
		case 'e':
			pad(d, 1)
		case 'H':
			pad(h, 2)
		case 'k':
			pad(h, 1)
		case 'h', 'I':
			pad(h12, 2)
		case 'l':
			pad(h12, 1)
		case 'i':
			pad(mi, 2)
		case 's', 'S':
			pad(s, 2)
		case 'f':
			pad(frac, 6)
		case 'p':
			b.WriteString(ampm)
		case 'T':
			fmt.Fprintf(&b, "%02d:%02d:%02d", h, mi, s)
		case 'r':
			fmt.Fprintf(&b, "%02d:%02d:%02d %s", h12, mi, s, ampm)
		case 'W', 'a', 'w':
			if noWeekday {
				return "", false
			}
			switch f[i] {
			case 'W':
				b.WriteString(dayNames[wd])
			case 'a':
				b.WriteString(dayNames[wd][:3])
			default:
				pad((wd+1)%7, 1)
			}
		case 'M', 'b':
			if m == 0 {
				return "", false
			}
			if f[i] == 'M' {
				b.WriteString(monthNames[m-1])
			} else {
				b.WriteString(monthNames[m-1][:3])
			}
		case 'j':
			if m == 0 || y == 0 {
				return "", false
			}
			pad(yday, 3)
		case 'U', 'u', 'V', 'v', 'X', 'x':
			if m == 0 || y == 0 {
				return "", false // MariaDB prints meaningless numbers
			}
			week, year := calcWeek(y, m, d, weekModes[f[i]])
			if f[i] == 'X' || f[i] == 'x' {
				pad(year, 4)
			} else {
				pad(week, 2)
			}
		case 'D':
			suffix := "th"
			if d < 11 || d > 13 {
				switch d % 10 {
				case 1:
					suffix = "st"
				case 2:
					suffix = "nd"
				case 3:
					suffix = "rd"
				}
			}
			pad(d, 1)
			b.WriteString(suffix)
		default:
			b.WriteByte(f[i])
		}
	}
	return b.String(), true
}
