package mysql

import (
	"context"
	"encoding/json"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.PositionSource = (*Source)(nil)

// CurrentMark returns the server's current binlog position as a mark
// state (file and offset only): `etlq verify` waits until a pipeline's
// checkpoint reaches it before it trusts a difference.
func (s *Source) CurrentMark(ctx context.Context) ([]byte, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pos, _, err := masterStatus(c, s.cfg.Flavor)
	if err != nil {
		return nil, err
	}
	return json.Marshal(markState{File: pos.File, Pos: pos.Pos, Flavor: s.cfg.Flavor})
}

// MarkReached reports whether the checkpoint mark state mark is at or after
// the position of the mark state at (binlog file sequence, then offset).
func (s *Source) MarkReached(mark, at []byte) (bool, error) {
	m, err := decodeState(mark)
	if err != nil {
		return false, err
	}
	a, err := decodeState(at)
	if err != nil {
		return false, err
	}
	return binlogPos{File: m.File, Pos: m.Pos}.cmp(binlogPos{File: a.File, Pos: a.Pos}) >= 0, nil
}
