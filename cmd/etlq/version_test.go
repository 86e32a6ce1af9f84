package main

import (
	"runtime/debug"
	"testing"
)

// TestVersionText: a binary built from a checkout (make build, make demo)
// said "etlq dev" and nothing more, which tells a bug report nothing
// (new-user trial); it names the commit the build recorded, and whether
// the tree had changes. A release's version (-ldflags -X) is shown as set.
func TestVersionText(t *testing.T) {
	t.Parallel()
	vcs := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "58e418e0c1d2b3a4f5e6d7c8b9a0123456789abc"},
		{Key: "vcs.time", Value: "2026-12-06T21:30:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		version string
		info    *debug.BuildInfo
		want    string
	}{
		{"dev", vcs, "etlq dev (git 58e418e0c1d2, 2026-12-06T21:30:00Z, modified)"},
		{"dev", &debug.BuildInfo{Settings: vcs.Settings[:3]}, "etlq dev (git 58e418e0c1d2, 2026-12-06T21:30:00Z)"},
		{"dev", &debug.BuildInfo{}, "etlq dev"},
		{"dev", nil, "etlq dev"},
		{"1.4.0", vcs, "etlq 1.4.0"},
	} {
		if got := versionText(tc.version, tc.info); got != tc.want {
			t.Errorf("versionText(%q, …) = %q, want %q", tc.version, got, tc.want)
		}
	}
}
