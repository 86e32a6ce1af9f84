package repl

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
	"github.com/etlq/etlq/stdlib"
)

// completionTimeout bounds the server round trips of one Tab press.
const completionTimeout = 2 * time.Second

// cacheTTL is how long completion remembers databases, tables and columns.
const cacheTTL = 30 * time.Second

// replCache remembers what completion asked the sources.
type replCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	vals []string
	at   time.Time
}

func newReplCache() *replCache { return &replCache{entries: map[string]cacheEntry{}} }

func (c *replCache) reset() {
	c.mu.Lock()
	c.entries = map[string]cacheEntry{}
	c.mu.Unlock()
}

// get returns the cached values of key, or calls fill and caches them.
func (c *replCache) get(key string, fill func() ([]string, error)) []string {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < cacheTTL {
		return e.vals
	}
	vals, err := fill()
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.entries[key] = cacheEntry{vals: vals, at: time.Now()}
	c.mu.Unlock()
	return vals
}

// replCommands are the backslash commands, for completion.
var replCommands = []string{`\help`, `\load `, `\quit`}

// replStarters are the words that start a REPL statement.
var replStarters = []string{"SHOW", "DESCRIBE", "FROM", "PLAN", "CREATE"}

// complete is the Tab completer: the word before the cursor is completed
// from keywords, the session's sources, databases, tables (after FROM
// binlog, DESCRIBE, SHOW TABLES FROM), columns of the tables the statement
// reads, functions, pipeline names (after PLAN) and file names (after
// \load).
//
// It runs while the line editor holds the terminal: what a source logs
// meanwhile (the warning of its first connection, which a Tab often
// makes) is held and shown once the line is entered (showHeld); written
// to the terminal it landed in the middle of the line being typed.
func (r *repl) complete(line string, pos int) (head string, completions []string, tail string) {
	prev := slog.Default()
	slog.SetDefault(slog.New(warnHandler(&r.held)))
	defer slog.SetDefault(prev)
	return r.completeWords(line, pos)
}

// completeWords is complete, logging through slog's default logger.
func (r *repl) completeWords(line string, pos int) (head string, completions []string, tail string) {
	if pos > len(line) {
		pos = len(line)
	}
	start := pos
	for start > 0 && isCompletionByte(line[start-1]) {
		start--
	}
	head, word, tail := line[:start], line[start:pos], line[pos:]
	before := r.pending + head
	ctx, cancel := context.WithTimeout(r.base, completionTimeout)
	defer cancel()

	trimmed := strings.TrimSpace(before)
	if r.pending == "" && strings.HasPrefix(strings.TrimSpace(line), `\`) {
		if f := strings.Fields(head); len(f) > 0 {
			if l := strings.ToLower(f[0]); l == `\load` || l == `\l` || l == `\i` {
				return head, completeFiles(word), tail
			}
			return head, nil, tail
		}
		return head, match(replCommands, word, false), tail
	}
	if trimmed == "" {
		return head, match(replStarters, word, true), tail
	}
	prev := lastWords(before, 3)
	last := ""
	if len(prev) > 0 {
		last = strings.ToUpper(prev[len(prev)-1])
	}
	switch {
	case last == "PLAN":
		var names []string
		if r.decls != nil {
			for _, p := range r.decls.Pipelines {
				names = append(names, p.Name)
			}
		}
		return head, match(names, word, false), tail
	case last == "SHOW":
		return head, match([]string{"TABLES", "SOURCES", "PIPELINES", "FUNCTIONS"}, word, true), tail
	case last == "SNAPSHOT":
		return head, match([]string{"NEVER", "INITIAL", "ONLY"}, word, true), tail
	case last == "BINLOG" || last == "DESCRIBE" || last == "DESC" || last == "," && inFromList(before):
		return head, r.completeTable(ctx, word, true), tail
	case last == "FROM" && len(prev) >= 2 && strings.EqualFold(prev[len(prev)-2], "TABLES"):
		return head, r.completeTable(ctx, word, false), tail
	case last == "FROM":
		return head, match([]string{"BINLOG"}, word, true), tail
	}
	// Anywhere else in a statement: keywords, columns, functions; with
	// nothing typed yet, only the columns.
	var cands []string
	if word != "" {
		cands = append(cands, match(lang.Keywords, word, true)...)
	}
	cols := r.statementColumns(ctx, before+word+tail)
	if strings.HasPrefix(strings.ToLower(word), "before.") {
		for _, c := range cols {
			cands = append(cands, "before."+c)
		}
		return head, match(cands, word, false), tail
	}
	cands = append(cands, cols...)
	for _, m := range []string{exec.ColOp, exec.ColTs, exec.ColDB, exec.ColTable, exec.ColPos, exec.ColVersion} {
		cands = append(cands, m)
	}
	if len(cols) > 0 {
		cands = append(cands, "before.")
	}
	if word != "" {
		for _, f := range stdlib.Funcs() {
			cands = append(cands, f.Name+"(")
		}
		for _, f := range r.funcs {
			cands = append(cands, f.Name.Name+"(")
		}
	}
	return head, match(dedupe(cands), word, false), tail
}

func isCompletionByte(c byte) bool {
	return c == '_' || c == '.' || c == '`' || c == '\\' || c == '/' || c == '-' || c == '~' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c >= 0x80
}

// match keeps the candidates that start with word (case-insensitive).
// Keywords follow the case the user types in.
func match(cands []string, word string, keywords bool) []string {
	lower := word != "" && strings.ToLower(word) == word
	var out []string
	for _, c := range cands {
		if !strings.HasPrefix(strings.ToLower(c), strings.ToLower(word)) {
			continue
		}
		if keywords {
			if lower {
				c = strings.ToLower(c)
			}
			if !strings.HasSuffix(c, " ") {
				c += " "
			}
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// lastWords returns up to n last tokens of s (words and punctuation).
func lastWords(s string, n int) []string {
	toks := lang.Tokens(s)
	if len(toks) > n {
		toks = toks[len(toks)-n:]
	}
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.Text
	}
	return out
}

// inFromList reports whether s ends inside a FROM binlog a.b, … list.
func inFromList(s string) bool {
	toks := lang.Tokens(s)
	for i := len(toks) - 1; i >= 0; i-- {
		t := toks[i]
		if t.Is("BINLOG") {
			return true
		}
		if !t.Name && t.Text != "," && t.Text != "." {
			return false
		}
		if t.Name && !t.Quoted {
			if _, kw := keywordSet[strings.ToUpper(t.Text)]; kw {
				return false
			}
		}
	}
	return false
}

var keywordSet = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, k := range lang.Keywords {
		m[k] = struct{}{}
	}
	return m
}()

// completeTable completes [source.]database[.table]: databases end with
// "." so that Tab goes on with their tables.
func (r *repl) completeTable(ctx context.Context, word string, tables bool) []string {
	srcs := r.sources()
	parts := strings.Split(word, ".")
	var cands []string
	var d *planner.SourceDecl
	prefix := ""
	if len(parts) > 1 && len(srcs) > 1 || len(parts) == 3 {
		d = r.sourceNamed(parts[0])
		prefix = parts[0] + "."
		parts = parts[1:]
	} else if len(srcs) == 1 {
		d = srcs[0]
	}
	if d == nil {
		if len(parts) == 1 {
			for _, s := range srcs {
				cands = append(cands, s.Name+".")
			}
		}
		return match(cands, word, false)
	}
	if len(parts) == 1 {
		if prefix == "" && len(srcs) > 1 {
			for _, s := range srcs {
				cands = append(cands, s.Name+".")
			}
		}
		for _, db := range r.cache.get("dbs\x00"+d.Name, func() ([]string, error) { return listDatabases(ctx, d) }) {
			if tables {
				cands = append(cands, prefix+db+".")
			} else {
				cands = append(cands, prefix+db)
			}
		}
		return match(cands, word, false)
	}
	if !tables {
		return nil
	}
	db := parts[0]
	for _, t := range r.tables(ctx, d, db) {
		cands = append(cands, prefix+db+"."+t+" ")
	}
	return match(cands, word, false)
}

func (r *repl) tables(ctx context.Context, d *planner.SourceDecl, db string) []string {
	return r.cache.get("tables\x00"+d.Name+"\x00"+db, func() ([]string, error) {
		refs, err := r.cat.Tables(ctx, d, db, "*")
		var out []string
		for _, ref := range refs {
			out = append(out, ref.Table)
		}
		return out, err
	})
}

// statementColumns returns the column names of the tables named after
// FROM binlog (or DESCRIBE) in a statement.
func (r *repl) statementColumns(ctx context.Context, stmt string) []string {
	toks := lang.Tokens(stmt)
	var cols []string
	for i := 0; i < len(toks); i++ {
		if !toks[i].Is("BINLOG") {
			continue
		}
		for j := i + 1; j < len(toks); {
			parts, next := dottedName(toks, j)
			if len(parts) < 2 {
				break
			}
			var d *planner.SourceDecl
			srcs := r.sources()
			switch {
			case len(parts) == 3:
				d = r.sourceNamed(parts[0].Text)
				parts = parts[1:]
			case len(srcs) == 1:
				d = srcs[0]
			}
			if d != nil && len(parts) == 2 {
				cols = append(cols, r.columns(ctx, d, connectors.TableRef{DB: parts[0].Text, Table: parts[1].Text})...)
			}
			if next < len(toks) && toks[next].Text == "," {
				j = next + 1
				continue
			}
			break
		}
	}
	return dedupe(cols)
}

// dottedName reads name(.name)* at toks[i]; it returns the parts and the
// index after them.
func dottedName(toks []lang.Token, i int) ([]lang.Token, int) {
	var parts []lang.Token
	for i < len(toks) && toks[i].Name {
		parts = append(parts, toks[i])
		i++
		if i+1 < len(toks) && toks[i].Text == "." && !toks[i].String && !toks[i].Quoted {
			i++
			continue
		}
		break
	}
	return parts, i
}

func (r *repl) columns(ctx context.Context, d *planner.SourceDecl, ref connectors.TableRef) []string {
	if strings.ContainsAny(ref.Table, "*?") {
		var out []string
		for _, t := range r.tables(ctx, d, ref.DB) {
			if ok, _ := filepath.Match(ref.Table, t); ok {
				out = append(out, r.columns(ctx, d, connectors.TableRef{DB: ref.DB, Table: t})...)
			}
		}
		return out
	}
	return r.cache.get("columns\x00"+d.Name+"\x00"+ref.String(), func() ([]string, error) {
		ts, err := r.cat.Describe(ctx, d, ref)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, f := range ts.Fields {
			out = append(out, f.Name)
		}
		return out, nil
	})
}

// completeFiles completes a file name: directories end with "/". A
// leading "~/" stands for the home directory.
func completeFiles(word string) []string {
	home, _ := os.UserHomeDir()
	pattern := word
	tilde := strings.HasPrefix(word, "~/") && home != ""
	if tilde {
		pattern = home + word[1:]
	}
	matches, _ := filepath.Glob(pattern + "*")
	var out []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			m += "/"
		}
		if tilde {
			m = "~" + strings.TrimPrefix(m, home)
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
