package lang

import (
	"os"
	"testing"
)

// BenchmarkParseFile measures parsing the language reference example and
// the constructs file; it reports bytes per second.
func BenchmarkParseFile(b *testing.B) {
	src, err := os.ReadFile("testdata/constructs.etl")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseFile("constructs.etl", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFormat measures fmt of an already parsed file.
func BenchmarkFormat(b *testing.B) {
	src, err := os.ReadFile("testdata/constructs.etl")
	if err != nil {
		b.Fatal(err)
	}
	f, err := ParseFile("constructs.etl", src)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		Format(f)
	}
}
