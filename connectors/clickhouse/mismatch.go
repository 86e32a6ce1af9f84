package clickhouse

import (
	"context"
	"fmt"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.TargetMismatcher = (*Sink)(nil)

// Mismatches names the columns of t's existing table whose type the
// plan's output cannot be written into (connectors.TargetMismatcher):
// those apply's writer refuses when the batches bring them (adopt).
func (s *Sink) Mismatches(ctx context.Context, t connectors.Target) ([]string, error) {
	_, l, st, err := s.layoutState(ctx, t)
	if err != nil {
		return nil, err
	}
	have := map[string]string{}
	for _, c := range st.columns {
		have[c.name] = c.typ
	}
	var out []string
	for i := 0; i < l.user && i < len(l.cols); i++ {
		c := &l.cols[i]
		typ, ok := have[c.name]
		if !ok {
			continue
		}
		if _, _, err := adopt(c, typ, l.version); err != nil {
			out = append(out, fmt.Sprintf("existing table %s.%s: %v", l.db, l.table, err))
		}
	}
	return out, nil
}
