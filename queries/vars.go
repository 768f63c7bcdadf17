package queries

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Flags are the command line's flags (a *cli.Context is one).
type Flags interface {
	IsSet(name string) bool
	String(name string) string
	StringSlice(name string) []string
}

// Variables reads --from, --to and --account into the variables the
// shipped queries read, for query name taking params. A flag the query
// does not take is an error naming those it does; the caller reports
// these as usage errors.
func Variables(f Flags, name string, params []string) (map[string]any, error) {
	vars := map[string]any{}
	for _, p := range []string{ParamFrom, ParamTo, ParamAccount} {
		if !f.IsSet(p) {
			continue
		}
		if !slices.Contains(params, p) {
			takes := "no parameters"
			if len(params) > 0 {
				takes = "only --" + strings.Join(params, ", --")
			}
			return nil, fmt.Errorf("query %s: --%s does not apply (it takes %s)", name, p, takes)
		}
		if p == ParamAccount {
			vars["accounts"] = f.StringSlice(p)
			continue
		}
		d, err := time.Parse("2006-01-02", f.String(p))
		if err != nil {
			return nil, fmt.Errorf("query: --%s %q: want a date, YYYY-MM-DD", p, f.String(p))
		}
		vars[p] = d
	}
	if from, to := vars[ParamFrom], vars[ParamTo]; from != nil && to != nil && from.(time.Time).After(to.(time.Time)) {
		return nil, fmt.Errorf("query: --from %s is after --to %s", f.String(ParamFrom), f.String(ParamTo))
	}
	return vars, nil
}
