// Package sources is the list of sources: the one place, beside each
// source's own folder, that names them. Everything else — the config, the
// driver, the commands — goes through this list, so a new source is a
// folder shaped like extract/mgr plus one line here (and one for its
// simulator).
package sources

import (
	"fmt"
	"slices"
	"strings"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/model"
	"github.com/repairshop/export/queries"
	"github.com/repairshop/export/schema"
)

// All are the sources, in the order their tables are listed.
var All = []*extract.Source{&mgr.Source, &repairops.Source}

// Simulators are the sources' built-in simulators, for `repairshop-export simulate`.
var Simulators = []extract.Simulator{mgrtest.Simulator, repairopstest.Simulator}

// Lookup finds a source by its config name.
func Lookup(name string) (*extract.Source, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Names are the sources' config names.
func Names() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = s.Name
	}
	return out
}

// Tables are every declared table, source by source, children after their
// parent.
func Tables() []*schema.Table {
	var out []*schema.Table
	for _, s := range All {
		out = append(out, s.Tables...)
	}
	return out
}

// Fragments are every source's fragments of the conformed model.
func Fragments() ([]model.Fragment, error) {
	var out []model.Fragment
	for _, s := range All {
		fs, err := model.ReadFragments(s.Name, s.Model)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// Queries are the shipped queries: those over the conformed model and
// each source's own (marked with its name), sorted by name.
func Queries() []queries.Query {
	qs := queries.All()
	for _, s := range All {
		if s.Queries != nil {
			qs = append(qs, queries.Read(s.Queries, s.Name)...)
		}
	}
	slices.SortFunc(qs, func(a, b queries.Query) int { return strings.Compare(a.Name, b.Name) })
	return qs
}

// Query finds a shipped query by name.
func Query(name string) (queries.Query, error) {
	for _, q := range Queries() {
		if q.Name == name {
			return q, nil
		}
	}
	return queries.Query{}, fmt.Errorf("no query named %q (see `repairshop-export query --list`)", name)
}

// Table finds a declared table by its qualified name ("mgr.tickets").
func Table(fullName string) *schema.Table {
	for _, t := range Tables() {
		if t.FullName() == fullName {
			return t
		}
	}
	return nil
}
