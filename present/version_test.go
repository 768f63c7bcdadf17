package present

import (
	"runtime/debug"
	"testing"
)

func TestVersionNamesTheBuild(t *testing.T) {
	deps := []*debug.Module{{Path: "github.com/duckdb/duckdb-go/v2", Version: "v2.10506.0"}, {Path: "example.com/other", Version: "v1.0.0"}}
	cases := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"a tagged install", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}, Deps: deps},
			"v1.4.0, go1.26.0, duckdb-go v2.10506.0"},
		{"a checkout with local changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Deps: deps, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "7074ddd0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-05T19:40:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			"devel, commit 7074ddd01234+modified 2026-12-05T19:40:00Z, go1.26.0, duckdb-go v2.10506.0"},
		{"a build without version control", &debug.BuildInfo{GoVersion: "go1.26.0"}, "devel, go1.26.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Version(c.info, true); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	if got := Version(nil, false); got != "devel (no build information)" {
		t.Errorf("without build info: %q", got)
	}
}
