package config

import (
	"strconv"

	"github.com/repairshop/export/internal/redact"
)

// shownName quotes an account's name for an error. A valid name is shown
// whatever its shape, since it is the warehouse's account column and a
// folder name; anything else is a value from the file like any other.
func shownName(s string) string {
	if accountName.MatchString(s) {
		return strconv.Quote(s)
	}
	return redact.Quote(s)
}
