// Package repl is `etlq repl`: an interactive session (or a script on
// standard input) that explores sources (SHOW, DESCRIBE), runs live
// queries (FROM binlog …), declares sources and functions, and loads and
// plans a file. Statements are parsed by lang; sources are reached through
// the connector registry (connectors.DatabaseLister for listing
// databases), never a concrete connector but the stdout sink it prints
// with.
package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// Config is what `etlq repl` is started with.
type Config struct {
	// Source is a DSN to explore, named src in queries ("" for none); its
	// kind is the DSN's scheme when that is a source kind, else mysql.
	Source string
	// File is a .etl file to load first ("" for none).
	File string
}

// ErrFailed is what Run returns when a statement of a script (input that
// is not a terminal) failed: the command exits 1.
var ErrFailed = errors.New("a statement failed")

// flagSourceName names the --source source in queries (src.db.table).
const flagSourceName = "src"

// replFile names REPL input in error messages ("repl:1:7: …").
const replFile = "repl"

const replHelp = `Statements end with ";" and may span lines:
  SHOW TABLES [FROM [source.]db] [LIKE 'pattern'];   tables of the source
  SHOW SOURCES;  SHOW PIPELINES;  SHOW FUNCTIONS [LIKE 'pattern'];
  DESCRIBE [source.]db.table;                    columns: etlq type, source type, key
  FROM binlog [source.]db.table [SNAPSHOT never|initial|only]
       [WHERE cond] [TRANSFORM expr [AS name], …] [LIMIT n];
                                                 print changes as they arrive
                                                 (SNAPSHOT never: from now on); Ctrl-C stops
  PLAN pipeline;                                 the dataflow of a pipeline of the loaded file
  CREATE SOURCE …;  CREATE FUNCTION …;           add a source or a function to the session
Commands (one line, no ";"):
  \load FILE    load a file's sources, sinks, functions and pipelines
  \help         this text
  \quit         leave (also Ctrl-D)
Tab completes keywords, databases, tables and columns. History is kept in ~/.etlq_history.
`

// repl is one REPL session.
type repl struct {
	out, errw io.Writer
	// tty: stdin and stdout are a terminal (prompts, line editing, colours).
	tty bool
	// color: stdout is a terminal, so the op column is coloured.
	color bool

	base context.Context // lives as long as the session; Ctrl-C does not end it
	quit context.CancelFunc

	flagSrc *planner.SourceDecl // from --source, nil without it
	file    *etlfile.Loaded     // the \loaded file, nil before
	decls   *planner.Plan       // the file's declarations (planned offline)
	live    *planner.Plan       // the file planned against the live schemas at \load, nil if it failed
	extra   []*planner.SourceDecl
	funcs   []*lang.CreateFunction
	cat     *etlfile.Catalog
	cache   *replCache

	pending string // the statement being typed, across lines
	failed  bool   // a statement failed (the exit status of a script)

	// held keeps what was logged while Tab completion ran, until the line
	// is entered.
	held heldLog

	mu          sync.Mutex
	cancelStmt  context.CancelFunc // cancels the running statement; nil between statements
	interrupted bool               // the running statement was stopped by Ctrl-C
}

// Run runs a session on the process's standard input and output until the
// input ends, \quit, or SIGTERM.
func Run(ctx context.Context, c Config) error {
	stdinTTY := term.IsTerminal(int(os.Stdin.Fd()))
	stdoutTTY := term.IsTerminal(int(os.Stdout.Fd()))
	// Rows go to stdout as they are; messages to stderr without secrets.
	r := newRepl(ctx, os.Stdout, connectors.RedactingWriter(os.Stderr), stdinTTY && stdoutTTY, stdoutTTY)
	defer r.close()
	// A source logs through slog's default logger: warnings only, on the
	// error output, shaped as a query's (SHOW and DESCRIBE connect too).
	prev := slog.Default()
	slog.SetDefault(slog.New(warnHandler(r.errw)))
	defer slog.SetDefault(prev)
	if c.Source != "" {
		r.flagSrc = &planner.SourceDecl{Name: flagSourceName, Kind: dsnKind(c.Source), DSN: c.Source,
			Redacted: planner.Redact(c.Source), Options: map[string]any{}}
		// A --source its connector refuses (an unknown parameter,
		// ?ssl_ca= under ssl_mode=preferred) is refused here, as any
		// command's bad flag is ("etlq: …", exit 1), not at each
		// statement as a statement's error.
		s, err := connectors.NewSource(r.flagSrc.Kind, r.flagSrc.Name, r.flagSrc.DSN, r.flagSrc.Options)
		if err != nil {
			return fmt.Errorf("--source: %w", err)
		}
		s.Close()
	}

	var in lineReader
	if r.tty {
		t := newTermReader(r.complete)
		in = t
	} else {
		in = newPlainReader(r.base, os.Stdin)
	}
	defer in.Close()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go r.signals(sigs, in)

	if r.tty {
		fmt.Fprintln(r.out, `etlq repl: type \help for help, \quit or Ctrl-D to leave.`)
		if r.flagSrc != nil {
			fmt.Fprintf(r.out, "source %s: %s\n", r.flagSrc.Name, r.flagSrc.Redacted)
		}
	}
	if c.File != "" {
		r.run(func(ctx context.Context) error { return r.load(ctx, c.File) })
	}
	r.loop(in)
	if r.failed && !r.tty {
		return ErrFailed
	}
	return nil
}

// dsnKind is the source kind of a --source DSN: its scheme when that is a
// registered source kind (mysql://…), else mysql.
func dsnKind(dsn string) string {
	if scheme, _, ok := strings.Cut(dsn, "://"); ok {
		if _, known := connectors.SourceSpec(strings.ToLower(scheme)); known {
			return strings.ToLower(scheme)
		}
	}
	return "mysql"
}

func newRepl(ctx context.Context, out, errw io.Writer, tty, color bool) *repl {
	base, quit := context.WithCancel(context.WithoutCancel(ctx))
	return &repl{out: out, errw: errw, tty: tty, color: color, base: base, quit: quit,
		cat: etlfile.NewCatalog(), cache: newReplCache()}
}

func (r *repl) close() {
	r.quit()
	r.cat.Close()
}

// signals stops the running statement on Ctrl-C. With no statement
// running, Ctrl-C ends a script read from a pipe (at a terminal prompt the
// line editor reads Ctrl-C itself). SIGTERM ends the session.
func (r *repl) signals(sigs <-chan os.Signal, in lineReader) {
	for {
		select {
		case <-r.base.Done():
			return
		case s := <-sigs:
			r.mu.Lock()
			cancel := r.cancelStmt
			if cancel != nil {
				r.interrupted = true
			}
			r.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			if s == syscall.SIGTERM || (cancel == nil && !r.tty) {
				r.quit()
				if r.tty && cancel == nil {
					// The line editor blocks in a read: give the terminal
					// back and leave.
					in.Close()
					os.Exit(143)
				}
			}
		}
	}
}

// loop reads lines and runs each statement once its ";" is typed.
func (r *repl) loop(in lineReader) {
	for r.base.Err() == nil {
		prompt := "etlq> "
		if r.pending != "" {
			prompt = "   -> "
		}
		line, err := in.ReadLine(prompt)
		r.showHeld()
		if errors.Is(err, errAbort) {
			r.pending = ""
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.base.Err() == nil {
				r.errorf("reading input: %v", err)
			}
			if !blank(r.pending) {
				r.errorf("the last statement has no \";\": it was not run")
			}
			if r.tty {
				fmt.Fprintln(r.out)
			}
			return
		}
		if r.pending == "" {
			cmd := strings.TrimSpace(line)
			if strings.HasPrefix(cmd, `\`) || isQuitWord(cmd) {
				in.AddHistory(cmd)
				if !r.command(cmd) {
					return
				}
				continue
			}
		}
		r.pending += line + "\n"
		stmts, rest := splitStatements(r.pending)
		r.pending = rest
		if blank(rest) {
			r.pending = ""
		}
		for _, s := range stmts {
			in.AddHistory(s)
			r.run(func(ctx context.Context) error { return r.statement(ctx, s) })
			if r.base.Err() != nil {
				return
			}
		}
	}
}

func isQuitWord(s string) bool {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ";"))
	return s == "quit" || s == "exit"
}

// command runs a backslash command; false means leave.
func (r *repl) command(cmd string) bool {
	name, arg, _ := strings.Cut(cmd, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(name) {
	case `\q`, `\quit`, `\exit`, "quit", "quit;", "exit", "exit;":
		return false
	case `\h`, `\help`, `\?`:
		fmt.Fprint(r.out, replHelp)
	case `\load`, `\l`, `\i`:
		if arg == "" {
			r.errorf(`\load needs a file: \load FILE.etl`)
			break
		}
		r.run(func(ctx context.Context) error { return r.load(ctx, arg) })
	default:
		r.errorf(`unknown command %q: \help lists them`, name)
	}
	return true
}

// run runs one statement with its own context, which Ctrl-C cancels, and
// reports its error.
func (r *repl) run(fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(r.base)
	defer cancel()
	r.mu.Lock()
	r.cancelStmt, r.interrupted = cancel, false
	r.mu.Unlock()
	err := fn(ctx)
	r.mu.Lock()
	r.cancelStmt = nil
	interrupted := r.interrupted
	r.mu.Unlock()
	if err == nil {
		return
	}
	if interrupted {
		// Whatever the statement was waiting for failed because of Ctrl-C.
		fmt.Fprintln(r.errw, "stopped")
		return
	}
	r.failed = true
	var fe etlfile.Error
	if errors.As(err, &fe) {
		fmt.Fprint(r.errw, strings.TrimRight(fe.Text, "\n")+"\n")
		return
	}
	fmt.Fprintf(r.errw, "error: %v\n", err)
}

func (r *repl) errorf(format string, args ...any) {
	r.failed = true
	fmt.Fprintf(r.errw, "error: "+format+"\n", args...)
}

// statement runs one statement (its text ends with ";"), parsed by lang.
func (r *repl) statement(ctx context.Context, text string) error {
	text = strings.TrimSpace(text)
	if blank(strings.TrimSuffix(text, ";")) {
		return nil
	}
	st, err := lang.ParseStatement(replFile, text)
	if err != nil {
		return etlfile.FormatErr(err, []byte(text))
	}
	switch {
	case st.Show != nil:
		return r.show(ctx, text, st.Show)
	case st.Describe != nil:
		return r.describe(ctx, text, st.Describe)
	case st.Plan != nil:
		return r.plan(ctx, text, st.Plan)
	case st.Help != nil:
		fmt.Fprint(r.out, replHelp)
		return nil
	case st.Query != nil:
		return r.query(ctx, text, st.Query)
	case st.Source != nil || st.Function != nil:
		return r.declare(ctx, text, st)
	default:
		end := st.Pos
		end.Advance("CREATE")
		e := &lang.Error{Pos: st.Pos, EndPos: end, Msg: "CREATE SINK and CREATE PIPELINE belong in a file: write them there and \\load it"}
		return etlfile.Error{Text: lang.Errors{e}.Format([]byte(text))}
	}
}

// declare adds a CREATE SOURCE or CREATE FUNCTION typed in the REPL to the
// session, once it plans (offline) without error.
func (r *repl) declare(ctx context.Context, text string, st *lang.Statement) error {
	f := &lang.File{Pos: st.Pos, EndPos: st.EndPos, Statements: []*lang.Statement{st}}
	if errs := etlfile.Expand(f); len(errs) > 0 {
		return etlfile.FormatErr(errs, []byte(text))
	}
	plan, err := planner.Build(ctx, f, planner.Options{})
	if err != nil {
		return etlfile.FormatErr(err, []byte(text))
	}
	if st.Source != nil {
		d := plan.Sources[0]
		verb := ""
		for i, s := range r.extra {
			if strings.EqualFold(s.Name, d.Name) {
				r.extra = append(r.extra[:i], r.extra[i+1:]...)
				verb = " replaced"
				break
			}
		}
		r.extra = append(r.extra, d)
		r.resetCatalog()
		fmt.Fprintf(r.out, "source %s%s: %s\n", d.Name, verb, d.Redacted)
		return nil
	}
	// A function of the same name typed again replaces the earlier one
	// (and says so): both were kept, and the first went on being called.
	verb := "declared"
	for i, f := range r.funcs {
		if strings.EqualFold(f.Name.Name, st.Function.Name.Name) {
			r.funcs = append(r.funcs[:i:i], r.funcs[i+1:]...)
			verb = "replaced"
			break
		}
	}
	r.funcs = append(r.funcs, st.Function)
	fmt.Fprintf(r.out, "function %s %s\n", st.Function.Name.Name, verb)
	return nil
}

// load reads a file, plans its declarations and checks it against the live
// schemas. A file that parses and declares without error is loaded even
// when the live check finds problems (they are shown).
func (r *repl) load(ctx context.Context, path string) error {
	l, err := etlfile.Load(path)
	if err != nil {
		return err
	}
	decls, err := l.Build(ctx, true)
	if err != nil {
		return err
	}
	r.file, r.decls, r.live = l, decls, nil
	r.funcs = nil
	for _, st := range l.File.Statements {
		if st.Function != nil {
			r.funcs = append(r.funcs, st.Function)
		}
	}
	r.resetCatalog()
	fmt.Fprintf(r.out, "loaded %s: %s, %s, %s, %s\n", path, etlfile.Plural(len(decls.Sources), "source"),
		etlfile.Plural(etlfile.CountDeclared(decls), "sink"), etlfile.Plural(len(r.funcs), "function"), etlfile.Plural(len(decls.Pipelines), "pipeline"))
	live, err := l.Build(ctx, false)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(r.errw, "warning: %s does not plan against the live schemas:\n", path)
		return err
	}
	r.live = live
	return nil
}

// resetCatalog forgets connections and cached schemas after the sources
// changed.
func (r *repl) resetCatalog() {
	r.cat.Close()
	r.cat = etlfile.NewCatalog()
	r.cache.reset()
}

// allSources lists every source of the session: --source, then the
// loaded file's, then those typed in the REPL (a later one of the same name
// is hidden).
func (r *repl) allSources() []*planner.SourceDecl {
	all := []*planner.SourceDecl{r.flagSrc}
	if r.decls != nil {
		all = append(all, r.decls.Sources...)
	}
	all = append(all, r.extra...)
	var out []*planner.SourceDecl
	seen := map[string]bool{}
	for _, d := range all {
		if d != nil && !seen[strings.ToLower(d.Name)] {
			seen[strings.ToLower(d.Name)] = true
			out = append(out, d)
		}
	}
	return out
}

// sources lists the distinct servers among allSources: a source with the
// kind, DSN and options of an earlier one is left out, so that --source and
// a loaded file naming the same server need no "source." prefix
// (sourceNamed still finds it by its name). Options that do not change
// what a statement shows do not count (queryNeutral): server_id names
// etlq's replica connection, not the server, and a query replaces it with
// one of its own (streamSource), as it drops start_at.
func (r *repl) sources() []*planner.SourceDecl {
	var out []*planner.SourceDecl
	seen := map[string]bool{}
	for _, d := range r.allSources() {
		if !seen[serverKey(d)] {
			seen[serverKey(d)] = true
			out = append(out, d)
		}
	}
	return out
}

// queryNeutral are the source options that do not change what a REPL
// statement shows: the replica's id and where apply starts (a query
// replaces both, streamSource), the flavor (detected when not given: the
// server is the same), and how fast or in what pieces a snapshot is read.
var queryNeutral = map[string]bool{
	"server_id": true, "start_at": true, "flavor": true,
	"snapshot_parallelism": true, "chunk_rows": true, "snapshot_protocol": true,
	"heartbeat": true, "binlog_expiry_warning": true, "on_binlog_gap": true, "snapshot_on_purge": true,
}

// serverKey identifies the server a source reads, with the options that
// change what a query sees: all but queryNeutral's. An option may be said
// in WITH or, where the connector takes it there, as a DSN parameter
// (?ssl_mode=…, the only way --source has), and one left out is its
// default: each counts as the value it gives, so that a file's
// WITH (ssl_mode = 'disabled') and --source '…?ssl_mode=disabled' name one
// server, as do an ssl_mode left out and 'preferred'.
func serverKey(d *planner.SourceDecl) string {
	opts := make(map[string]any, len(d.Options))
	for k, v := range d.Options {
		if k = strings.ToLower(k); !queryNeutral[k] {
			opts[k] = fmt.Sprint(v)
		}
	}
	dsn := d.DSN
	spec, hasSpec := connectors.SourceSpec(d.Kind)
	if u, err := url.Parse(dsn); err == nil && hasSpec && u.RawQuery != "" {
		q := u.Query()
		for name, vs := range q {
			o, ok := spec.Lookup(strings.ToLower(name))
			if !ok || len(vs) != 1 {
				continue
			}
			if queryNeutral[o.Name] {
				q.Del(name)
				continue
			}
			if v, given := opts[o.Name]; given && v != vs[0] {
				continue // said twice, two ways: kept apart
			}
			opts[o.Name] = vs[0]
			q.Del(name)
		}
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	if hasSpec {
		for _, o := range spec.Options {
			if _, given := opts[o.Name]; !given && o.Default != nil && !queryNeutral[o.Name] {
				opts[o.Name] = fmt.Sprint(o.Default)
			}
		}
	}
	return d.Kind + " " + dsn + " " + fmt.Sprint(opts)
}

// sourceNamed returns the source called name, nil if there is none.
func (r *repl) sourceNamed(name string) *planner.SourceDecl {
	for _, d := range r.allSources() {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}

func sourceNames(ds []*planner.SourceDecl) string {
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	return strings.Join(names, ", ")
}

// warnHandler logs warnings and errors to w as slog text: the REPL's
// logger, as a query's.
func warnHandler(w io.Writer) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})
}

// heldLog is log output kept for later: a source may log from a goroutine
// of its own.
type heldLog struct {
	mu  sync.Mutex
	buf []byte
}

func (h *heldLog) Write(b []byte) (int, error) {
	h.mu.Lock()
	h.buf = append(h.buf, b...)
	h.mu.Unlock()
	return len(b), nil
}

// take returns what was held and empties it.
func (h *heldLog) take() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.buf
	h.buf = nil
	return b
}

// showHeld writes what was logged during Tab completion to the error
// output, now that the line editor has given the terminal back.
func (r *repl) showHeld() {
	if b := r.held.take(); len(b) > 0 {
		r.errw.Write(b)
	}
}
