package natslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// A server that does not answer for a while (docs/scale-out.md, "A busy
// or restarting server"). Every JetStream request waits at most the
// client's 5 s for its answer; on a loaded machine, or while the server
// restarts or recovers its streams, one may take longer. The requests the
// capture and the workers make to start (stream and bucket lookups, the
// pipelines recorded in the log, the group's floor, the leases) go
// through Log.wait, which tries a request again with back-off while the
// server is away (timeouts, no connection, no JetStream responder yet)
// and gives up on a real error, naming what it was doing and the server.
// Before, a single JetStream request that took more than 5 s at a
// worker's start stopped it with `etlq: context deadline exceeded`, which
// said neither what it waited for nor where (a CI run at load 19).

// openPatience is how long a Log made by Open (etlq status, resnapshot,
// verify: commands that end) waits for a server that does not answer
// before it gives up. A Log made by Dial (the capture and the workers)
// waits until its context ends.
const openPatience = time.Minute

// noJetStreamPatience is how long a request that no JetStream responder
// answers is tried again: a server starting (or electing a stream's
// leader) has none for a moment; one run without JetStream (no -js) has
// none for good.
var noJetStreamPatience = 30 * time.Second

// waitWarnEvery is how often a request tried again says so (WARN).
const waitWarnEvery = 15 * time.Second

// away reports whether err is the server not answering for now — a
// request that timed out, a connection lost or being made again, no
// JetStream responder yet — rather than its answer: the request is worth
// trying again. A connection closed for good is not, nor a server whose
// JetStream storage is full (it answers 503 too): the caller says what
// to do about it.
func away(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) || storageFull(err) {
		return false
	}
	return transient(err)
}

// noJetStream reports whether err is no JetStream responder answering.
func noJetStream(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrNoStreamResponse)
}

// wait runs op until it succeeds or fails with an error that is not the
// server being away (away), or the log's patience runs out (Open's: a
// minute; Dial's: until its context ends). what names what op asks for
// ("the JetStream stream \"etlq_s\""): every error it returns says it and
// the server, and while it tries again it says so every waitWarnEvery.
// op's own errors are wrapped (%w): errors.Is still tells
// nats.ErrStreamNotFound, nats.ErrKeyNotFound … apart.
func (l *Log) wait(what string, op func() error) error {
	start := time.Now()
	delay := 100 * time.Millisecond
	var warned time.Time
	for {
		err := op()
		if err == nil {
			return nil
		}
		ctx := l.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s at %s: %w", what, l.server, context.Cause(ctx))
		}
		if !away(err) {
			return fmt.Errorf("%s at %s: %w", what, l.server, err)
		}
		waited := time.Since(start)
		if noJetStream(err) && waited >= noJetStreamPatience {
			return fmt.Errorf("waiting for %s at %s: no JetStream answered for %s (is JetStream enabled on the server, nats-server -js?): %w",
				what, l.server, waited.Round(time.Second), err)
		}
		if l.patience > 0 && waited >= l.patience {
			return fmt.Errorf("waiting for %s at %s: the server did not answer for %s: %w", what, l.server, waited.Round(time.Second), err)
		}
		if time.Since(warned) >= waitWarnEvery && l.log != nil {
			l.log.Warn("log: the NATS server does not answer; trying again", "waiting_for", what, "server", l.server,
				"error", err.Error(), "waited", waited.Round(time.Millisecond).String())
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s at %s: %w", what, l.server, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// waitFor is wait for an op that returns a value.
func waitFor[T any](l *Log, what string, op func() (T, error)) (T, error) {
	var v T
	err := l.wait(what, func() error {
		var err error
		v, err = op()
		return err
	})
	return v, err
}

// unreachable reports whether a failed connection is the server not
// there or not answering yet (refused, timed out, cut), rather than a
// real error (TLS, authorization, a host name that does not resolve).
func unreachable(err error) bool {
	var ne net.Error
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &ne) && ne.Timeout()
}
