package mysql

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestWithVersion: the raised counter's checkpoint (RaisedMark) changes the
// mark's version and nothing else — its position, GTID set, schemas,
// snapshot progress, and a member this build does not know, stay.
func TestWithVersion(t *testing.T) {
	in := `{"file":"mysql-bin.000003","pos":4242,"gtid":"0-1-17","flavor":"mariadb","server_id":1,"version":1839759152247342083,` +
		`"schemas":[{"ref":{"db":"d","table":"<t>"}}],"snapshot":{"d.t":{"done":false,"last_key":[7]}},"future":{"x":[1,2]}}`
	out, err := withVersion([]byte(in), 4611686018427387905)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(out)
	if err != nil || st.File != "mysql-bin.000003" || st.Pos != 4242 || st.GTID != "0-1-17" || st.Version != 4611686018427387905 {
		t.Fatalf("decoded %s: %+v, %v", out, st, err)
	}
	var a, b map[string]any
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	delete(a, "version")
	delete(b, "version")
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("members other than the version changed:\nin  %s\nout %s", in, out)
	}
	if _, err := withVersion([]byte("7"), 1); err == nil {
		t.Fatal("a mark that is not a JSON object: no error")
	}
}
