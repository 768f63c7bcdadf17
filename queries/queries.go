// Package queries ships the analytics SQL that `repairshop-export query NAME` runs.
// Each query is a .sql file in this folder, over the conformed model
// (main.*) only, embedded into the binary; a query that reads one source's
// own tables ships in that source's folder (extract/<source>/queries),
// read with Read and listed with the rest by sources.Queries. A query file's
// first comment lines are its description, and a "-- params: from, to,
// account" line names the parameters it takes: the command sets them as
// DuckDB variables (getvariable('from'), getvariable('to') as DATEs,
// getvariable('accounts') as a list), NULL when not given.
package queries

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Query is one shipped query.
type Query struct {
	Name string // file name without .sql
	// Source is the source a query is for, when it reads that source's
	// own tables (it ships in the source's folder); "" for the queries
	// here, over the conformed model (main.*), for every source.
	Source      string
	Description string
	// Params are the parameters the query takes (from, to, account).
	Params []string
	SQL    string
}

// Known parameters.
const (
	ParamFrom    = "from"
	ParamTo      = "to"
	ParamAccount = "account"
)

// All returns the queries over the conformed model, sorted by name (the
// sources' own: sources.Queries).
func All() []Query {
	qs := Read(files, "")
	sort.Slice(qs, func(i, j int) bool { return qs[i].Name < qs[j].Name })
	return qs
}

// Read parses a folder's queries (a source's, with its name).
func Read(fsys fs.FS, source string) []Query {
	names, _ := fs.Glob(fsys, "*.sql") // embedded: cannot fail
	var qs []Query
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err == nil {
			qs = append(qs, parse(strings.TrimSuffix(n, ".sql"), source, string(b)))
		}
	}
	return qs
}

// Get returns the named query over the conformed model.
func Get(name string) (Query, error) {
	for _, q := range All() {
		if q.Name == name {
			return q, nil
		}
	}
	return Query{}, fmt.Errorf("no query named %q (see `repairshop-export query --list`)", name)
}

// parse reads a query's header: its description and its parameters.
func parse(name, source, sql string) Query {
	q := Query{Name: name, Source: source, SQL: sql}
	var desc []string
	for _, line := range strings.Split(q.SQL, "\n") {
		if !strings.HasPrefix(line, "--") {
			break
		}
		text := strings.TrimSpace(strings.TrimPrefix(line, "--"))
		if ps, ok := strings.CutPrefix(text, "params:"); ok {
			for _, p := range strings.Split(ps, ",") {
				if p = strings.TrimSpace(p); p != "" {
					q.Params = append(q.Params, p)
				}
			}
			continue
		}
		desc = append(desc, text)
	}
	q.Description = strings.Join(desc, " ")
	return q
}
