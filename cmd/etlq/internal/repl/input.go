package repl

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterh/liner"

	"github.com/etlq/etlq/connectors"
)

// splitStatements cuts the complete statements off buf: each ends with a
// ";" outside strings, quoted names and comments, and keeps it. rest is
// what follows the last ";" (an unfinished statement, or only blanks and
// comments).
func splitStatements(buf string) (stmts []string, rest string) {
	start := 0
	for i := 0; i < len(buf); i++ {
		switch c := buf[i]; {
		case c == '\'' || c == '`':
			// '' and `` inside are escapes: the scan simply leaves and
			// re-enters the quoted text.
			j := strings.IndexByte(buf[i+1:], c)
			if j < 0 {
				return stmts, buf[start:]
			}
			i += j + 1
		case c == '-' && strings.HasPrefix(buf[i:], "--"):
			j := strings.IndexByte(buf[i:], '\n')
			if j < 0 {
				return stmts, buf[start:]
			}
			i += j
		case c == '/' && strings.HasPrefix(buf[i:], "/*"):
			j := strings.Index(buf[i+2:], "*/")
			if j < 0 {
				return stmts, buf[start:]
			}
			i += j + 3
		case c == ';':
			stmts = append(stmts, buf[start:i+1])
			start = i + 1
		}
	}
	return stmts, buf[start:]
}

// blank reports whether s holds nothing but white space and comments.
func blank(s string) bool {
	for {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			return true
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return true
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return false
			}
			s = s[i+2:]
		default:
			return false
		}
	}
}

// errAbort is returned by a lineReader when the user pressed Ctrl-C at the
// prompt: the statement being typed is dropped.
var errAbort = errors.New("aborted")

// lineReader reads the lines the user types. ReadLine returns io.EOF at
// the end of the input (Ctrl-D on an empty line).
type lineReader interface {
	ReadLine(prompt string) (string, error)
	// AddHistory records a statement in the history.
	AddHistory(stmt string)
	Close()
}

// plainReader reads lines from a pipe or a file, without prompts. A
// goroutine reads ahead so that ReadLine can return when ctx ends.
type plainReader struct {
	ctx   context.Context
	lines chan string
	err   error // set before lines is closed
}

func newPlainReader(ctx context.Context, r io.Reader) *plainReader {
	p := &plainReader{ctx: ctx, lines: make(chan string)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		p.err = sc.Err()
	}()
	return p
}

func (p *plainReader) ReadLine(string) (string, error) {
	select {
	case line, ok := <-p.lines:
		if ok {
			return line, nil
		}
		if p.err != nil {
			return "", p.err
		}
		return "", io.EOF
	case <-p.ctx.Done():
		return "", io.EOF
	}
}

func (p *plainReader) AddHistory(string) {}
func (p *plainReader) Close()            {}

// termReader is line editing on a terminal, with history kept in a file
// across runs.
type termReader struct {
	st      *liner.State
	history string // file, "" when there is no home directory
}

// historyFile is where the REPL keeps its history: ~/.etlq_history.
func historyFile() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".etlq_history")
}

func newTermReader(complete liner.WordCompleter) *termReader {
	st := liner.NewLiner()
	st.SetCtrlCAborts(true)
	st.SetMultiLineMode(true)
	st.SetTabCompletionStyle(liner.TabPrints)
	st.SetWordCompleter(complete)
	t := &termReader{st: st, history: historyFile()}
	if t.history != "" {
		if f, err := os.Open(t.history); err == nil {
			st.ReadHistory(f)
			f.Close()
		}
	}
	return t
}

// ReadLine reads a line; a recalled multi-line statement comes back with
// its line breaks (see HistoryBreak).
func (t *termReader) ReadLine(prompt string) (string, error) {
	s, err := t.st.Prompt(prompt)
	if errors.Is(err, liner.ErrPromptAborted) {
		return "", errAbort
	}
	return fromHistory(s), err
}

// HistoryBreak stands for a line break in a history entry. The line editor
// edits one line, so a statement typed on several lines is kept in the
// history (and in ~/.etlq_history, one entry a line) with "␤" between its
// lines, shown so when recalled, and turned back into line breaks when it
// is entered again: a "-- comment" still ends where it ended, as psql keeps
// the line breaks of its history.
const HistoryBreak = "␤"

// historyEntry is stmt as a history entry: its lines, blank lines at the
// ends and trailing blanks left out, joined by HistoryBreak. The DSN
// passwords of a CREATE (SOURCE …) are kept as ****, as the REPL shows
// them: the history file is no place for a secret (a ${VAR} stays as
// typed).
func historyEntry(stmt string) string {
	lines := strings.Split(strings.TrimSpace(stmt), "\n")
	create := strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "CREATE")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
		if create {
			lines[i] = connectors.RedactSecrets(lines[i])
		}
	}
	return strings.Join(lines, HistoryBreak)
}

// fromHistory turns the historyBreaks of a line back into line breaks.
func fromHistory(line string) string {
	return strings.ReplaceAll(line, HistoryBreak, "\n")
}

// AddHistory records stmt, its line breaks kept, and saves the history file
// at once so that a crash or a kill keeps it.
func (t *termReader) AddHistory(stmt string) {
	stmt = historyEntry(stmt)
	if stmt == "" {
		return
	}
	t.st.AppendHistory(stmt)
	t.save()
}

func (t *termReader) save() {
	if t.history == "" {
		return
	}
	tmp := t.history + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, err = t.st.WriteHistory(f)
	if cerr := f.Close(); err == nil && cerr == nil {
		os.Rename(tmp, t.history)
	} else {
		os.Remove(tmp)
	}
}

// Close restores the terminal.
func (t *termReader) Close() { t.st.Close() }
