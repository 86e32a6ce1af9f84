package planner

import (
	"strings"

	"github.com/etlq/etlq/lang"
)

// namePattern turns a database or table part of a FROM name into a Catalog
// pattern (path.Match syntax): a bare part keeps its * and ? globs; a
// back-quoted part is that name, its *, ?, [ and \ escaped (LANGUAGE.md: a
// back-quoted name is that name).
func namePattern(id *lang.Ident) string {
	if !id.Quoted {
		return id.Name
	}
	return EscapePattern(id.Name)
}

// EscapePattern escapes the characters path.Match treats specially, so that
// the pattern matches s alone.
func EscapePattern(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`).Replace(s)
}

// targetPart writes one part of a "db.table" target name: back-quoted, "`"
// doubled, when it holds a "." or a "`" (INTO clickhouse dw.`dw7.x`.`t.33`).
func targetPart(s string) string {
	if !strings.ContainsAny(s, ".`") {
		return s
	}
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
