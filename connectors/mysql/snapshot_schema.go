package mysql

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

// liveSchema makes ch read the table's columns as the server has them in
// the chunk's read view (taken before this is called), not as the stream's
// schema history had them when the chunk was planned: the history of a
// resumed snapshot is the checkpoint's, and a DDL made while etlq was
// stopped (or behind) is already in every row the read view shows. Read
// with the old column list, a column added since would come out NULL
// instead of the value MySQL holds (its DEFAULT, or what a later write
// put there). The chunk's batches carry the columns read (finishRecord),
// placed at the chunk's position, which is after that DDL.
//
// A DDL after the read view and before the SELECT fails the SELECT
// (InnoDB: "Table definition has changed"), and the chunk is read again.
func (s *snapshotter) liveSchema(c *client.Conn, ch *chunk) error {
	ref := ch.ts.ref
	var sig string
	if g := ch.grp; g != nil && g.open && g.conn == c && g.sigs[ch.ts] != "" {
		// Read for the group, in its read view (snapshot_group.go): a DDL
		// since then fails the SELECT, as after the query below.
		sig = g.sigs[ch.ts]
	} else {
		sigs, err := columnSigs(c, []connectors.TableRef{ref})
		if err != nil {
			return fmt.Errorf("describe %s: %w", ref, err)
		}
		var ok bool
		if sig, ok = sigs[ref]; !ok {
			// Gone (dropped, renamed away): the chunk's SELECT fails
			// with the server's error, which tableGone knows.
			return nil
		}
	}
	if sig == columnSig(ch.t) {
		return nil
	}
	var err error
	s.mu.Lock()
	live := s.live[ch.ts]
	s.mu.Unlock()
	if live == nil || columnSig(live) != sig {
		if live, err = readTable(c, ref); err != nil {
			if strings.HasSuffix(err.Error(), "does not exist") {
				return nil // gone meanwhile: as above
			}
			return err
		}
	}
	if err := sameChunkKey(ch, live); err != nil {
		return err
	}
	markAdded(ch.t, live)
	s.mu.Lock()
	if s.live == nil {
		s.live = map[*tableState]*table{}
	}
	s.live[ch.ts] = live
	ch.t = live
	s.mu.Unlock()
	return nil
}

// markAdded marks the columns of live that old (the schema the chunk was
// planned with) lacks as added by a DDL (exec.MetaAddedByDDL), as the
// binlog reader marks those of a DDL it reads: a chunk read after an ADD
// COLUMN made while etlq runs (or is stopped, or behind) carries the
// column before the reader reaches the DDL, and a sink took it for one
// its table had lost ("dropped outside etlq") and stopped the pipeline.
func markAdded(old, live *table) {
	had := map[string]bool{}
	for _, c := range old.Cols {
		had[strings.ToLower(c.Name)] = true
	}
	for _, c := range live.Cols {
		if !had[strings.ToLower(c.Name)] {
			c.Added = true
		}
	}
}

// columnSig is what liveSchema compares of a schema with the server's.
func columnSig(t *table) string {
	var sig strings.Builder
	for _, c := range t.Cols {
		sig.WriteString(colSig(c.Name, c.ColumnType, c.Nullable, c.Charset))
	}
	return sig.String()
}

// sameChunkKey checks that a chunk planned on the key of ch.t can be read
// with the table's live schema: the same key columns, of the same kind or
// (an integer widened) both integers, since the chunk's range is bounds of
// that key.
func sameChunkKey(ch *chunk, live *table) error {
	if err := sameKey(ch.t, live); err != nil {
		return fmt.Errorf("the key of %s changed since its snapshot was planned%s: re-snapshot the table (etlq resnapshot)", ch.ts.key, err.Error())
	}
	return nil
}

// sameKey checks that rows can be ordered by the key of old in live: the
// same key columns, of the same kind or both integers.
func sameKey(old, live *table) error {
	if len(old.Key) != len(live.Key) {
		return fmt.Errorf(" (%s, now %s)", keyNames(old), keyNames(live))
	}
	for i, k := range old.Key {
		a, b := old.Cols[k], live.Cols[live.Key[i]]
		if a.Name != b.Name || a.Kind != b.Kind && !(isIntKind(a.Kind) && isIntKind(b.Kind)) {
			return fmt.Errorf(": column %q was %s, now %q %s", a.Name, a.ColumnType, b.Name, b.ColumnType)
		}
	}
	return nil
}

func keyNames(t *table) string {
	var out []string
	for _, k := range t.Key {
		out = append(out, t.Cols[k].Name)
	}
	return "(" + strings.Join(out, ", ") + ")"
}

func isIntKind(k kind) bool { return k >= kInt8 && k <= kUint64 }
