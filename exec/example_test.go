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

// TestTimeParts: hour, minute and second of a TIME (a duration that may
// exceed a day or be negative) are its parts as MySQL gives them —
// HOUR('-838:59:59') is 838 — where a TIME argument was refused.
func TestTimeParts(t *testing.T) {
	for sql, want := range map[string]string{
		"hour(CAST('-838:59:59' AS TIME))":         "838",
		"minute(CAST('-838:59:59' AS TIME))":       "59",
		"second(CAST('-838:59:59' AS TIME))":       "59",
		"hour(CAST('100:30:15.5' AS TIME))":        "100",
		"minute(CAST('100:30:15.5' AS TIME))":      "30",
		"second(CAST('100:30:15.5' AS TIME))":      "15",
		"second(CAST('-00:00:01.999999' AS TIME))": "1",
		"hour(CAST('12:00:00' AS TIME))":           "12",
		"hour(CAST(NULL AS TIME))":                 "NULL",
	} {
		got, err := evalText(t, sql)
		if err != nil {
			t.Errorf("%s: %v", sql, err)
			continue
		}
		if got != want {
			t.Errorf("%s = %q, want %q", sql, got, want)
		}
	}
}
