package planner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/etlq/etlq/lang"
)

// errorList collects positioned errors so that a file reports all of its
// problems, not only the first.
type errorList struct {
	errs lang.Errors
}

func (l *errorList) add(n lang.Node, format string, args ...any) {
	l.addAt(n.Position(), n.EndPosition(), format, args...)
}

// addAt adds an error at pos; an error among args (the last one) is kept
// as its cause (lang.Errorf).
func (l *errorList) addAt(pos, end lang.Pos, format string, args ...any) {
	l.errs = append(l.errs, lang.Errorf(pos, end, format, args...))
}

func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Pos.Offset < l.errs[j].Pos.Offset })
	return l.errs
}

// Suggest returns ` (did you mean "x"?)` for the candidate closest to name,
// or "" when none is close: the hint of the planner's unknown-name errors,
// for other places that check names.
func Suggest(name string, candidates []string) string { return suggest(name, candidates) }

// suggest returns ` (did you mean "x"?)` for the closest candidate, or "".
func suggest(name string, candidates []string) string {
	best, ok := closest(name, candidates)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// closest returns the candidate nearest to name (case-insensitive edit
// distance), when it is near enough to be a typo of it.
func closest(name string, candidates []string) (string, bool) {
	best, bestD := "", 1<<30
	lname := strings.ToLower(name)
	for _, c := range candidates {
		d := levenshtein(lname, strings.ToLower(c))
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := len(name) / 3
	if limit < 1 {
		limit = 1
	}
	if limit > 3 {
		limit = 3
	}
	if best == "" || bestD > limit {
		return "", false
	}
	return best, true
}

// levenshtein is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1) // transposition
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
