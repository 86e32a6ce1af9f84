package clickhouse

import (
	"context"
	"regexp"
	"sync"
	"time"
)

// An ALTER of a table waits for every INSERT into it that is under way
// (ClickHouse takes the table's structure lock for writing), and every
// INSERT begun after the ALTER waits behind it. A long INSERT
// (writer_long.go) stays open while the stream is busy, up to
// flush_interval: another writer of the table — a scale-out worker that
// met the same column widening, another etlq, a person — that ALTERs it
// then waits for it, and so do the new INSERTs of every writer of the
// table, this one's included. The whole group stood still for as long as
// the INSERT stayed open. ClickHouse cannot end it from the ALTER's side:
// KILL QUERY refuses an INSERT ("it consists of unkillable stages", 18.16),
// and closing the connection is the owner's to do.
//
// So the owner ends it: while long INSERTs of a sink are open for longer
// than alterCheck, the sink looks in system.processes every alterCheck
// (one query for all its writers) for an ALTER TABLE of their tables, and
// a writer whose table has one ends its INSERT after the block it is
// sending (w.yield). Its next INSERT begins once the ALTER is done, with
// the table's new columns. The ALTER waits about alterCheck, not
// flush_interval.

// alterCheck is how often open long INSERTs look for an ALTER waiting.
var alterCheck = 250 * time.Millisecond

// alterWatch holds the writers with a long INSERT open, and since when.
type alterWatch struct {
	mu      sync.Mutex
	open    map[*writer]time.Time
	running bool
}

// longOpen registers w's open long INSERT with its sink's watch.
func (w *writer) longOpen() {
	a := &w.s.alters
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open == nil {
		a.open = map[*writer]time.Time{}
	}
	a.open[w] = time.Now()
	if !a.running {
		a.running = true
		go w.s.watchAlters()
	}
}

// longClosed takes w's INSERT out of the watch: it ended.
func (w *writer) longClosed() {
	a := &w.s.alters
	a.mu.Lock()
	delete(a.open, w)
	a.mu.Unlock()
}

// watchAlters runs while long INSERTs are open (see above).
func (s *Sink) watchAlters() {
	t := time.NewTicker(alterCheck)
	defer t.Stop()
	for range t.C {
		a := &s.alters
		a.mu.Lock()
		if len(a.open) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		var due []*writer
		for w, since := range a.open {
			if time.Since(since) >= alterCheck {
				due = append(due, w)
			}
		}
		a.mu.Unlock()
		if len(due) == 0 {
			continue
		}
		alters, err := s.alterQueries()
		if err != nil {
			continue // (the INSERT ends at flush_interval, as without the watch)
		}
		for _, w := range due {
			if w.alteredBy(alters) {
				select {
				case w.yield <- struct{}{}:
				default:
				}
			}
		}
	}
}

// alteredBy reports whether one of the queries is an ALTER of w's table.
func (w *writer) alteredBy(queries []string) bool {
	for _, q := range queries {
		if w.alterRe.MatchString(q) {
			return true
		}
	}
	return false
}

// alterQueries returns the text of the ALTER queries ClickHouse runs.
func (s *Sink) alterQueries() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	return queryStrings(ctx, conn, "SELECT query FROM system.processes WHERE positionCaseInsensitive(query, 'alter') > 0")
}

// alterOf matches an ALTER TABLE of db.table (or of table, in whatever
// database: ending an INSERT early for another's is harmless), its names
// with backquotes, double quotes or none.
func alterOf(db, table string) *regexp.Regexp {
	name := func(n string) string {
		q := regexp.QuoteMeta(n)
		return "(?:`" + q + "`|\"" + q + "\"|" + q + ")"
	}
	return regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(?:` + name(db) + `\s*\.\s*)?` + name(table) + `(?:[\s;]|$)`)
}
