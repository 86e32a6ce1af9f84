package mysql

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// erConnectionKilled is MariaDB's ER_CONNECTION_KILLED, sent to the
// connections of a server that shuts down.
const erConnectionKilled = 1927

// lostConn reports whether err means the connection is gone (the server
// restarted or went away), so that the same work can be done again on a new
// connection.
func lostConn(err error) bool {
	if err == nil {
		return false
	}
	var me *gm.MyError
	if errors.As(err, &me) {
		return me.Code == gm.ER_SERVER_SHUTDOWN || me.Code == erConnectionKilled
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
		return true
	}
	// The driver's ErrBadConn comes wrapped by pingcap/errors, whose
	// Cause the fmt wrappers of etlq's messages hide: looked for at each
	// level, and by its text where a message kept only that ("describe
	// tables of shop: io.ReadFull(header) failed. err EOF: connection was
	// bad" — a MariaDB restart during a snapshot stopped the run there
	// instead of reconnecting; new-user trial).
	for e := err; e != nil; e = errors.Unwrap(e) {
		if gm.ErrorEqual(e, gm.ErrBadConn) {
			return true
		}
	}
	return strings.Contains(err.Error(), gm.ErrBadConn.Error())
}

// withConn runs f on *c, connecting first when *c is nil. When the
// connection is lost, it reconnects with back-off (100 ms doubling to 10 s,
// at most 30 attempts, as the binlog reader does) and runs f again, so f
// must be repeatable. The connections it makes have net_write_timeout
// raised. A connection that cannot be made before any was lost, for
// another reason than a lost or refused connection, is an error at once.
func (s *snapshotter) withConn(c **client.Conn, what string, f func(*client.Conn) error) error {
	backoff := 100 * time.Millisecond
	lost := false
	for attempt := 1; ; attempt++ {
		var err error
		if *c == nil {
			if *c, err = s.cfg.src.connect(s.ctx); err == nil {
				// Once per connection: a chunk's read pauses while the
				// reader has not taken its records (push), and the server
				// must not give up on the idle socket meanwhile.
				if _, err = (*c).Execute("SET SESSION net_write_timeout = 86400"); err != nil {
					(*c).Close()
				}
			}
			if err != nil {
				*c = nil
				// A connection cut while being made (its handshake, its
				// SET) or refused is a lost one too: the server went away
				// in the middle of the snapshot (the stream's own
				// connection was made at its start). Any other error —
				// the login refused — is one at once.
				if !lost && !lostConn(err) {
					return err
				}
			}
		}
		if *c != nil {
			if err = f(*c); err == nil || !lostConn(err) {
				return err
			}
			lost = true
			s.dropConn(*c)
			(*c).Close()
			*c = nil
		}
		if s.ctx.Err() != nil {
			return err
		}
		if attempt >= 30 {
			return fmt.Errorf("connection lost, %d attempts failed: %s", attempt, firstLine(err))
		}
		s.cfg.log.Warn("snapshot connection lost; retrying", "work", what, "error", firstLine(err), "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
		if backoff < 10*time.Second {
			backoff *= 2
		}
	}
}
