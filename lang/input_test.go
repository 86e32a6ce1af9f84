package lang

import (
	"strings"
	"testing"
)

// TestByteOrderMark: a UTF-8 byte order mark at the start of a file is not
// a stray character; columns of line 1 count from after it, and the quoted
// line does not show it.
func TestByteOrderMark(t *testing.T) {
	src := "\uFEFFCREATE PIPELINE p FROM binlog a.b INTO stdout MODE upsertt;\n"
	_, err := ParseFile("f.etl", []byte(src))
	if err == nil {
		t.Fatal("want the MODE error")
	}
	got := err.(Errors).Format([]byte(src))
	want := "f.etl:1:52: unknown MODE \"upsertt\" (expected append, upsert, changelog)\n" +
		"CREATE PIPELINE p FROM binlog a.b INTO stdout MODE upsertt;\n" +
		"                                                   ^~~~~~~\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := ParseFile("f.etl", []byte("\uFEFF-- c\n"+pipe+"INTO stdout;\n")); err != nil {
		t.Errorf("a file starting with a BOM: %v", err)
	}
	// Elsewhere it is still a stray character.
	if _, err := ParseFile("f.etl", []byte(pipe+"\uFEFFINTO stdout;\n")); err == nil || !strings.Contains(err.Error(), "f.etl:1:35: unexpected character") {
		t.Errorf("a BOM inside the text: want an error, got %v", err)
	}
}

// TestNestedTooDeeply: past the nesting limit the error says so, also
// inside the arguments of a call.
func TestNestedTooDeeply(t *testing.T) {
	for _, x := range []string{
		strings.Repeat("f(", 200) + "x" + strings.Repeat(")", 200),
		strings.Repeat("(", 300) + "x" + strings.Repeat(")", 300),
		strings.Repeat("- ", 300) + "x",
	} {
		_, err := ParseFile("f.etl", []byte(pipe+"TRANSFORM "+x+" AS y INTO stdout;\n"))
		if err == nil || !strings.Contains(err.Error(), "expression nested too deeply (more than 200 levels)") {
			t.Errorf("%.20s…: want the nesting error, got %.200v", x, err)
		}
	}
	if _, err := ParseFile("f.etl", []byte(pipe+"TRANSFORM "+strings.Repeat("f(", 50)+"x"+strings.Repeat(")", 50)+" AS y INTO stdout;\n")); err != nil {
		t.Errorf("50 nested calls: %v", err)
	}
}
