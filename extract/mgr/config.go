package mgr

import (
	"fmt"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/internal/redact"
)

// Options are an MGR account's own keys in export.yaml (the keys every
// account has — name, source, base_url, api_key_env, resources — are the
// config's). Their names are a contract with users' files.
type Options struct {
	// RequestsPerMinute is the key's limit (default 30, the documented
	// one, and at most that without OverrideDocumentedLimit); requests are
	// paced at 90 % of it. A pointer, so that 0 is refused, not taken for
	// the default.
	RequestsPerMinute *float64 `yaml:"requests_per_minute,omitempty"`
	// OverrideDocumentedLimit lets RequestsPerMinute pass 30: for a server
	// that allows more (the simulator).
	OverrideDocumentedLimit bool `yaml:"override_documented_limit,omitempty"`
}

// perMinute is the configured limit (0: unset).
func (o Options) perMinute() int {
	if o.RequestsPerMinute == nil {
		return 0
	}
	return int(*o.RequestsPerMinute)
}

// Check reports values that cannot work, and a rate past MGR's documented
// limit: MGR blocks the key and the shop's IP for six hours.
func (o *Options) Check() []error {
	if o.RequestsPerMinute != nil {
		if err := extract.CheckRate("requests_per_minute", *o.RequestsPerMinute, DefaultRequestsPerMinute, "a minute", "MGR's",
			"ignore its rate-limit error 10 times and it blocks the key and the shop's IP for 6 hours", o.OverrideDocumentedLimit); err != nil {
			return []error{err}
		}
	}
	return nil
}

// Rate scopes: what MGR's 30 requests a minute count.
const (
	// ScopeKey paces each key on its own (the default: the docs speak of
	// the key's requests).
	ScopeKey = "key"
	// ScopeHost paces every MGR key of this host through one ledger: the
	// docs do not say whether the limit is per key or per IP, and the
	// block that follows ignored errors covers the IP.
	ScopeHost = "host"
)

// Settings are MGR's top-level keys in export.yaml, shared by its accounts.
type Settings struct {
	// RateScope is "key" (default) or "host": see ScopeHost.
	RateScope string `yaml:"mgr_rate_scope,omitempty"`
}

// Check reports values that cannot work.
func (s *Settings) Check() []error {
	switch s.RateScope {
	case "", ScopeKey, ScopeHost:
		return nil
	}
	return []error{fmt.Errorf("mgr_rate_scope %s: want %s or %s", redact.Quote(s.RateScope), ScopeKey, ScopeHost)}
}

// options and settings read an account's parsed keys (zero values when the
// account was built without them).
func options(a extract.Account) Options {
	if o, ok := a.Options.(*Options); ok && o != nil {
		return *o
	}
	return Options{}
}

func settings(a extract.Account) Settings {
	if s, ok := a.Settings.(*Settings); ok && s != nil {
		return *s
	}
	return Settings{}
}
