package exec_test

import (
	"testing"

	"github.com/etlq/etlq/stdlib"
)

// TestFunctionExamples runs every example of every registered function
// through the constructors and a Program.
func TestFunctionExamples(t *testing.T) {
	for _, f := range stdlib.Funcs() {
		for _, ex := range f.Examples {
			got, err := evalText(t, ex.SQL)
			if err != nil {
				t.Errorf("%s: %v", ex.SQL, err)
				continue
			}
			if got != ex.Want {
				t.Errorf("%s = %q, want %q", ex.SQL, got, ex.Want)
			}
		}
	}
}

// TestTimeParts: hour, minute and second of a TIME (a duration that may
// exceed a day or be negative) are its parts as MySQL gives them —
// HOUR('-838:59:59') is 838 — where a TIME argument was refused.
func TestTimeParts(t *testing.T) {
	evalTexts(t, map[string]string{
		"hour(CAST('-838:59:59' AS TIME))":         "838",
		"minute(CAST('-838:59:59' AS TIME))":       "59",
		"second(CAST('-838:59:59' AS TIME))":       "59",
		"hour(CAST('100:30:15.5' AS TIME))":        "100",
		"minute(CAST('100:30:15.5' AS TIME))":      "30",
		"second(CAST('100:30:15.5' AS TIME))":      "15",
		"second(CAST('-00:00:01.999999' AS TIME))": "1",
		"hour(CAST('12:00:00' AS TIME))":           "12",
		"hour(CAST(NULL AS TIME))":                 "NULL",
	})
}

// TestJSONDuplicateKeys: an object with a key twice reads as MariaDB reads
// it — json_length counts every member, json_keys names a key once (as
// written, first place), json_value, json_extract and json_contains take
// the first member of a key, and a candidate's every member must be
// contained. json_length counted the last member only, json_keys named
// the key twice and json_contains took the last member.
func TestJSONDuplicateKeys(t *testing.T) {
	evalTexts(t, map[string]string{
		`json_length('{"k": 1, "a": 2, "k": 3}')`:                     "3",
		`json_length('{"a": {"k": 1, "k": 2}}', '$.a')`:               "2",
		`json_keys('{"k": 1, "a": 2, "k": 3}')`:                       `["k", "a"]`,
		`json_keys('{"k": 1, "\u006b": 2}')`:                          `["k", "\u006b"]`,
		`json_value('{"k": 1, "k": 2}', '$.k')`:                       "1",
		`json_extract('{"k": 1, "k": 2}', '$.k')`:                     "1",
		`json_contains('{"k": 1, "k": 3}', '{"k": 3}')`:               "0",
		`json_contains('{"k": 1, "k": 3}', '{"k": 1}')`:               "1",
		`json_contains('{"a": {"k": 1, "k": 3}}', '{"a": {"k": 3}}')`: "0",
		`json_contains('[{"k": 1, "k": 3}]', '{"k": 3}')`:             "0",
		`json_contains('{"k": 1}', '{"k": 1, "k": 2}')`:               "0",
		`json_contains('{"k": 1, "b": [1, 2]}', '{"b": [2]}')`:        "1",
	})
}

// TestRegexpReplaceEmptyMatch: regexp_replace replaces matches from the
// left until the first empty one, which ends the replacing, as MariaDB's
// REGEXP_REPLACE does (values from MariaDB 10.11): '[0-9]*' leaves
// 'a1b22' as it is, where every empty match got a '#'.
func TestRegexpReplaceEmptyMatch(t *testing.T) {
	evalTexts(t, map[string]string{
		`regexp_replace('a1b22', '[0-9]*', '#')`:  "a1b22",
		`regexp_replace('bbcb', 'b*', '-')`:       "-cb",
		`regexp_replace('a1b22c', '[0-9]+', '#')`: "a#b#c",
		`regexp_replace('bbc', '^b*', '-')`:       "-c",
		`regexp_replace('xbbc', 'b*', '-')`:       "xbbc",
		`regexp_replace('abc', '', '-')`:          "abc",
		`regexp_replace('', 'x*', '-')`:           "",
		`regexp_replace('a-b-', '(-)', '<\1>')`:   "a<->b<->",
	})
}

// TestExtremeTextAndNumber: greatest and least of text and numbers compare
// them as numbers and give a FLOAT64, as MariaDB (DOUBLE) and as = compares
// text with a number; they compared text — least('10', 9) was '10'.
func TestExtremeTextAndNumber(t *testing.T) {
	evalTexts(t, map[string]string{
		`least('10', 9)`:         "9",
		`greatest('10', 9, '8')`: "10",
		`greatest('abc', 1)`:     "1",
		`greatest('2abc', 1.5)`:  "2",
		`greatest('1.50', 1)`:    "1.5",
		`least('b', 'a')`:        "a",
		`least(2, 1.5)`:          "1.5",
		`greatest('x', NULL, 1)`: "NULL",
	})
}

// evalTexts evaluates each expression and compares its text with the one
// wanted.
func evalTexts(t *testing.T, want map[string]string) {
	t.Helper()
	for sql, w := range want {
		got, err := evalText(t, sql)
		if err != nil {
			t.Errorf("%s: %v", sql, err)
			continue
		}
		if got != w {
			t.Errorf("%s = %q, want %q", sql, got, w)
		}
	}
}

// TestConvertTZGap: a wall time in a zone's spring-forward gap (02:30 on
// the night Los Angeles skips 02:00-03:00) reads as the instant the gap
// ends, its fraction kept, as MariaDB reads it (values from MariaDB
// 10.11); it read as 01:30 PST.
func TestConvertTZGap(t *testing.T) {
	evalTexts(t, map[string]string{
		`convert_tz(TIMESTAMP '2024-03-10 02:30:00', 'America/Los_Angeles', 'UTC')`:           "2024-03-10 10:00:00",
		`convert_tz(TIMESTAMP '2024-03-10 02:00:00', 'America/Los_Angeles', 'UTC')`:           "2024-03-10 10:00:00",
		`convert_tz(TIMESTAMP '2024-03-10 02:59:59.5', 'America/Los_Angeles', 'UTC')`:         "2024-03-10 10:00:00.500000",
		`convert_tz(TIMESTAMP '2024-03-31 02:30:00', 'Europe/Berlin', 'UTC')`:                 "2024-03-31 01:00:00",
		`convert_tz(TIMESTAMP '2024-03-10 02:30:00', 'America/Los_Angeles', 'Europe/Berlin')`: "2024-03-10 11:00:00",
		`convert_tz(TIMESTAMP '2024-11-03 01:30:00', 'America/Los_Angeles', 'UTC')`:           "2024-11-03 08:30:00",
		`convert_tz(TIMESTAMP '2024-03-10 03:00:00', 'America/Los_Angeles', 'UTC')`:           "2024-03-10 10:00:00",
		`convert_tz(TIMESTAMP '2024-03-10 01:59:59', 'America/Los_Angeles', 'UTC')`:           "2024-03-10 09:59:59",
	})
}

// TestConvertTZNameCase: a time zone name matches whatever its case, as in
// MariaDB, whose mysql.time_zone_name compares names case-insensitively
// (values from MariaDB 10.11); 'europe/berlin' gave NULL.
func TestConvertTZNameCase(t *testing.T) {
	evalTexts(t, map[string]string{
		`convert_tz(TIMESTAMP '2024-01-01 00:00:00', 'europe/berlin', 'utc')`:                  "2023-12-31 23:00:00",
		`convert_tz(TIMESTAMP '2024-01-01 00:00:00', 'EUROPE/BERLIN', 'Utc')`:                  "2023-12-31 23:00:00",
		`convert_tz(TIMESTAMP '2024-01-01 00:00:00', 'est5edt', 'UTC')`:                        "2024-01-01 05:00:00",
		`convert_tz(TIMESTAMP '2024-01-01 00:00:00', 'america/argentina/buenos_aires', 'UTC')`: "2024-01-01 03:00:00",
		`convert_tz(TIMESTAMP '2024-01-01 00:00:00', 'UTC', 'america/port-au-prince')`:         "2023-12-31 19:00:00",
		`convert_tz(TIMESTAMP '2024-01-01 00:00:00', 'europe/nowhere', 'UTC')`:                 "NULL",
	})
}

// TestFractionBeyondMicroseconds: text with more than six fractional
// digits keeps the first six, as MariaDB truncates them (a note, "Truncated
// incorrect datetime value"; values from MariaDB 10.11); etlq rounded
// (.9999999 became the next second) and refused more than nine digits.
func TestFractionBeyondMicroseconds(t *testing.T) {
	evalTexts(t, map[string]string{
		`CAST('2024-01-01 10:11:12.1234567' AS TIMESTAMP)`:                  "2024-01-01 10:11:12.123456",
		`CAST('2024-12-31 23:59:59.9999999' AS TIMESTAMP)`:                  "2024-12-31 23:59:59.999999",
		`TIMESTAMP '2024-01-01 10:11:12.1234567'`:                           "2024-01-01 10:11:12.123456",
		`CAST('2024-01-01 10:11:12.123456789012345678901234' AS TIMESTAMP)`: "2024-01-01 10:11:12.123456",
		`CAST('10:11:12.9999999' AS TIME)`:                                  "10:11:12.999999",
		`CAST('-10:11:12.9999999' AS TIME)`:                                 "-10:11:12.999999",
		`CAST('2024-01-01 10:11:12.9999999' AS DATE)`:                       "2024-01-01",
	})
}

// TestYearZeroCalendar: MariaDB's calendar has no 29 February in year 0
// (calc_daynr, calc_days_in_year), so its January and February sit one
// day later, relative to every later date, than in the proleptic
// Gregorian calendar etlq's day numbers follow; the functions that count
// days count as MariaDB does (values from MariaDB 10.11). etlq gave
// dayofweek('0000-02-28') 2 and datediff('0000-03-01', '0000-02-28') 2,
// and read '0000-02-29' as a date.
func TestYearZeroCalendar(t *testing.T) {
	evalTexts(t, map[string]string{
		`dayofweek(DATE '0000-01-01')`:                                                            "1",
		`dayofweek(DATE '0000-02-28')`:                                                            "3",
		`dayofweek(DATE '0000-03-01')`:                                                            "4",
		`dayofweek(DATE '0001-01-01')`:                                                            "2",
		`datediff(DATE '0000-03-01', DATE '0000-02-28')`:                                          "1",
		`datediff(DATE '2024-01-01', DATE '0000-02-28')`:                                          "739192",
		`datediff(DATE '0000-02-28', DATE '0000-01-01')`:                                          "58",
		`timestampdiff('DAY', DATE '0000-02-01', DATE '0000-03-01')`:                              "28",
		`timestampdiff('HOUR', TIMESTAMP '0000-02-28 00:00:00', TIMESTAMP '0000-03-01 00:00:00')`: "24",
		`timestampdiff('MONTH', DATE '0000-01-31', DATE '0000-02-28')`:                            "0",
		`date_format(DATE '0000-02-28', '%a %W %w')`:                                              "Tue Tuesday 2",
		`date_format(DATE '0000-03-01', '%a')`:                                                    "Wed",
	})
	for _, s := range []string{"0000-02-29", "0000-02-29 10:00:00"} {
		if _, err := stdlib.ParseTimestamp(s); err == nil {
			t.Errorf("%s read as a timestamp; MariaDB has no 29 February in year 0", s)
		}
	}
	if _, err := stdlib.ParseDate("0000-02-29"); err == nil {
		t.Errorf("0000-02-29 read as a date")
	}
}

// TestMonthIntervalIntoYear0: an interval of months or years may end in
// year 0, as in MariaDB (its period arithmetic allows year 0; day and time
// arithmetic stops at 0001-01-01); etlq gave NULL (values from MariaDB
// 10.11).
func TestMonthIntervalIntoYear0(t *testing.T) {
	evalTexts(t, map[string]string{
		`date_sub(DATE '0001-01-15', INTERVAL '1' MONTH)`:              "0000-12-15",
		`date_sub(DATE '0001-06-01', INTERVAL '1' YEAR)`:               "0000-06-01",
		`date_sub(TIMESTAMP '0001-06-01 10:00:00', INTERVAL '1' YEAR)`: "0000-06-01 10:00:00",
		`date_add(DATE '0000-01-31', INTERVAL '1' MONTH)`:              "0000-02-28",
		`date_sub(DATE '0001-01-01', INTERVAL '1' DAY)`:                "NULL",
		`date_add(DATE '0000-06-01', INTERVAL '1' DAY)`:                "NULL",
		`date_add(DATE '0000-12-31', INTERVAL '1' DAY)`:                "0001-01-01",
		`DATE '0000-06-01' + INTERVAL '1' YEAR`:                        "0001-06-01",
		`date_sub(DATE '0000-06-01', INTERVAL '1' YEAR)`:               "NULL",
	})
}

// TestRoundPastNineteenDigits: rounding to the 19th digit left of the
// point carries into it (round(6e18, -19) is 1e19, as MariaDB); it gave 0
// for every value that fits 64 bits, a DECIMAL's too. A result its type
// cannot hold is a row error: round of a UINT64 near its maximum wrapped
// around (round(18446744073709551615, -1) was 4), and of an INT64 gave 0
// (new-user trial).
func TestRoundPastNineteenDigits(t *testing.T) {
	evalTexts(t, map[string]string{
		`round(CAST('6000000000000000000' AS DECIMAL(19,0)), -19)`:    "10000000000000000000",
		`round(CAST('-6000000000000000000' AS DECIMAL(19,0)), -19)`:   "-10000000000000000000",
		`round(CAST('4000000000000000000' AS DECIMAL(19,0)), -19)`:    "0",
		`round(CAST('600000000000000.0000' AS DECIMAL(20,4)), -15)`:   "1000000000000000",
		`round(CAST('5000000000000000000' AS UINT64), -19)`:           "10000000000000000000",
		`round(CAST('18446744073709551615' AS UINT64), -2)`:           "18446744073709551600",
		`truncate(CAST('6000000000000000000' AS DECIMAL(19,0)), -19)`: "0",
	})
	for _, sql := range []string{
		`round(CAST('18446744073709551615' AS UINT64), -1)`,
		`round(CAST('9223372036854775807' AS INT64), -19)`,
		`round(CAST('-9223372036854775807' AS INT64), -19)`,
	} {
		if got, err := evalText(t, sql); err == nil {
			t.Errorf("%s = %s, want a row error (the result is beyond the type)", sql, got)
		}
	}
}
