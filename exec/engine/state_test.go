package engine

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestStateEncode: the checkpoint file is what json.MarshalIndent made of
// it, but for the mark, which is written as the source made it; Load
// reads it back the same.
func TestStateEncode(t *testing.T) {
	mark := `{"file":"mysql-bin.000003","pos":4711,"schemas":[{"name":"a<b","cols":[1,2,3]}],"snapshot":{"db.t":{"done":true}}}`
	st := &sourceState{Format: stateFormat, Source: "src", Mark: json.RawMessage(mark),
		Pipelines: []string{"p1", "p2"}, Updated: time.Date(2026, 12, 5, 3, 4, 5, 6, time.UTC)}
	data, err := st.encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"mark": `+mark+",\n")) {
		t.Errorf("the mark is not written as given:\n%s", data)
	}
	var back sourceState
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	if !reflect.DeepEqual(&back, st) {
		t.Errorf("read back %+v, want %+v", back, *st)
	}
	// The rest as MarshalIndent lays it out.
	want, _ := json.MarshalIndent(st, "", "  ")
	if got := strings.Replace(string(data), mark, "MARK", 1); got != strings.Replace(string(want), indentOf(t, mark), "MARK", 1) {
		t.Errorf("layout:\n%s\nwant:\n%s", data, want)
	}
	st.Mark = json.RawMessage(`{"broken":`)
	if _, err := st.encode(); err == nil {
		t.Error("a mark that is not JSON was written")
	}
	st.Mark = nil
	if data, err := st.encode(); err != nil || !bytes.Contains(data, []byte(`"mark": null,`)) {
		t.Errorf("no mark: %v\n%s", err, data)
	}
}

// indentOf is mark as MarshalIndent writes it inside the state object.
func indentOf(t *testing.T, mark string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(mark), "  ", "  "); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	s = strings.ReplaceAll(s, "<", `\u003c`)
	return s
}
