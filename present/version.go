package present

import (
	"runtime/debug"
	"strings"
)

// Version is what --version prints after the command's name: the
// module's version (a tag with go install …@v1.2.3, else "devel"), the
// commit and its time when the build recorded them ("+modified" for
// uncommitted changes), the Go release and the DuckDB driver it links.
func Version(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "devel (no build information)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var commit, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	parts := []string{v}
	if commit != "" {
		c := commit[:min(12, len(commit))]
		if modified {
			c += "+modified"
		}
		if at != "" {
			c += " " + at
		}
		parts = append(parts, "commit "+c)
	}
	parts = append(parts, info.GoVersion)
	for _, d := range info.Deps {
		if d.Path == "github.com/duckdb/duckdb-go/v2" {
			parts = append(parts, "duckdb-go "+d.Version)
		}
	}
	return strings.Join(parts, ", ")
}
