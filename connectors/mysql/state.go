package mysql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

// binlogPos is a binlog file and byte offset.
type binlogPos struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
}

func (p binlogPos) String() string { return p.File + ":" + strconv.FormatUint(uint64(p.Pos), 10) }

func (p binlogPos) isZero() bool { return p.File == "" }

// fileSeq returns the numeric suffix of a binlog file name.
func fileSeq(f string) int64 {
	i := strings.LastIndexByte(f, '.')
	n, err := strconv.ParseInt(f[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// cmp orders positions: by file sequence number, then offset.
func (p binlogPos) cmp(q binlogPos) int {
	if p.File != q.File {
		a, b := fileSeq(p.File), fileSeq(q.File)
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
		return strings.Compare(p.File, q.File)
	}
	switch {
	case p.Pos < q.Pos:
		return -1
	case p.Pos > q.Pos:
		return 1
	}
	return 0
}

// parsePos parses "file:pos".
func parsePos(s string) (binlogPos, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return binlogPos{}, false
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil || fileSeq(s[:i]) < 0 {
		return binlogPos{}, false
	}
	return binlogPos{File: s[:i], Pos: uint32(n)}, true
}

// markState is the JSON of a Mark: everything a stream needs to resume at a
// transaction boundary.
type markState struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	// GTID is the server's GTID set at that position (MariaDB
	// "domain-server-seq,…" or MySQL "uuid:1-5,…"), when known.
	GTID   string `json:"gtid,omitempty"`
	Flavor string `json:"flavor"`
	// ServerID and ServerUUID (MySQL) name the server the position was
	// read on: a file and offset are one server's own. Checkpoints written
	// before they were recorded have neither.
	ServerID   uint32 `json:"server_id,omitempty"`
	ServerUUID string `json:"server_uuid,omitempty"`
	// Skip lists, for GTID domains whose transactions in this server's
	// binlog after File:Pos the stream has not to deliver, where they
	// end: a checkpoint of another server resumed here (each domain from
	// its own GTID on, as a MariaDB replica resumes), or a domain
	// skip_gtid_domains names.
	Skip []domainSkip `json:"gtid_skip,omitempty"`
	// Version is the next _version the stream assigns.
	Version uint64 `json:"version"`
	// Schemas are the schemas of the streamed tables at this position.
	Schemas []*table `json:"schemas,omitempty"`
	// Snapshot is the snapshot progress of each table being snapshotted
	// ("db.table" → progress); a table absent here and asked with SNAPSHOT
	// initial has not started.
	Snapshot map[string]*snapState `json:"snapshot,omitempty"`
	// XA are the prepared XA transactions at this position, by xid as
	// logged, with the streamed tables each wrote (xa.go): a resume reads
	// them again at the transaction's XA ROLLBACK.
	XA map[string][]connectors.TableRef `json:"xa_prepared,omitempty"`
}

// domainSkip: the transactions of GTID domain Domain that begin before
// File:Pos are not delivered (they were read on another server, or the
// user chose to skip them).
type domainSkip struct {
	Domain uint32 `json:"domain"`
	File   string `json:"file"`
	Pos    uint32 `json:"pos"`
}

func (d domainSkip) at() binlogPos { return binlogPos{File: d.File, Pos: d.Pos} }

// ident is the identity of the server the checkpoint was taken on.
func (s *markState) ident() serverIdent {
	return serverIdent{ID: s.ServerID, UUID: s.ServerUUID}
}

// serverIdent is a server's identity: @@server_id, and @@server_uuid on
// MySQL. A server_id of 0 counts as unknown: such a server cannot serve a
// binlog dump, so no checkpoint is taken on one.
type serverIdent struct {
	ID   uint32
	UUID string
}

func (i serverIdent) known() bool { return i.ID != 0 || i.UUID != "" }

func (i serverIdent) String() string {
	s := "server_id " + strconv.FormatUint(uint64(i.ID), 10)
	if i.UUID != "" {
		s += ", server_uuid " + i.UUID
	}
	return s
}

// sameServer reports whether a checkpoint taken on server cp may resume by
// its binlog file and position on server cur. A checkpoint that recorded no
// identity may (it resumes as before identities were recorded). MySQL's
// server_uuid decides when both have one; otherwise server_id does, which
// replication keeps distinct among a primary and its replicas.
func sameServer(cp, cur serverIdent) bool {
	if !cp.known() {
		return true
	}
	if cp.UUID != "" && cur.UUID != "" {
		return cp.UUID == cur.UUID
	}
	return cp.ID == cur.ID
}

// readServerIdent reads the identity of the server c is connected to.
func readServerIdent(c *client.Conn, flavor string) (serverIdent, error) {
	r, err := c.Execute("SELECT @@GLOBAL.server_id")
	if err != nil {
		return serverIdent{}, fmt.Errorf("read the server's identity (@@server_id): %v", err)
	}
	id, _ := r.GetUint(0, 0)
	ident := serverIdent{ID: uint32(id)}
	if flavor != "mariadb" {
		// MySQL 5.6 and later; MariaDB has none.
		if r, err := c.Execute("SELECT @@GLOBAL.server_uuid"); err == nil {
			ident.UUID, _ = r.GetString(0, 0)
		}
	}
	return ident, nil
}

// snapState is one table's snapshot progress.
type snapState struct {
	Done bool `json:"done,omitempty"`
	// Ranges are the completed key ranges (lo, hi], merged where adjacent; a
	// nil bound is unbounded. Bounds are SQL literals of the key columns.
	Ranges []keyRange `json:"ranges,omitempty"`
	// Older, when set, makes the snapshot a re-read in place: the table
	// replaced another of its name at an online schema change's cut-over
	// (lifecycle.go, joins), whose rows stay in the targets meanwhile.
	// At its end, the keys whose live row is older than this version
	// (reserved at the cut-over) were not read again nor changed since:
	// they leave upsert targets.
	Older uint64 `json:"older_than,omitempty"`
	// TypeChange: the re-read in place follows a type change of the table
	// its targets took with a column of a type that holds both
	// (rebuild.go, followReread), not a cut-over (for its messages).
	TypeChange bool `json:"type_change,omitempty"`
	// RowsWhy: the re-read in place follows a statement that changed the
	// table's rows without row events (rows_ddl.go), named for messages.
	RowsWhy string `json:"rows_why,omitempty"`
}

// keyRange is a primary key range (Lo, Hi]; nil is unbounded.
type keyRange struct {
	Lo []string `json:"lo"`
	Hi []string `json:"hi"`
}

func keyEq(a, b []string) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// addRange records a completed range, merging it with adjacent ones.
func (s *snapState) addRange(r keyRange) {
	s.Ranges = append(s.Ranges, r)
	for merged := true; merged; {
		merged = false
		for i := range s.Ranges {
			for j := range s.Ranges {
				if i != j && s.Ranges[i].Hi != nil && keyEq(s.Ranges[i].Hi, s.Ranges[j].Lo) {
					s.Ranges[i].Hi = s.Ranges[j].Hi
					s.Ranges = append(s.Ranges[:j], s.Ranges[j+1:]...)
					merged = true
					break
				}
			}
			if merged {
				break
			}
		}
	}
}

// SchemaAt returns ref's schema in the schema history of a mark state
// (connectors.MarkSchemas): the schema a stream resumed there decodes the
// table's changes with, up to the next DDL of it. A shadow (a helper
// table's schema) or a schema marked stale is none.
func (s *Source) SchemaAt(mark []byte, ref connectors.TableRef) (*connectors.TableSchema, error) {
	// The planner asks for every table of a pattern at one mark: it is
	// decoded once.
	s.atMu.Lock()
	m := s.atState
	if m == nil || !bytes.Equal(s.atMark, mark) {
		var err error
		if m, err = decodeState(mark); err != nil {
			s.atMu.Unlock()
			return nil, err
		}
		s.atMark, s.atState = append([]byte(nil), mark...), m
	}
	s.atMu.Unlock()
	for _, t := range m.Schemas {
		if t.Ref == ref && !t.Shadow && t.Stale == "" {
			return t.tableSchema(), nil
		}
	}
	return nil, nil
}

// SnapshotStarted reports whether the snapshot of ref has started or ended
// at a mark state (connectors.SnapshotMarker): a stream resumed there reads
// only the rest of it, or nothing.
func (s *Source) SnapshotStarted(mark []byte, ref connectors.TableRef) (bool, error) {
	m, err := decodeState(mark)
	if err != nil {
		return false, err
	}
	_, ok := m.Snapshot[ref.String()]
	return ok, nil
}

// EndSnapshots returns mark with the snapshot of each table of refs it
// has not started recorded as ended (connectors.SnapshotEnder); every
// other member stays as it was (not decoded into the state's types and
// encoded again: a member this build does not know stays).
func (s *Source) EndSnapshots(mark []byte, refs []connectors.TableRef) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(mark, &fields); err != nil {
		return nil, fmt.Errorf("invalid mysql checkpoint state: %v", err)
	}
	snap := map[string]json.RawMessage{}
	if raw, ok := fields["snapshot"]; ok {
		if err := json.Unmarshal(raw, &snap); err != nil {
			return nil, fmt.Errorf("invalid mysql checkpoint state: %v", err)
		}
	}
	changed := false
	for _, ref := range refs {
		if _, ok := snap[ref.String()]; !ok {
			snap[ref.String()] = json.RawMessage(`{"done":true}`)
			changed = true
		}
	}
	if !changed {
		return mark, nil
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	fields["snapshot"] = b
	return json.Marshal(fields)
}

func decodeState(b []byte) (*markState, error) {
	var s markState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("invalid mysql checkpoint state: %v", err)
	}
	return &s, nil
}
