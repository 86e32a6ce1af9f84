package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// framedErr formats like go-faster/errors (ch-go's): its call frames under %+v.
type framedErr struct{}

func (framedErr) Error() string { return "read: connection reset by peer" }

func (e framedErr) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		_, _ = io.WriteString(s, "read:\n    github.com/ClickHouse/ch-go/proto.(*Reader).UVarInt\n        /root/go/pkg/mod/github.com/!click!house/ch-go@v0.74.0/proto/reader.go:85")
		return
	}
	_, _ = io.WriteString(s, e.Error())
}

// TestTextLogErrorsPlain: an error attribute is logged as its message, not
// with the call frames %+v gives (a ClickHouse insert retried after the
// server restarted logged Go module paths of the build machine).
func TestTextLogErrorsPlain(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	slog.New(textHandler(&buf)).Warn("clickhouse: insert failed, retrying", "error", error(framedErr{}), "attempt", 2)
	got := buf.String()
	if strings.Contains(got, "/pkg/mod/") || strings.Contains(got, `\n`) {
		t.Fatalf("log line carries call frames: %s", got)
	}
	if !strings.Contains(got, `error="read: connection reset by peer" attempt=2`) {
		t.Fatalf("log line: %s", got)
	}
}
