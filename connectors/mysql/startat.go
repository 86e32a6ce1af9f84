package mysql

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// positionAt finds where the first transaction that began at or after ts
// starts (start_at = 'YYYY-MM-DD HH:MM:SS', UTC; binlog event times have
// whole seconds). The binlog files are
// listed; the last one created at or before ts is read event by event (and
// the ones after it) until a transaction begins at or after ts. When none
// does, the stream starts at the current end of the binlog.
func (st *stream) positionAt(c *client.Conn, ts time.Time) (binlogPos, string, error) {
	end, _, err := masterStatus(c, st.flavor)
	if err != nil {
		return binlogPos{}, "", err
	}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil || logs.RowNumber() == 0 {
		return binlogPos{}, "", fmt.Errorf("start_at = %q: cannot list binary logs: %v", ts.Format(time.DateTime), err)
	}
	files := make([]string, logs.RowNumber())
	for i := range files {
		files[i], _ = logs.GetString(i, 0)
	}
	want := uint32(ts.Unix())
	first := 0
	for i := len(files) - 1; i > 0; i-- {
		created, err := st.firstEventTime(files[i])
		if err != nil {
			return binlogPos{}, "", fmt.Errorf("start_at = %q: %v", ts.Format(time.DateTime), err)
		}
		if created <= want {
			first = i
			break
		}
	}
	if first == 0 {
		if created, err := st.firstEventTime(files[0]); err == nil && created > want {
			return binlogPos{}, "", fmt.Errorf("start_at = %q: the oldest binary log on the server (%s) begins later; changes before it were purged", ts.Format(time.DateTime), files[0])
		}
	}
	return st.scanFor(binlogPos{File: files[first], Pos: 4}, end, want)
}

// timeSyncer opens a short-lived binlog connection for position look-ups,
// with a replica id of its own so it never displaces a running stream.
func (st *stream) timeSyncer() *replication.BinlogSyncer {
	cfg := st.src.cfg
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:                cfg.ServerID ^ 0x40000000,
		Flavor:                  st.flavor,
		Host:                    cfg.Host,
		Port:                    cfg.Port,
		User:                    cfg.User,
		Password:                cfg.Password,
		TLSConfig:               st.src.binlogTLS(),
		Charset:                 "utf8mb4",
		RawModeEnabled:          true,
		TimestampStringLocation: time.UTC,
		DisableRetrySync:        true,
		Logger:                  slog.New(slog.DiscardHandler),
	})
}

// firstEventTime returns when a binlog file was started: the timestamp of
// its format description event.
func (st *stream) firstEventTime(file string) (uint32, error) {
	s := st.timeSyncer()
	defer s.Close()
	bs, err := s.StartSync(gm.Position{Name: file, Pos: 4})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		e, err := bs.GetEvent(ctx)
		if err != nil {
			return 0, fmt.Errorf("read %s: %v", file, err)
		}
		// The first event sent is a rotate to the file, with no time.
		if e.Header.Timestamp != 0 {
			return e.Header.Timestamp, nil
		}
	}
}

// scanFor reads from pos until a transaction begins at or after want (unix
// seconds) and returns where it begins; end is the binlog's current end.
func (st *stream) scanFor(pos, end binlogPos, want uint32) (binlogPos, string, error) {
	s := st.timeSyncer()
	defer s.Close()
	bs, err := s.StartSync(gm.Position{Name: pos.File, Pos: pos.Pos})
	if err != nil {
		return binlogPos{}, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	file := pos.File
	for {
		if (binlogPos{File: file, Pos: pos.Pos}).cmp(end) >= 0 {
			return end, "", nil
		}
		e, err := bs.GetEvent(ctx)
		if err != nil {
			return binlogPos{}, "", fmt.Errorf("start_at: reading %s: %v", file, err)
		}
		h := e.Header
		switch h.EventType {
		case replication.ROTATE_EVENT:
			if re, ok := e.Event.(*replication.RotateEvent); ok {
				file, pos.Pos = string(re.NextLogName), uint32(re.Position)
			}
			continue
		case replication.MARIADB_GTID_EVENT, replication.GTID_EVENT, replication.ANONYMOUS_GTID_EVENT:
			if h.Timestamp >= want && h.LogPos >= h.EventSize {
				return binlogPos{File: file, Pos: h.LogPos - h.EventSize}, "", nil
			}
		}
		if h.LogPos > 0 {
			pos.Pos = h.LogPos
		}
	}
}

// gtidPageRows is how many events one SHOW BINLOG EVENTS query of the GTID
// look-up reads. Rows are streamed, so memory does not grow with it; the
// look-up stops at the end of the page where it found what it wanted.
const gtidPageRows = 20000

// gtidPosition maps start_at = a MariaDB GTID position to the binlog
// position the stream starts from. One GTID is a point of the binlog: the
// stream starts where the next transaction after that GTID's begins (its
// Gtid event) when one follows in the same file, the start of the next
// file when it was the file's last, the end of the binlog when it was the
// last of all. A GTID matches by domain and sequence number (the server id
// is not compared, except that another server's transaction with the
// sequence number is a diverged history).
//
// A GTID set of several domains ('0-1-100,1-2-7', as @@gtid_binlog_pos
// reads) is a replica's GTID position, placed domain by domain as a
// MariaDB primary places it and as a checkpoint resumes on another server
// (placeByDomain): each domain from its own GTID on, whatever the order
// this server's binlog wrote the domains in (a replica promoted after a
// failover wrote its primary's domains in the order it applied them), so
// the stream starts at the earliest of those places and skips, in each
// domain, the transactions up to its own. A domain the set does not name
// with transactions before the latest place is read from its first
// transaction, as a replica given that position reads it, or skipped when
// skip_gtid_domains names it; when its first transactions were purged the
// start is refused, naming it.
//
// Every MariaDB binlog file begins with a Gtid_list event: the GTID state
// before the file (the last GTID of every domain and server). Sequence
// numbers grow within a domain, so the file holding d-s-n is the last one
// whose list has no sequence number of domain d at or past n. That file is
// found by a binary search over the first events of the files, and only it
// is read, in pages of SHOW BINLOG EVENTS. (A MariaDB primary finds a
// replica's GTID in its binlog the same way.) A binlog whose sequence
// numbers go back within a domain (gtid_strict_mode = OFF and a lowered
// gtid_seq_no) can hide a GTID from this search: it is then reported as not
// in the binlog, and 'file:pos' is the way to start there.
func (st *stream) gtidPosition(c *client.Conn, gtid string) (resumePlace, error) {
	want, err := parseGTIDStart(gtid)
	if err != nil {
		return resumePlace{}, fmt.Errorf("start_at = %q: %v", gtid, err)
	}
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return resumePlace{}, fmt.Errorf("start_at = %q: cannot list binary logs: %v", gtid, err)
	}
	files := make([]string, logs.RowNumber())
	for i := range files {
		files[i], _ = logs.GetString(i, 0)
	}
	if len(want) == 1 {
		p, err := findGTIDPosition(c, files, gtid)
		if err != nil {
			return resumePlace{}, fmt.Errorf("start_at = %q: %v", gtid, err)
		}
		return resumePlace{pos: p, gtid: gtid}, nil
	}
	if len(files) == 0 {
		return resumePlace{}, fmt.Errorf("start_at = %q: the server has no binary logs", gtid)
	}
	pl, err := placeByDomain(newGTIDFinder(c, files), want, gtid, st.opts.skipDomains)
	if err != nil {
		return resumePlace{}, fmt.Errorf("start_at = %q: %v", gtid, err)
	}
	if len(pl.purged) > 0 {
		return resumePlace{}, fmt.Errorf("start_at = %q: before the place of its last domain (%s), this server's binlog has transactions of GTID domains the set does not name (last: %s): etlq reads such a domain from its first transaction, as a MariaDB replica given that GTID position would, and the first transactions of %s were purged (the oldest binary log, %s, begins after them); give those domains' GTIDs in start_at too (@@gtid_binlog_pos names every domain), or set skip_gtid_domains = '%s' to start without reading them",
			gtid, pl.last, strings.Join(append(append(append([]string(nil), pl.read...), pl.skipped...), pl.purged...), ", "), strings.Join(pl.purged, ", "), files[0], strings.Join(pl.purgedIDs, ","))
	}
	if pl.at.pos != pl.last || len(pl.read) > 0 || len(pl.skipped) > 0 {
		st.log.Info("start_at: the GTID set is placed domain by domain; each domain is read from its own GTID on", "gtid", gtid,
			"position", pl.at.pos.String(), "gtid_place", pl.last.String())
	}
	if len(pl.read) > 0 {
		st.log.Warn("this server's binlog has, before start_at's place, transactions of GTID domains its GTID set does not name: they are read from each domain's first transaction (skip_gtid_domains would skip them)",
			"domains", strings.Join(pl.read, ", "), "start_at", gtid, "position", pl.at.pos.String())
	}
	if len(pl.skipped) > 0 {
		st.log.Warn("this server's binlog has, before start_at's place, transactions of GTID domains its GTID set does not name: skip_gtid_domains skips them",
			"domains", strings.Join(pl.skipped, ", "), "start_at", gtid, "up_to", pl.last.String())
	}
	return pl.at, nil
}

// mariaGTID is one MariaDB GTID, domain-server-seq.
type mariaGTID struct {
	domain, server uint32
	seq            uint64
}

func (g mariaGTID) String() string { return fmt.Sprintf("%d-%d-%d", g.domain, g.server, g.seq) }

func parseMariaGTID(s string) (mariaGTID, bool) {
	p := strings.Split(s, "-")
	if len(p) != 3 {
		return mariaGTID{}, false
	}
	d, err1 := strconv.ParseUint(p[0], 10, 32)
	sv, err2 := strconv.ParseUint(p[1], 10, 32)
	n, err3 := strconv.ParseUint(p[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return mariaGTID{}, false
	}
	return mariaGTID{uint32(d), uint32(sv), n}, true
}

// parseGTIDStart parses start_at's GTID position: one GTID, or one per
// domain separated by commas.
func parseGTIDStart(v string) ([]mariaGTID, error) {
	var out []mariaGTID
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		g, ok := parseMariaGTID(part)
		if !ok {
			return nil, fmt.Errorf("%q is not a MariaDB GTID (domain-server-sequence, such as 0-1-100)", part)
		}
		if g.seq == 0 {
			return nil, fmt.Errorf("GTID %s: sequence numbers start at 1", g)
		}
		for _, o := range out {
			if o.domain == g.domain {
				return nil, fmt.Errorf("GTIDs %s and %s are both of domain %d: give one GTID per domain", o, g, g.domain)
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// gtidState is a binlog GTID state: per domain, the GTID with the highest
// sequence number.
type gtidState map[uint32]mariaGTID

func (s gtidState) add(g mariaGTID) {
	if o, ok := s[g.domain]; !ok || g.seq > o.seq {
		s[g.domain] = g
	}
}

// binlogEvent is one row of SHOW BINLOG EVENTS.
type binlogEvent struct {
	pos, end  uint32
	typ, info string
}

// gtidOfEvent returns the GTID of a Gtid event ("BEGIN GTID 0-1-7",
// "GTID 0-1-8", "BEGIN GTID 0-1-9 cid=12", "XA START … GTID 0-1-10").
func gtidOfEvent(ev binlogEvent) (mariaGTID, bool) {
	if ev.typ != "Gtid" {
		return mariaGTID{}, false
	}
	i := strings.Index(ev.info, "GTID ")
	if i < 0 {
		return mariaGTID{}, false
	}
	f := strings.Fields(ev.info[i+5:])
	if len(f) == 0 {
		return mariaGTID{}, false
	}
	return parseMariaGTID(f[0])
}

// gtidFinder looks GTIDs up in the binlog files of one server.
type gtidFinder struct {
	c     *client.Conn
	files []string
	lists []gtidState // the Gtid_list of each file, read on demand
}

// list returns the Gtid_list of file i: the GTID state before it.
func (f *gtidFinder) list(i int) (gtidState, error) {
	if f.lists[i] != nil {
		return f.lists[i], nil
	}
	// The list follows the format description (and, in an encrypted
	// binlog, the start-encryption event).
	r, err := f.c.Execute("SHOW BINLOG EVENTS IN " + quoteString(f.files[i]) + " LIMIT 4")
	if err != nil {
		return nil, fmt.Errorf("read the first events of %s: %v", f.files[i], err)
	}
	for j := 0; j < r.RowNumber(); j++ {
		if typ, _ := r.GetString(j, 2); typ != "Gtid_list" {
			continue
		}
		info, _ := r.GetString(j, 5)
		s := gtidState{}
		for _, part := range strings.Split(strings.Trim(info, "[] "), ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			g, ok := parseMariaGTID(part)
			if !ok {
				return nil, fmt.Errorf("%s: cannot read its Gtid_list event %q", f.files[i], info)
			}
			s.add(g)
		}
		f.lists[i] = s
		return s, nil
	}
	return nil, fmt.Errorf("%s has no Gtid_list event among its first events: GTID starts need a MariaDB binlog", f.files[i])
}

// fileOf returns the index of the file that holds a GTID of domain d with
// sequence number n if the binlog has one: the last file whose Gtid_list
// has not reached n in domain d. It is -1 when even the oldest file begins
// after n.
func (f *gtidFinder) fileOf(d uint32, n uint64) (int, error) {
	lo, hi := 0, len(f.files) // the first file whose list reached n is in [lo, hi]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		l, err := f.list(mid)
		if err != nil {
			return 0, err
		}
		if l[d].seq >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo - 1, nil
}

// scan reads file i from its start, one page of events at a time, until fn
// returns true or the file ends; it returns the last event read. Rows are
// streamed, not held: only Gtid and Rotate events carry their type and
// info to fn, the others have neither.
func (f *gtidFinder) scan(i int, fn func(binlogEvent) bool) (binlogEvent, error) {
	var (
		last binlogEvent
		res  gm.Result
		err  error
	)
	from := uint32(4)
	for {
		rows, stop := 0, false
		q := fmt.Sprintf("SHOW BINLOG EVENTS IN %s FROM %d LIMIT %d", quoteString(f.files[i]), from, gtidPageRows)
		qerr := f.c.ExecuteSelectStreaming(q, &res, func(row []gm.FieldValue) error {
			rows++
			if stop || err != nil {
				return nil // the rest of the page is read and dropped
			}
			if len(row) < 6 {
				err = fmt.Errorf("SHOW BINLOG EVENTS gave %d columns", len(row))
				return nil
			}
			ev := binlogEvent{pos: uint32(fieldUint(row[1])), end: uint32(fieldUint(row[4]))}
			switch string(row[2].AsString()) {
			case "Gtid":
				ev.typ, ev.info = "Gtid", string(row[5].AsString())
			case "Rotate":
				ev.typ, ev.info = "Rotate", string(row[5].AsString())
			}
			last = ev
			stop = fn(ev)
			return nil
		}, nil)
		if qerr != nil {
			return last, fmt.Errorf("read %s from %d: %v", f.files[i], from, qerr)
		}
		if err != nil || stop || rows < gtidPageRows {
			return last, err
		}
		if last.end <= from {
			return last, fmt.Errorf("read %s: event at %d ends at %d", f.files[i], last.pos, last.end)
		}
		from = last.end
	}
}

// fieldUint reads an unsigned integer column of a text-protocol row.
func fieldUint(v gm.FieldValue) uint64 {
	switch v.Type {
	case gm.FieldValueTypeUnsigned, gm.FieldValueTypeSigned:
		return v.AsUint64()
	}
	n, _ := strconv.ParseUint(string(v.AsString()), 10, 64)
	return n
}

// findGTIDPosition is gtidPosition over the given binlog files (oldest
// first, as SHOW BINARY LOGS lists them).
func findGTIDPosition(c *client.Conn, files []string, gtid string) (binlogPos, error) {
	p, _, err := findGTIDPlace(c, files, gtid)
	return p, err
}

// findGTIDPlace is findGTIDPosition that also returns the binlog's GTID
// state at the position: per domain, the last transaction before it.
func findGTIDPlace(c *client.Conn, files []string, gtid string) (binlogPos, gtidState, error) {
	want, err := parseGTIDStart(gtid)
	if err != nil {
		return binlogPos{}, nil, err
	}
	if len(files) == 0 {
		return binlogPos{}, nil, fmt.Errorf("the server has no binary logs")
	}
	return newGTIDFinder(c, files).place(want)
}

func newGTIDFinder(c *client.Conn, files []string) *gtidFinder {
	return &gtidFinder{c: c, files: files, lists: make([]gtidState, len(files))}
}

// place is findGTIDPlace over the finder's files.
func (f *gtidFinder) place(want []mariaGTID) (binlogPos, gtidState, error) {
	files := f.files
	var err error
	// The file of each GTID; the position is after the last of them.
	at := make([]int, len(want))
	last := -1
	for k, w := range want {
		if at[k], err = f.fileOf(w.domain, w.seq); err != nil {
			return binlogPos{}, nil, err
		}
		last = max(last, at[k])
	}
	if last < 0 {
		l, err := f.list(0)
		if err != nil {
			return binlogPos{}, nil, err
		}
		w := want[0]
		return binlogPos{}, nil, gtidMissingError{
			msg:  fmt.Sprintf("GTID %s was purged: the oldest binary log on the server, %s, begins after %s (see binlog_expire_logs_seconds)", w, files[0], l[w.domain]),
			hint: "give a later GTID, 'earliest' or a 'file:pos'"}
	}
	start, err := f.list(last)
	if err != nil {
		return binlogPos{}, nil, err
	}
	pending := map[uint32]uint64{}
	for k, w := range want {
		if at[k] == last {
			pending[w.domain] = w.seq
		}
	}
	// Domain states in the file before the position: its first and last
	// GTID of each domain, for the checks and messages below.
	first, seen := gtidState{}, gtidState{}
	// A transaction with the sequence number looked for but written by
	// another server: this binlog's history of the domain diverged from the
	// GTID's (a replica promoted before it had replicated everything, or
	// errant transactions), and the GTID is not here.
	other := map[uint32]mariaGTID{}
	var pos binlogPos
	found, next := false, false
	lastEv, err := f.scan(last, func(ev binlogEvent) bool {
		if ev.typ != "Gtid" {
			return false
		}
		if found {
			pos, next = binlogPos{File: files[last], Pos: ev.pos}, true
			return true
		}
		g, ok := gtidOfEvent(ev)
		if !ok {
			return false
		}
		if _, ok := first[g.domain]; !ok {
			first[g.domain] = g
		}
		seen.add(g)
		if n, ok := pending[g.domain]; ok && n == g.seq {
			for _, w := range want {
				if w.domain == g.domain && w.server != g.server {
					other[g.domain] = g
					return false // not the transaction looked for
				}
			}
			delete(pending, g.domain)
			found = len(pending) == 0
		}
		return false
	})
	if err != nil {
		return binlogPos{}, nil, err
	}
	if !found {
		for _, w := range want {
			if _, ok := pending[w.domain]; !ok {
				continue
			}
			if g, ok := other[w.domain]; ok {
				return binlogPos{}, nil, gtidMissingError{diverged: true,
					msg: fmt.Sprintf("GTID %s is not in the server's binary logs: its sequence number %d of domain %d is %s here, another transaction, written by server_id %d (in %s); this server's history diverged from the one the GTID was read on: it lacks transactions of that server (a replica promoted before it had replicated them?), or has transactions of its own in that domain",
						w, w.seq, w.domain, g, g.server, files[last])}
			}
			return binlogPos{}, nil, f.notFound(w, last, start, first, seen)
		}
	}
	if !next {
		// That transaction was the file's last.
		switch {
		case last+1 < len(files):
			pos = binlogPos{File: files[last+1], Pos: 4}
		case lastEv.typ == "Rotate":
			// The file was closed since it was listed.
			nf, _, _ := strings.Cut(lastEv.info, ";")
			pos = binlogPos{File: nf, Pos: 4}
		default:
			pos = binlogPos{File: files[last], Pos: lastEv.end}
		}
	}
	if len(want) > 1 {
		for _, w := range want {
			got := start[w.domain]
			if g, ok := seen[w.domain]; ok && g.seq > got.seq {
				got = g
			}
			if got.seq == w.seq && got.server != w.server {
				return binlogPos{}, nil, gtidMissingError{diverged: true,
					msg: fmt.Sprintf("GTID %s is not in the server's binary logs: its sequence number %d of domain %d is %s here, another transaction, written by server_id %d; this server's history diverged from the one the GTID was read on: it lacks transactions of that server (a replica promoted before it had replicated them?), or has transactions of its own in that domain",
						w, w.seq, w.domain, got, got.server)}
			}
			if got.seq != w.seq {
				at := "at " + got.String()
				if got.seq == 0 {
					at = "without a transaction"
				}
				return binlogPos{}, nil, gtidMissingError{
					msg:  fmt.Sprintf("these GTIDs are not one point of the binlog: where the last of them was written (up to %s), domain %d was %s, not at %s", pos, w.domain, at, w),
					hint: "give the GTIDs of one moment (such as @@gtid_binlog_pos) or a single GTID"}
			}
		}
	}
	state := gtidState{}
	for _, g := range start {
		state.add(g)
	}
	for _, g := range seen {
		state.add(g)
	}
	return pos, state, nil
}

// gtidMissingError is a GTID position the server's binlog does not have
// (purged, not written there, or not one point of it), as opposed to a
// failure to read the binlog. hint is the advice for start_at; a resume
// from a checkpoint gives its own. ahead is set when the GTID is past the
// end of the binlog (a replica may not have it yet).
type gtidMissingError struct {
	msg, hint string
	ahead     bool
	diverged  bool // another transaction has the GTID's sequence number
	// want and newest: with ahead, the GTID and the binlog's newest
	// transaction of its domain.
	want, newest mariaGTID
}

func (e gtidMissingError) Error() string {
	if e.hint == "" {
		return e.msg
	}
	return e.msg + "; " + e.hint
}

func gtidMissing(format string, args ...any) error {
	return gtidMissingError{msg: fmt.Sprintf(format, args...)}
}

// notFound says why GTID w is not in file i, which it would be in if the
// binlog had it: start is the file's Gtid_list, first and seen its first
// and last GTID of each domain.
func (f *gtidFinder) notFound(w mariaGTID, i int, start, first, seen gtidState) error {
	d := w.domain
	lo, inList := start[d]
	hi, inFile := seen[d]
	switch {
	case !inList && !inFile && i == len(f.files)-1:
		return gtidMissingError{msg: fmt.Sprintf("GTID %s is not in the server's binary logs: they have no transaction of domain %d", w, d), ahead: true}
	case i == len(f.files)-1 && (!inFile || hi.seq < w.seq):
		newest := lo
		if inFile {
			newest = hi
		}
		return gtidMissingError{msg: fmt.Sprintf("GTID %s is not in the server's binary logs yet: the newest transaction of domain %d is %s", w, d, newest), ahead: true, want: w, newest: newest}
	case inFile:
		return gtidMissing("GTID %s is not in the server's binary logs: %s, where domain %d goes from %s to %s, has no sequence number %d (never written on this server?)", w, f.files[i], d, first[d], hi, w.seq)
	}
	next, err := f.list(i + 1)
	if err != nil {
		return err
	}
	return gtidMissing("GTID %s is not in the server's binary logs: domain %d is at %s at the start of %s and at %s at the start of %s, but %s has no transaction of that domain", w, d, lo, f.files[i], next[d], f.files[i+1], f.files[i])
}

// placeDomain returns where, in the finder's binlog, domain w.domain is at
// GTID w: after w's transaction, or the start of the first file whose
// Gtid_list has w as the domain's last GTID (no transaction of the domain
// comes between: a domain idle since w is placed late, not at w itself,
// perhaps in a purged file), with the binlog's GTID state there. The
// errors are findGTIDPlace's: a gtidMissingError when the binlog does not
// have w (purged, not yet, or another transaction with its sequence
// number: diverged).
func (f *gtidFinder) placeDomain(w mariaGTID) (binlogPos, gtidState, error) {
	if len(f.files) == 0 {
		return binlogPos{}, nil, fmt.Errorf("the server has no binary logs")
	}
	// The last file whose list has not passed w in its domain.
	j, err := f.fileOf(w.domain, w.seq+1)
	if err != nil {
		return binlogPos{}, nil, err
	}
	if j >= 0 {
		l, err := f.list(j)
		if err != nil {
			return binlogPos{}, nil, err
		}
		if g, ok := l[w.domain]; ok && g.seq == w.seq {
			if g.server != w.server {
				return binlogPos{}, nil, gtidMissingError{diverged: true,
					msg: fmt.Sprintf("GTID %s is not in the server's binary logs: its sequence number %d of domain %d is %s here, another transaction, written by server_id %d (before %s); this server's history diverged from the one the GTID was read on: it lacks transactions of that server (a replica promoted before it had replicated them?), or has transactions of its own in that domain",
						w, w.seq, w.domain, g, g.server, f.files[j])}
			}
			state := gtidState{}
			for _, g := range l {
				state.add(g)
			}
			return binlogPos{File: f.files[j], Pos: 4}, state, nil
		}
	}
	return f.place([]mariaGTID{w})
}

// firstFileOf returns the index of the binlog file that holds the first
// transaction of domain d: the last one whose Gtid_list lacks the domain;
// -1 when even the oldest file's list has it (its first transactions were
// purged).
func (f *gtidFinder) firstFileOf(d uint32) (int, error) {
	return f.fileOf(d, 1)
}

// parseDomainList parses skip_gtid_domains: GTID domain ids separated by
// commas ("" is none).
func parseDomainList(v string) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			if strings.TrimSpace(v) != "" {
				return nil, fmt.Errorf("%q: an empty item; want GTID domain ids separated by commas, such as '1,7'", v)
			}
			continue
		}
		d, err := strconv.ParseUint(part, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a GTID domain id (0 to 4294967295); want ids separated by commas, such as '1,7'", part)
		}
		out[uint32(d)] = true
	}
	return out, nil
}

// domainPlacement is a GTID position placed in a binlog domain by domain
// (placeByDomain).
type domainPlacement struct {
	at   resumePlace // where the stream starts, the GTID set there, the skips
	last binlogPos   // the latest of the named domains' places
	// Domains the position does not name with transactions before last,
	// as their last GTID there: read from their first transaction,
	// skipped (skip_gtid_domains), or not readable (their first
	// transactions purged; purgedIDs their domain ids).
	read, skipped, purged, purgedIDs []string
}

// placeByDomain places GTID position want (gtid as written) in f's binlog
// as a MariaDB primary places a replica's GTID position: each domain after
// its own GTID, whatever the order the binlog wrote the domains in. The
// stream starts at the earliest of those places and skips, in each domain,
// the transactions up to its place. A domain want does not name that has
// transactions before the latest place is read from its first transaction
// (the start moves back to the file holding it), or skipped when
// skip_gtid_domains names it; one whose first transactions were purged is
// listed in purged, for the caller to refuse. Errors are placeDomain's (a
// gtidMissingError when the binlog lacks a GTID) or a failed read.
func placeByDomain(f *gtidFinder, want []mariaGTID, gtid, skipDomains string) (domainPlacement, error) {
	var pl domainPlacement
	var lastState gtidState // the binlog's GTID state at pl.last
	have := map[uint32]bool{}
	for _, w := range want {
		have[w.domain] = true
		p, state, err := f.placeDomain(w)
		if err != nil {
			return domainPlacement{}, err
		}
		if pl.at.pos.isZero() || p.cmp(pl.at.pos) < 0 {
			pl.at.pos = p
		}
		if pl.last.isZero() || p.cmp(pl.last) > 0 {
			pl.last, lastState = p, state
		}
		pl.at.skips = append(pl.at.skips, domainSkip{Domain: w.domain, File: p.File, Pos: p.Pos})
	}
	// Domains want does not name, with transactions before its place:
	// errant transactions of this server, or ones it replicated from
	// another primary (multi-source).
	var unread []mariaGTID
	for d, g := range lastState {
		if !have[d] {
			unread = append(unread, g)
		}
	}
	sort.Slice(unread, func(i, j int) bool { return unread[i].domain < unread[j].domain })
	skip, _ := parseDomainList(skipDomains) // checked by parseOpts
	gtids := []string{gtid}
	for _, g := range unread {
		if skip[g.domain] {
			pl.at.skips = append(pl.at.skips, domainSkip{Domain: g.domain, File: pl.last.File, Pos: pl.last.Pos})
			gtids = append(gtids, g.String())
			pl.skipped = append(pl.skipped, g.String())
			continue
		}
		i, err := f.firstFileOf(g.domain)
		if err != nil {
			return domainPlacement{}, fmt.Errorf("finding the first transaction of GTID domain %d: %v", g.domain, err)
		}
		if i < 0 {
			pl.purged = append(pl.purged, g.String())
			pl.purgedIDs = append(pl.purgedIDs, strconv.FormatUint(uint64(g.domain), 10))
			continue
		}
		if p := (binlogPos{File: f.files[i], Pos: 4}); p.cmp(pl.at.pos) < 0 {
			pl.at.pos = p
		}
		pl.read = append(pl.read, g.String())
	}
	kept := pl.at.skips[:0]
	for _, s := range pl.at.skips {
		if s.at().cmp(pl.at.pos) > 0 {
			kept = append(kept, s)
		}
	}
	pl.at.skips = kept
	pl.at.gtid = strings.Join(gtids, ",")
	return pl, nil
}
