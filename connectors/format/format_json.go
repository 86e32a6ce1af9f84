package format

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// appendJSONColumn appends `"name":value` for user column k (record column
// c) of row i; NULL is null.
func appendJSONColumn(dst []byte, l *layout, r arrow.RecordBatch, k, c, i int, dbz bool) ([]byte, error) {
	dst = append(dst, l.keys[k]...)
	a := r.Column(c)
	if a.IsNull(i) {
		return append(dst, "null"...), nil
	}
	out, err := appendJSON(dst, a, i, l.logical[k], dbz)
	if err != nil {
		return dst, fmt.Errorf("column %q: %w", l.names[k], err)
	}
	return out, nil
}

// appendJSONRow appends the user columns of row i as a JSON object. With
// before set, the values come from the __before.<col> columns (a column
// without one is null).
func appendJSONRow(dst []byte, l *layout, r arrow.RecordBatch, i int, before, dbz bool) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for k, c := range l.user {
		if k > 0 {
			dst = append(dst, ',')
		}
		if before {
			c = l.before[k]
			if c < 0 {
				dst = append(dst, l.keys[k]...)
				dst = append(dst, "null"...)
				continue
			}
		}
		if dst, err = appendJSONColumn(dst, l, r, k, c, i, dbz); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}
