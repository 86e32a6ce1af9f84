package mysql

import "testing"

// TestMarkReached orders checkpoint marks against positions by binlog file
// sequence, then offset (verify's wait for the pipeline).
func TestMarkReached(t *testing.T) {
	s := &Source{}
	cases := []struct {
		mark, at string
		want     bool
	}{
		{`{"file":"binlog.000002","pos":100}`, `{"file":"binlog.000002","pos":100}`, true},
		{`{"file":"binlog.000002","pos":101}`, `{"file":"binlog.000002","pos":100}`, true},
		{`{"file":"binlog.000002","pos":99}`, `{"file":"binlog.000002","pos":100}`, false},
		{`{"file":"binlog.000010","pos":4}`, `{"file":"binlog.000009","pos":900000}`, true},
		{`{"file":"binlog.000009","pos":900000}`, `{"file":"binlog.000010","pos":4}`, false},
	}
	for _, c := range cases {
		got, err := s.MarkReached([]byte(c.mark), []byte(c.at))
		if err != nil || got != c.want {
			t.Errorf("MarkReached(%s, %s) = %v, %v; want %v", c.mark, c.at, got, err, c.want)
		}
	}
	if _, err := s.MarkReached([]byte("{"), []byte(`{}`)); err == nil {
		t.Error("a damaged mark must be an error")
	}
}
