//go:build !duckdb_arrow

package load

// The warehouse loads Arrow records through DuckDB's Arrow interface, which
// duckdb-go compiles only with the duckdb_arrow build tag. Build with `make`
// (or `go build -tags duckdb_arrow ./...`); this line makes a build without
// the tag fail with a message that says so.
var _ = build_with_tag_duckdb_arrow__use_make_or_go_build_tags_duckdb_arrow
