package lang

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDocsExamples parses every example of docs/language.md: "sql" blocks
// are files, "sql expr" blocks one expression per line, "sql repl" blocks
// one REPL statement per line, and "sql error" blocks must fail.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	blocks := 0
	for i := 0; i < len(lines); i++ {
		info, ok := strings.CutPrefix(lines[i], "```")
		if !ok || info == "" {
			if ok { // skip an untagged block
				for i++; i < len(lines) && lines[i] != "```"; i++ {
				}
			}
			continue
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		body := strings.Join(lines[start:i], "\n")
		where := "docs/language.md:" + strconv.Itoa(start)
		switch info {
		case "sql":
			blocks++
			f, err := ParseFile(where, []byte(body))
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			checkFormatRoundTrip(t, f, Format(f))
		case "sql expr", "sql repl":
			blocks++
			for j, l := range lines[start:i] {
				if strings.TrimSpace(l) == "" {
					continue
				}
				var err error
				if info == "sql expr" {
					_, err = ParseExpr(where, l)
				} else {
					_, err = ParseStatement(where, l)
				}
				if err != nil {
					t.Errorf("docs/language.md:%d: %v", start+j+1, err)
				}
			}
		case "sql error":
			blocks++
			if _, err := ParseFile(where, []byte(body)); err == nil {
				t.Errorf("%s: example should fail to parse", where)
			}
		}
	}
	if blocks < 20 {
		t.Errorf("found only %d example blocks", blocks)
	}
}
