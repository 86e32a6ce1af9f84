package exec_test

import (
	"testing"

	"github.com/etlq/etlq/stdlib"
)

// TestFunctionExamples runs every example of every registered function
// through the constructors and a Program.
func TestFunctionExamples(t *testing.T) {
	for _, f := range stdlib.Funcs() {
		for _, ex := range f.Examples {
			got, err := evalText(t, ex.SQL)
			if err != nil {
				t.Errorf("%s: %v", ex.SQL, err)
				continue
			}
			if got != ex.Want {
				t.Errorf("%s = %q, want %q", ex.SQL, got, ex.Want)
			}
		}
	}
}
