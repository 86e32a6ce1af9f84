package mysql

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn counts the read deadlines that reach the connection.
type countingConn struct {
	net.Conn
	sets []time.Time
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.sets = append(c.sets, t)
	return c.Conn.SetReadDeadline(t)
}

// TestCoarseDeadlineConnCoalesces: go-mysql's deadline per packet reaches
// the connection about once per slack, never earlier than asked; an
// earlier deadline and the zero time go through at once.
func TestCoarseDeadlineConnCoalesces(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	cc := &countingConn{Conn: a}
	c := &coarseDeadlineConn{Conn: cc, slack: time.Second}

	base := time.Now()
	for i := range 1000 { // 1,000 packets within 100 ms: one timer change
		if err := c.SetReadDeadline(base.Add(10*time.Second + time.Duration(i)*100*time.Microsecond)); err != nil {
			t.Fatal(err)
		}
	}
	if len(cc.sets) != 1 {
		t.Fatalf("%d read deadlines reached the connection for 1,000 within the slack, want 1", len(cc.sets))
	}
	if want := base.Add(11 * time.Second); !cc.sets[0].Equal(want) {
		t.Fatalf("deadline set to %v, want the first asked for plus the slack, %v", cc.sets[0], want)
	}
	// Past the slack: the deadline moves again, never before what is asked.
	late := base.Add(11*time.Second + time.Millisecond)
	if err := c.SetReadDeadline(late); err != nil {
		t.Fatal(err)
	}
	if len(cc.sets) != 2 || cc.sets[1].Before(late) {
		t.Fatalf("deadlines set %v after asking for %v", cc.sets, late)
	}
	// Earlier (Close unblocking a read): at once.
	soon := time.Now().Add(50 * time.Millisecond)
	if err := c.SetReadDeadline(soon); err != nil {
		t.Fatal(err)
	}
	if len(cc.sets) != 3 {
		t.Fatalf("an earlier deadline did not reach the connection: %v", cc.sets)
	}
	// It takes effect within the slack: a read blocked on the pipe fails.
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the deadline: %v, want a timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("read timed out after %s", time.Since(start))
	}
	// The zero time clears it.
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n := len(cc.sets); n != 4 || !cc.sets[3].IsZero() {
		t.Fatalf("clearing the deadline: %v", cc.sets)
	}
	// After SetDeadline, a read deadline within the slack of it is kept.
	d := time.Now().Add(time.Hour)
	if err := c.SetDeadline(d); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(d.Add(-time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if len(cc.sets) != 4 {
		t.Fatalf("a read deadline within the slack of SetDeadline's reached the connection: %v", cc.sets)
	}
}
