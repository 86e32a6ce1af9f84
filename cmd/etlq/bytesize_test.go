package main

import "testing"

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "512MiB": 512 << 20, "10GiB": 10 << 30, "1 TiB": 1 << 40, "4KiB": 4096, "7B": 7} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "10GB", "1.5GiB", "99999999999TiB"} {
		if got, err := parseByteSize(in); err == nil {
			t.Errorf("%q: got %d, want an error", in, got)
		}
	}
}
