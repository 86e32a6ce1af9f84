package clickhouse

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Checker makes, without a server, the checks and conversions apply's
// writer makes on the values of one target's rows before an insert (`etlq
// test`, `etlq record --file`): a date or timestamp outside its ClickHouse
// type's range (MySQL zero dates included) — written as NULL into a
// Nullable column under out_of_range = 'null' —, a decimal with more digits
// than its Decimal holds, a NULL in a column that cannot hold one. The
// types are those the sink creates the table with on a server of the
// version given.
type Checker struct {
	t       connectors.Target
	version serverVersion
	opts    targetOptions
	schema  *arrow.Schema // of g
	g       *group
}

// NewestVersion is the server version a Checker assumes when it is given
// none: the newest types and ranges (Date32 1900-01-01..2299-12-31).
const NewestVersion = "24.8"

// CheckVersion reports whether s is a ClickHouse version a Checker takes
// ("18.16", "24.3.2.23").
func CheckVersion(s string) error {
	_, err := parseVersion(s)
	return err
}

// NewChecker returns the checks of target t of a "clickhouse" sink with
// the WITH options sinkOpts (the targets' defaults), for a server of
// version ("": NewestVersion). A target the sink would refuse (an upsert
// without a key, a column it cannot map) is an error, as at apply's Open.
func NewChecker(t connectors.Target, sinkOpts map[string]any, version string) (*Checker, error) {
	if version == "" {
		version = NewestVersion
	}
	v, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	opts, err := resolveTargetOptions(t.Options, sinkOpts)
	if err != nil {
		return nil, err
	}
	c := &Checker{t: t, version: v, opts: opts}
	if t.Schema != nil {
		if _, err := c.groupOf(t.Schema); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// groupOf lays the table out for batches of schema, as the writer's
// table is after it followed schema (Open, evolve).
func (c *Checker) groupOf(schema *arrow.Schema) (*group, error) {
	if c.g != nil && c.schema.Equal(schema) {
		return c.g, nil
	}
	l, err := buildLayout("", c.t.Name, c.t.Mode, c.t.Key, schema, c.version, c.opts)
	if err != nil {
		return nil, err
	}
	g, err := groupFor(l, c.t.Name, schema)
	if err != nil {
		return nil, err
	}
	c.schema, c.g = schema, g
	return g, nil
}

// CheckRows returns the live rows of b the insert would fail on, as the
// writer's CheckRows does (connectors.RowChecker: under on_error = 'skip'
// or 'dead_letter' the runtime leaves them out, dead-lettered).
func (c *Checker) CheckRows(b *exec.Batch) []exec.RowError {
	if b.Record == nil || b.NumRows() == 0 {
		return nil
	}
	g, err := c.groupOf(b.Record.Schema())
	if err != nil {
		return nil
	}
	return checkRows(g, b)
}

// Convert returns what the insert of b does with its values: the error it
// fails with (naming the row, as apply's does), or the columns (by batch
// column name) of each row of b whose value is written as NULL
// (out_of_range = 'null').
func (c *Checker) Convert(b *exec.Batch) (nulls map[int][]string, err error) {
	if b.Record == nil || b.NumRows() == 0 {
		return nil, nil
	}
	g, err := c.groupOf(b.Record.Schema())
	if err != nil {
		return nil, err
	}
	r := liveRows(b)
	for k, col := range g.cols {
		arr := b.Record.Column(g.idx[k])
		s, err := columnSlice(col, arr, r)
		if err != nil {
			return nil, fmt.Errorf("clickhouse insert into %s: %w", c.t.Name, describe(g, b, arr, err))
		}
		if !col.nullable || !col.outOfRangeNull || (col.m.enc != encDate && col.m.enc != encDateTime64) {
			continue
		}
		v, ok := s.([]*time.Time)
		if !ok {
			continue
		}
		for j := 0; j < r.len(); j++ {
			if i := r.at(j); !arr.IsNull(i) && v[j] == nil {
				if nulls == nil {
					nulls = map[int][]string{}
				}
				nulls[i] = append(nulls[i], col.src)
			}
		}
	}
	return nulls, nil
}
