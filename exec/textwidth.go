package exec

import "github.com/mattn/go-runewidth"

// terminal measures text as a terminal shows it: an East Asian wide
// character or an emoji takes two columns, a combining mark or a
// zero-width joiner none, an emoji sequence (👩‍💻, 🇩🇪) is one cluster of
// two. East Asian ambiguous characters count one column whatever the
// locale, so that aligned output is the same on every machine.
var terminal = func() *runewidth.Condition {
	c := runewidth.NewCondition()
	c.EastAsianWidth = false
	return c
}()

// TextWidth is the number of terminal columns s takes: what aligned text
// output (the table format, the REPL's SHOW lists) pads by. Counting
// runes misaligned every row holding 日本語 or 👩‍💻.
func TextWidth(s string) int { return terminal.StringWidth(s) }

// TextClip cuts s to at most width terminal columns, tail (counted in
// them) ending a cut value, without splitting a character cluster.
func TextClip(s string, width int, tail string) string {
	return terminal.Truncate(s, width, tail)
}
