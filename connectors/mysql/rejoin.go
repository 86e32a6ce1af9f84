package mysql

import (
	"encoding/json"
	"fmt"

	"github.com/etlq/etlq/connectors"
)

// A pipeline that stopped alone rejoins the source's stream
// (exec/engine/rejoin.go): its own stream catches up with the source's
// checkpoint (StreamRequest.Until), then its checkpoint is joined into the
// source's. Both are positions of the one binlog of the server.

var _ connectors.MarkJoiner = (*Source)(nil)

// CompareMarks orders two checkpoints of this source by binlog position
// (connectors.MarkJoiner). Checkpoints taken on different servers, or
// while a table's snapshot was in progress (whose chunks are placed by
// the stream that reads them, not by the binlog alone), are not ordered.
func (s *Source) CompareMarks(a, b []byte) (int, error) {
	x, y, err := decodeStates(a, b)
	if err != nil {
		return 0, err
	}
	if x.ident().known() && y.ident().known() && x.ident() != y.ident() {
		return 0, fmt.Errorf("the checkpoints were taken on different servers (%s, %s)", x.ident(), y.ident())
	}
	for _, m := range []*markState{x, y} {
		for key, ss := range m.Snapshot {
			if !ss.Done {
				return 0, fmt.Errorf("the snapshot of %s is in progress at %s:%d", key, m.File, m.Pos)
			}
		}
	}
	return binlogPos{File: x.File, Pos: x.Pos}.cmp(binlogPos{File: y.File, Pos: y.Pos}), nil
}

// JoinMarks returns into with the tables from streams and into does not
// (their schema history at the position, their snapshot progress) and the
// larger version counter (connectors.MarkJoiner). Both must be at one
// position.
func (s *Source) JoinMarks(into, from []byte) ([]byte, error) {
	x, y, err := decodeStates(into, from)
	if err != nil {
		return nil, err
	}
	if c := (binlogPos{File: x.File, Pos: x.Pos}).cmp(binlogPos{File: y.File, Pos: y.Pos}); c != 0 {
		return nil, fmt.Errorf("cannot join checkpoints at different positions (%s:%d, %s:%d)", x.File, x.Pos, y.File, y.Pos)
	}
	streamed := map[connectors.TableRef]bool{}
	shadowed := map[connectors.TableRef]bool{}
	// waited: tables read by name one of the streams waits for
	// (table.Waiting); a stream that has the table again wins.
	waited := map[connectors.TableRef]bool{}
	for _, t := range x.Schemas {
		switch {
		case t.Shadow:
			shadowed[t.Ref] = true
		case t.Waiting:
			waited[t.Ref] = true
		default:
			streamed[t.Ref] = true
		}
	}
	for _, t := range y.Schemas {
		switch {
		case t.Waiting:
			if !shadowed[t.Ref] && !streamed[t.Ref] && !waited[t.Ref] {
				x.Schemas = append(x.Schemas, t)
				waited[t.Ref] = true
			}
		case t.Shadow && !shadowed[t.Ref] && !streamed[t.Ref]:
			x.Schemas = append(x.Schemas, t)
			shadowed[t.Ref] = true
		case !t.Shadow && !streamed[t.Ref]:
			if shadowed[t.Ref] || waited[t.Ref] {
				// The joined stream streams it: its shadow, or the
				// schema it was waited for with, goes.
				kept := x.Schemas[:0]
				for _, u := range x.Schemas {
					if !((u.Shadow || u.Waiting) && u.Ref == t.Ref) {
						kept = append(kept, u)
					}
				}
				x.Schemas = kept
				delete(waited, t.Ref)
			}
			x.Schemas = append(x.Schemas, t)
			streamed[t.Ref] = true
			if ss, ok := y.Snapshot[t.Ref.String()]; ok {
				if x.Snapshot == nil {
					x.Snapshot = map[string]*snapState{}
				}
				if _, has := x.Snapshot[t.Ref.String()]; !has {
					x.Snapshot[t.Ref.String()] = ss
				}
			}
		}
	}
	x.Version = max(x.Version, y.Version)
	return json.Marshal(x)
}

// ForgetTables returns m without the schemas and snapshot progress of
// tables (connectors.MarkJoiner): a stream resumed from it reads their
// schema of now and follows them from where it read it.
func (s *Source) ForgetTables(m []byte, tables []connectors.TableRef) ([]byte, error) {
	x, err := decodeState(m)
	if err != nil {
		return nil, err
	}
	forget := map[connectors.TableRef]bool{}
	for _, t := range tables {
		forget[t] = true
		delete(x.Snapshot, t.String())
	}
	kept := x.Schemas[:0]
	for _, t := range x.Schemas {
		if !forget[t.Ref] {
			kept = append(kept, t)
		}
	}
	x.Schemas = kept
	return json.Marshal(x)
}

// decodeStates decodes two mark states.
func decodeStates(a, b []byte) (*markState, *markState, error) {
	x, err := decodeState(a)
	if err != nil {
		return nil, nil, err
	}
	y, err := decodeState(b)
	if err != nil {
		return nil, nil, err
	}
	return x, y, nil
}
