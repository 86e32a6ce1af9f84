package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/kong"
	"golang.org/x/term"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/planner"
)

type verifyCmd struct {
	File       string        `arg:"" type:"existingfile" help:"The .etl file."`
	Pipelines  []string      `arg:"" optional:"" name:"pipeline" help:"Pipelines to verify (default: every upsert and changelog pipeline)."`
	Repair     bool          `help:"Rewrite the differing keys from the source, then verify again."`
	StateDir   string        `default:"./.etlq" help:"The state directory of etlq apply for this file: its checkpoints tell how far the pipelines have applied."`
	Log        string        `placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"The pipelines run as etlq apply --log workers: how far they have applied is read from their acknowledgements in this log (not from --state-dir)."`
	Group      string        `default:"apply" help:"With --log: the workers' group."`
	Format     string        `default:"table" enum:"table,json" help:"Output format: table or json."`
	LagTimeout time.Duration `default:"2m" help:"How long to wait for a pipeline to apply past the position a re-check read the source at."`
	Show       int           `default:"10" help:"Differing keys shown per target, with their values (0: none, the counts alone)."`
	Progress   string        `default:"auto" enum:"auto,always,never" help:"Progress on standard error: auto (when it is a terminal), always or never."`
	Stream     bool          `help:"Stream every row through etlq instead of letting MariaDB and ClickHouse compute the checksums where the pipeline allows."`
	CPUProfile string        `hidden:"" help:"Write a Go CPU profile of the run to this file."`
}

// Run verifies; it exits 1 when a target differs from its source, 2 when a
// difference could not be told from lag (the pipeline is not applying), 3
// when that is because no etlq apply runs with the state directory.
func (c *verifyCmd) Run(ctx context.Context, kctx *kong.Context) error {
	_, plan, err := etlfile.LoadPlanNow(ctx, c.File, c.StateDir)
	if err != nil {
		return err
	}
	if err := unknownPipeline(plan, c.Pipelines); err != nil {
		// A pipeline name the file does not have is a command line verify
		// cannot take, as an unknown flag is: usage and exit 80, so that a
		// script tells the typo from a difference (exit 1, which it was).
		_ = kctx.PrintUsage(false)
		fmt.Fprintf(os.Stderr, "etlq: error: %v\n", err)
		return exitError{80}
	}
	if c.Log == "" {
		for _, w := range stateWarnings(plan, c.Pipelines, c.StateDir) {
			fmt.Fprintln(os.Stderr, "warning: "+w)
		}
	}
	stopProfile, err := startCPUProfile(c.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	// A verify holds a hash per key of each side: a larger heap between
	// collections saves most of the collector's work on large tables.
	debug.SetGCPercent(400)
	show := c.Progress == "always" || (c.Progress == "auto" && term.IsTerminal(int(os.Stderr.Fd())))
	var mu sync.Mutex
	last := time.Time{}
	opts := engine.VerifyOptions{StateDir: c.StateDir, LogURL: c.Log, LogGroup: c.Group, Pipelines: c.Pipelines, Repair: c.Repair, Stream: c.Stream, LagTimeout: c.LagTimeout, Shown: c.Show}
	if c.Show <= 0 {
		opts.Shown = -1 // none; the engine's 0 is its default
	}
	if show {
		opts.Progress = func(p string, rows int64) {
			mu.Lock()
			defer mu.Unlock()
			if time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(os.Stderr, "\r\x1b[Kverify %s: %d source rows read", p, rows)
		}
	}
	results, err := engine.Verify(ctx, plan, opts)
	if show {
		fmt.Fprint(os.Stderr, "\r\x1b[K")
	}
	if err != nil {
		return err
	}
	if c.Format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"pipelines": results, "ok": verdict(results) == 0}); err != nil {
			return err
		}
	} else {
		printVerify(os.Stdout, results)
	}
	code := verdict(results)
	if code == 3 {
		fmt.Fprintf(os.Stderr, "etlq verify: etlq apply is not running with state directory %s (it stopped, or was not started): the differences could be changes it has not applied yet; start it, then run verify again\n", c.StateDir)
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// stateWarnings says, before the long passes, when the checkpoints the
// re-checks wait for cannot be there: the state directory does not exist,
// or holds no checkpoint of a pipeline's source. Differences found then
// stay unconfirmed (exit 2).
func stateWarnings(plan *planner.Plan, names []string, dir string) []string {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return []string{fmt.Sprintf("state directory %s does not exist: a difference cannot be told from lag and stays unconfirmed "+
			"(is etlq apply running with that --state-dir?)", dir)}
	}
	var warns []string
	seen := map[string]bool{}
	store := &engine.Store{Dir: dir}
	for _, p := range plan.Pipelines {
		if len(names) > 0 && !slices.Contains(names, p.Name) || seen[p.Source] || p.Snapshot == connectors.SnapshotOnly ||
			p.Target.Mode != connectors.ModeUpsert && p.Target.Mode != connectors.ModeChangelog {
			continue
		}
		seen[p.Source] = true
		if st, err := store.Load(p.Source); err == nil && st != nil && engine.WorkerMark(st.Mark) {
			warns = append(warns, engine.WorkerStateNote(dir))
		} else if err == nil && st == nil {
			warns = append(warns, fmt.Sprintf("no checkpoint of source %s in %s: a difference cannot be told from lag until etlq apply "+
				"writes one (is it running with that --state-dir?)", p.Source, dir))
		}
	}
	return warns
}

// verdict is the exit code of a verification: 1 when a difference is
// confirmed (duplicate source keys included) or a pipeline could not be
// verified, 3 when differences remain that could be lag and no etlq apply
// runs with the state directory to apply it, 2 when they could be lag, 0
// otherwise.
func verdict(results []*engine.VerifyResult) int {
	code := 0
	for _, r := range results {
		switch {
		case r.Error != "" || r.DuplicateKeys > 0:
			return 1
		case r.Differences() > 0 && r.Unconfirmed == "":
			return 1
		case r.Differences() > 0 && r.ApplyStopped:
			code = 3
		case r.Differences() > 0 && code == 0:
			code = 2
		}
	}
	return code
}

// printVerify writes the results as a table, then the first differing keys
// of each target with both sides' values.
func printVerify(w io.Writer, results []*engine.VerifyResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline\ttarget\ttables\tsource rows\ttarget rows\tchunks\tdiffering chunks\trechecked keys\tmissing\textra\tchanged\trepaired\tseconds\t")
	for _, r := range results {
		if r.Error != "" || r.NotVerified != "" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t\n", r.Pipeline, r.Target, r.Tables, r.SourceRows, r.TargetRows,
			r.Chunks, r.Differing, r.Rechecked, r.Missing, r.Extra, r.Changed, r.Repaired, r.Seconds)
	}
	tw.Flush()
	for _, r := range results {
		if r.Fallback != "" {
			fmt.Fprintf(w, "%s: streamed through etlq, not checksummed in the servers: %s\n", r.Pipeline, r.Fallback)
		}
	}
	left := 0
	for _, r := range results {
		if r.NotVerified != "" {
			if left == 0 {
				fmt.Fprintln(w)
			}
			left++
			fmt.Fprintf(w, "pipeline %s: not verified: %s\n", r.Pipeline, r.NotVerified)
		}
	}
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(w, "\n%s: not verified: %s\n", r.Pipeline, r.Error)
		}
		if r.NotApplied != "" {
			fmt.Fprintf(w, "\n%s: definition not applied: %s\n", r.Pipeline, r.NotApplied)
		}
		if r.DuplicateKeys > 0 {
			fix := "a KEY that is unique, such as the source's primary key"
			if r.Tables > 1 {
				// Each table's primary key is unique in its table only.
				fix = fmt.Sprintf("a KEY that is unique across the pipeline's %d tables: add _db and _table to TRANSFORM and to the KEY, KEY (_db, _table, …)", r.Tables)
			}
			fmt.Fprintf(w, "\n%s: duplicate keys: %d keys of the source are held by %d rows, and the target holds one row per key: "+
				"the KEY is not unique in the source, so the target cannot equal it (fix: %s)\n",
				r.Pipeline, r.DuplicateKeys, r.DuplicateRows, fix)
			for _, d := range r.Duplicates {
				fmt.Fprintf(w, "  key %s (%d rows)\n", shownValues(d.Key, ", "), d.Rows)
			}
			if n := r.DuplicateKeys - len(r.Duplicates); n > 0 && len(r.Duplicates) > 0 {
				fmt.Fprintf(w, "  … and %d more\n", n)
			}
		}
		if rp := r.Repairs; rp != nil {
			fmt.Fprintf(w, "\n%s: repaired %d keys (missing %d, extra %d, changed %d)", r.Pipeline, r.Repaired, rp.Missing, rp.Extra, rp.Changed)
			if len(rp.Diffs) > 0 {
				fmt.Fprint(w, "; before the repair:")
			}
			fmt.Fprintln(w)
			for _, d := range rp.Diffs {
				fmt.Fprintf(w, "  key %s\n    source: %s\n    target: %s\n", shownValues(d.Key, ", "), sideText(d.Source), sideText(d.Target))
				if d.Cause != "" {
					fmt.Fprintf(w, "    cause: %s\n", d.Cause)
				}
			}
			// With none listed (--show 0) the counts say it all.
			if n := rp.Missing + rp.Extra + rp.Changed - len(rp.Diffs); n > 0 && len(rp.Diffs) > 0 {
				fmt.Fprintf(w, "  … and %d more\n", n)
			}
		}
		if r.Differences() == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: differing keys: %d (missing %d, extra %d, changed %d)", r.Pipeline, r.Differences(), r.Missing, r.Extra, r.Changed)
		if r.Unconfirmed != "" {
			fmt.Fprintf(w, " (unconfirmed: %s)", r.Unconfirmed)
		}
		fmt.Fprintln(w)
		if r.SnapshotOnly {
			fmt.Fprintf(w, "  pipeline %s is SNAPSHOT only: its target holds its tables as read once and is not kept up to date, so what the source changed since is a difference; --repair brings the target to the source as it is now\n", r.Pipeline)
		}
		if r.VersionAhead > 0 {
			fmt.Fprintf(w, "  %d of them: the target row's _version is above every version the pipeline's stream has given (%d, its checkpoint's counter): written outside etlq\n",
				r.VersionAhead, r.StreamVersion)
		}
		for _, c := range r.Cascades {
			if r.NotApplied != "" {
				// (The edit explains the differences; and --repair
				// mends nothing of this pipeline: a re-trial read the
				// hint as the cause, and the advice against the refusal.)
				break
			}
			fmt.Fprintf(w, "  the source's %s changes rows without row events in the binlog: extra or changed keys may be rows a parent's change deleted or changed (docs/schema-changes.md, \"Foreign-key cascades\"); --repair mends them\n", c)
		}
		if r.RepairSkipped != "" {
			fmt.Fprintf(w, "  not repaired: %s\n", r.RepairSkipped)
		}
		for _, d := range r.Diffs {
			fmt.Fprintf(w, "  key %s\n    source: %s\n    target: %s\n", shownValues(d.Key, ", "), sideText(d.Source), sideText(d.Target))
			if d.Cause != "" {
				fmt.Fprintf(w, "    cause: %s\n", d.Cause)
			}
		}
		if n := r.Differences() - len(r.Diffs); n > 0 && len(r.Diffs) > 0 {
			fmt.Fprintf(w, "  … and %d more\n", n)
		}
	}
	ok := verdict(results) == 0
	if ok && left > 0 {
		fmt.Fprintf(w, "\nok: every target verified equals its source (%d pipelines not verified, above)\n", left)
	} else if ok {
		fmt.Fprintln(w, "\nok: every target equals its source")
	}
}

// sideText is one side's row of a differing key: its values (shownValue)
// separated by " | ".
func sideText(s string) string {
	if s == "" {
		return "(no live row)"
	}
	return shownValues(s, " | ")
}

// shownValues writes the values of a canonical row text (values separated
// by \x1f) with sep between them, each as shownValue does.
func shownValues(s, sep string) string {
	parts := strings.Split(s, "\x1f")
	for i, v := range parts {
		parts[i] = shownValue(v, sep)
	}
	return strings.Join(parts, sep)
}

// shownValue is one value of a canonical row text as the listing shows it,
// on one line and never taken for another: NULL (\N) as NULL; a value that
// has a control character (a tab, a newline), is not valid UTF-8, contains
// the separator sep, is empty, or could be read as NULL or as a quoted
// value Go-quoted ("a\tb"); any other as it is. A value the canonical
// text quoted already (one that starts with a quote) is kept quoted.
func shownValue(v, sep string) string {
	switch {
	case v == `\N`:
		return "NULL"
	case strings.HasPrefix(v, `"`):
		if _, err := strconv.Unquote(v); err == nil {
			return v
		}
		return strconv.Quote(v)
	case v == "" || v == "NULL" || strings.Contains(v, strings.TrimSpace(sep)) || !utf8.ValidString(v) ||
		strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 ||
		v != strings.TrimSpace(v):
		return strconv.Quote(v)
	}
	return v
}

// unknownPipeline names the first of names (sorted) that is no pipeline
// of the plan, with the closest one or the file's pipelines.
func unknownPipeline(plan *planner.Plan, names []string) error {
	var all []string
	for _, p := range plan.Pipelines {
		all = append(all, p.Name)
	}
	var bad []string
	for _, n := range names {
		if !slices.Contains(all, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	hint := planner.Suggest(bad[0], all)
	if hint == "" {
		hint = " (it has: " + strings.Join(all, ", ") + ")"
	}
	return fmt.Errorf("no pipeline named %q in the file%s", bad[0], hint)
}
