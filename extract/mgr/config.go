package mgr

import (
	"errors"
	"fmt"

	"github.com/repairshop/export/extract"
)

// Options are an MGR account's own keys in export.yaml (the keys every
// account has — name, source, base_url, api_key_env, resources — are the
// config's). Their names are a contract with users' files.
type Options struct {
	// RequestsPerMinute is the key's limit (default 30, the documented
	// one); requests are paced at 90 % of it.
	RequestsPerMinute int `yaml:"requests_per_minute,omitempty"`
}

// Check reports values that cannot work.
func (o *Options) Check() []error {
	if o.RequestsPerMinute < 0 {
		return []error{errors.New("requests_per_minute must be positive")}
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
	return []error{fmt.Errorf("mgr_rate_scope %q: want %s or %s", s.RateScope, ScopeKey, ScopeHost)}
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
