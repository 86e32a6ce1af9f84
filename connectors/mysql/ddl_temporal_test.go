package mysql

import (
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestQueryEnvOf: the session time zone and the statement's start time
// (seconds from the header, microseconds from Q_HRNOW / Q_MICROSECONDS)
// are read from a query event's status variables.
func TestQueryEnvOf(t *testing.T) {
	h := &replication.EventHeader{Timestamp: 1700000000}
	vars := []byte{
		0, 0, 0, 0, 0, // Q_FLAGS2
		1, 0, 0, 0, 0, 0, 0, 0, 0, // Q_SQL_MODE
		6, 3, 's', 't', 'd', // Q_CATALOG_NZ
		4, 33, 0, 33, 0, 45, 0, // Q_CHARSET
		5, 6, '+', '0', '5', ':', '3', '0', // Q_TIME_ZONE
		11, 4, 'r', 'o', 'o', 't', 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', // Q_INVOKER
		128, 0x40, 0xe2, 0x01, // Q_HRNOW: 123456 µs
		129, 1, 2, 3, 4, 5, 6, 7, 8, // Q_XID
	}
	env := queryEnvOf(h, &replication.QueryEvent{StatusVars: vars})
	if env.tz != "+05:30" {
		t.Errorf("time zone %q", env.tz)
	}
	if want := time.Unix(1700000000, 123456000).UTC(); !env.at.Equal(want) {
		t.Errorf("at %s, want %s", env.at, want)
	}
	// An unknown code ends the walk; what came before holds.
	env = queryEnvOf(h, &replication.QueryEvent{StatusVars: []byte{5, 6, 'S', 'Y', 'S', 'T', 'E', 'M', 250, 1, 2, 128, 1, 0, 0}})
	if env.tz != "SYSTEM" || !env.at.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("after an unknown code: %+v", env)
	}
	// A truncated variable does not panic.
	queryEnvOf(h, &replication.QueryEvent{StatusVars: []byte{5, 9, 'x'}})
	if fspUnit(3) != time.Millisecond || fspUnit(0) != time.Second || fspUnit(6) != time.Microsecond {
		t.Error("fspUnit")
	}
}

// TestRoundsValues: the narrowings after which MySQL's rows hold other
// values are marked, others are not.
func TestRoundsValues(t *testing.T) {
	dec := func(p, s int) *column { return &column{Kind: kDecimal128, Precision: p, Scale: s} }
	for _, c := range []struct {
		old, new *column
		want     bool
	}{
		{dec(20, 6), dec(18, 4), true}, {dec(12, 3), dec(16, 4), false}, {dec(16, 4), dec(12, 4), false},
		{&column{Kind: kFloat64}, &column{Kind: kFloat32}, true}, {&column{Kind: kFloat32}, &column{Kind: kFloat64}, false},
		{&column{Kind: kInt64}, &column{Kind: kInt32}, false},
	} {
		if got := roundsValues(c.old, c.new); got != c.want {
			t.Errorf("roundsValues(%+v, %+v) = %v", c.old, c.new, got)
		}
	}
}
