package extract

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// sourceName is what a source's Name may be: it becomes a config value, a
// warehouse schema and a Parquet folder.
var sourceName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate reports every required part a Source lacks, so that a new
// source fails its registration test instead of panicking in the driver
// mid-run. LedgerID and Webhooks are optional (a key's own ledger; no
// webhooks).
func Validate(s *Source) error {
	if s == nil {
		return errors.New("source: nil")
	}
	var missing []string
	need := func(ok bool, field string) {
		if !ok {
			missing = append(missing, field)
		}
	}
	need(sourceName.MatchString(s.Name), "Name (lower case: a schema and a folder)")
	need(s.Title != "", "Title")
	need(s.Short != "", "Short")
	need(s.Limits != "", "Limits")
	need(len(s.Tables) > 0, "Tables")
	need(len(s.Resources) > 0, "Resources")
	need(s.Options != nil, "Options")
	need(s.Pace != nil, "Pace")
	need(s.Open != nil, "Open")
	need(s.Decode != nil, "Decode")
	need(s.PlanList != nil, "PlanList")
	for _, r := range s.Resources {
		if r.Table == nil {
			missing = append(missing, fmt.Sprintf("Resources[%s].Table", r.Name))
		}
	}
	if s.Webhooks != nil && s.Webhooks.EventID == nil {
		missing = append(missing, "Webhooks.EventID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("source %q lacks %s", s.Name, strings.Join(missing, ", "))
	}
	return nil
}
