package mysql

import (
	"context"
	"io"
	"log/slog"
)

// CheckpointPlace says whether the checkpoint state (a Mark's State) of
// another server can be placed in this server's binary log by its GTID,
// as apply's resume places it (resumeStart): nil when it can, or when the
// checkpoint is this server's (its purged file is BinlogExpiry's); the
// resume's lost-position error otherwise (connectors.ErrPositionLost: a
// replica that has not replicated the checkpoint's GTID yet, a diverged
// history, a checkpoint without GTID). etlq check said ok for such a
// checkpoint, which apply then refused (failover trial).
func (s *Source) CheckpointPlace(ctx context.Context, state []byte) error {
	if state == nil {
		return nil
	}
	cp, err := decodeState(state)
	if err != nil {
		return err
	}
	if cp.File == "" && cp.GTID == "" {
		return nil // (a checkpoint of SNAPSHOT only pipelines)
	}
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	cur, err := readServerIdent(c, s.cfg.Flavor)
	if err != nil || sameServer(cp.ident(), cur) {
		return nil
	}
	st := &stream{}
	st.src, st.flavor, st.ident = s, s.cfg.Flavor, cur
	st.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := st.parseOpts(); err != nil {
		return nil // (reported where the options are checked)
	}
	_, err = st.resumeStart(c, cp)
	return err
}

// CheckpointServer compares the server a checkpoint state (a Mark's
// State) was taken on, by the identity it recorded (server_uuid on
// MySQL when both sides have one, else server_id: sameServer), with the
// server this source connects to. Known is false when the checkpoint
// recorded none (an older etlq's): then nothing can be told. A source
// renamed in the file finds the checkpoint of its old name this way
// (exec/engine, SourceRenames).
func (s *Source) CheckpointServer(ctx context.Context, state []byte) (*ServerMatch, error) {
	cp, err := decodeState(state)
	if err != nil {
		return nil, err
	}
	m := &ServerMatch{Checkpoint: cp.ident().String()}
	if !cp.ident().known() {
		return m, nil
	}
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cur, err := readServerIdent(c, s.cfg.Flavor)
	if err != nil {
		return nil, err
	}
	m.Known, m.Same, m.Current = true, sameServer(cp.ident(), cur), cur.String()
	return m, nil
}

// ServerMatch is what CheckpointServer found.
type ServerMatch struct {
	// Known: the checkpoint recorded its server's identity; Same: it is
	// the server the source connects to.
	Known, Same bool
	// Checkpoint and Current name both servers ("server_id 25").
	Checkpoint, Current string
}
