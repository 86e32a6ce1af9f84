package mysql

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// This file gives the TIMESTAMP and CURRENT_TIMESTAMP defaults of a column
// a DDL adds the values MySQL gave the rows already in the table, so that a
// sink can give its rows the same: a TIMESTAMP literal is in the session's
// time zone (converted to UTC here), and CURRENT_TIMESTAMP is the time the
// statement started, which the binlog event carries.

// queryEnv is what a query event says of the session that ran it.
type queryEnv struct {
	// tz is the session's time_zone ("" when the event does not say:
	// the server's global one).
	tz string
	// at is when the statement started (the event's timestamp, with the
	// microseconds MariaDB and MySQL add), zero when not known.
	at time.Time
}

// queryEnvOf reads the time zone and start time of a query event.
func queryEnvOf(h *replication.EventHeader, e *replication.QueryEvent) queryEnv {
	env := queryEnv{}
	micro, ok := -1, true
	v := e.StatusVars
	for len(v) > 0 && ok {
		code := v[0]
		v = v[1:]
		// Sizes from MySQL's and MariaDB's log_event.h; an unknown
		// code ends the walk (what was read so far holds).
		fixed := map[byte]int{0: 4, 1: 8, 3: 4, 4: 6, 7: 2, 8: 2, 9: 8, 10: 4, 13: 3, 16: 1, 17: 8, 18: 2, 19: 1, 20: 1, 128: 3, 129: 8, 130: 1}
		switch n, isFixed := fixed[code]; {
		case isFixed:
			if len(v) < n {
				ok = false
				break
			}
			if code == 13 || code == 128 { // Q_MICROSECONDS, MariaDB Q_HRNOW
				micro = int(v[0]) | int(v[1])<<8 | int(v[2])<<16
			}
			v = v[n:]
		case code == 2: // Q_CATALOG_CODE: length, text, NUL
			if len(v) < 1 || len(v) < 2+int(v[0]) {
				ok = false
				break
			}
			v = v[2+int(v[0]):]
		case code == 5 || code == 6: // Q_TIME_ZONE_CODE, Q_CATALOG_NZ_CODE
			if len(v) < 1 || len(v) < 1+int(v[0]) {
				ok = false
				break
			}
			if code == 5 {
				env.tz = string(v[1 : 1+int(v[0])])
			}
			v = v[1+int(v[0]):]
		case code == 11: // Q_INVOKER: user and host, each length-prefixed
			for i := 0; i < 2 && ok; i++ {
				if len(v) < 1 || len(v) < 1+int(v[0]) {
					ok = false
					break
				}
				v = v[1+int(v[0]):]
			}
		case code == 12: // Q_UPDATED_DB_NAMES: count, NUL-terminated names
			if len(v) < 1 {
				ok = false
				break
			}
			n := int(v[0])
			v = v[1:]
			if n == 254 { // OVER_MAX_DBS_IN_EVENT_MTS: no names
				break
			}
			for i := 0; i < n && ok; i++ {
				j := strings.IndexByte(string(v), 0)
				if j < 0 {
					ok = false
					break
				}
				v = v[j+1:]
			}
		default:
			ok = false
		}
	}
	if h != nil && h.Timestamp > 0 {
		env.at = time.Unix(int64(h.Timestamp), 0).UTC()
		if micro >= 0 && micro < 1000000 {
			env.at = env.at.Add(time.Duration(micro) * time.Microsecond)
		}
	}
	return env
}

// nowExpr matches the DEFAULT expressions that are the statement's time.
var nowExpr = regexp.MustCompile(`(?i)^(current_timestamp|now|localtimestamp|localtime)\s*(\(\s*(\d*)\s*\))?$`)

// fixTemporalDefaults rewrites the defaults of the TIMESTAMP and DATETIME
// columns the ALTER a added to nt as the literal MySQL gave the rows
// already there: a TIMESTAMP as UTC with an explicit "+00:00", a DATETIME
// in the session's time zone. A default it cannot place is left as it is
// (the sink then says it cannot carry it).
func (r *binlogReader) fixTemporalDefaults(a *alterTable, nt *table) {
	for _, op := range a.Ops {
		if op.Kind != alterAddColumn || op.Col == nil {
			continue
		}
		var c *column
		for _, x := range nt.Cols {
			if strings.EqualFold(x.Name, op.Col.Name) {
				c = x
			}
		}
		if c == nil || c.Default == nil || c.Default.Null || (c.Kind != kTimestamp && c.Kind != kDatetime) {
			continue
		}
		d := *c.Default
		switch {
		case d.Expr != "" && nowExpr.MatchString(strings.TrimSpace(d.Expr)):
			if r.query.at.IsZero() {
				continue
			}
			// NOW() in a column of fsp digits: truncated to them.
			utc := r.query.at.Truncate(fspUnit(c.Scale))
			lit := utc.Format("2006-01-02 15:04:05.999999")
			if c.Kind == kTimestamp {
				d = colDefault{Value: lit + "+00:00"}
			} else {
				local, err := r.convertTZ(lit, "'+00:00'", r.tzSQL())
				if err != nil {
					r.cfg.log.Warn("the time of a DEFAULT CURRENT_TIMESTAMP column in the session's time zone is not known: the target's rows already there will not hold it", "column", c.Name, "time_zone", r.query.tz, "error", err)
					continue
				}
				d = colDefault{Value: local}
			}
		case d.Expr == "" && !d.Number && c.Kind == kTimestamp && !strings.HasSuffix(d.Value, "+00:00"):
			if strings.HasPrefix(d.Value, "0000-00-00") {
				continue
			}
			utc, err := r.convertTZ(d.Value, r.tzSQL(), "'+00:00'")
			if err != nil {
				r.cfg.log.Warn("a TIMESTAMP DEFAULT in the session's time zone could not be converted to UTC: the target's rows already there will not hold it", "column", c.Name, "time_zone", r.query.tz, "error", err)
				continue
			}
			d = colDefault{Value: utc + "+00:00"}
		default:
			continue
		}
		c.Default = &d
	}
}

// fspUnit is the step of a temporal value of fsp fraction digits.
func fspUnit(fsp int) time.Duration {
	u := time.Second
	for i := 0; i < fsp && i < 6; i++ {
		u /= 10
	}
	return u
}

// tzSQL is the event's session time zone as SQL.
func (r *binlogReader) tzSQL() string {
	if r.query.tz == "" {
		return "@@global.time_zone"
	}
	return "'" + strings.ReplaceAll(r.query.tz, "'", "''") + "'"
}

// convertTZ converts a DATETIME literal between two time zones on the
// server, which knows its SYSTEM zone and named zones as the statement
// did. The result has six fraction digits.
func (r *binlogReader) convertTZ(lit, from, to string) (string, error) {
	c, err := r.cfg.src.connect(context.Background())
	if err != nil {
		return "", err
	}
	defer c.Close()
	q := fmt.Sprintf("SELECT DATE_FORMAT(CONVERT_TZ(CAST('%s' AS DATETIME(6)), %s, %s), '%%Y-%%m-%%d %%H:%%i:%%s.%%f')", strings.ReplaceAll(lit, "'", "''"), from, to)
	res, err := c.Execute(q)
	if err != nil {
		return "", err
	}
	s, _ := res.GetString(0, 0)
	if s == "" {
		return "", fmt.Errorf("the server cannot convert %q from time zone %s (time zone tables not loaded?)", lit, from)
	}
	return s, nil
}
