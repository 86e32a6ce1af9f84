package mysql

import (
	"context"
	"net"
	"sync"
	"time"
)

// deadlineSlack is how much later than asked a binlog connection's read
// deadline may fall (coarseDeadlineConn).
const deadlineSlack = time.Second

// coarseDeadlineConn is the binlog connection under go-mysql. go-mysql
// moves the read deadline forward before every packet it reads (twice per
// event: in the packet reader and in the stream loop), each a change of a
// runtime timer: ~5% of etlq's CPU in a catch-up (docs/benchmarks.md).
// Here a read deadline is passed on only when it does not fall within
// [t, t+slack] of the one in force, and is then set to t+slack: a read
// never times out before the deadline asked for, at most slack after it,
// and the timer changes at most about once per slack while the stream
// flows. An earlier deadline (go-mysql's Close unblocking a read) and the
// zero time go through at once.
type coarseDeadlineConn struct {
	net.Conn
	slack time.Duration

	mu   sync.Mutex // go-mysql's Close sets a deadline from another goroutine
	read time.Time  // the read deadline in force; zero: none
}

func (c *coarseDeadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.IsZero() && !c.read.IsZero() && !c.read.Before(t) && c.read.Sub(t) <= c.slack {
		return nil // the deadline in force is within slack after t
	}
	if !t.IsZero() {
		t = t.Add(c.slack)
	}
	if err := c.Conn.SetReadDeadline(t); err != nil {
		c.read = time.Time{} // unknown: the next call sets it
		return err
	}
	c.read = t
	return nil
}

func (c *coarseDeadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = time.Time{}
	if err := c.Conn.SetDeadline(t); err != nil {
		return err
	}
	c.read = t
	return nil
}

// coarseDeadlineDialer dials as go-mysql's default dialer does and wraps
// the connection in a coarseDeadlineConn.
func coarseDeadlineDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &coarseDeadlineConn{Conn: conn, slack: deadlineSlack}, nil
}
