package format

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Helpers reading the WITH options of the sinks that use these formats.
// Values arrive as the language parsed them (string, int64, bool, …) or as
// their spec default; each helper accepts the sensible spellings and
// returns def when the option is absent.

// OptString returns option name as a string.
func OptString(opts map[string]any, name, def string) (string, error) {
	v, ok := opts[name]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("option %q: want a string, got %v", name, v)
	}
	return s, nil
}

// OptInt returns option name as an int.
func OptInt(opts map[string]any, name string, def int) (int, error) {
	v, ok := opts[name]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case int32:
		return int(v), nil
	case uint64:
		return int(v), nil
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("option %q: want an integer, got %v", name, v)
}

// OptBool returns option name as a bool.
func OptBool(opts map[string]any, name string, def bool) (bool, error) {
	v, ok := opts[name]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("option %q: want a boolean, got %v", name, v)
}

// OptDuration returns option name as a duration ('500ms', '2s', or a
// time.Duration).
func OptDuration(opts map[string]any, name string, def time.Duration) (time.Duration, error) {
	v, ok := opts[name]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("option %q: %w", name, err)
		}
		if d < 0 {
			return 0, fmt.Errorf("option %q: negative duration %q", name, v)
		}
		return d, nil
	}
	return 0, fmt.Errorf("option %q: want a duration such as '500ms', got %v", name, v)
}
