package natslog

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// How far a group of workers has applied the log, in source positions
// (etlq verify --log): the workers' state directories hold delivery
// numbers, not positions. A source position is applied when every message
// up to the first one whose Etlq-Resume reached it is acknowledged in every
// partition: the capture publishes in order, and a batch's position is on
// its last message, after every other piece is stored.

// PositionSeq returns the stream sequence of the first message whose
// resume position reached says is at or after the position sought (0:
// none yet, the capture has not published that far). It reads the stream
// back from its end, down to the last message with a position before.
func (l *Log) PositionSeq(source string, reached func(resume []byte) (bool, error)) (uint64, error) {
	n := l.names(source)
	info, err := l.streamInfo(n)
	if err != nil {
		return 0, fmt.Errorf("log: %w", err)
	}
	var found uint64
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0; seq-- {
		m, err := l.msg(n, seq)
		if errors.Is(err, nats.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("log: %w", err)
		}
		h := m.Header.Get(hdrResume)
		if h == "" {
			continue
		}
		state, err := decodeResume(h)
		if err != nil {
			return 0, err
		}
		ok, err := reached(state)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		found = seq
	}
	return found, nil
}

// AckedThrough says whether the group's workers acknowledged every message
// of every partition up to stream sequence seq, and if not, which
// partition lags and how far.
func (l *Log) AckedThrough(source, group string, seq uint64) (bool, string, error) {
	if group == "" {
		group = "apply"
	}
	parts, _, err := l.partitions(source)
	if err != nil {
		return false, "", err
	}
	n := l.names(source)
	for p := range parts {
		cs, err := l.waitConsumers(n, group, p)
		if err != nil {
			return false, "", fmt.Errorf("log: %w", err)
		}
		var acked uint64
		for _, ci := range cs {
			acked = max(acked, ackedUpTo(ci))
		}
		if acked >= seq {
			continue
		}
		// The partition's first message not acknowledged: after seq, or none.
		m, err := l.msg(n, acked+1, nats.DirectGetNext(n.partFilter(p)))
		if errors.Is(err, nats.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return false, "", fmt.Errorf("log: partition %d: %w", p, err)
		}
		if m.Sequence > seq {
			continue
		}
		return false, fmt.Sprintf("partition %d of group %s: acknowledged up to message %d, message %d of it not yet (the position is at message %d)", p, group, acked, m.Sequence, seq), nil
	}
	return true, "", nil
}

// StartResume is the position where group's workers start in the log:
// that of the last message carrying one (Etlq-Resume: a batch's last
// message, or the stream's start on the control subject) before the first
// message that a partition of the group has not acknowledged — every
// message before it is acknowledged in every partition. Its tables'
// schemas are those the first messages the workers read were captured
// with, up to the next DDL in the log: a worker plans its pipelines from
// them (engine.LogStartMarks), as apply plans from its checkpoint. Nil:
// no stream, or no position before that message (the stream's retention
// dropped it).
func (l *Log) StartResume(source, group string) ([]byte, error) {
	if group == "" {
		group = "apply"
	}
	parts, info, err := l.partitions(source)
	if errors.Is(err, nats.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n := l.names(source)
	start := info.State.LastSeq + 1
	for p := range parts {
		cs, err := l.waitConsumers(n, group, p)
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		var acked uint64
		for _, ci := range cs {
			acked = max(acked, ackedUpTo(ci))
		}
		m, err := l.msg(n, acked+1, nats.DirectGetNext(n.partFilter(p)))
		if errors.Is(err, nats.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("log: partition %d: %w", p, err)
		}
		start = min(start, m.Sequence)
	}
	for seq := start - 1; seq >= info.State.FirstSeq && seq > 0; seq-- {
		m, err := l.msg(n, seq)
		if errors.Is(err, nats.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		if h := m.Header.Get(hdrResume); h != "" {
			return decodeResume(h)
		}
	}
	return nil, nil
}
