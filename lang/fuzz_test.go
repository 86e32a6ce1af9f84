package lang

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes the parser panic or hang, and that
// whatever parses also formats to text that parses to the same AST and
// formats the same again. Seeds: lang/testdata/*.etl and examples/*.etl;
// corpus entries found by the fuzzer are kept in testdata/fuzz/FuzzParse.
//
//	go test -fuzz=FuzzParse ./lang
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.etl", "../examples/*.etl"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(src))
		}
	}
	f.Add("FROM binlog a.b WHERE x > 1 TRANSFORM a LIMIT 3")
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = ParseStatement("fuzz", src)
		_, _ = ParseExpr("fuzz", src)
		file, err := ParseFile("fuzz.etl", []byte(src))
		if err != nil {
			errs, ok := err.(Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("error is %T %v, want non-empty Errors", err, err)
			}
			_ = errs.Format([]byte(src))
			return
		}
		checkFormatRoundTrip(t, file, Format(file))
	})
}
