package repairops

import (
	"errors"
	"fmt"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/internal/redact"
)

// Options are a RepairOps account's own keys in export.yaml (the keys
// every account has — name, source, base_url, api_key_env, resources — are
// the config's). Their names are a contract with users' files.
type Options struct {
	// RequestsPerHour is the key's hourly quota (default 1000, the Read
	// scope's, and at most that without OverrideDocumentedLimit); the
	// API's X-RateLimit-Limit wins when lower. A pointer, so that 0 is
	// refused, not taken for the default.
	RequestsPerHour *float64 `yaml:"requests_per_hour,omitempty"`
	// OverrideDocumentedLimit lets RequestsPerHour pass the Read scope's
	// 1,000: for a server that allows more (the simulator).
	OverrideDocumentedLimit bool `yaml:"override_documented_limit,omitempty"`
	// StartDate (YYYY-MM-DD) is where the first KPI backfill starts
	// (default: two years before the first run).
	StartDate string `yaml:"start_date,omitempty"`
	// LookbackDays is how far before the last run's newest ticket update an
	// incremental ticket listing reads (default 2).
	LookbackDays int `yaml:"lookback_days,omitempty"`
	// KPIRereadDays is how many days of stored KPIs each run reads again
	// for late corrections (default 7).
	KPIRereadDays int `yaml:"kpi_reread_days,omitempty"`
	// CustomerFullPassDays is how often customers are listed in full
	// rather than only the new ones (default 7).
	CustomerFullPassDays int `yaml:"customer_full_pass_days,omitempty"`
	// TicketFullPassDays is how often tickets are listed in full rather
	// than only down to the last change seen (default 7): the full pass is
	// what shows which tickets were deleted, and costs a request per 500.
	TicketFullPassDays int `yaml:"ticket_full_pass_days,omitempty"`
	// Shops are the shop ids KPIs are exported for (default: every shop_id
	// the tickets name; the whole organisation as "all" if they name none).
	Shops []string `yaml:"shops,omitempty"`
	// PageSize is the list page size asked (limit, 1..500; default 500).
	// Smaller pages cost more requests; use them only for a server that
	// times out on large pages.
	PageSize int `yaml:"page_size,omitempty"`
	// RequestsPerMinute is not RepairOps': its quotas are hourly. It is
	// read only to say so.
	RequestsPerMinute int `yaml:"requests_per_minute,omitempty"`
}

// Check reports values that cannot work.
func (o *Options) Check() []error {
	var errs []error
	if o.RequestsPerMinute != 0 {
		errs = append(errs, errors.New("RepairOps quotas are hourly: use requests_per_hour, not requests_per_minute"))
	}
	if o.RequestsPerHour != nil {
		if err := extract.CheckRate("requests_per_hour", *o.RequestsPerHour, DefaultRequestsPerHour, "an hour", "RepairOps'",
			"its largest key scope, Read; past the quota it answers 429 until the hour resets", o.OverrideDocumentedLimit); err != nil {
			errs = append(errs, err)
		}
	}
	for _, kv := range []struct {
		key string
		v   int
	}{{"lookback_days", o.LookbackDays}, {"kpi_reread_days", o.KPIRereadDays}, {"customer_full_pass_days", o.CustomerFullPassDays}, {"ticket_full_pass_days", o.TicketFullPassDays}} {
		if kv.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", kv.key))
		}
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		errs = append(errs, fmt.Errorf("page_size %d is outside 1..%d (RepairOps' largest limit)", o.PageSize, MaxPageSize))
	}
	if o.StartDate != "" {
		if _, err := time.Parse(DateFormat, o.StartDate); err != nil {
			errs = append(errs, fmt.Errorf("start_date %s is not a date (YYYY-MM-DD)", redact.Quote(o.StartDate)))
		}
	}
	return errs
}

// perHour is the configured quota (0: unset).
func (o Options) perHour() int {
	if o.RequestsPerHour == nil {
		return 0
	}
	return int(*o.RequestsPerHour)
}

// Defaults of the account keys.
const (
	defaultLookbackDays     = 2
	defaultKPIRereadDays    = 7
	defaultCustomerFullDays = 7
	defaultTicketFullDays   = 7
	defaultKPIYears         = 2
)

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// options reads an account's parsed keys (zero values when the account was
// built without them).
func options(a extract.Account) Options {
	if o, ok := a.Options.(*Options); ok && o != nil {
		return *o
	}
	return Options{}
}
