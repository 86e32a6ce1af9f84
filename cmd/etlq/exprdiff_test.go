package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// TestExprDifferential evaluates expressions over the rows of a real MariaDB
// table twice: in MariaDB (SELECT CAST(<expr> AS CHAR) FROM t ORDER BY id)
// and in etlq (the rows as the mysql connector snapshots them, the
// expression bound by the planner as the TRANSFORM item
// CAST(<expr> AS STRING) and run by exec), and compares the text row by
// row. A row error in etlq, and an error of MariaDB for that row, both read
// "ERROR".
//
// my, when set, is the MariaDB spelling of what etlq computes: for a CAST
// to a type MariaDB has no CAST for, and where etlq differs from MariaDB on
// purpose; why then says why (each such difference is documented in
// docs/functions.md or docs/language.md). MariaDB runs with time_zone UTC
// and NO_BACKSLASH_ESCAPES, which is what etlq means. Its columns keep the
// default collation, utf8mb4_general_ci, which etlq compares under as
// MariaDB does (case and accents ignored in =, <, IN, LIKE, locate).
func TestExprDifferential(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	my := testenv.MySQLConn(t, dsn)
	db := "expr_" + testenv.UniqueName(t)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	testenv.Exec(t, my,
		"CREATE DATABASE "+db+" CHARACTER SET utf8mb4",
		"CREATE TABLE "+db+`.t (
			id INT PRIMARY KEY,
			i INT, u INT UNSIGNED, b BIGINT, ub BIGINT UNSIGNED,
			d DECIMAL(12,2), f DOUBLE,
			s VARCHAR(64), s2 VARCHAR(64),
			dt DATE, ts DATETIME(6), j JSON)`,
		// Row 4 is NULL in every column.
		"INSERT INTO "+db+`.t VALUES
			(1, 0, 0, 0, 0, 0.00, 0, '', '', '1970-01-01', '1970-01-01 00:00:00', '{}'),
			(2, 7, 7, 7, 7, 2.50, 2.5, 'abc', 'ABC', '2024-02-29', '2024-02-29 23:59:59.999999', '{"a": 1, "b": "x"}'),
			(3, -7, 3, -7, 3, -2.50, -0.5, '50%_off', '50\%', '1999-12-31', '1999-12-31 12:30:00.5', '{"a": -1.5, "b": null}'),
			(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			(5, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 9999999999.99, 1e300,
			    'it''s "q"', 'a\\b', '9999-12-31', '9999-12-31 23:59:59.999999', '[1, 2]'),
			(6, -2147483648, 1, -9223372036854775808, 0, -9999999999.99, -1e-300,
			    'MiXeD', 'mixed', '1000-01-01', '1000-01-01 00:00:00', '{"a": {"c": true}}'),
			(7, 3, 10, 10, 10, 0.01, 0.1, '12abc', ' 42', '2000-01-01', '2000-01-01 00:00:01', '"str"'),
			(8, -3, 2, -2, 2, 1.05, 1e15, 'a_b', 'a%b', '2023-03-31', '2023-03-31 08:09:10.123400', '{"a": "7"}'),
			(9, 1, 4, 100, 100, -0.05, 123456.789, 'héllo wörld', '3.5', '2024-01-31', '2024-01-31 00:00:00', '{"b": [1, {"c": "d"}]}')`)
	// etlq works in UTC (docs/functions.md), and its string literals have
	// no backslash escapes: only '' escapes a quote (docs/language.md). The
	// MariaDB session is set to mean the same.
	testenv.Exec(t, my, "SET time_zone = '+00:00'",
		"SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")

	batches := snapshotRows(t, dsn, db)
	defer func() {
		for _, b := range batches {
			b.Record.Release()
		}
	}()
	bind := exprBinder(t, dsn, db)

	compared, differ := runExprCases(t, my, db, batches, bind, exprCases, 9)
	t.Logf("%d expressions compared over 9 rows; %d cases are documented differences", compared, differ)
}

// TestExprDifferentialBinaryText: CAST of bytes that are not UTF-8 to
// STRING gives MariaDB's CAST(x AS CHAR) text, where each byte that does not
// begin a well-formed character is a '?' (etlq kept the bytes, which the
// JSON formats then wrote as U+FFFD; found by the time-and-text trial).
func TestExprDifferentialBinaryText(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, dsn string) {
		my := testenv.MySQLConn(t, dsn)
		db := "exprb_" + testenv.UniqueName(t)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		testenv.Exec(t, my, "CREATE DATABASE "+db+" CHARACTER SET utf8mb4",
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, vb VARBINARY(16), b BINARY(4), s VARCHAR(16))",
			// Invalid bytes, a truncated sequence, a surrogate, an overlong
			// form, a code point above U+10FFFF, an emoji, text, NULL.
			"INSERT INTO "+db+`.t VALUES
				(1, x'ff00fe80c3', x'ff01', NULL), (2, x'c328', x'c3', NULL), (3, x'e282', x'e282ac', NULL),
				(4, x'eda080', x'eda080', NULL), (5, x'c0af', x'c0af', NULL), (6, x'f4908080', x'f4908080', NULL),
				(7, x'f09f8d9561', x'f09f8d95', NULL), (8, 'abc', '', NULL), (9, NULL, NULL, NULL)`,
			// s, utf8mb4, holds the bytes as MariaDB keeps them: a
			// surrogate's form (row 4: 'a', ED A0 80, 'b') is one
			// character to it; other invalid bytes became '?'.
			"SET sql_mode = ''", "UPDATE "+db+".t SET s = CONCAT('a', vb, 'b')")
		testenv.Exec(t, my, "SET time_zone = '+00:00'",
			"SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
		batches := snapshotRows(t, dsn, db)
		defer func() {
			for _, b := range batches {
				b.Record.Release()
			}
		}()
		cases := []exprCase{
			{e: "vb"}, {e: "b"}, {e: "hex(CAST(vb AS STRING))", my: "hex(CAST(vb AS CHAR))"},
			{e: "hex(CAST(b AS STRING))", my: "hex(CAST(b AS CHAR))"},
			{e: "char_length(CAST(vb AS STRING))", my: "char_length(CAST(vb AS CHAR))"},
			{e: "concat(CAST(vb AS STRING), '|')", my: "concat(CAST(vb AS CHAR), '|')"},
			{e: "hex(vb)"}, {e: "length(vb)"}, {e: "hex(upper(vb))"}, {e: "hex(lower(b))"}, {e: "hex(concat(vb, 'é'))"},
			{e: "hex(substr(vb, 2))"}, {e: "hex(reverse(vb))"}, {e: "hex(replace(vb, 'b', 'x'))"}, {e: "char_length(vb)"}, {e: "hex(left(vb, 1))"},
			{e: "concat(vb, '|', 1)", my: "concat(vb, '|', 1)"}, {e: "hex(concat_ws(',', 'é', vb, b))"}, {e: "hex(concat(id, vb))"},
			{e: "hex(right(vb, 2))"}, {e: "hex(substr(vb, -2, 1))"}, {e: "hex(substr(vb, 2, 18446744073709551615))"}, {e: "hex(left(b, 9223372036854775807))"},
			{e: "upper(CAST(vb AS STRING))", my: "upper(CAST(vb AS CHAR))"},
			{e: "hex(substr(CAST(vb AS STRING), 2))", my: "hex(substr(CAST(vb AS CHAR), 2))"},
			// The character functions over a utf8mb4 column: row 4's
			// surrogate form is one character, as to MariaDB.
			{e: "hex(s)"}, {e: "char_length(s)"}, {e: "hex(substr(s, 2, 1))"}, {e: "hex(substr(s, -2))"}, {e: "hex(left(s, 2))"},
			{e: "hex(right(s, 2))"}, {e: "hex(reverse(s))"}, {e: "locate('b', s)"}, {e: "instr(s, 'b')"}, {e: "locate('b', s, 3)"},
			{e: "hex(upper(s))"}, {e: "hex(lower(s))"}, {e: "hex(lpad(s, 5, 'x'))"}, {e: "hex(rpad(s, 2, 'x'))"}, {e: "hex(concat(s, s))"}, {e: "s LIKE 'a_b'"},
		}
		compared, differ := runExprCases(t, my, db, batches, exprBinder(t, dsn, db), cases, 9)
		t.Logf("%d expressions compared over 9 rows; %d cases are documented differences", compared, differ)
	})
}

// TestExprDifferentialZeroDates is TestExprDifferential over MySQL's zero
// and invalid dates, which a lenient sql_mode keeps: every function that
// shows, splits or converts them must give what MariaDB gives, for rows
// from the snapshot and from the binlog, on both servers.
func TestExprDifferentialZeroDates(t *testing.T) {
	t.Parallel()
	onBothServers(t, testExprZeroDates)
}

func testExprZeroDates(t *testing.T, dsn string) {
	my := testenv.MySQLConn(t, dsn)
	db := "exprz_" + testenv.UniqueName(t)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	testenv.Exec(t, my, "SET sql_mode = ''",
		"CREATE DATABASE "+db+" CHARACTER SET utf8mb4",
		"CREATE TABLE "+db+`.t (id INT PRIMARY KEY, d DATE, dt6 DATETIME(6), dt3 DATETIME(3), dt0 DATETIME,
			ts6 TIMESTAMP(6) NULL DEFAULT NULL, ts0 TIMESTAMP NULL DEFAULT NULL, tm TIME(2))`)
	// The rows are read twice: by a snapshot, and from the binlog.
	r, err := my.Execute("SHOW MASTER STATUS")
	if err != nil || len(r.Values) == 0 {
		t.Fatalf("SHOW MASTER STATUS: %v", err)
	}
	startAt := fmt.Sprintf("%s:%d", cellText(r.Values[0][0].Value()), r.Values[0][1].Value())
	testenv.Exec(t, my,
		// Row 4 is NULL in every column. '2024-02-30' is not kept (it
		// needs ALLOW_INVALID_DATES): MariaDB stores a zero date.
		"INSERT INTO "+db+`.t VALUES
			(1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '00:00:00'),
			(2, '2024-02-00', '2024-00-15 10:11:12.5', '2024-02-30 01:02:03.456', '2024-02-00 10:00:00', NULL, NULL, '00:00:00.5'),
			(3, '2024-02-29', '2024-02-29 10:11:12.5', '2024-02-29 01:02:03.456', '2024-02-29 10:00:00', '2024-02-29 10:11:12.5', '2024-02-29 10:11:12', '-01:00:00'),
			(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			(5, '0000-01-00', '0000-00-01 23:59:59.999999', '2000-01-00 00:00:00.001', '1999-00-00 12:00:00', '1970-01-01 00:00:01', '2038-01-19 03:14:07', '838:59:59'),
			(6, '2024-00-05', '2024-00-00 00:00:00.000001', '0000-12-31 00:00:00', '2024-03-00 00:00:00', NULL, NULL, NULL)`)
	// Row 7: days past their month's end, which ALLOW_INVALID_DATES keeps.
	// MariaDB counts them on into the next month wherever a day number is
	// needed (dayofweek, datediff, timestampdiff), as its calc_daynr does.
	testenv.Exec(t, my, "SET sql_mode = 'ALLOW_INVALID_DATES'",
		"INSERT INTO "+db+`.t VALUES
			(7, '2024-02-30', '2024-02-31 10:11:12.5', '2023-02-29 01:02:03.456', '0000-02-30 12:00:00', NULL, NULL, NULL)`)
	testenv.Exec(t, my, "SET time_zone = '+00:00'", "SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
	batches := snapshotRows(t, dsn, db)
	defer func() {
		for _, b := range batches {
			b.Record.Release()
		}
	}()
	bind := exprBinder(t, dsn, db)
	compared, differ := runExprCases(t, my, db, batches, bind, zeroDateCases, 7)
	t.Logf("%d expressions compared over 7 rows; %d cases are documented differences", compared, differ)

	// The binlog gives the same values, so the same text.
	binlog := binlogRows(t, dsn, db, startAt)
	defer func() {
		for _, b := range binlog {
			b.Record.Release()
		}
	}()
	for _, c := range zeroDateCases {
		if c.rejected != "" {
			continue
		}
		snap, err1 := etlqRows(t, bind, batches, c.e)
		bin, err2 := etlqRows(t, bind, binlog, c.e)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", c.e, err1, err2)
		}
		if strings.Join(snap, "|") != strings.Join(bin, "|") {
			t.Errorf("%s: snapshot %q, binlog %q", c.e, snap, bin)
		}
	}
}

// binlogRows reads the changes of db.t from the binlog position startAt to
// the current one, as a SNAPSHOT never pipeline does.
func binlogRows(t *testing.T, dsn, db, startAt string) []*exec.Batch {
	t.Helper()
	ctx := context.Background()
	src, err := connectors.NewSource("mysql", "src", dsn, map[string]any{"server_id": int64(7000 + rand.IntN(1000))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, err := src.Open(ctx, connectors.StreamRequest{
		Tables:  []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotNever}},
		Once:    true,
		Options: map[string]any{"start_at": startAt},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []*exec.Batch
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.Record != nil && b.Record.NumRows() > 0 {
			out = append(out, b)
		} else if b.Record != nil {
			b.Record.Release()
		}
	}
	return out
}

var zeroDateCases = []exprCase{
	{e: "d"}, {e: "dt6"}, {e: "dt3"}, {e: "dt0"}, {e: "ts6"}, {e: "ts0"}, {e: "tm"},
	{e: "CAST(d AS STRING)", my: "CAST(d AS CHAR)"}, {e: "CAST(dt6 AS STRING)", my: "CAST(dt6 AS CHAR)"},
	{e: "CAST(dt3 AS STRING)", my: "CAST(dt3 AS CHAR)"}, {e: "CAST(ts6 AS STRING)", my: "CAST(ts6 AS CHAR)"},
	{e: "concat(d, '|', dt6, '|', dt3, '|', dt0, '|', ts6, '|', ts0)"},
	{e: "d || '/' || dt3", my: "CONCAT(d, '/', dt3)", why: whyConcat},
	{e: "concat_ws(',', d, dt0)"},
	{e: "date_format(d, '%Y-%m-%d %e %c %y %D')"}, {e: "date_format(d, '%j')"}, {e: "date_format(dt0, '%j %W')"}, {e: "date_format(dt6, '%Y-%m-%d %H:%i:%s.%f %T %r %p')"},
	{e: "date_format(d, '%W %a %w')"}, {e: "date_format(dt0, '%M %b')"},
	{e: "year(d)"}, {e: "month(d)"}, {e: "day(d)"}, {e: "year(dt6)"}, {e: "month(dt3)"}, {e: "day(dt0)"},
	{e: "hour(dt6)"}, {e: "minute(dt3)"}, {e: "second(dt0)"}, {e: "dayofweek(d)"}, {e: "dayofweek(dt6)"},
	{e: "date(dt6)"}, {e: "date(d)"}, {e: "CAST(dt6 AS DATE)"}, {e: "CAST(d AS TIMESTAMP)", my: "CAST(d AS DATETIME)"},
	{e: "CAST(dt0 AS TIME)", my: "CAST(dt0 AS TIME)"},
	{e: "CAST(d AS INT64)", my: "CAST(d AS SIGNED)"}, {e: "CAST(dt0 AS INT64)", my: "CAST(dt0 AS SIGNED)"},
	{e: "CAST(d AS DECIMAL(10,0))"}, {e: "CAST(d AS FLOAT64)", my: "CAST(d AS DOUBLE)"},
	{e: "CAST(dt6 AS DECIMAL(20,6))"}, {e: "CAST(dt3 AS FLOAT64)", my: "CAST(dt3 AS DOUBLE)"},
	{e: "CAST(tm AS DECIMAL(10,2))"}, {e: "CAST(tm AS DECIMAL(10,0))"}, {e: "CAST(tm AS FLOAT64)", my: "CAST(tm AS DOUBLE)"},
	{e: "CAST(tm AS INT64)", my: "CAST(tm AS SIGNED)"},
	{e: "datediff(d, '2024-01-01')"}, {e: "datediff(dt6, d)"},
	{e: "timestampdiff('DAY', d, dt6)", my: "timestampdiff(DAY, d, dt6)"},
	{e: "timestampdiff('MONTH', dt0, '2024-05-01')", my: "timestampdiff(MONTH, dt0, '2024-05-01')"},
	{e: "convert_tz(dt0, '+00:00', '+01:00')"}, {e: "convert_tz(dt6, '+00:00', '+05:30')"}, {e: "convert_tz(dt3, 'Europe/Berlin', 'UTC')", my: tsFrac("convert_tz(dt3, 'Europe/Berlin', 'UTC')"), why: whyTsFrac},
	{e: "convert_tz(d, '+00:00', '+01:00')"}, {e: "dt6 + INTERVAL 1 HOUR"}, {e: "date_sub(dt3, INTERVAL 1 DAY)", my: tsFrac("date_sub(dt3, INTERVAL 1 DAY)"), why: whyTsFrac}, {e: "dayofweek(dt3)"},
	{e: "d LIKE '0000%'"}, {e: "dt3 LIKE '%.000'"}, {e: "d IN ('0000-00-00', DATE '2024-02-29')"},
	{e: "greatest(d, DATE '1000-01-01')", my: "IF(MONTH(d) = 0 OR DAY(d) = 0 OR DAY(d) > DAY(LAST_DAY(d)), DATE '1000-01-01', greatest(d, DATE '1000-01-01'))", why: whyZeroDateOrder},
	{e: "unix_timestamp(dt0)"}, {e: "unix_timestamp(ts0)", my: "IF(ts0 = 0, NULL, unix_timestamp(ts0))", why: whyZeroTimestamp},
	// unix_timestamp of a DATETIME(n)/TIMESTAMP(n) is a DECIMAL with its n digits.
	{e: "unix_timestamp(dt3)"}, {e: "unix_timestamp(dt6)"}, {e: "unix_timestamp(ts6)", my: "IF(ts6 = 0, NULL, unix_timestamp(ts6))", why: whyZeroTimestamp},
	{e: "unix_timestamp(dt3) * 1000"}, {e: "unix_timestamp(dt6) + 0.5"}, {e: "unix_timestamp(d)"},
	{e: "from_unixtime(unix_timestamp(dt0))"}, {e: "from_unixtime(unix_timestamp(ts6) + 1)", my: tsFrac("from_unixtime(IF(ts6 = 0, NULL, unix_timestamp(ts6)) + 1)"), why: whyZeroTimestamp},
	{e: "from_unixtime(unix_timestamp(dt3))", my: tsFrac("from_unixtime(unix_timestamp(dt3))"), why: whyTsFrac},
	{e: "timestampdiff('MICROSECOND', dt0, dt6)", my: "timestampdiff(MICROSECOND, dt0, dt6)"}, {e: "timestampdiff('SECOND', dt3, dt6)", my: "timestampdiff(SECOND, dt3, dt6)"},
	{e: "timestampdiff('MICROSECOND', dt3, ts6)", my: "timestampdiff(MICROSECOND, dt3, ts6)"},
	{e: "date_format(dt3, '%s.%f')"}, {e: "date_format(ts6, '%f')"},
	{e: "d + INTERVAL 1 DAY"}, {e: "date_add(dt0, INTERVAL 1 MONTH)"}, {e: "date_sub(d, INTERVAL 1 YEAR)"},
	{e: "d IS NULL"}, {e: "d = DATE '2024-02-29'"}, {e: "d = '0000-00-00'"}, {e: "dt0 = '0000-00-00 00:00:00'"},
	{e: "d < DATE '1000-01-01'", my: "d < DATE '1000-01-01' OR (d IS NOT NULL AND (MONTH(d) = 0 OR DAY(d) = 0 OR DAY(d) > DAY(LAST_DAY(d))))", why: whyZeroDateOrder},
	{e: "dt6 = dt6"}, {e: "coalesce(d, DATE '2000-01-01')"},
	{e: "if(d, 1, 0)"}, {e: "if(dt6, 1, 0)"}, {e: "if(tm, 1, 0)"}, {e: "NOT dt0"}, {e: "NOT ts0"}, {e: "dt3 AND TRUE"},
	{e: "CAST('0000-00-00' AS DATE)"}, {e: "CAST('2024-02-00 10:11:12' AS TIMESTAMP)", my: "CAST('2024-02-00 10:11:12' AS DATETIME)"},
	{e: "json_extract(concat('[\"', d, '\"]'), '$[0]')"},
}

// runExprCases compares each case over the nrows rows of db.t (see
// TestExprDifferential); it returns how many were compared and how many
// of those are documented differences.
func runExprCases(t *testing.T, my *client.Conn, db string, batches []*exec.Batch, bind func(string) (exec.Expr, error), cases []exprCase, nrows int) (compared, differ int) {
	t.Helper()
	for _, c := range cases {
		if c.rejected != "" {
			if _, err := bind(c.e); err == nil || !strings.Contains(err.Error(), c.rejected) {
				t.Errorf("%s: etlq gave error %v, want a type error %q (%s)", c.e, err, c.rejected, c.why)
			}
			continue
		}
		mySQL := c.e
		if c.my != "" {
			mySQL = c.my // MariaDB's spelling, or what etlq computes (see why)
		}
		if c.why != "" {
			differ++
		}
		want := mariadbRows(t, my, db, mySQL, nrows)
		got, err := etlqRows(t, bind, batches, c.e)
		if err != nil {
			t.Errorf("%s: etlq: %v", c.e, err)
			continue
		}
		if len(got) != len(want) {
			t.Fatalf("%s: etlq gave %d rows, MariaDB %d", c.e, len(got), len(want))
		}
		for r := range want {
			if got[r] != want[r] {
				t.Errorf("%s (row id %d): etlq %q, MariaDB %q (as %s)", c.e, r+1, got[r], want[r], mySQL)
			}
		}
		compared++
	}
	return compared, differ
}

// exprCase is one expression: e in etlq's language; my, when set, the
// MariaDB expression that computes what etlq does, because the two differ
// by design for the reason why.
type exprCase struct {
	e, my, why string
	// rejected, when set, is the type error etlq gives for e (where
	// MariaDB evaluates it).
	rejected string
}

const (
	whyConcat        = "|| concatenates in etlq; in MariaDB it is OR unless sql_mode has PIPES_AS_CONCAT"
	whyCastErr       = "a CAST of bad text or out of range is a row error in etlq; MariaDB warns and clamps"
	whyCastType      = "MariaDB has no CAST to this type; the rewrite computes the same value"
	whyDouble        = "etlq prints a computed FLOAT64 in its shortest form; MariaDB prints round(x, d) with d decimals"
	whyNegMin        = "-x of the smallest BIGINT is a row error in etlq; MariaDB switches to DECIMAL"
	whyTsFrac        = "a computed TIMESTAMP (or TIME) prints a fraction only when it has one; MariaDB keeps DATETIME(6) digits"
	whyTextBool      = "text in BOOL context is a type error in etlq; MariaDB reads its numeric prefix"
	whyTextArith     = "text in arithmetic is a type error in etlq; MariaDB reads its numeric prefix (with a warning)"
	whyDecZero       = "a zero DECIMAL has no sign in etlq (0.00); MariaDB prints a negative dividend's zero remainder as -0.00"
	whyJSONBool      = "json_value of a JSON boolean is true/false in etlq (as MySQL 8); MariaDB gives 1/0"
	whyZeroDateOrder = "a zero or invalid date is below every real date in etlq (docs/types.md); MariaDB orders '2024-02-00' between 2024-01-31 and 2024-02-01"
	whyJSONIn        = "etlq compares json_extract(…) with text as its unquoted text in IN and BETWEEN too (as MySQL); MariaDB does only in = < … and a one-item IN"
	whyZeroTimestamp = "a zero TIMESTAMP is the zero date, whose unix_timestamp is NULL; MariaDB gives 0 for a TIMESTAMP column's (but NULL for a DATETIME's)"
)

// tsFrac is the MariaDB spelling of a computed DATETIME(n) x as etlq
// prints it: without the fraction when it is zero, else with six digits.
func tsFrac(x string) string {
	return fmt.Sprintf("IF(%[1]s = CAST(%[1]s AS DATETIME), CAST(CAST(%[1]s AS DATETIME) AS CHAR), CAST(CAST(%[1]s AS DATETIME(6)) AS CHAR))", x)
}

// errRow is a MariaDB expression that fails for the row: what etlq's row
// error is compared with.
const errRow = "(SELECT 1 UNION SELECT 2)"

var exprCases = []exprCase{
	// Literals.
	{e: "42"}, {e: "3.14"}, {e: ".5"}, {e: "1e6"}, {e: "2.5E-3"}, {e: "'text'"}, {e: "'it''s'"}, {e: "''"},
	{e: "TRUE"}, {e: "FALSE"}, {e: "NULL"},
	{e: "TIMESTAMP '2026-01-02 03:04:05'"}, {e: "TIMESTAMP '2026-01-02 03:04:05.123456'"}, {e: "DATE '2026-01-02'"},
	{e: "-2147483648"}, {e: "9223372036854775807"}, {e: "18446744073709551615"}, {e: "12345678901234567890.5"},
	{e: "-9223372036854775808"}, {e: "-9223372036854775809"}, {e: "-(9223372036854775808)"}, {e: "-18446744073709551615"},
	{e: "-9223372036854775808 + i"}, {e: "-9223372036854775807 - 1"},

	// Columns as they come from the connector.
	{e: "i"}, {e: "u"}, {e: "b"}, {e: "ub"}, {e: "d"}, {e: "f"}, {e: "s"}, {e: "s2"}, {e: "dt"}, {e: "ts"}, {e: "j"},

	// Arithmetic, integer and mixed.
	{e: "i + 1"}, {e: "i - b"}, {e: "i * 2"}, {e: "i * i"}, {e: "b + 1"}, {e: "b - 1"}, {e: "b * 2"},
	{e: "u - 1"}, {e: "u + i"}, {e: "u - i"}, {e: "ub + 1"}, {e: "ub - u"}, {e: "u * u"},
	{e: "i / 3"}, {e: "-i / 2"}, {e: "i / 0"}, {e: "b / 3"}, {e: "u / 2"}, {e: "ub / 7"}, {e: "7 / 2"}, {e: "-7 / 2"},
	{e: "i % 3"}, {e: "i % -3"}, {e: "-i % 3"}, {e: "i % 0"}, {e: "b % 7"}, {e: "u % 4"}, {e: "ub % 3"}, {e: "i % u"},
	{e: "d + 1"}, {e: "d - i"}, {e: "d * d"}, {e: "d * 100"}, {e: "d / 3"}, {e: "d / 0"}, {e: "d % 1"}, {e: "d % 0"},
	// A quotient whose scale s1+4 is a whole number of 9-digit groups (s1
	// = 5, 14, 23) by a divisor of scale 0 is cut, not rounded, in MariaDB
	// (and MySQL): strings/decimal.c computes ROUND_UP(s1+s2+4) groups of
	// digits and rounds that to the scale, which then has nothing left to
	// round (SELECT 2.00000 / 3 is 0.666666666). A divisor with a scale, or
	// another s1, leaves digits to round. Found by the trial-lang run over
	// DECIMAL(5,5) / 7.
	{e: "CAST(d AS DECIMAL(20,5)) / 6"}, {e: "CAST(d AS DECIMAL(30,14)) / 6"}, {e: "CAST(d AS DECIMAL(40,23)) / -6"},
	{e: "d * 0.001 / 6"}, {e: "2.00000 / 3"}, {e: "-2.00000 / 3"}, {e: "CAST(d AS DECIMAL(20,5)) / CAST(6 AS DECIMAL(3,1))"},
	{e: "CAST(d AS DECIMAL(20,4)) / 6"}, {e: "CAST(d AS DECIMAL(20,6)) / 6"}, {e: "CAST(d AS DECIMAL(20,5)) / i"},
	// A DECIMAL whose unscaled value is beyond 2^53 becomes the nearest
	// double, as MariaDB's (it was divided as a double, rounding twice).
	{e: "CAST(d + 1599812690727.238000 AS FLOAT64)", my: "CAST(d + 1599812690727.238000 AS DOUBLE)"},
	{e: "d + 1599812690727.238000 + f / 1e6"}, {e: "CAST(d * 123.4567 AS FLOAT64)", my: "CAST(d * 123.4567 AS DOUBLE)"},
	{e: "d % -0.3"}, {e: "i + 0.5"}, {e: "i * 1.5"}, {e: "d + f"}, {e: "f * 2"}, {e: "f / 4"}, {e: "f + i"}, {e: "f / 0"},
	{e: "f % 2"}, {e: "1e2 + i"}, {e: "2 * 3 + 4 % 3"}, {e: "(1 + 2) * 3"}, {e: "1 + 2 * 3"}, {e: "10 - 2 - 3"},
	// % of negatives and zero: the dividend's sign, NULL for % 0, and a
	// zero remainder without a sign (-6e0 % 3 is 0, not -0).
	{e: "-7 % 3"}, {e: "7 % -3"}, {e: "-7 % -3"}, {e: "7 % 0"}, {e: "-6 % 3"}, {e: "i % 1"}, {e: "-i % 7"},
	{e: "-6e0 % 3"}, {e: "-6e0 % -3"}, {e: "mod(-6e0, 3)"}, {e: "f % 0.5"}, {e: "-f % 0.5"}, {e: "f % 0e0"}, {e: "-0e0 % 5"},
	{e: "-6.0 % 3", my: "-6.0 % 3 + 0.0", why: whyDecZero}, {e: "d % 0.05", my: "d % 0.05 + 0.00", why: whyDecZero},
	// DIV: the quotient truncated toward zero, an integer; NULL for DIV 0;
	// out of BIGINT (UNSIGNED when an operand is) range a row error.
	{e: "7 DIV 2"}, {e: "-7 DIV 2"}, {e: "7 DIV -2"}, {e: "-7 DIV -2"}, {e: "7 div 0"}, {e: "i DIV 2"}, {e: "-i DIV 2"},
	{e: "i DIV 0"}, {e: "i DIV -3"}, {e: "b DIV 3"}, {e: "b DIV -1"}, {e: "b Div 1"}, {e: "u DIV 2"}, {e: "ub DIV 3"},
	{e: "ub DIV i"}, {e: "i DIV u"}, {e: "u DIV -2"}, {e: "d DIV 1"}, {e: "d DIV 0.3"}, {e: "d DIV 0"}, {e: "d DIV -0.05"},
	{e: "d DIV i"}, {e: "f DIV 2"}, {e: "f DIV 0"}, {e: "f DIV 0.25"}, {e: "f DIV i"}, {e: "7.9 DIV 2"}, {e: "-7.9 DIV 2"},
	{e: "2.5e0 DIV 0.5e0"}, {e: "7 DIV 2 * 3"}, {e: "2 + 7 DIV 2"}, {e: "-7 DIV 2 % 2"}, {e: "NULL DIV 2"}, {e: "i DIV NULL"},
	{e: "i DIV TRUE"}, {e: "9223372036854775807 DIV 1"}, {e: "18446744073709551615 DIV 2"}, {e: "ub DIV 1"},
	// Text in arithmetic is a type error, as in a BOOL context (MariaDB
	// reads the numeric prefix: '12abc' + 0 is 12, with a warning).
	{e: "'12abc' + 0", rejected: `operator "+" cannot take STRING and INT64`, why: whyTextArith},
	{e: "s + 0", rejected: `operator "+" cannot take STRING and INT64`, why: whyTextArith},
	{e: "s2 * 2", rejected: `operator "*" cannot take STRING and INT64`, why: whyTextArith},
	{e: "'7' DIV 2", rejected: `operator "DIV" cannot take STRING and INT64`, why: whyTextArith},
	{e: "i % s2", rejected: `operator "%" cannot take INT32 and STRING`, why: whyTextArith},
	{e: "-i"}, {e: "-u"}, {e: "-ub"}, {e: "-d"}, {e: "-f"}, {e: "- -i"}, {e: "-(i + 1)"},
	{e: "-b", my: "IF(b = -9223372036854775807 - 1, " + errRow + ", -b)", why: whyNegMin},

	// Comparisons, across types.
	{e: "i = u"}, {e: "i < d"}, {e: "b >= ub"}, {e: "ub > b"}, {e: "u > i"}, {e: "f = d"}, {e: "i <> 0"}, {e: "i != 7"},
	{e: "i = '7'"}, {e: "s2 = 42"}, {e: "s = 12"}, {e: "s2 < 4"}, {e: "d <= 2.5"}, {e: "f > 0.1"}, {e: "i = NULL"},
	{e: "s = 'abc'"}, {e: "s <> ''"},
	{e: "s > 'b'"},
	{e: "s = s2"},
	{e: "s < s2"},
	{e: "s = 'ABC'"},
	{e: "dt < '2000-01-01'"}, {e: "dt = DATE '2024-02-29'"}, {e: "ts > dt"}, {e: "ts = dt"},
	{e: "ts >= TIMESTAMP '2000-01-01 00:00:00'"}, {e: "ts < '2000-01-01 00:00:00.5'"}, {e: "dt >= ts"},

	// Logic with NULLs, numbers in BOOL context.
	{e: "i > 0 AND s = 'abc'"}, {e: "i > 0 OR s IS NULL"}, {e: "NOT (i > 0)"}, {e: "NOT i"},
	{e: "NOT s"}, {e: "NOT s2"}, {e: "s AND TRUE"}, {e: "s2 OR FALSE"}, {e: "NOT j"}, {e: "NOT dt"}, {e: "NOT ts"},
	{e: "CASE WHEN s2 THEN 'y' ELSE 'n' END"}, {e: "if(s, 1, 0)"}, {e: "if(s2, 1, 0)"}, {e: "if(d, 'y', 'n')"},
	{e: "if(f, 1, 0)"}, {e: "if(ub, 1, 0)"}, {e: "if(dt, 1, 0)"}, {e: "CASE WHEN u THEN 1 END"}, {e: "NOT CAST(s AS BINARY)"},
	{e: "i AND NULL"}, {e: "i OR NULL"}, {e: "NULL AND FALSE"}, {e: "NULL OR TRUE"}, {e: "NOT NULL"},
	{e: "(i > 0) = TRUE"}, {e: "i AND d"}, {e: "f OR FALSE"}, {e: "NOT i = 0"}, {e: "i > 0 AND i < 5 OR d < 0"},
	{e: "i IS NULL"}, {e: "s IS NOT NULL"}, {e: "(i > 0) IS NULL"}, {e: "NULL IS NULL"}, {e: "j IS NULL"},

	// IN, NOT IN, with NULLs.
	{e: "i IN (0, 7, NULL)"}, {e: "i NOT IN (0, 7, NULL)"}, {e: "i IN (1, 2)"}, {e: "i NOT IN (0, 7)"},
	{e: "s IN ('abc', '', NULL)"}, {e: "s NOT IN ('abc')"}, {e: "NULL IN (1, 2)"}, {e: "NULL NOT IN (1, 2)"},
	{e: "d IN (2.5, 0)"}, {e: "i IN (d, f)"}, {e: "u IN (-1, 3, 4294967295)"}, {e: "ub IN (18446744073709551615)"},
	{e: "dt IN ('2024-02-29', DATE '1970-01-01')"}, {e: "s2 IN (42, 3.5)"},
	{e: "s IN ('ABC', 'mixed')"},

	// BETWEEN.
	{e: "i BETWEEN -7 AND 7"}, {e: "i NOT BETWEEN 0 AND 10"}, {e: "d BETWEEN 0 AND 3"}, {e: "i BETWEEN NULL AND 10"},
	{e: "i NOT BETWEEN NULL AND 0"}, {e: "i BETWEEN 10 AND 0"}, {e: "f BETWEEN i AND d"},
	{e: "dt BETWEEN '2000-01-01' AND '2024-12-31'"}, {e: "ts BETWEEN DATE '2000-01-01' AND DATE '2024-02-29'"},
	{e: "s BETWEEN 'a' AND 'b'"}, {e: "ub BETWEEN 0 AND 18446744073709551615"},
	{e: "s BETWEEN 'A' AND 'N'"},

	// LIKE: % _ and \ escapes.
	{e: "s LIKE 'a%'"}, {e: `s LIKE '%\%%'`}, {e: `s LIKE '%\_%'`}, {e: "s LIKE '_'"}, {e: "s LIKE ''"}, {e: "s LIKE '%'"},
	{e: "s LIKE 'a_b'"}, {e: `s2 LIKE 'a\\b'`}, {e: `s2 LIKE 'a\%b'`}, {e: "s LIKE 'h_llo%'"},
	{e: "s LIKE s2"},

	{e: "s NOT LIKE '%a%'"}, {e: "i LIKE '7'"}, {e: "d LIKE '2.5%'"}, {e: "s LIKE NULL"}, {e: "s LIKE '%''%'"},
	{e: "s LIKE '%\"q\"'"}, {e: "s2 LIKE '%'"}, {e: "s LIKE '50%'"}, {e: `s LIKE 'abc\'`},
	{e: "s LIKE 'ABC'"},
	{e: "s LIKE 'm%'"},

	// || (string concatenation).
	{e: "s || s2", my: "CONCAT(s, s2)", why: whyConcat},
	{e: "s || i", my: "CONCAT(s, i)", why: whyConcat},
	{e: "i || d", my: "CONCAT(i, d)", why: whyConcat},
	{e: "s || NULL", my: "CONCAT(s, NULL)", why: whyConcat},
	{e: "'a' || 'b' || 'c'", my: "CONCAT('a', 'b', 'c')", why: whyConcat},
	{e: "f || ''", my: "CONCAT(f, '')", why: whyConcat},
	{e: "dt || ' ' || ts", my: "CONCAT(dt, ' ', ts)", why: whyConcat},
	{e: "u || ub", my: "CONCAT(u, ub)", why: whyConcat},
	{e: "i + 1 || 'x'", my: "CONCAT(i + 1, 'x')", why: whyConcat},

	// CASE, both forms.
	{e: "CASE WHEN i > 0 THEN 'pos' WHEN i < 0 THEN 'neg' ELSE 'zero' END"},
	{e: "CASE WHEN i > 0 THEN 'pos' END"},
	{e: "CASE i WHEN 7 THEN 'seven' WHEN -7 THEN 'minus seven' END"},
	{e: "CASE i WHEN NULL THEN 'null' ELSE 'other' END"},
	{e: "CASE WHEN i > 0 THEN i ELSE d END"},
	{e: "CASE s WHEN 'abc' THEN 1 WHEN '' THEN 2 ELSE 0 END"},
	{e: "CASE WHEN NULL THEN 1 ELSE 2 END"},
	{e: "CASE WHEN i > 0 THEN f ELSE s END"},
	{e: "CASE WHEN b > 0 THEN b ELSE ub END"},
	{e: "CASE WHEN i > 0 THEN dt ELSE ts END", my: tsFrac("CASE WHEN i > 0 THEN dt ELSE ts END"), why: whyTsFrac},
	{e: "CASE d WHEN 2.5 THEN 'x' WHEN 0 THEN 'zero' END"},
	{e: "CASE WHEN i THEN 'truthy' ELSE 'falsy' END"},

	// CAST and :: to each type.
	{e: "CAST(i AS INT64)", my: "CAST(i AS SIGNED)"},
	{e: "CAST(d AS INT64)", my: "CAST(d AS SIGNED)"},
	{e: "CAST(f AS INT64)", my: "IF(ABS(f) >= 9.3e18, " + errRow + ", CAST(f AS SIGNED))", why: whyCastErr},
	{e: "CAST(u AS INT64)", my: "CAST(u AS SIGNED)"},
	{e: "CAST(ub AS INT64)", my: "IF(ub > 9223372036854775807, " + errRow + ", CAST(ub AS SIGNED))", why: whyCastErr},
	{e: "CAST(s2 AS INT64)", my: "IF(s2 IS NULL OR s2 REGEXP '^ *-?[0-9]+([.][0-9]*)?$', CAST(s2 AS SIGNED), " + errRow + ")", why: whyCastErr},
	{e: "CAST(i AS INT32)", my: "CAST(i AS SIGNED)", why: whyCastType},
	{e: "CAST(i AS INT8)", my: "IF(i NOT BETWEEN -128 AND 127, " + errRow + ", i)", why: whyCastType},
	{e: "CAST(u AS UINT16)", my: "IF(u > 65535, " + errRow + ", u)", why: whyCastType},
	{e: "CAST(i AS UINT64)", my: "IF(i < 0, " + errRow + ", CAST(i AS UNSIGNED))", why: whyCastErr},
	{e: "CAST(b AS UINT64)", my: "IF(b < 0, " + errRow + ", CAST(b AS UNSIGNED))", why: whyCastErr},
	{e: "CAST(i AS FLOAT64)", my: "CAST(i AS DOUBLE)"},
	{e: "CAST(d AS FLOAT64)", my: "CAST(d AS DOUBLE)"},
	// A FLOAT32 prints with six significant digits (as a MySQL FLOAT
	// column); its value is compared as a FLOAT64.
	{e: "CAST(CAST(f AS FLOAT32) AS FLOAT64)", my: "IF(ABS(f) > 3.4028234663852886e38, " + errRow + ", CAST(CAST(f AS FLOAT) AS DOUBLE))", why: whyCastErr},
	{e: "CAST(i AS DECIMAL(10,2))", my: "IF(ABS(i) >= 1e8, " + errRow + ", CAST(i AS DECIMAL(10,2)))", why: whyCastErr},
	{e: "CAST(d AS DECIMAL(6,1))", my: "IF(ABS(d) >= 99999.95, " + errRow + ", CAST(d AS DECIMAL(6,1)))", why: whyCastErr},
	{e: "CAST(f AS DECIMAL(12,2))", my: "IF(ABS(f) >= 9999999999.995, " + errRow + ", CAST(f AS DECIMAL(12,2)))", why: whyCastErr},
	{e: "CAST(d AS DECIMAL(14,4))"}, {e: "CAST(ub AS DECIMAL(20))"},
	{e: "CAST(s2 AS DECIMAL(10,2))", my: "IF(s2 IS NULL OR s2 REGEXP '^ *-?[0-9]+([.][0-9]*)?$', CAST(s2 AS DECIMAL(10,2)), " + errRow + ")", why: whyCastErr},
	{e: "CAST(i AS STRING)", my: "CAST(i AS CHAR)"}, {e: "CAST(f AS STRING)", my: "CAST(f AS CHAR)"},
	{e: "CAST(d AS STRING)", my: "CAST(d AS CHAR)"}, {e: "CAST(ts AS STRING)", my: "CAST(ts AS CHAR)"},
	{e: "CAST(dt AS STRING)", my: "CAST(dt AS CHAR)"}, {e: "CAST(ub AS STRING)", my: "CAST(ub AS CHAR)"},
	{e: "CAST(s AS BINARY)"},
	{e: "CAST(ts AS DECIMAL(20,6))"}, {e: "CAST(ts AS FLOAT64)", my: "CAST(ts AS DOUBLE)"}, {e: "CAST(ts AS INT64)", my: "CAST(ts AS SIGNED)"},
	{e: "CAST(dt AS DECIMAL(10,2))"}, {e: "CAST(ts AS UINT64)", my: "CAST(ts AS UNSIGNED)"}, {e: "CAST(ts AS DECIMAL(20,0))"},
	{e: "CAST(ts AS DECIMAL(20,1))"},
	{e: "CAST(ts AS DATE)"}, {e: "CAST(dt AS TIMESTAMP)", my: "CAST(dt AS DATETIME)"},
	{e: "CAST(s2 AS DATE)", my: "IF(s2 IS NULL, NULL, " + errRow + ")", why: whyCastErr},
	{e: "CAST('2024-02-29 10:11:12' AS TIMESTAMP)", my: "CAST('2024-02-29 10:11:12' AS DATETIME)"},
	{e: "CAST(ts AS TIME)", my: "IF(CAST(ts AS TIME(6)) = CAST(ts AS TIME), CAST(CAST(ts AS TIME) AS CHAR), CAST(CAST(ts AS TIME(6)) AS CHAR))", why: whyTsFrac},
	{e: "CAST(i AS BOOL)", my: "i <> 0", why: whyCastType},
	{e: "CAST(d AS BOOL)", my: "d <> 0", why: whyCastType},
	{e: "CAST(j AS JSON)", my: "j", why: whyCastType},
	{e: "i::INT64", my: "CAST(i AS SIGNED)"},
	{e: "'42'::INT64 + 1", my: "CAST('42' AS SIGNED) + 1"},
	{e: "d::FLOAT64", my: "CAST(d AS DOUBLE)"},
	{e: "-d::INT64", my: "-CAST(d AS SIGNED)"},
	{e: "ts::DATE", my: "CAST(ts AS DATE)"},

	// Intervals.
	{e: "dt + INTERVAL '5' DAY"}, {e: "dt - INTERVAL 1 MONTH"}, {e: "dt + INTERVAL 1 YEAR"},
	{e: "ts + INTERVAL '5' MINUTE", my: tsFrac("ts + INTERVAL '5' MINUTE"), why: whyTsFrac},
	{e: "ts - INTERVAL 90 SECOND", my: tsFrac("ts - INTERVAL 90 SECOND"), why: whyTsFrac},

	// Functions.
	{e: "date(ts)"}, {e: "date(dt)"}, {e: "date(s2)"},
	{e: "json_value(j, '$.a')"}, {e: "json_value(j, '$.b')"},
	{e: "json_value(j, '$.a.c')", my: "IF(json_type(json_extract(j, '$.a.c')) = 'BOOLEAN', json_unquote(json_extract(j, '$.a.c')), json_value(j, '$.a.c'))", why: whyJSONBool},
	{e: "json_value(j, '$[1]')"},
	{e: "json_extract(j, '$.a')"}, {e: "json_extract(j, '$.b[1].c')"}, {e: "json_unquote(json_extract(j, '$.b'))"},
	{e: "json_length(j)"}, {e: "json_keys(j)"},
	// JSON text as MariaDB prints it: one space after ',' and ':'; scalars as written.
	{e: `json_unquote(json_extract('{"b":[1,2,3]}', '$.b'))`}, {e: "json_extract(replace(j, ' ', ''), '$')"},
	{e: "json_extract(replace(j, ' ', ''), '$.b')"}, {e: "CAST(json_extract(replace(j, ' ', ''), '$.a') AS STRING)", my: "json_extract(replace(j, ' ', ''), '$.a')"},
	{e: `json_extract('{ "a" :  [ 1 ,2, {"x":1,"y" : "z"} ] , "b":"q"}', '$')`}, {e: `json_extract('[ "x" , { } , [ ] ]', '$')`},
	{e: `json_extract('{"a":"x\"y", "b" : "\u00e9", "c": 1e2, "d": -0.0}', '$')`}, {e: `json_extract('{"a":1, "a":2}', '$.a')`},
	{e: `json_keys('{"a<b":1, "\u00e9":2, "x\"y":3}')`}, {e: `json_keys('{ "a b" : {"c":1}}', '$."a b"')`},
	{e: "json_contains(j, '1', '$.a')"}, {e: `json_contains(j, '"x"', '$.b')`}, {e: "json_contains(j, '1', '$.zz')"}, {e: "json_contains(j, '[1]')"},
	// A computed JSON value compares with text as its unquoted text; a JSON column as its stored text.
	{e: "json_extract(j, '$.b') = 'x'"}, {e: "'x' = json_extract(j, '$.b')"}, {e: "json_extract(j, '$.a') = '1'"},
	{e: "json_extract(j, '$.b') IN ('x', 'y')", my: "json_unquote(json_extract(j, '$.b')) IN ('x', 'y')", why: whyJSONIn}, {e: "json_extract(j, '$.b') LIKE 'x'"}, {e: "json_extract(j, '$.b') < 'y'"},
	{e: "json_extract(j, '$') = '[1, 2]'"}, {e: "json_extract(j, '$.b') BETWEEN 'a' AND 'z'", my: "json_unquote(json_extract(j, '$.b')) BETWEEN 'a' AND 'z'", why: whyJSONIn}, {e: "j = 'str'"}, {e: `j = '"str"'`},
	{e: `json_extract('{"a":"x\u00e9"}', '$.a') = 'xé'`}, {e: "json_extract(j, '$.a') = 1"},
	{e: `json_extract('{"a":1} x', '$.a')`}, {e: `json_extract('{"a":1, "b":[}', '$.a')`}, {e: `json_length('{"a":[1,2], "b":[}', '$.a')`},
	{e: `json_value('{"a":1, "b":[}', '$.a')`}, {e: `json_value('{"a":"x\"y\/z"}', '$.a')`}, {e: `json_value('{"a\"b":1}', '$."a\"b"')`},
	{e: `json_unquote('"a\tb\u00e9\/\ud83d\ude00"')`}, {e: `json_unquote(' "x" ')`}, {e: `json_unquote('"bad')`}, {e: `json_unquote('[1,2]')`}, {e: "json_unquote('\"a\tb\"')"},
	{e: "json_extract(concat('{\"s\":[', i, ',', u, ',\"', s, '\"]}'), '$.s')"},
	{e: "lower(s)"}, {e: "upper(s)"}, {e: "length(s)"}, {e: "char_length(s)"}, {e: "length(i)"}, {e: "length(d)"},
	{e: "substr(s, 2)"}, {e: "substr(s, 2, 3)"}, {e: "substr(s, -2)"}, {e: "substr(s, 0)"}, {e: "substr(s, i)"},
	{e: "substring(s, 1, 4)"},
	{e: "coalesce(s, s2, 'none')"}, {e: "coalesce(i, d)"}, {e: "coalesce(NULL, NULL)"},
	{e: "coalesce(dt, ts)", my: tsFrac("coalesce(dt, ts)"), why: whyTsFrac},

	{e: "coalesce(u, i)"}, {e: "coalesce(ub, -1)"},
	{e: "round(d)"}, {e: "round(d, 1)"}, {e: "round(i, -1)"}, {e: "round(b, -2)"}, {e: "round(d, -1)"},
	{e: "round(f)", my: "round(f) + 0e0", why: whyDouble}, {e: "round(f, 1)", my: "round(f, 1) + 0e0", why: whyDouble},
	{e: "abs(i)"}, {e: "abs(b)"}, {e: "abs(d)"}, {e: "abs(f)"}, {e: "abs(u)"},
	{e: "concat(s, i, d)"}, {e: "concat(s, NULL)"}, {e: "concat(f, dt)"}, {e: "concat_ws('-', s, s2, NULL)"},
	{e: "ifnull(i, 0)"}, {e: "nullif(i, 0)"}, {e: "if(i > 0, 'y', 'n')"}, {e: "if(i, d, f)"},
	{e: "greatest(i, b)"}, {e: "least(d, f)"}, {e: "greatest(i, u)"}, {e: "least(s, s2)"},
	{e: "mod(i, 3)"}, {e: "mod(d, 2)"}, {e: "floor(d)"}, {e: "ceil(d)"}, {e: "floor(f)", my: "floor(f) + 0e0", why: whyDouble}, {e: "ceil(f)", my: "ceil(f) + 0e0", why: whyDouble},
	{e: "sign(d)"}, {e: "sign(i)"}, {e: "sqrt(f)"}, {e: "sqrt(i)"}, {e: "truncate(d, 1)"}, {e: "pow(i, 2)"},
	{e: "year(dt)"}, {e: "month(ts)"}, {e: "day(dt)"}, {e: "hour(ts)"}, {e: "minute(ts)"}, {e: "second(ts)"},
	{e: "dayofweek(dt)"}, {e: "date_format(ts, '%Y-%m-%d %H:%i:%s.%f')"}, {e: "datediff(ts, dt)"},
	{e: "datediff(dt, '2000-01-01')"},
	{e: "unix_timestamp(ts)"}, {e: "unix_timestamp(dt)"}, {e: "unix_timestamp(ts) - unix_timestamp(dt)"},
	{e: "unix_timestamp(s2)"}, {e: "unix_timestamp(concat(dt, ' 10:11:12'))"}, {e: "unix_timestamp(concat(dt, ' 10:11:12.5'))"},
	{e: "from_unixtime(1.9999999)", my: tsFrac("from_unixtime(1.9999999)"), why: whyTsFrac}, {e: "from_unixtime(1.9999999e0)", my: tsFrac("from_unixtime(1.9999999e0)"), why: whyTsFrac},
	{e: "from_unixtime(1704067200.123456e0)"}, {e: "from_unixtime(-0.0000001)"}, {e: "from_unixtime(-f)"}, {e: "unix_timestamp('2024-01-01 00:00:00.123456')"}, {e: "unix_timestamp('2024-01-01 00:00:00.1')"},
	{e: "unix_timestamp('2024-01-01 00:00:00')"}, {e: "unix_timestamp('2024-01-01')"},
	{e: "unix_timestamp(TIMESTAMP '2024-01-01 00:00:00.120')"}, {e: "unix_timestamp(TIMESTAMP '2038-01-19 03:14:07.999999')"},
	{e: "unix_timestamp(ts + INTERVAL 1 DAY)"}, {e: "unix_timestamp(coalesce(ts, dt))"}, {e: "unix_timestamp(date(ts))"},
	{e: "from_unixtime(unix_timestamp(ts))", my: tsFrac("from_unixtime(unix_timestamp(ts))"), why: whyTsFrac},
	{e: "from_unixtime(d)", my: tsFrac("from_unixtime(d)"), why: whyTsFrac}, {e: "from_unixtime(f)", my: tsFrac("from_unixtime(f)"), why: whyTsFrac},
	{e: "from_unixtime(1704067200.123456)"}, {e: "from_unixtime(1704067200.5)", my: tsFrac("from_unixtime(1704067200.5)"), why: whyTsFrac},
	{e: "timestampdiff('MICROSECOND', dt, ts)", my: "timestampdiff(MICROSECOND, dt, ts)"}, {e: "timestampdiff('SECOND', ts, '2000-01-01 00:00:00.6')", my: "timestampdiff(SECOND, ts, '2000-01-01 00:00:00.6')"},
	{e: "date_format(ts, '%f|%s')"}, {e: "date_format('2024-01-01 00:00:00.5', '%f')"},
	{e: "convert_tz(ts, '+00:00', '+01:00')", my: tsFrac("convert_tz(ts, '+00:00', '+01:00')"), why: whyTsFrac},
	{e: "unix_timestamp(TIMESTAMP '2038-01-19 03:14:07')"}, {e: "unix_timestamp(TIMESTAMP '2038-01-19 03:14:08')"},
	{e: "unix_timestamp(TIMESTAMP '1969-12-31 23:59:59')"}, {e: "unix_timestamp(DATE '1970-01-01')"},
	{e: "from_unixtime(i)"}, {e: "from_unixtime(b)"}, {e: "from_unixtime(ub)"}, {e: "from_unixtime(i + 1)"},
	{e: "from_unixtime(2147483647.999999)"}, {e: "from_unixtime(2147483648)"}, {e: "from_unixtime(-1)"},

	// Collations: the columns are utf8mb4_general_ci, as MariaDB's
	// default; literals give way to them (docs/functions.md, "Collations").
	{e: "s = 'abc '"}, {e: "s = 'HELLO WORLD'"}, {e: "s = 'MIXED'"}, {e: "s <> 'Mixed'"}, {e: "s < 'HÉ'"},
	{e: "s >= 'Mix'"}, {e: "lower(s) = 'ABC'"}, {e: "concat(s, '!') = 'ABC!'"}, {e: "upper(s) = s"},
	{e: "s IN ('HELLO WORLD', 'ABC', NULL)"}, {e: "s NOT IN ('mixed', 'ABC')"}, {e: "s LIKE 'HÉ%'"}, {e: "s LIKE 'he%'"},
	{e: "s LIKE '%WÖR%'"}, {e: "s LIKE '_ixed'"}, {e: "s LIKE '%O W%'"}, {e: "s NOT LIKE 'A%'"},
	{e: "locate('B', s)"}, {e: "locate('ö', s)"}, {e: "locate('O', s, 6)"}, {e: "instr(s, 'W')"}, {e: "instr(s, 'X')"},
	{e: "greatest(s, s2)"}, {e: "CASE s WHEN 'ABC' THEN 1 WHEN 'MIXED' THEN 2 ELSE 0 END"}, {e: "nullif(s, 'ABC')"},
	{e: "if(s = 'IT''S \"Q\"', 1, 0)"}, {e: "s2 = 'a%B'"}, {e: "s2 BETWEEN 'A' AND 'Z'"},
	{e: "regexp_like(s, '^[A-Z]+$')", my: "s REGEXP '^[A-Z]+$'"},
	{e: "coalesce(s, 'x') = 'ABC'"}, {e: "substr(s, 1, 3) IN ('ABC', 'HEL')"},
	{e: "s COLLATE utf8mb4_bin = 'ABC'"}, {e: "s = 'ABC' COLLATE utf8mb4_bin"}, {e: "s COLLATE utf8mb4_bin < s2"},
	{e: "s COLLATE utf8mb4_unicode_ci = 'HELLO WORLD'"}, {e: "s LIKE 'M%' COLLATE utf8mb4_bin"},
	{e: "locate('B' COLLATE utf8mb4_bin, s)"}, {e: "s COLLATE utf8mb4_bin IN ('ABC', 'mixed')"},
	{e: "s COLLATE utf8mb4_nopad_bin = 'abc '"}, {e: "s COLLATE utf8mb4_bin = 'abc '"},

	{e: "replace(s, '%', 'pct')"}, {e: "trim(s2)"}, {e: "left(s, 2)"}, {e: "right(s, 2)"}, {e: "instr(s, '_')"},
	{e: "locate('b', s)"}, {e: "lpad(s, 5, '*')"}, {e: "rpad(s, 3, 'xy')"}, {e: "reverse(s)"},
	{e: "md5(s)"}, {e: "hex(s)"}, {e: "hex(i)"}, {e: "hex(ub)"}, {e: "to_base64(s)"},
	// An integer argument above INT64's range is not lost (ub is 18446744073709551615 in row 5).
	{e: "substr(s, 1, ub)"}, {e: "substr(s, ub)"}, {e: "left(s, ub)"}, {e: "right(s, ub)"}, {e: "locate('b', s, ub)"},
	{e: "round(d, ub)"}, {e: "truncate(d, ub)"}, {e: "round(i, ub)"}, {e: "lpad(s, ub, 'x')"}, {e: "rpad(s, ub, 'x')"},
	{e: "substr(s, 2, 18446744073709551615)"}, {e: "left(s, 9223372036854775808)"},
	{e: "regexp_like(s, '^[a-z]+$')", my: "s REGEXP '^[a-z]+$'"},
}

// snapshotRows reads db.t through the mysql connector, as a SNAPSHOT only
// pipeline does.
func snapshotRows(t *testing.T, dsn, db string) []*exec.Batch {
	t.Helper()
	ctx := context.Background()
	src, err := connectors.NewSource("mysql", "src", dsn, map[string]any{"server_id": int64(7000 + rand.IntN(1000))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, err := src.Open(ctx, connectors.StreamRequest{
		Tables: []connectors.StreamTable{{Ref: connectors.TableRef{DB: db, Table: "t"}, Snapshot: connectors.SnapshotOnly}},
		Once:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []*exec.Batch
	for {
		b, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.Record != nil && b.Record.NumRows() > 0 {
			out = append(out, b)
		} else if b.Record != nil {
			b.Record.Release()
		}
	}
	return out
}

// exprBinder returns a function that binds the TRANSFORM item
// CAST(<expr> AS STRING) over db.t as the planner binds a pipeline.
func exprBinder(t *testing.T, dsn, db string) func(e string) (exec.Expr, error) {
	t.Helper()
	cat := etlfile.NewCatalog()
	t.Cleanup(cat.Close)
	src := &planner.SourceDecl{Name: "src", Kind: "mysql", DSN: dsn, Options: map[string]any{"server_id": int64(7000 + rand.IntN(1000))}}
	return func(e string) (exec.Expr, error) {
		text := fmt.Sprintf("FROM binlog %s.t SNAPSHOT only TRANSFORM CAST((%s) AS STRING) AS v", db, e)
		st, err := lang.ParseStatement("expr", text)
		if err != nil {
			return nil, err
		}
		plan, err := planner.BuildQuery(context.Background(), st.Query, src, cat)
		if err != nil {
			if errs, ok := err.(lang.Errors); ok {
				return nil, errors.New(errs.Format([]byte(text)))
			}
			return nil, err
		}
		return plan.Pipelines[0].Tables[0].Outputs[0], nil
	}
}

// etlqRows evaluates e over the batches: one text per row, "NULL" for NULL
// and "ERROR" for a row error.
func etlqRows(t *testing.T, bind func(string) (exec.Expr, error), batches []*exec.Batch, e string) ([]string, error) {
	t.Helper()
	x, err := bind(e)
	if err != nil {
		return nil, err
	}
	p, err := exec.NewProgram(exec.ProgramConfig{Outputs: []exec.Expr{x}, Names: []string{"v"}, OnError: exec.OnErrorSkip})
	if err != nil {
		return nil, err
	}
	n := 0
	for _, b := range batches {
		n += int(b.Record.NumRows())
	}
	rows := make([]string, n)
	for _, b := range batches {
		ids := b.Record.Column(b.Record.Schema().FieldIndices("id")[0]).(*array.Int32)
		out, kept, _, rowErrs, err := p.Run(context.Background(), b)
		if err != nil {
			return nil, err
		}
		got := make([]string, b.Record.NumRows())
		for _, re := range rowErrs {
			got[re.Row] = "ERROR"
		}
		res := out.Column(0).(*array.String)
		for k, row := range kept {
			if res.IsNull(k) {
				got[row] = "NULL"
			} else {
				got[row] = res.Value(k)
			}
		}
		out.Release()
		for r, v := range got {
			rows[ids.Value(r)-1] = v
		}
	}
	return rows, nil
}

// mariadbRows evaluates e in MariaDB over db.t, one text per row in id
// order. When the statement fails (an overflow error is one for the whole
// statement), each row is evaluated alone and the rows that fail read
// "ERROR".
func mariadbRows(t *testing.T, my *client.Conn, db, e string, n int) []string {
	t.Helper()
	q := fmt.Sprintf("SELECT CAST((%s) AS CHAR) FROM %s.t ORDER BY id", e, db)
	r, err := my.Execute(q)
	if err == nil {
		defer r.Close()
		var out []string
		for _, row := range r.Values {
			out = append(out, cellText(row[0].Value()))
		}
		return out
	}
	if !strings.Contains(err.Error(), "out of range") && !strings.Contains(err.Error(), "more than 1 row") {
		t.Fatalf("mariadb: %v\n%s", err, q)
	}
	var out []string
	for id := 1; id <= n; id++ {
		r, err := my.Execute(fmt.Sprintf("SELECT CAST((%s) AS CHAR) FROM %s.t WHERE id = %d", e, db, id))
		if err != nil {
			out = append(out, "ERROR")
			continue
		}
		out = append(out, cellText(r.Values[0][0].Value()))
		r.Close()
	}
	return out
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
