package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
)

// reportProgress shows, on a terminal, a progress bar per snapshot table
// (rows done / estimated, rate, ETA) and a status line per pipeline (rows/s,
// lag); elsewhere it logs the same figures every 10 seconds.
// While the bars are drawn, logOut passes log lines to the display, which
// prints them above the bars.
func reportProgress(ctx context.Context, stats *engine.Stats, terminal bool, log *slog.Logger, logOut *logOutput) {
	if !terminal {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		last := map[string]int64{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, s := range stats.Sources() {
				for _, p := range s.Progress {
					if !p.Done {
						log.Info("snapshot", "source", s.Source, "table", p.Ref.String(), "rows", p.RowsDone, "estimated", p.RowsTotal)
					}
				}
				log.Info("source", "source", s.Source, "lag_seconds", fmt.Sprintf("%.1f", s.Lag))
			}
			names, ps := stats.Pipelines()
			for _, n := range names {
				// (rows_per_s: the writes acknowledged, rows and tombstones.)
				out, tomb := ps[n].RowsOut.Load(), ps[n].Tombstones.Load()
				log.Info("pipeline", "pipeline", n, "rows_in", ps[n].RowsIn.Load(), "rows_out", out, "tombstones", tomb,
					"rows_filtered", ps[n].RowsFiltered.Load(), "rows_per_s", (out+tomb-last[n])/10, "row_errors", ps[n].RowErrors.Load())
				last[n] = out + tomb
			}
		}
	}

	// With --progress always standard error may be no terminal: mpb then
	// draws only with WithAutoRefresh, and cuts lines at the container
	// width (the bars have their own).
	//
	// A terminal that reports no size (0 columns or rows: a pseudo-terminal
	// nobody sized, as script(1) without a terminal of its own, docker or
	// kubectl exec -t, CI runners give) made mpb cut every line to nothing
	// and show no line at all for the whole run: there it draws as for
	// --progress always, 160 columns wide.
	var out io.Writer = os.Stderr
	if w, h, err := term.GetSize(int(os.Stderr.Fd())); err == nil && (w == 0 || h == 0) {
		out = struct{ io.Writer }{os.Stderr}
	}
	p := mpb.NewWithContext(ctx, mpb.WithOutput(out), mpb.WithRefreshRate(250*time.Millisecond), mpb.WithWidth(160),
		mpb.WithAutoRefresh())
	logOut.set(p)
	bars := map[string]*mpb.Bar{}
	lines := map[string]*mpb.Bar{}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		added := false
		for _, s := range stats.Sources() {
			for _, pr := range s.Progress {
				key := s.Source + "." + pr.Ref.String()
				bar := bars[key]
				if bar == nil && pr.Done && pr.RowsDone == 0 && pr.RowsTotal == 0 {
					// No snapshot in this run (SNAPSHOT never, or an
					// earlier run finished it): no bar saying "0 / 0".
					continue
				}
				total := pr.RowsTotal
				if total < pr.RowsDone {
					total = pr.RowsDone
				}
				if bar == nil {
					speed := &window{span: 10 * time.Second}
					bar = p.AddBar(total, mpb.BarWidth(40),
						mpb.PrependDecorators(decor.Name("snapshot "+pr.Ref.String(), decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d", decor.WCSyncSpace)),
						mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Any(func(st decor.Statistics) string {
							return speed.barSpeed(st, time.Now())
						})),
						mpb.BarFillerOnComplete("done"),
					)
					bars[key] = bar
					added = true
				}
				bar.SetTotal(total, false)
				bar.SetCurrent(pr.RowsDone)
				if pr.Done && !bar.Completed() {
					bar.SetTotal(pr.RowsDone, true)
				}
			}
		}
		names, ps := stats.Pipelines()
		for _, n := range names {
			if lines[n] != nil {
				continue
			}
			st, r := ps[n], &window{span: 2 * time.Second}
			lines[n] = p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				out, tomb := st.RowsOut.Load(), st.Tombstones.Load()
				return fmt.Sprintf("pipeline %-20s in %10d  out %10d  tombstones %d  filtered %d  %8.0f rows/s  errors %d  lag %.1fs",
					n, st.RowsIn.Load(), out, tomb, st.RowsFiltered.Load(), r.rate(out+tomb, time.Now()), st.RowErrors.Load(), sourceLag(stats, st.Source))
			})))
			added = true
		}
		if added {
			// The same order on every run, whichever line came first:
			// snapshot bars by table, then pipelines by name.
			keys := make([]string, 0, len(bars))
			for k := range bars {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				bars[k].SetPriority(i)
			}
			for i, n := range names {
				if l := lines[n]; l != nil {
					l.SetPriority(1<<20 + i)
				}
			}
		}
		select {
		case <-ctx.Done():
			// A line logged while the display ends waits for its last
			// frame, then goes straight to the terminal: written in
			// between, the last frame drew over it (the INFO a stop logs
			// at once vanished, and left a second copy of the status
			// line behind, 2 runs in 20 of TestApplyLogsAboveProgress).
			logOut.mu.Lock()
			for _, b := range lines {
				b.Abort(false)
			}
			for _, b := range bars {
				if !b.Completed() {
					b.Abort(false)
				}
			}
			p.Wait()
			logOut.p = nil
			logOut.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// sourceLag is the lag of one source, as /metrics reports it.
func sourceLag(stats *engine.Stats, source string) float64 {
	for _, s := range stats.Sources() {
		if s.Source == source {
			return s.Lag
		}
	}
	return 0
}

// window is a rate per second over the last span: it reads 0 once the
// count has not moved for a whole span (a smoothed average went on
// decaying for seconds after the work stopped), and it counts only what
// happened while it watched (the rows a resumed snapshot read before are
// not this run's speed).
type window struct {
	span    time.Duration
	samples []sample
}

type sample struct {
	at time.Time
	n  int64
}

// rate adds the count n at now and returns the rate over the window.
func (w *window) rate(n int64, now time.Time) float64 {
	w.samples = append(w.samples, sample{now, n})
	// Keep the newest sample at or before now-span as the base.
	cut := now.Add(-w.span)
	i := 0
	for i+1 < len(w.samples) && !w.samples[i+1].at.After(cut) {
		i++
	}
	w.samples = w.samples[i:]
	base := w.samples[0]
	dt := now.Sub(base.at).Seconds()
	if dt < 0.5 {
		return 0
	}
	return float64(n-base.n) / dt
}

// speedETA is a snapshot bar's " 1234 rows/s ETA 1m5s": the rate of this
// run over the window, and the time left at that rate ("ETA ?" until rows
// move).
func (w *window) speedETA(done, total int64, now time.Time) string {
	r := w.rate(done, now)
	if r <= 0 {
		return fmt.Sprintf(" %8.0f rows/s ETA ?", 0.0)
	}
	left := time.Duration(float64(max(total-done, 0)) / r * float64(time.Second))
	return fmt.Sprintf(" %8.0f rows/s ETA %s", r, left.Round(time.Second))
}

// barSpeed is what a snapshot bar shows after its percentage: its speed
// and ETA while it runs, nothing once it is done ("done" is the bar). A
// table read before the first frame showed "0 rows/s ETA ?" for the rest
// of the run, its window having never seen a row move.
func (w *window) barSpeed(st decor.Statistics, now time.Time) string {
	if st.Completed {
		return ""
	}
	return w.speedETA(st.Current, st.Total, now)
}

// logOutput is where apply's logs go: standard error, or, while the
// progress display runs, the display, which prints them above the bars. A
// line written straight to the terminal would be drawn over by the next
// frame: a warning (a lost connection) vanished and left a copy of the
// bars' first line behind.
type logOutput struct {
	mu sync.Mutex
	p  *mpb.Progress
}

func (o *logOutput) set(p *mpb.Progress) {
	o.mu.Lock()
	o.p = p
	o.mu.Unlock()
}

func (o *logOutput) Write(b []byte) (int, error) {
	// A log line never shows a secret (a DSN's password in a driver's
	// error, a header value).
	if r := connectors.RedactSecrets(string(b)); r != string(b) {
		if _, err := o.write([]byte(r)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return o.write(b)
}

func (o *logOutput) write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock() // (one line at a time, none while the display ends)
	p := o.p
	if p != nil {
		// An error means the display has ended: write directly.
		if n, err := p.Write(b); err == nil {
			return n, nil
		}
	}
	return os.Stderr.Write(b)
}
