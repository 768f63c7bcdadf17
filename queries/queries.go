// Package queries ships the analytics SQL that `repairshop-export query NAME` runs.
// Each query is a .sql file in this folder, embedded into the binary; its
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
	Name        string // file name without .sql
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

// All returns the shipped queries sorted by name.
func All() []Query {
	ents, _ := fs.ReadDir(files, ".") // embedded: cannot fail
	var qs []Query
	for _, e := range ents {
		q, err := Get(strings.TrimSuffix(e.Name(), ".sql"))
		if err == nil {
			qs = append(qs, q)
		}
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].Name < qs[j].Name })
	return qs
}

// Get returns the named query.
func Get(name string) (Query, error) {
	b, err := files.ReadFile(name + ".sql")
	if err != nil {
		return Query{}, fmt.Errorf("no query named %q (see `repairshop-export query --list`)", name)
	}
	q := Query{Name: name, SQL: string(b)}
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
	return q, nil
}
