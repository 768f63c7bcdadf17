package extract

import (
	"fmt"
	"math"
)

// OverrideKey is the account key that lets a rate pass its vendor's
// documented limit: for a server that allows more (a simulator, a
// negotiated limit). Its name is a contract with users' files and tests.
const OverrideKey = "override_documented_limit"

// CheckRate checks an account's rate key (e.g. requests_per_minute): a
// whole number of requests, at least 1, and at most limit, the vendor's
// documented one, unless override is set. whose names the vendor ("MGR's") and why
// says what happens past the limit, for the message.
func CheckRate(key string, v float64, limit int, per, whose, why string, override bool) error {
	if v < 1 || v != math.Trunc(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s: %v is not a whole number of requests of at least 1", key, v)
	}
	if v > float64(limit) && !override {
		return fmt.Errorf("%s: %v is above %s documented limit of %d %s (%s); lower it, or set %s: true if this server allows more",
			key, v, whose, limit, per, why, OverrideKey)
	}
	return nil
}
