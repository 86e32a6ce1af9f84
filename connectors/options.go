package connectors

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Options are WITH option values resolved against a list of Option specs
// by ParseOptions: each typed as its spec says (string, int64, bool,
// time.Duration), valid, and defaulted.
type Options struct {
	vals  map[string]any
	given map[string]bool
}

// ParseOptions resolves every option of spec from layers, the first layer
// that gives a (non-nil) value winning: a pipeline's WITH over its sink's
// WITH over the spec's Default. A value is converted to the option's type:
// an integer from any Go integer, an integral float or a decimal string; a
// boolean from a bool or strconv.ParseBool's spellings; a duration from a
// time.Duration or a string such as '500ms' (never negative). A string
// value of an option with an Enum must be one of it (matched without regard
// to case, returned as the Enum spells it); an integer of an option with
// Max > Min must lie in Min..Max. The first invalid option, in spec order,
// is the error: `option "x": want …, got …`.
//
// Names the spec lacks are left alone: a pipeline's WITH carries the
// options of its source, its sink and the engine at once. UnknownOption
// refuses them where a WITH belongs to one connector.
func ParseOptions(spec []Option, layers ...map[string]any) (*Options, error) {
	o := &Options{vals: map[string]any{}, given: map[string]bool{}}
	for _, opt := range spec {
		if _, done := o.vals[opt.Name]; done {
			continue // a name listed twice (Options and TargetOptions): the first spec holds
		}
		var raw any
		for _, l := range layers {
			if v, ok := l[opt.Name]; ok && v != nil {
				raw = v
				o.given[opt.Name] = true
				break
			}
		}
		if raw == nil {
			raw = opt.Default
		}
		if raw == nil {
			continue
		}
		v, err := opt.Value(raw)
		if err != nil {
			return nil, err
		}
		o.vals[opt.Name] = v
	}
	return o, nil
}

// OptionError is an error about one WITH option of a source or sink (its
// value, or its value with another's): `etlq check` reports it at that
// option in the file (name = value), not at the DSN. Its message is Err's.
type OptionError struct {
	Name string
	Err  error
}

func (e *OptionError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *OptionError) Unwrap() error { return e.Err }

// OptionErrorf returns an *OptionError about option name.
func OptionErrorf(name, format string, args ...any) error {
	return &OptionError{Name: name, Err: fmt.Errorf(format, args...)}
}

// Value converts v to opt's type and checks it against opt's Enum and
// bounds, as ParseOptions does for each option. The error (an
// *OptionError) never shows a Secret option's value.
func (opt Option) Value(v any) (any, error) {
	shown := fmt.Sprint(v)
	if opt.Secret {
		shown = "a secret value" // never printed
	}
	bad := func() error {
		return OptionErrorf(opt.Name, "option %q: want %s, got %s", opt.Name, wants[opt.Type], shown)
	}
	switch opt.Type {
	case OptInt:
		n, ok := toInt(v)
		if !ok {
			return nil, bad()
		}
		if r := opt.OutOfRange(n); r != "" {
			return nil, OptionErrorf(opt.Name, "option %q: must be %s, got %d", opt.Name, r, n)
		}
		return n, nil
	case OptBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
				return p, nil
			}
		}
		return nil, bad()
	case OptDuration:
		switch d := v.(type) {
		case time.Duration:
			if d >= 0 {
				return d, nil
			}
		case string:
			if p, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && p >= 0 {
				return p, nil
			}
		}
		return nil, bad()
	default:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if len(opt.Enum) == 0 {
			if opt.Check != nil {
				if err := opt.Check(s); err != nil {
					return nil, OptionErrorf(opt.Name, "option %q: %v", opt.Name, err)
				}
			}
			return s, nil
		}
		if e, ok := opt.InEnum(s); ok {
			return e, nil
		}
		q := make([]string, len(opt.Enum))
		for i, e := range opt.Enum {
			q[i] = "'" + e + "'"
		}
		return nil, OptionErrorf(opt.Name, "option %q: want one of %s, got %s", opt.Name, strings.Join(q, ", "), shown)
	}
}

// OutOfRange says the range an integer value of opt must lie in ("at
// least 1", "between 1 and 1024") when n lies outside it, else "" (also
// when opt is not bounded: Max <= Min).
func (opt Option) OutOfRange(n int64) string {
	switch {
	case opt.Max <= opt.Min || n >= opt.Min && n <= opt.Max:
		return ""
	case opt.Max == math.MaxInt64:
		return fmt.Sprintf("at least %d", opt.Min)
	}
	return fmt.Sprintf("between %d and %d", opt.Min, opt.Max)
}

// InEnum returns s as opt's Enum spells it, matched without regard to
// case, and whether it is one of it.
func (opt Option) InEnum(s string) (string, bool) {
	for _, e := range opt.Enum {
		if strings.EqualFold(e, s) {
			return e, true
		}
	}
	return "", false
}

var wants = map[OptionType]string{
	OptString: "a string", OptInt: "an integer", OptBool: "a boolean", OptDuration: "a duration such as '500ms'",
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), n <= math.MaxInt64
	case float64:
		return int64(n), n == math.Trunc(n) && math.Abs(n) < 1<<63
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// UnknownOption returns an error for the first name of m, in sorted order,
// that no list of specs has: `unknown option "x" for what`.
func UnknownOption(what string, m map[string]any, specs ...[]Option) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
next:
	for _, k := range names {
		for _, list := range specs {
			for _, o := range list {
				if o.Name == k {
					continue next
				}
			}
		}
		return fmt.Errorf("unknown option %q for %s", k, what)
	}
	return nil
}

// The accessors below read a nil *Options as one with no values.

// Given reports whether a layer gave option name a value (not its
// default).
func (o *Options) Given(name string) bool { return o != nil && o.given[name] }

// Value returns option name's typed value: given, else its default; false
// when it has neither.
func (o *Options) Value(name string) (any, bool) {
	if o == nil {
		return nil, false
	}
	v, ok := o.vals[name]
	return v, ok
}

// String returns a string option's value, "" when it has none.
func (o *Options) String(name string) string { v, _ := o.Value(name); s, _ := v.(string); return s }

// Int returns an integer option's value, 0 when it has none.
func (o *Options) Int(name string) int64 { v, _ := o.Value(name); n, _ := v.(int64); return n }

// Bool returns a boolean option's value, false when it has none.
func (o *Options) Bool(name string) bool { v, _ := o.Value(name); b, _ := v.(bool); return b }

// Duration returns a duration option's value, 0 when it has none.
func (o *Options) Duration(name string) time.Duration {
	v, _ := o.Value(name)
	d, _ := v.(time.Duration)
	return d
}
