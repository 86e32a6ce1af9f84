package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions of the parser

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// Resnapshots on demand (etlq resnapshot). A request is a file in the
// state directory's resnapshot/ folder, written by the command whether an
// apply runs or not: a running apply looks there every second (and when
// it starts), hands each request for one of its pipelines to the source
// stream (connectors.Resnapshotter), and removes the file once the
// resnapshot ended and its target acknowledged it. A request that cannot
// be carried out is renamed to <id>.failed, its first line the reason. A
// run that stops before the end leaves the file: the next run starts the
// resnapshot anew (reading again is harmless to an upsert target).

// ResnapshotDir is the folder of a state directory that holds requests.
const ResnapshotDir = "resnapshot"

// ResnapshotPoll is how often a running apply looks for new requests.
var ResnapshotPoll = time.Second

// ResnapshotRequest is one request file.
type ResnapshotRequest struct {
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Pipeline  string    `json:"pipeline"`
	Table     string    `json:"table"` // db.table
	Where     string    `json:"where,omitempty"`
	Requested time.Time `json:"requested"`
	// Rejoined is set (to why) when a stopped pipeline rejoined the
	// source's stream without catching the table up (rejoin.go): the
	// table's changes between the pipeline's own checkpoint and the join
	// are in this re-read only, so a failure keeps the request pending
	// (keepRejoined) instead of renaming it .failed.
	Rejoined string `json:"rejoined,omitempty"`
}

// WriteResnapshotRequest writes req into stateDir (atomically: a running
// apply never reads half a file) and returns its path. req.ID is set when
// empty.
func WriteResnapshotRequest(stateDir string, req *ResnapshotRequest) (string, error) {
	dir := filepath.Join(stateDir, ResnapshotDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	req.name()
	b, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, req.ID+".json")
	tmp := filepath.Join(dir, "."+req.ID+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// name sets the request's time and id when they are empty: the id is
// made of [A-Za-z0-9._-], a file name and a NATS KV key.
func (req *ResnapshotRequest) name() {
	if req.Requested.IsZero() {
		req.Requested = time.Now().UTC()
	}
	if req.ID == "" {
		req.ID = fmt.Sprintf("%s-%s-%s", req.Requested.Format("20060102T150405.000000000"), fileSafe(req.Pipeline), fileSafe(req.Table))
	}
}

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// PendingResnapshots returns the requests of stateDir not carried out yet,
// oldest first; a file that is not a request is an error.
func PendingResnapshots(stateDir string) ([]*ResnapshotRequest, error) {
	reqs, broken, err := pendingResnapshots(stateDir)
	if err == nil && len(broken) > 0 {
		err = broken[0].err
	}
	if err != nil {
		return nil, err
	}
	return reqs, nil
}

// brokenRequest is a request file that cannot be read as one.
type brokenRequest struct {
	id  string
	err error
}

// pendingResnapshots returns the requests of stateDir not carried out
// yet, oldest first, and apart the files that are not requests (each
// one's fault is its own: it must not hold up the others).
func pendingResnapshots(stateDir string) ([]*ResnapshotRequest, []brokenRequest, error) {
	dir := filepath.Join(stateDir, ResnapshotDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out []*ResnapshotRequest
	var broken []brokenRequest
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, nil, err
		}
		id := strings.TrimSuffix(e.Name(), ".json")
		var req ResnapshotRequest
		if err := json.Unmarshal(b, &req); err != nil {
			broken = append(broken, brokenRequest{id: id, err: fmt.Errorf("resnapshot request %s: %v", e.Name(), err)})
			continue
		}
		req.ID = id
		out = append(out, &req)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, broken, nil
}

// CheckResnapshot says why req cannot be carried out for pipeline p, and
// returns the condition on the target's columns that selects the range
// ("" for the whole table) when p writes an upsert target, which then loses
// the range's keys the source no longer has.
func CheckResnapshot(p *planner.Pipeline, req *ResnapshotRequest) (filter string, err error) {
	if p.Snapshot == connectors.SnapshotOnly {
		return "", fmt.Errorf("pipeline %s is SNAPSHOT only: it follows no stream to read a table again in (run it again instead)", p.Name)
	}
	tp := pipelineTable(p, req.Table)
	if tp == nil {
		return "", fmt.Errorf("pipeline %s does not read table %s", p.Name, req.Table)
	}
	if p.Target.Mode != connectors.ModeUpsert {
		if req.Where == "" {
			return "", nil
		}
		e, err := parseWhere(req.Where)
		if err != nil {
			return "", err
		}
		return "", checkWhereColumns(tp, req.Where, e)
	}
	if len(tp.KeyIndex) == 0 {
		return "", fmt.Errorf("pipeline %s has no KEY for %s", p.Name, req.Table)
	}
	if !rowsApart(p, tp) {
		return "", fmt.Errorf("pipeline %s writes several tables into one target and has no _table output column: "+
			"the rows of %s cannot be told apart from the others' (add _table to TRANSFORM and to KEY)", p.Name, req.Table)
	}
	return targetFilter(p, tp, req.Where)
}

// pipelineTable returns p's plan of table "db.table": one it reads by
// name, or the first it reads whose pattern the table matches.
func pipelineTable(p *planner.Pipeline, table string) *planner.TablePlan {
	for _, tp := range p.Tables {
		if tp.Ref.String() == table {
			return tp
		}
	}
	db, name, ok := strings.Cut(table, ".")
	if !ok {
		return nil
	}
	for _, pat := range p.Patterns {
		if connectors.MatchRef(pat, connectors.TableRef{DB: db, Table: name}) && len(p.Tables) > 0 {
			// Planned for its own schema when it joins; the output
			// columns of the pattern's tables are aligned, so the first
			// table's plan names them the same.
			return p.Tables[0]
		}
	}
	return nil
}

// pickColumn returns the output column that holds metadata column meta.
// rowsApart reports whether the rows of table plan tp can be told from
// those of the pipeline's other tables in its target: it reads one table,
// or outputs _table, or outputs _db and its tables all have one name
// (planner.Pipeline.OneTableName).
func rowsApart(p *planner.Pipeline, tp *planner.TablePlan) bool {
	if len(p.Tables) <= 1 && len(p.Patterns) == 0 {
		return true
	}
	return pickColumn(tp, exec.ColTable) != "" || (p.OneTableName() && pickColumn(tp, exec.ColDB) != "")
}

func pickColumn(tp *planner.TablePlan, meta string) string {
	for i, e := range tp.Outputs {
		if e.String() == meta {
			return tp.Output[i].Name
		}
	}
	return ""
}

func parseWhere(where string) (ast.ExprNode, error) {
	stmts, _, err := parser.New().Parse("SELECT 1 FROM t WHERE "+where, "", "")
	if err != nil {
		// The parser counts columns in the SELECT around the condition
		// and quotes the text from the error on: place it in where.
		if m := nearText.FindStringSubmatch(err.Error()); m != nil && strings.HasSuffix(where, m[1]) {
			what := "syntax error"
			if m[1] == "" {
				what = "unexpected end of the condition"
			}
			return nil, whereError(where, len(where)-len(m[1]), 1, what+": not an SQL condition")
		}
		return nil, fmt.Errorf("--where %q is not an SQL condition: %v", where, err)
	}
	sel, ok := stmts[0].(*ast.SelectStmt)
	if len(stmts) != 1 || !ok || sel.Where == nil || sel.Limit != nil || sel.OrderBy != nil || sel.GroupBy != nil || sel.Having != nil {
		return nil, fmt.Errorf("--where %q is not one SQL condition", where)
	}
	return sel.Where, nil
}

// nearText is the text from the error on in an SQL parser's error.
var nearText = regexp.MustCompile(`near "((?s:.*))"\s*$`)

// whereError is an error at where[off:off+n], given 1-based column, then
// the condition and a caret under the place.
func whereError(where string, off, n int, msg string) error {
	col := utf8.RuneCountInString(where[:off]) + 1
	mark := "^"
	if n > 1 {
		mark += strings.Repeat("~", utf8.RuneCountInString(where[off:off+n])-1)
	}
	return fmt.Errorf("--where %q, column %d: %s\n  %s\n  %s%s", where, col, msg, where, strings.Repeat(" ", col-1), mark)
}

// checkWhereColumns says which column e, the parsed where, names that the
// source table does not have (when its schema is known), with the closest
// one as the planner does.
func checkWhereColumns(tp *planner.TablePlan, where string, e ast.ExprNode) error {
	if tp.Input == nil {
		return nil
	}
	var cols []string
	for _, f := range tp.Input.Fields() {
		cols = append(cols, f.Name)
	}
	v := &columnLister{}
	e.Accept(v)
	for _, name := range v.names {
		known := false
		for _, c := range cols {
			if strings.EqualFold(c, name) {
				known = true
				break
			}
		}
		if known {
			continue
		}
		msg := fmt.Sprintf("unknown column %q in %s%s", name, tp.Ref, planner.Suggest(name, cols))
		if loc := wordAt(where, name); loc >= 0 {
			return whereError(where, loc, len(name), msg)
		}
		return fmt.Errorf("--where %q: %s", where, msg)
	}
	return nil
}

// wordAt is the offset of the first occurrence of name in s as a whole
// word outside quotes, -1 if there is none.
func wordAt(s, name string) int {
	word := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.EqualFold(s[i:min(i+len(name), len(s))], name) && (i == 0 || !word(s[i-1])) &&
			(i+len(name) == len(s) || !word(s[i+len(name)])):
			return i
		}
	}
	return -1
}

// columnLister collects the column names of an expression, in order.
type columnLister struct{ names []string }

func (v *columnLister) Enter(n ast.Node) (ast.Node, bool) {
	if c, ok := n.(*ast.ColumnName); ok {
		v.names = append(v.names, c.Name.O)
	}
	return n, false
}

func (v *columnLister) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// targetFilter rewrites where, a condition on the source table's columns,
// as one on the target's: each column it names must be an output column
// that passes the source column through as it is (TRANSFORM *, or the
// column itself, under any name).
func targetFilter(p *planner.Pipeline, tp *planner.TablePlan, where string) (string, error) {
	if where == "" {
		return "", nil
	}
	e, err := parseWhere(where)
	if err != nil {
		return "", err
	}
	if err := checkWhereColumns(tp, where, e); err != nil {
		return "", err
	}
	v := &whereRenamer{tp: tp}
	e.Accept(v)
	if v.err != nil {
		return "", fmt.Errorf("pipeline %s: --where %q: %w", p.Name, where, v.err)
	}
	var b strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.RestoreStringSingleQuotes|format.RestoreStringWithoutCharset|
		format.RestoreKeyWordUppercase|format.RestoreNameBackQuotes, &b)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// whereRenamer renames the columns of a WHERE to the output columns that
// pass them through.
type whereRenamer struct {
	tp  *planner.TablePlan
	err error
}

func (v *whereRenamer) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.SubqueryExpr:
		v.err = errors.New("a subquery is not allowed")
		return n, true
	case *ast.ColumnName:
		src := n.Name.O
		for i, e := range v.tp.Outputs {
			if name, ok := exec.ColumnName(e); ok && strings.EqualFold(name, src) {
				n.Schema, n.Table, n.Name = ast.CIStr{}, ast.CIStr{}, ast.NewCIStr(v.tp.Output[i].Name)
				return n, true
			}
		}
		if v.err == nil {
			v.err = fmt.Errorf("column %s is not passed to the target as it is, so the target's rows of the range cannot be found "+
				"(a WHERE on the key columns, or on columns of TRANSFORM *, can be)", src)
		}
		return n, true
	}
	return n, false
}

func (v *whereRenamer) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// resnapshotPoller hands the requests of r's pipelines to the stream:
// those there at start at once (so that an apply --once carries them out
// before its stream ends), then every ResnapshotPoll until ctx ends.
type resnapshotPoller struct {
	r     *sourceRun
	rs    connectors.Resnapshotter
	taken map[string]bool
	// retried: requests of a rejoined table (ResnapshotRequest.Rejoined)
	// that the stream did not take, asked again (logged once).
	retried map[string]bool
}

func (p *resnapshotPoller) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(ResnapshotPoll):
		}
		p.poll(ctx)
	}
}

// poll hands the new requests to the stream.
func (p *resnapshotPoller) poll(ctx context.Context) {
	r := p.r
	reqs, broken, err := pendingResnapshots(r.opts.StateDir)
	if err != nil {
		r.opts.Log.Error("resnapshot requests cannot be read", "error", err)
	}
	for _, b := range broken {
		r.failResnapshot(b.id, b.err.Error())
	}
	for _, req := range reqs {
		if p.taken[req.ID] || req.Source != r.decl.Name {
			continue
		}
		var pl *planner.Pipeline
		var sink connectors.Sink
		var run *pipeRun
		for _, pr := range r.runs {
			if pr.p.Name == req.Pipeline {
				pl, sink, run = pr.p, r.sinks[pr.p.Sink], pr
			}
		}
		if pl == nil {
			if r.opts.planned != nil && !r.opts.planned[req.Pipeline] && r.alone == "" && !r.scan {
				// The file this apply runs has no such pipeline (added
				// since it started): the request waited unseen, and the
				// next apply carried it out over the pipeline's first
				// snapshot, every row twice in an append target.
				p.taken[req.ID] = true
				r.failResnapshot(req.ID, fmt.Sprintf("the running etlq apply does not run pipeline %s (not in the file it started with): "+
					"apply the file that has it; its first run snapshots its tables as its SNAPSHOT option says", req.Pipeline))
			}
			continue // a pipeline stopped alone (its own stream takes it)
		}
		p.taken[req.ID] = true
		if _, err := CheckResnapshot(pl, req); err != nil {
			r.failResnapshot(req.ID, err.Error())
			continue
		}
		db, table, _ := strings.Cut(req.Table, ".")
		rebuild := false
		if m, ok := sink.(connectors.TargetMismatcher); ok {
			// A target with a column of another type than the rows (a
			// type change it could not take, or changed by hand) cannot
			// take them read again in place: the table is rebuilt.
			bad, err := m.Mismatches(ctx, pl.Target)
			if err == nil && len(bad) > 0 {
				r.opts.Log.Info("resnapshot: the target does not match the table's types: it is rebuilt", "pipeline", req.Pipeline, "table", req.Table, "mismatch", strings.Join(bad, "; "))
				rebuild = true
			}
		}
		if req.Where == "" && req.Rejoined != "" {
			// (Only such a request: one that fails stays pending, so the
			// changes left to it are not lost; awaitReread.)
			run.awaitReread(req.Table, true)
		}
		err := p.rs.Resnapshot(ctx, connectors.Resnapshot{ID: req.ID, Pipeline: req.Pipeline,
			Table: connectors.TableRef{DB: db, Table: table}, Where: req.Where, Rebuild: rebuild})
		if err != nil {
			run.awaitReread(req.Table, false)
			if ctx.Err() != nil {
				return
			}
			if req.Rejoined != "" {
				// (The server gone for a moment, the table locked:) the
				// table's changes since the pipeline's own checkpoint are
				// in this re-read only. It stays, and is asked again at
				// the next poll, and by the next run.
				delete(p.taken, req.ID)
				if !p.retried[req.ID] {
					r.opts.Log.Error("resnapshot not carried out yet: the request stays, and is asked again", "id", req.ID, "pipeline", req.Pipeline, "table", req.Table,
						"reason", err.Error(), "rejoined", req.Rejoined)
					p.retried[req.ID] = true
				}
				continue
			}
			r.failResnapshot(req.ID, err.Error())
			continue
		}
		r.opts.Log.Info("resnapshot requested", "pipeline", req.Pipeline, "table", req.Table, "where", req.Where, "id", req.ID)
	}
}

// keepRejoined reports whether request id is of a table a stopped
// pipeline rejoined the source's stream without catching up
// (ResnapshotRequest.Rejoined): then, not carried out, it stays pending —
// the table's changes between the pipeline's own checkpoint and the join
// are in that re-read only — and the reason is logged; the caller stops
// the pipeline. It returns the request's Rejoined text.
func (r *sourceRun) keepRejoined(id, reason string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(r.opts.StateDir, ResnapshotDir, id+".json"))
	if err != nil {
		return "", false
	}
	var req ResnapshotRequest
	if json.Unmarshal(b, &req) != nil || req.Rejoined == "" {
		return "", false
	}
	r.opts.Log.Error("resnapshot not carried out: the request stays, for the next run: the table's changes since the pipeline's own checkpoint are in this re-read only",
		"id", id, "pipeline", req.Pipeline, "table", req.Table, "reason", reason, "rejoined", req.Rejoined)
	return req.Rejoined, true
}

// rejoinedOf returns the Rejoined text of request id ("" when it has none
// or cannot be read).
func (r *sourceRun) rejoinedOf(id string) string {
	b, err := os.ReadFile(filepath.Join(r.opts.StateDir, ResnapshotDir, id+".json"))
	if err != nil {
		return ""
	}
	var req ResnapshotRequest
	if json.Unmarshal(b, &req) != nil {
		return ""
	}
	return req.Rejoined
}

// goneWhileStopped ends request e of a table that left the stream
// (dropped, renamed away) while pipeline pr was stopped: pr rejoined
// without catching the table up (ResnapshotRequest.Rejoined, why), so the
// truncate the table left with never reached its target, which still
// holds the table's rows. An upsert target loses them now, by e.Version
// (above every row of the table the stream sent), as the DROP's truncate
// would have removed them; then the request is done — nothing is left to
// read again. Another target keeps them: the request fails, saying so.
// (Before, the request failed, or stayed pending for good, and the
// target kept the rows: TestRejoinedTableDropped.)
func (r *sourceRun) goneWhileStopped(ctx context.Context, pr *pipeRun, b *exec.Batch, e *exec.ResnapshotEnd, why string, seq uint64) error {
	key := b.DB + "." + b.Table
	t, ok := pr.writer.(connectors.Truncater)
	tp := pipelineTable(pr.p, key)
	if tr := pr.tables[key]; tr != nil {
		tp = tr.plan
	}
	switch {
	case !ok || pr.p.Target.Mode != connectors.ModeUpsert:
		r.failResnapshot(e.ID, fmt.Sprintf("%s; it left the source (dropped or renamed away) while pipeline %s was stopped (%s), and the %s target got no truncate change for it: its rows stay there",
			e.Err, pr.p.Name, why, pr.p.Target.Mode))
		return nil
	case tp == nil:
		r.failResnapshot(e.ID, e.Err+"; pipeline "+pr.p.Name+" no longer reads it")
		return nil
	case len(pr.tables) > 1 && !rowsApart(pr.p, tp):
		r.failResnapshot(e.ID, fmt.Sprintf("%s; it left the source (dropped or renamed away) while pipeline %s was stopped (%s): the target keeps its rows, since the pipeline writes several tables into it and has no _table output column to tell their rows apart",
			e.Err, pr.p.Name, why))
		return nil
	}
	where := map[string]string{}
	if c := pickColumn(tp, exec.ColTable); c != "" {
		where[c] = b.Table
	}
	if c := pickColumn(tp, exec.ColDB); c != "" {
		where[c] = b.DB
	}
	pr.out.settle()
	r.tracker.add(seq)
	r.tracker.whenAcked(seq, func() {
		if err := os.Remove(filepath.Join(r.opts.StateDir, ResnapshotDir, e.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.opts.Log.Warn("resnapshot request file not removed", "id", e.ID, "error", err)
		}
	})
	pr.log.Info("resnapshot: the table left the source (dropped or renamed away) while the pipeline was stopped, and it rejoined without catching the table up: its rows leave the target, as the table's truncate would have removed them; nothing is read again",
		"pipeline", pr.p.Name, "table", key, "id", e.ID, "reason", e.Err)
	err := t.Truncate(ctx, connectors.Truncation{Table: connectors.TableRef{DB: b.DB, Table: b.Table}, Version: e.Version, Where: where}, func(err error) {
		if err != nil {
			err = fmt.Errorf("pipeline %s: resnapshot of %s: %w", pr.p.Name, key, err)
		} else {
			pr.stats.Batches.Add(1)
			pr.log.Info("resnapshot done: the table's rows left the target", "pipeline", pr.p.Name, "table", key, "id", e.ID)
		}
		r.tracker.done(seq, err)
	})
	if err != nil {
		err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		r.tracker.done(seq, err)
	}
	return err
}

// failResnapshot logs why request id was not carried out and renames its
// file to <id>.failed with the reason first.
func (r *sourceRun) failResnapshot(id, reason string) {
	r.opts.Log.Error("resnapshot not carried out", "id", id, "reason", reason)
	dir := filepath.Join(r.opts.StateDir, ResnapshotDir)
	b, _ := os.ReadFile(filepath.Join(dir, id+".json"))
	_ = os.WriteFile(filepath.Join(dir, id+".failed"), append([]byte(reason+"\n"), b...), 0o600)
	_ = os.Remove(filepath.Join(dir, id+".json"))
}

// resnapshotEnd handles the end of a resnapshot (b.Resnapshot): an upsert
// target loses the keys of the range it holds in versions older than the
// resnapshot (connectors.Truncation.Older), in order with the writes
// before; then the request is done.
func (r *sourceRun) resnapshotEnd(ctx context.Context, b *exec.Batch, seq uint64) error {
	e := b.Resnapshot
	if e.ID == "" {
		return r.cutoverEnd(ctx, b, seq)
	}
	for _, pr := range r.routes[b.DB+"."+b.Table] {
		if pr.p.Name == e.Pipeline {
			pr.awaitReread(b.DB+"."+b.Table, false)
		}
	}
	key := b.DB + "." + b.Table
	var pr *pipeRun
	for _, p := range r.routes[key] {
		if p.p.Name == e.Pipeline {
			pr = p
		}
	}
	if e.Err != "" {
		if e.Gone && pr != nil {
			if why := r.rejoinedOf(e.ID); why != "" {
				return r.goneWhileStopped(ctx, pr, b, e, why, seq)
			}
		}
		// (A table gone from the stream left the targets with its
		// rows: nothing to keep the request for.)
		if !e.Gone {
			if why, kept := r.keepRejoined(e.ID, e.Err); kept && pr != nil {
				// Not complete without the re-read: the pipeline stops
				// alone, the request pending; the next run catches it
				// up without the table again, rejoins, and reads it
				// again.
				file := pr.p.Pos.Filename
				if file == "" {
					file = "FILE"
				}
				return r.stopAlone(ctx, pr, fmt.Errorf("resnapshot of %s not carried out: %s (%s)", key, e.Err, why),
					fmt.Sprintf("remove the cause, then run apply again: the request stays in %s and is carried out then (removed, the target keeps %s without its changes made while the pipeline was stopped; etlq resnapshot %s %s %s reads it again)",
						filepath.Join(r.opts.StateDir, ResnapshotDir, e.ID+".json"), key, file, pr.p.Name, key),
					r.lastMark, false)
			} else if kept {
				return nil
			}
		}
		r.failResnapshot(e.ID, e.Err)
		return nil
	}
	// The request is removed once the rows it read again, and what the
	// end writes, are acknowledged by the sink, like a checkpoint: a run
	// killed before that leaves it for the next one.
	r.tracker.whenAcked(seq, func() {
		if err := os.Remove(filepath.Join(r.opts.StateDir, ResnapshotDir, e.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.opts.Log.Warn("resnapshot request file not removed", "id", e.ID, "error", err)
		}
	})
	if e.Rebuilt {
		if pr != nil && e.Where == "" {
			// (The target's rows of the table are the re-read's alone.)
			if err := noteCleared(r.opts.StateDir, pr, key, e.Version, "", clearedReread); err != nil {
				return err
			}
		}
		r.opts.Log.Info("resnapshot done: the target was rebuilt with the table's types", "pipeline", e.Pipeline, "table", key, "id", e.ID)
		return nil
	}
	if pr == nil && r.opts.worker {
		// The capture runs a file with a pipeline this worker's file
		// lacks (docs/scale-out.md, "Resnapshot through the log"): the
		// request is the capture's, done once it put the rows in the log.
		r.opts.Log.Warn("the log holds a resnapshot for a pipeline this worker's file lacks (the capture runs another file): this worker acknowledges its rows without writing them; start every worker of the group with the capture's file",
			"pipeline", e.Pipeline, "table", key, "id", e.ID)
		return nil
	}
	if pr == nil {
		r.failResnapshot(e.ID, "pipeline "+e.Pipeline+" no longer reads "+key)
		return nil
	}
	pr.out.settle() // (the tombstones come after the rows read again)
	t, ok := pr.writer.(connectors.Truncater)
	if !ok || pr.p.Target.Mode != connectors.ModeUpsert {
		pr.log.Info("resnapshot done: the table's rows were sent again; a "+pr.p.Target.Mode.String()+" target keeps rows deleted at the source",
			"pipeline", pr.p.Name, "table", key, "where", e.Where, "id", e.ID)
		return nil
	}
	tp := pipelineTable(pr.p, key)
	if tr := pr.tables[key]; tr != nil {
		tp = tr.plan
	}
	filter, err := targetFilter(pr.p, tp, e.Where)
	if err != nil {
		r.failResnapshot(e.ID, err.Error())
		return nil
	}
	where := map[string]string{}
	if c := pickColumn(tp, exec.ColTable); c != "" {
		where[c] = b.Table
	}
	if c := pickColumn(tp, exec.ColDB); c != "" {
		where[c] = b.DB
	}
	ref := connectors.TableRef{DB: b.DB, Table: b.Table}
	if e.Where == "" {
		if err := noteCleared(r.opts.StateDir, pr, key, e.Version, "", clearedReread); err != nil {
			return err
		}
	} else if err := noteRangeCleared(r.opts.StateDir, pr, key, e.Version, e.Where); err != nil {
		// (A range's: replay asks the source which letters' rows are in
		// it.)
		return err
	}
	r.tracker.add(seq)
	pr.log.Info("resnapshot: removing the range's rows the source no longer has", "pipeline", pr.p.Name, "table", key, "where", e.Where, "id", e.ID)
	err = t.Truncate(ctx, connectors.Truncation{Table: ref, Version: e.Version, Where: where, Filter: filter, Older: true}, func(err error) {
		if err != nil {
			err = fmt.Errorf("pipeline %s: resnapshot of %s: %w", pr.p.Name, key, err)
		} else {
			pr.stats.Batches.Add(1)
			pr.log.Info("resnapshot done", "pipeline", pr.p.Name, "table", key, "where", e.Where, "id", e.ID)
		}
		r.tracker.done(seq, err)
	})
	if err != nil {
		err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		r.tracker.done(seq, err)
	}
	return err
}

// cutoverEnd handles the end of the re-read of a table that replaced
// another of its name at an online schema change's cut-over (a
// b.Resnapshot of no request): the old table left without a truncate, the
// new one's rows overwrote its rows by version, and now each upsert target
// loses the table's keys whose live row is older than the version reserved
// at the cut-over, those the new table does not have. Other targets got
// the rows again as read changes.
func (r *sourceRun) cutoverEnd(ctx context.Context, b *exec.Batch, seq uint64) error {
	e := b.Resnapshot
	key := b.DB + "." + b.Table
	if _, known := r.routes[key]; !known {
		// The new table had no row to read: its pipelines plan it here.
		if err := r.joinTable(ctx, b); err != nil {
			return err
		}
	}
	for _, pr := range r.routes[key] {
		pr.out.settle() // (the tombstones come after the rows read again)
		t, ok := pr.writer.(connectors.Truncater)
		tr := pr.tables[key]
		if !ok || pr.p.Target.Mode != connectors.ModeUpsert || tr == nil || pr.p.Snapshot == connectors.SnapshotOnly {
			continue
		}
		if pr.awaitsReread(key) {
			// Its rows read again here were left to the re-read it asked
			// for (awaitReread): its target keeps the old rows until then.
			continue
		}
		if err := noteCleared(r.opts.StateDir, pr, key, e.Version, "", clearedCutover); err != nil {
			return err
		}
		if err := r.removeOlder(ctx, pr, t, tr, b, e.Version, seq, "cut-over",
			"the old table's rows the new one does not have"); err != nil {
			return err
		}
	}
	return nil
}

// snapshotEnded handles the last snapshot row of b's table in a run that
// started without a checkpoint over targets that held rows (a new state
// directory): like a resnapshot's end, an upsert target loses the table's
// keys whose live row is older than the run (r.snapFloor), keys that the
// snapshot did not read and no change since wrote: rows deleted at the
// source while no checkpoint followed it.
func (r *sourceRun) snapshotEnded(ctx context.Context, pr *pipeRun, b *exec.Batch, seq uint64) error {
	pr.out.settle()
	t, ok := pr.writer.(connectors.Truncater)
	key := b.DB + "." + b.Table
	tr := pr.tables[key]
	if !ok || pr.p.Target.Mode != connectors.ModeUpsert || tr == nil {
		return nil
	}
	return r.removeOlder(ctx, pr, t, tr, b, r.snapFloor, seq, "snapshot",
		"the table's rows the source no longer has")
}

// PipelineHasRun reports whether an apply with state directory dir has
// run pipeline (of source): a checkpoint of the source names it, or one of
// its own (stopped alone, or its own scan). A pipeline that has not run
// gets its first snapshot from its first apply, as its SNAPSHOT option
// says: a resnapshot request for it would read its tables a second time.
func PipelineHasRun(dir, source, pipeline string) (bool, error) {
	store := &Store{Dir: dir}
	for _, name := range []string{source, aloneName(source, pipeline), scanName(source, pipeline)} {
		st, err := store.Load(name)
		if err != nil {
			return false, err
		}
		if st != nil && slices.Contains(st.Pipelines, pipeline) {
			return true, nil
		}
	}
	return false, nil
}

// StateDirInUse reports whether a process (a running apply) holds dir's
// lock now.
func StateDirInUse(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := flock(f); err != nil {
		return errors.Is(err, errLocked)
	}
	funlock(f)
	return false
}

// removeOlder tombstones, in pr's upsert target, b's table's keys whose
// live row is older than version (connectors.Truncation.Older): the end of
// a re-read (a cut-over's, a first snapshot's over existing targets). The
// target's rows of other tables stay: the _table/_db outputs tell them
// apart; a pipeline writing several tables without a _table output keeps
// them, with a WARN. step names the re-read in the log and errors, what
// the rows removed.
func (r *sourceRun) removeOlder(ctx context.Context, pr *pipeRun, t connectors.Truncater, tr *tableRun, b *exec.Batch, version uint64, seq uint64, step, what string) error {
	key := b.DB + "." + b.Table
	where := map[string]string{}
	if c := pickColumn(tr.plan, exec.ColTable); c != "" {
		where[c] = b.Table
	}
	if c := pickColumn(tr.plan, exec.ColDB); c != "" {
		where[c] = b.DB
	}
	if !rowsApart(pr.p, tr.plan) {
		pr.log.Warn(step+": the target keeps "+what+": the pipeline writes several tables into it and has no _table output column to tell their rows apart (add _table to TRANSFORM and to KEY)",
			"pipeline", pr.p.Name, "table", key)
		return nil
	}
	r.tracker.add(seq)
	pr.log.Info(step+": removing "+what, "pipeline", pr.p.Name, "table", key)
	err := t.Truncate(ctx, connectors.Truncation{Table: connectors.TableRef{DB: b.DB, Table: b.Table}, Version: version, Where: where, Older: true}, func(err error) {
		if err != nil {
			err = fmt.Errorf("pipeline %s: %s of %s: %w", pr.p.Name, step, key, err)
		} else {
			pr.stats.Batches.Add(1)
		}
		r.tracker.done(seq, err)
	})
	if err != nil {
		err = fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
		r.tracker.done(seq, err)
	}
	return err
}

// newPipelineResnapshots asks a resnapshot (a request file, as `etlq
// resnapshot` writes) of each table of a SNAPSHOT initial pipeline
// that the checkpoint st does not name — a pipeline added to the file
// since — or whose target this run had to make (dropped outside etlq
// since the checkpoint: its rows are gone), when the checkpoint's stream
// has already started or ended the table's snapshot: a stream resumed
// from st does not read that table again, so the target would get only
// the changes made from now on and never equal the source. A request
// already waiting for the same pipeline and table is not made again (a
// run that stopped before its first checkpoint named the pipeline). The
// poll at the stream's start hands the requests over, so that apply --once
// carries them out too. A stream that cannot say (a log worker's) only
// warns of a target made again.
//
// So is a table of an upsert pipeline whose definition (WHERE, TRANSFORM,
// MODE, KEY) changed in the file since the last run: its target holds the
// rows of the old definition (keys the new WHERE drops included), which
// the stream would rewrite only as their rows change. Other modes keep
// every change: the edit is only logged. The definitions are kept in
// <state-dir>/definitions-<source>.json, written after the requests.
func (r *sourceRun) newPipelineResnapshots(ctx context.Context, st *sourceState) error {
	if r.alone != "" || r.until != nil {
		return nil
	}
	defs, err := loadDefinitions(r.opts.StateDir, r.decl.Name)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	if st != nil {
		for _, n := range st.Pipelines {
			known[n] = true
		}
	}
	for _, pr := range r.runs {
		if !known[pr.p.Name] {
			// A pipeline new to the checkpoint never wrote its target: an
			// output column the table lacks is new to it, not dropped
			// outside etlq — the table of another pipeline of the file
			// (a shared target: whichever opens first makes it with its
			// own columns), or one left there.
			readingAgain(pr)
		}
	}
	if err := r.failFirstSnapshotRequests(st, known); err != nil {
		return err
	}
	if st == nil || len(st.Pipelines) == 0 {
		return r.saveDefinitions(defs)
	}
	var ran []*planner.Pipeline
	for _, pr := range r.runs {
		ran = append(ran, pr.p)
	}
	// A table that left a pipeline's FROM: its rows stay in the target,
	// which apply does not clean (docs/live-tables.md).
	left, err := fromChanges(r.opts.StateDir, r.decl.Name, ran, known)
	if err != nil {
		return err
	}
	if err := r.removeLeftTables(ctx, left); err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, pr := range r.runs {
		p := pr.p
		if old, ok := defs[p.Name]; ok && known[p.Name] && old != p.Definition {
			if p.Target.Mode == connectors.ModeUpsert && p.Snapshot == connectors.SnapshotInitial {
				changed[p.Name] = true
			} else {
				// Not read again: a changelog or append target keeps the
				// history as written, a SNAPSHOT never one takes no
				// snapshot. An output column new to the definition is
				// added, empty for the rows already there, rather than
				// refused as dropped outside etlq.
				r.opts.Log.Warn("the pipeline changed in the file since the last run: its target keeps the rows the old definition wrote (an output column new to it is empty there); etlq resnapshot reads its tables again",
					"pipeline", p.Name, "mode", p.Target.Mode.String())
				readingAgain(pr)
			}
		}
	}
	targets, err := loadTargets(r.opts.StateDir, r.decl.Name)
	if err != nil {
		return err
	}
	moved := map[string]string{} // pipeline → the target of the last run
	for _, pr := range r.runs {
		old, ok := targets[pr.p.Name]
		switch {
		case !ok || !known[pr.p.Name]:
		case !old.same(pr.p, r.opts.plan):
			_, moved[pr.p.Name] = old.moved(pr.p)
			// Its tables are read in full into the new target (or, through
			// the log, only its changes come): a column that target lacks
			// is new to it, not dropped outside etlq.
			readingAgain(pr)
		case old.renamedSink(pr.p, r.opts.plan):
			r.opts.Log.Info("the pipeline's sink has another name in the file since the last run: the same server and table, nothing is read again",
				"pipeline", pr.p.Name, "target", targetOf(pr.p), "was", old.Shown)
		}
	}
	created := map[string]bool{}
	var pipes []*planner.Pipeline
	for _, pr := range r.runs {
		pipes = append(pipes, pr.p)
		if tc, ok := pr.writer.(connectors.TargetCreator); ok && tc.CreatedTarget() {
			created[pr.p.Name] = true
		}
	}
	sm, ok := r.src.(connectors.SnapshotMarker)
	if !ok {
		for _, p := range pipes {
			switch {
			case moved[p.Name] != "":
				// The log's capture and group know the pipeline by
				// its name and definition, which INTO is not part
				// of: nothing reads its tables into the new target.
				r.opts.Log.Warn("the pipeline writes into another target since the last run (INTO changed, was "+moved[p.Name]+"): it gets only the changes from now on, not the rows before; read its tables into it with etlq resnapshot FILE PIPELINE --log …",
					"pipeline", p.Name, "target", p.Target.Name)
			case created[p.Name] && known[p.Name]:
				r.opts.Log.Warn("the target of a pipeline was not there (dropped outside etlq?) and was made again: it lacks the rows written before; read them again with etlq resnapshot",
					"pipeline", p.Name, "target", p.Target.Name)
			}
		}
		// Said once: the next start compares with this run's targets
		// (the group keeps the definitions, groupEditedPipelines).
		return r.saveTargets()
	}
	pending, _, err := pendingResnapshots(r.opts.StateDir)
	if err != nil {
		return err
	}
	reqs, err := readAgainRequests(r.decl.Name, pipes, func(p *planner.Pipeline) bool {
		return !known[p.Name] || created[p.Name] || changed[p.Name] || moved[p.Name] != ""
	},
		sm, st.Mark, pending)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		if _, err := WriteResnapshotRequest(r.opts.StateDir, req); err != nil {
			return fmt.Errorf("pipeline %s: %w", req.Pipeline, err)
		}
		why := "a pipeline new to the checkpoint reads a table whose snapshot the stream has read already: resnapshot requested for it"
		switch {
		case moved[req.Pipeline] != "":
			why = "the pipeline writes into another target since the last run (INTO changed, was " + moved[req.Pipeline] + "): its table is read in full into the new one"
		case created[req.Pipeline] && known[req.Pipeline]:
			why = "the target of a pipeline was not there (dropped outside etlq?) and was made again: its table is read again"
		case changed[req.Pipeline]:
			why = "the pipeline changed in the file since the last run (WHERE, TRANSFORM, MODE or KEY): its table is read again, so that its target holds the rows of the new definition"
		}
		r.opts.Log.Info(why, "pipeline", req.Pipeline, "table", req.Table, "id", req.ID)
	}
	for _, pr := range r.runs {
		if changed[pr.p.Name] {
			readingAgain(pr)
		}
	}
	return r.saveDefinitions(defs)
}

// failFirstSnapshotRequests fails the waiting resnapshot requests of the
// pipelines new to the checkpoint st (known its pipelines) whose table
// this run's stream snapshots for them anyway (SNAPSHOT initial, the
// table's snapshot not started in st): carried out as well, they read the
// table a second time, and an append target got every row twice (a
// request made before the pipeline was first applied, new-user trial).
// A request of a table whose snapshot the stream has read stays: it is
// the pipeline's only read of it (readAgainRequests). Without a
// checkpoint (the source's first run) nothing is failed: etlq resnapshot
// refuses requests for pipelines no checkpoint names.
func (r *sourceRun) failFirstSnapshotRequests(st *sourceState, known map[string]bool) error {
	pending, _, err := pendingResnapshots(r.opts.StateDir)
	if err != nil || len(pending) == 0 {
		return err
	}
	pipes := map[string]*planner.Pipeline{}
	for _, pr := range r.runs {
		pipes[pr.p.Name] = pr.p
	}
	sm, _ := r.src.(connectors.SnapshotMarker)
	for _, req := range pending {
		p := pipes[req.Pipeline]
		if req.Source != r.decl.Name || p == nil || known[p.Name] || p.Snapshot != connectors.SnapshotInitial || req.Rejoined != "" {
			continue
		}
		if ran, err := PipelineHasRun(r.opts.StateDir, r.decl.Name, p.Name); err != nil || ran {
			continue // (stopped alone: its own checkpoint names it)
		}
		if st == nil || len(st.Pipelines) == 0 || sm == nil {
			// (A source's first run: etlq resnapshot refuses requests
			// before it, and a stream that cannot say keeps them.)
			continue
		}
		db, table, _ := strings.Cut(req.Table, ".")
		started, err := sm.SnapshotStarted(st.Mark, connectors.TableRef{DB: db, Table: table})
		if err != nil {
			return err
		}
		if started {
			continue
		}
		r.failResnapshot(req.ID, fmt.Sprintf("pipeline %s had not run when this was requested: its first snapshot reads %s now (SNAPSHOT initial), "+
			"so the request is not carried out as well", p.Name, req.Table))
	}
	return nil
}

// readingAgain tells pr's writer that the pipeline's tables are read again
// in full (connectors.ReadAgainer): an output column new to its edited
// definition is added to the target rather than refused as dropped
// outside etlq.
func readingAgain(pr *pipeRun) {
	if ra, ok := pr.writer.(connectors.ReadAgainer); ok {
		ra.ReadingAgain()
	}
}

// definitionsFile is where the definitions of a source's pipelines of the
// last run are kept.
func definitionsFile(dir, source string) string {
	return filepath.Join(dir, "definitions-"+source+".json")
}

// loadDefinitions reads the pipeline definitions (name → text) the last
// run of source kept; none when it kept none.
func loadDefinitions(dir, source string) (map[string]string, error) {
	return loadKept[map[string]string](definitionsFile(dir, source), "the definitions")
}

// saveDefinitions keeps the definitions of this run's pipelines over
// those of the last run (defs: a pipeline that runs alone keeps its own).
func (r *sourceRun) saveDefinitions(defs map[string]string) error {
	if defs == nil {
		defs = map[string]string{}
	}
	var pipes []*planner.Pipeline
	for _, pr := range r.runs {
		defs[pr.p.Name] = pr.p.Definition
		pipes = append(pipes, pr.p)
	}
	if err := saveFromTables(r.opts.StateDir, r.decl.Name, pipes); err != nil {
		return err
	}
	data, err := json.MarshalIndent(defs, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(definitionsFile(r.opts.StateDir, r.decl.Name), data); err != nil {
		return err
	}
	if err := r.saveTargets(); err != nil {
		return err
	}
	return r.saveSnapshotModes()
}

// readAgainRequests returns a resnapshot request for each table of each
// SNAPSHOT initial pipeline of pipes that again selects, whose snapshot
// mark has started or ended (a stream resumed there does not read it
// again), unless one of pending is for the same pipeline and table.
func readAgainRequests(source string, pipes []*planner.Pipeline, again func(*planner.Pipeline) bool, sm connectors.SnapshotMarker,
	mark []byte, pending []*ResnapshotRequest) ([]*ResnapshotRequest, error) {
	waiting := map[string]bool{}
	for _, q := range pending {
		waiting[q.Pipeline+"\x00"+q.Table] = true
	}
	var out []*ResnapshotRequest
	for _, p := range pipes {
		if p.Snapshot != connectors.SnapshotInitial || !again(p) {
			continue
		}
		for _, t := range p.Tables {
			started, err := sm.SnapshotStarted(mark, t.Ref)
			if err != nil {
				return nil, err
			}
			if started && !waiting[p.Name+"\x00"+t.Ref.String()] {
				out = append(out, &ResnapshotRequest{Source: source, Pipeline: p.Name, Table: t.Ref.String()})
			}
		}
	}
	return out, nil
}

// MarkKeysRemoved marks the pipelines of plan whose KEY (…) the state
// directory's last run had and the file no longer writes as giving their
// key (connectors.Target.KeyGiven): the key falls back to the source's
// primary key by an edit of the file, not by a DDL, and the ClickHouse
// sink compares it with the target's ORDER BY as it does a KEY written —
// a fallback to another key would have the rows of the new key replace
// each other. It marks too the pipelines edited since that run
// (connectors.Target.Edited). A state directory without definitions marks
// none.
func MarkKeysRemoved(plan *planner.Plan, stateDir string) {
	for _, d := range plan.Sources {
		defs, err := loadDefinitions(stateDir, d.Name)
		if err != nil || len(defs) == 0 {
			continue
		}
		for _, p := range plan.Pipelines {
			if p.Source != d.Name {
				continue
			}
			old, had := defs[p.Name]
			if had && old != p.Definition {
				p.Target.Edited = true
			}
			if !p.Target.KeyGiven && definitionHasKey(old) {
				p.Target.KeyGiven = true
			}
		}
	}
}

// definitionHasKey reports whether a pipeline's definition
// (lang.PipelineDefinition: one line per clause, the called functions'
// after them) has a KEY (…) clause.
func definitionHasKey(def string) bool {
	for _, line := range strings.Split(def, "\n") {
		if strings.HasPrefix(line, "FUNCTION ") {
			return false
		}
		if strings.HasPrefix(line, "KEY (") {
			return true
		}
	}
	return false
}

// PipelineChanges says, for check and plan, what apply will do about the
// pipelines of plan that the state directory's last run did not run as
// the file has them now (newPipelineResnapshots): a pipeline new to a
// source's checkpoint, one whose WHERE, TRANSFORM, MODE or KEY changed
// since, and one of the last run the file no longer has. Nothing for a
// source without a checkpoint (apply starts afresh). Each note names the
// pipeline.
func PipelineChanges(plan *planner.Plan, stateDir string) []string {
	var out []string
	store := &Store{Dir: stateDir}
	for _, d := range plan.Sources {
		st, err := store.Load(d.Name)
		if err != nil || st == nil || len(st.Pipelines) == 0 {
			continue
		}
		defs, err := loadDefinitions(stateDir, d.Name)
		if err != nil {
			out = append(out, fmt.Sprintf("source %s: %v", d.Name, err))
			continue
		}
		targets, err := loadTargets(stateDir, d.Name)
		if err != nil {
			out = append(out, fmt.Sprintf("source %s: %v", d.Name, err))
		}
		known := map[string]bool{}
		for _, n := range st.Pipelines {
			known[n] = true
		}
		// A pipeline with an error of its own (a misspelt column, a table
		// its user may not read) has no note: its tables, definition and
		// target are not known as apply would run them, and its FROM
		// compared with the last run's tables said "no longer reads
		// shop.orders (FROM changed …)" of a FROM never edited (new-user
		// trial). One whose tables were not resolved (offline, its source
		// unreachable) has the notes of its text, not of its tables.
		var pipes, resolved []*planner.Pipeline
		for _, p := range plan.Pipelines {
			if p.Source == d.Name && !plan.Failed[p.Name] {
				pipes = append(pipes, p)
				if p.Unbound == nil {
					resolved = append(resolved, p)
				}
			}
		}
		left, err := fromChanges(stateDir, d.Name, resolved, known)
		if err != nil {
			out = append(out, fmt.Sprintf("source %s: %v", d.Name, err))
		}
		for _, l := range left {
			out = append(out, l.note())
		}
		for _, p := range pipes {
			old, had := defs[p.Name]
			if t, ok := targets[p.Name]; ok && known[p.Name] && !t.same(p, plan) {
				now, was := t.moved(p)
				what := "apply reads its tables in full into the new one, which has none of the rows written so far; the old target keeps its rows as they are"
				if p.Snapshot != connectors.SnapshotInitial {
					what = "the new one gets the changes from the checkpoint on only (SNAPSHOT " + snapshotWord(p.Snapshot) + "): none of the rows written so far"
				}
				out = append(out, fmt.Sprintf("pipeline %s writes into another target since the last run (%s, was %s): %s", p.Name, now, was, what))
				continue
			} else if ok && known[p.Name] && t.renamedSink(p, plan) {
				out = append(out, fmt.Sprintf("pipeline %s writes through a sink named otherwise since the last run (%s, was %s): the same server and table (%s), so nothing is read again", p.Name, targetOf(p), t.Shown, p.TargetAt))
			}
			if !known[p.Name] {
				// A pipeline stopped alone is not in the source's list once
				// a later run saved it; apply catches it up from its own
				// checkpoint (rejoin.go), reading nothing again.
				if own, err := store.Load(aloneName(d.Name, p.Name)); err == nil && own != nil {
					out = append(out, fmt.Sprintf("pipeline %s stopped alone in an earlier run: apply resumes it from its own checkpoint (%s), and it rejoins the source's stream once it caught up; nothing is read again", p.Name, store.path(aloneName(d.Name, p.Name))))
					continue
				}
			}
			switch {
			case !known[p.Name] && p.Snapshot == connectors.SnapshotInitial:
				out = append(out, fmt.Sprintf("pipeline %s is new to the checkpoint of source %s: apply reads its tables in full into its target (a pipeline renamed in the file is a new one: an upsert target is only read again, an append or changelog target gets every row again)", p.Name, d.Name))
			case !known[p.Name] && p.Snapshot == connectors.SnapshotOnly:
				out = append(out, fmt.Sprintf("pipeline %s is new to the checkpoint of source %s: apply reads its tables in full into its target, once (SNAPSHOT only: a table the checkpoint read already with a scan of its own, beside the source's stream)", p.Name, d.Name))
			case !known[p.Name]:
				out = append(out, fmt.Sprintf("pipeline %s is new to the checkpoint of source %s: it takes no snapshot (SNAPSHOT %s)", p.Name, d.Name, snapshotWord(p.Snapshot)))
			case !had || old == p.Definition:
			case p.Target.Mode == connectors.ModeUpsert && p.Snapshot == connectors.SnapshotInitial:
				out = append(out, fmt.Sprintf("pipeline %s changed in the file since the last run (WHERE, TRANSFORM, MODE or KEY): apply reads its tables again, so that its target holds the rows of the new definition (an output column new to it is added)", p.Name))
			default:
				out = append(out, fmt.Sprintf("pipeline %s changed in the file since the last run (WHERE, TRANSFORM, MODE or KEY): its target keeps the rows the old definition wrote (an output column new to it is added, empty there); etlq resnapshot reads its tables again", p.Name))
			}
		}
		for _, g := range gonePipelines(plan, d.Name, st, targets) {
			out = append(out, g.note(d.Name))
		}
	}
	return out
}

// snapshotWord is the SNAPSHOT clause's word for m.
func snapshotWord(m connectors.SnapshotMode) string {
	switch m {
	case connectors.SnapshotNever:
		return "never"
	case connectors.SnapshotOnly:
		return "only"
	}
	return "initial"
}
