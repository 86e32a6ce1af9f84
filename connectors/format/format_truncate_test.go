package format_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/exec"
)

// TestTruncateEnvelope: a TRUNCATE TABLE at the source (one row of op
// truncate, its columns NULL) is canal's DDL message of type TRUNCATE
// without rows, debezium's op "t" without before and after, and a jsonl
// row whose _op says truncate.
func TestTruncateEnvelope(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := sinktest.SinkSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "_op", Type: arrow.BinaryTypes.String}}, true)
	b := sinktest.Build(mem, s, "shop", "orders",
		[]any{1, "insert", nil, nil, uint64(1), uint8(0), "insert", tCom, "f.1:1"},
		[]any{nil, exec.OpTruncate, nil, nil, uint64(2), uint8(0), exec.OpTruncate, tCom, "f.1:2"})
	defer b.Release()
	for name, want := range map[string][]string{
		format.CanalJSON:    {`"type":"INSERT"`, `"data":null`, `"isDdl":true`, `"sql":"TRUNCATE TABLE ` + "`shop`.`orders`" + `"`, `"type":"TRUNCATE"`},
		format.DebeziumJSON: {`"op":"c"`, `"before":null,"after":null`, `"op":"t"`},
		format.JSONL:        {`"_op":"truncate"`},
	} {
		enc, err := format.New(name, format.Options{Pipeline: "p", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		out, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: want 2 messages, got %d:\n%s", name, len(lines), out)
		}
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("%s: not JSON: %s", name, l)
			}
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: no %s in\n%s", name, w, out)
			}
		}
		if name != format.JSONL && !strings.Contains(lines[1], "TRUNCATE") && !strings.Contains(lines[1], `"op":"t"`) {
			t.Errorf("%s: the second message is not the truncate: %s", name, lines[1])
		}
	}
}
