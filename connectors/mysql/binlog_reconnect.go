package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// maxReconnects bounds the binlog reconnects without an event in between.
var maxReconnects = 30

// Another client with this source's server_id takes the binlog connection
// (the server drops the older of two dumps with one id): sameIDLimit such
// losses within sameIDWindow end the stream. Two clients sharing an id
// would otherwise take it from each other for good, each going on a few
// events at a time; this way one of them stops and says why.
var (
	sameIDLimit  = 3
	sameIDWindow = 10 * time.Minute
)

// sameIDHint explains MariaDB's ERROR 4052 / MySQL's 1236 "same server
// id": another replica (or another etlq) uses this binlog client's
// server_id on the server.
func sameIDHint(err error, id uint32) string {
	if err == nil {
		return ""
	}
	// By the code, or the words: a bare "4052" in the text matched
	// positions (a checkpoint at …4052 into a file), which turned a damaged
	// checkpoint's fatal error into reconnects for good.
	var me *gm.MyError
	m := err.Error()
	if !(errors.As(err, &me) && me.Code == 4052) && !strings.Contains(m, "ERROR 4052") &&
		!strings.Contains(m, "same server_uuid/server_id") && !strings.Contains(m, "same server_id") {
		return ""
	}
	return fmt.Sprintf(" (another replica or etlq process reads this server's binlog with server_id %d: another etlq capture or apply of this source — the same file started twice — or a replica or another source given server_id %d is connected; stop it, or give each source its own, CREATE SOURCE … WITH (server_id = …))", id, id)
}

// classify turns a dump error into the error the user should see.
func (r *binlogReader) classify(err error) error {
	var me *gm.MyError
	if errors.As(err, &me) && me.Code == gm.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		msg := strings.ToLower(me.Message)
		if strings.Contains(msg, "could not find") || strings.Contains(msg, "purged") || strings.Contains(msg, "first log file") {
			return purgedWhileReading(r.safe)
		}
		if sameIDHint(err, r.cfg.src.cfg.ServerID) == "" {
			// The server cannot send its binlog from r.safe: asking again
			// gets the same answer (it used to be asked ~500 times a second).
			what := "the server cannot send its binlog from this position"
			switch {
			case strings.Contains(msg, "middle of event") || strings.Contains(msg, "bogus data") || strings.Contains(msg, "wrong offset"):
				what = "the position is not the start of an event in the server's binlog"
			case strings.Contains(msg, "impossible position") || strings.Contains(msg, "> file size"):
				what = "the position is past the end of the server's binlog file"
			}
			return fatalBinlogError{fmt.Errorf("binlog of %s at %s: %s (server: %s): the checkpoint is damaged, or the binlog was cut short by a server crash; start again with an empty state directory to take a new snapshot",
				r.cfg.src.cfg.Addr(), r.safe, what, strings.TrimRight(firstLine(err), ". "))}
		}
	}
	if errors.As(err, &me) && (me.Code == gm.ER_ACCESS_DENIED_ERROR || me.Code == gm.ER_SPECIFIC_ACCESS_DENIED_ERROR) {
		// The server refuses a dump without REPLICATION SLAVE with "Access
		// denied … (using password: YES)", which reads as a wrong password.
		if g := r.cfg.src.missingReplicationSlave(); g != "" {
			return fatalBinlogError{fmt.Errorf("binlog of %s at %s: %s (server: %s)", r.cfg.src.cfg.Addr(), r.safe, g, firstLine(err))}
		}
	}
	return fmt.Errorf("binlog of %s at %s: %s", r.cfg.src.cfg.Addr(), r.safe, firstLine(err))
}

// fatalBinlogError is a dump error that no reconnect can mend.
type fatalBinlogError struct{ error }

func (e fatalBinlogError) Unwrap() error { return e.error }

// isFatal reports whether a classified dump error ends the stream instead
// of a reconnect: a purged position, or one the server cannot read from.
func isFatal(err error) bool {
	var fe fatalBinlogError
	var lost lostPositionError
	return errors.As(err, &fe) || errors.As(err, &lost) || strings.Contains(err.Error(), "was purged")
}

// loginHint says what to do when the server refuses the login on a
// reconnect: apply checked the same user and password at its start, so
// most likely the password changed on the server since.
func loginHint(err error) string {
	var me *gm.MyError
	if !(errors.As(err, &me) && me.Code == gm.ER_ACCESS_DENIED_ERROR) && !strings.Contains(err.Error(), "ERROR 1045") {
		return ""
	}
	return "the server refused the login that worked when apply started: was the password changed? apply keeps the one it read at its start and retries: set it back, or restart apply with the new one (docs/security.md, \"Rotating a secret\")"
}

// firstLine drops the stack trace go-mysql's errors carry in their text.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// reconnect restarts the dump from the last transaction boundary after a
// connection loss, with exponential back-off. Rows of the open transaction
// that were already queued are skipped when they come again.
func (r *binlogReader) reconnect(ctx context.Context, cause error) error {
	if cerr := r.classify(cause); isFatal(cerr) && !r.placeAfterPurge(ctx, cerr) {
		return cerr
	}
	if r.retries > maxReconnects {
		// Refused again and again right after each reconnect.
		return fmt.Errorf("binlog reconnect failed after %d attempts: %v%s", r.retries, firstLine(cause), sameIDHint(cause, r.cfg.src.cfg.ServerID))
	}
	if id := r.cfg.src.cfg.ServerID; sameIDHint(cause, id) != "" {
		// Two clients with one server_id take the connection from each
		// other, again and again: say who is to blame, not just "lost",
		// and stop after a few.
		now := time.Now()
		kept := r.sameIDLost[:0]
		for _, at := range r.sameIDLost {
			if now.Sub(at) < sameIDWindow {
				kept = append(kept, at)
			}
		}
		r.sameIDLost = append(kept, now)
		if len(r.sameIDLost) >= sameIDLimit {
			return fatalBinlogError{fmt.Errorf("binlog of %s at %s: another replica or etlq process took the binlog connection of server_id %d from this source %d times in %s: two clients cannot share one server_id; another etlq capture or apply of this source (the same file started twice), or a replica or another source given server_id %d, is connected: stop it, or give each source its own, CREATE SOURCE … WITH (server_id = …) (%s)",
				r.cfg.src.cfg.Addr(), r.safe, id, len(r.sameIDLost), now.Sub(r.sameIDLost[0]).Round(time.Millisecond), id, firstLine(cause))}
		}
		r.cfg.log.Warn("binlog connection lost: another replica or etlq process reads this server's binlog with the same server_id; reconnecting",
			"server_id", id, "fix", "stop the other etlq capture or apply of this source (the same file started twice), or give each source its own: CREATE SOURCE … WITH (server_id = …)", "error", firstLine(cause), "position", r.safe.String())
	} else {
		r.cfg.log.Warn("binlog connection lost; reconnecting", "error", firstLine(cause), "position", r.safe.String())
	}
	lostAt := time.Now()
	r.close()
	if r.retries > 0 {
		// No event came since the last reconnect (the server refused the
		// dump right after it began): wait longer each time instead of
		// knocking every 100 ms.
		select {
		case <-time.After(min(100*time.Millisecond<<min(r.retries, 7), 10*time.Second)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, ts := range r.touched {
		if ts.bb != nil {
			ts.bb.release()
			ts.bb = nil
		}
	}
	r.touched = r.touched[:0]
	if r.inTrx && !r.skipping {
		r.em.rewindVersion(r.trxVer)
		r.skip = r.trxSent
	}
	r.inTrx = false
	r.skipping = false // a skipped transaction is skipped again
	r.oneStmt = false
	r.trxSent = 0
	r.held = nil
	r.maps = map[uint64]*tableMap{}
	r.marks = r.marks[:0] // the open transaction comes again
	r.wmKnown = false
	// One reconnect, however many attempts it takes: a server that cannot
	// be reached (down for an upgrade or a long crash recovery, refusing
	// connections, or the login after a password change) is waited for as
	// long as it takes, as ClickHouse is. maxReconnects bounds reconnects
	// the server refuses right after the dump began, with no event in
	// between. (Each failed attempt counted towards it: a MariaDB down for
	// about five minutes stopped the run, "binlog reconnect failed after 31
	// attempts".)
	r.retries++
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r.em.reconnected()
		err := r.start()
		if err == nil {
			// The WARNs above were the last word on the connection: an
			// operator reading the log could not tell that it came back.
			r.cfg.log.Info("binlog reconnected", "position", r.safe.String(), "attempts", attempt, "after", time.Since(lostAt).Round(time.Millisecond))
			return nil
		}
		if isFatal(err) {
			return err
		}
		if hint := loginHint(err); hint != "" {
			r.cfg.log.Warn("binlog reconnect failed", "error", firstLine(err), "retry_in", backoff, "fix", hint)
		} else {
			r.cfg.log.Warn("binlog reconnect failed", "error", firstLine(err), "retry_in", backoff)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		if backoff < 10*time.Second {
			backoff *= 2
		}
	}
}

// placeAfterPurge handles a read position the server purged while the
// reader was away (its connection lost, the server restarted, then FLUSH
// and PURGE BINARY LOGS before the reconnect): where the reader stood
// between transactions and nothing after its position was purged, its
// GTID places it in the binary log that is left (placeCaughtUp), and the
// reconnect goes on from there. Before, the run stopped with "was purged
// on the server while etlq was behind it", etlq being caught up
// (new-user trial). It reports whether it moved the reader.
func (r *binlogReader) placeAfterPurge(ctx context.Context, cerr error) bool {
	var lost lostPositionError
	if !errors.As(cerr, &lost) || r.inTrx || r.gtid == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := r.cfg.src.connect(ctx)
	if err != nil {
		return false
	}
	defer c.Close()
	ms := &markState{File: r.safe.File, Pos: r.safe.Pos, GTID: r.gtidString(), Flavor: r.cfg.flavor}
	pl, ok := placeCaughtUp(c, r.cfg.flavor, ms, r.cfg.opts.skipDomains)
	if !ok || pl.at.pos.cmp(r.safe) <= 0 {
		return false
	}
	r.cfg.log.Warn("the binlog position the reader stood at was purged on the server while it was away, but nothing after it was: its GTID places it in the binlog that is left, and the reader goes on from there",
		"position", r.safe.String(), "gtid", ms.GTID, "place", pl.at.pos.String())
	r.safe, r.cur = pl.at.pos, pl.at.pos
	r.skips = append(r.skips, pl.at.skips...)
	return true
}
