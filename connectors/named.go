package connectors

import (
	"fmt"
	"strconv"
	"strings"
)

// Named returns err with the source or sink it is about named once: as
// "what name: err" ("sink dw: …", "source s: …"), or err itself when its
// message names it already — a connector's own errors do ("clickhouse
// sink \"dw\": …", "source \"s\": …"), and a wrapper adding the name again
// made "sink dw: clickhouse sink \"dw\": …". what is "source" or "sink".
// The result wraps err (errors.Is, errors.As see through it).
func Named(what, name string, err error) error {
	if err == nil || Names(err, what, name) {
		return err
	}
	return fmt.Errorf("%s %s: %w", what, name, err)
}

// Names reports whether err's message names the source or sink already:
// `what "name"` (a connector's own prefix, "clickhouse sink \"dw\"" among
// them) or "what name:" / "what name (" (a wrapper's).
func Names(err error, what, name string) bool {
	msg := err.Error()
	return strings.Contains(msg, what+" "+strconv.Quote(name)) ||
		strings.Contains(msg, what+" "+name+":") || strings.Contains(msg, what+" "+name+" (")
}
