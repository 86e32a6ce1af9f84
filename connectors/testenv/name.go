package testenv

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// maxNameLen keeps names well inside MySQL's 64-character identifier limit
// with room for a suffix the caller adds (e.g. "_current").
const maxNameLen = 48

// UniqueName returns a database or table name for this test: t.Name()
// lowercased, every run of characters outside [a-z0-9_] replaced by "_",
// starting with a letter, then "_" and six random hex digits; at most 48
// characters. Two calls, also in one test, return different names.
func UniqueName(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	lastUnderscore := false
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			lastUnderscore = false
			continue
		}
		if !lastUnderscore {
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	base := strings.Trim(b.String(), "_")
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "t_" + base
	}
	suffix := fmt.Sprintf("_%06x", rand.Uint32()&0xffffff)
	if len(base) > maxNameLen-len(suffix) {
		base = strings.TrimRight(base[:maxNameLen-len(suffix)], "_")
	}
	return base + suffix
}
