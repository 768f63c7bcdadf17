package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
)

// Config is export.yaml. Its keys are a contract with users' files: extend,
// never rename.
type Config struct {
	Warehouse string `yaml:"warehouse"`
	Parquet   string `yaml:"parquet,omitempty"`
	// Raw is the raw archive directory (every response body a run used,
	// for `export rebuild`); default: "raw" beside the warehouse file.
	Raw string `yaml:"raw,omitempty"`
	// StateDir holds state shared across warehouses, such as each API
	// key's rate-budget ledger. Default: $EXPORT_STATE_DIR, else
	// $XDG_STATE_HOME/repairshop-export, else ~/.local/state/repairshop-export.
	StateDir string    `yaml:"state_dir,omitempty"`
	Accounts []Account `yaml:"accounts"`
}

// Account is one shop's API key at one source.
type Account struct {
	Name              string `yaml:"name"`
	Source            string `yaml:"source"`
	BaseURL           string `yaml:"base_url,omitempty"`
	APIKeyEnv         string `yaml:"api_key_env"`
	RequestsPerMinute int    `yaml:"requests_per_minute,omitempty"`
	// Resources limits the account to these API resources (e.g.
	// [tickets, customers]); default: every resource of its source.
	Resources []string `yaml:"resources,omitempty"`

	// RepairOps accounts only.
	// RequestsPerHour is the key's hourly quota (default 1000, the Read
	// scope's); the API's X-RateLimit-Limit wins when lower.
	RequestsPerHour int `yaml:"requests_per_hour,omitempty"`
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
	// Shops are the shop ids KPIs are exported for (default: every shop_id
	// the tickets name; the whole organisation as "all" if they name none).
	Shops []string `yaml:"shops,omitempty"`
	// PageSize is the list page size asked (limit, 1..500; default 500).
	// Smaller pages cost more requests; use them only for a server that
	// times out on large pages.
	PageSize int `yaml:"page_size,omitempty"`
}

// usageError is a bad flag or config: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

var accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// loadConfig reads and checks a config file. Relative paths in it are
// relative to the file, so a cron job finds the same warehouse whatever its
// working directory.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("config: %w (pass --config or create export.yaml; see `export simulate --write-config`)", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	if err := dec.Decode(&cfg); err != nil {
		return nil, usagef("config %s: %w", path, err)
	}
	if err := cfg.check(); err != nil {
		return nil, usagef("config %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	cfg.Warehouse = resolve(dir, cfg.Warehouse)
	if cfg.Parquet != "" {
		cfg.Parquet = resolve(dir, cfg.Parquet)
	}
	if cfg.Raw != "" {
		cfg.Raw = resolve(dir, cfg.Raw)
	}
	if cfg.StateDir != "" {
		cfg.StateDir = resolve(dir, cfg.StateDir)
	}
	return &cfg, nil
}

// rawDir is the raw archive directory: configured, or "raw" beside the
// warehouse file.
func (c *Config) rawDir() string {
	if c.Raw != "" {
		return c.Raw
	}
	return filepath.Join(filepath.Dir(c.Warehouse), "raw")
}

// stateDir is where per-key state lives: shared by every warehouse and
// process of this user, so two cron jobs on one key pace as one client.
func (c *Config) stateDir() (string, error) {
	switch {
	case c.StateDir != "":
		return c.StateDir, nil
	case os.Getenv("EXPORT_STATE_DIR") != "":
		return os.Getenv("EXPORT_STATE_DIR"), nil
	case os.Getenv("XDG_STATE_HOME") != "":
		return filepath.Join(os.Getenv("XDG_STATE_HOME"), "repairshop-export"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: %w (set state_dir in the config or EXPORT_STATE_DIR)", err)
	}
	return filepath.Join(home, ".local", "state", "repairshop-export"), nil
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func (c *Config) check() error {
	var errs []error
	if c.Warehouse == "" {
		errs = append(errs, errors.New("warehouse: missing (the DuckDB file to write, e.g. ./warehouse.duckdb)"))
	}
	if len(c.Accounts) == 0 {
		errs = append(errs, errors.New("accounts: none configured"))
	}
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		where := fmt.Sprintf("accounts[%d]", i)
		if a.Name != "" {
			where = fmt.Sprintf("account %q", a.Name)
		}
		switch {
		case a.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is missing", where))
		case !accountName.MatchString(a.Name):
			errs = append(errs, fmt.Errorf("%s: name must be lower-case letters, digits, '-' or '_' (it becomes the account column and a Parquet folder)", where))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		seen[a.Name] = true
		switch a.Source {
		case "mgr", "repairops":
		default:
			errs = append(errs, fmt.Errorf("%s: source %q: want mgr or repairops", where, a.Source))
		}
		if a.BaseURL != "" {
			if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: base_url %q is not an http(s) URL", where, a.BaseURL))
			}
		}
		for _, r := range a.Resources {
			if _, ok := mgr.Lookup(r); !ok && a.Source == "mgr" {
				errs = append(errs, fmt.Errorf("%s: resources: %q is not an MGR resource (one of %s)", where, r, strings.Join(mgrResourceNames(), ", ")))
			}
			if _, ok := repairops.Lookup(r); !ok && a.Source == "repairops" {
				errs = append(errs, fmt.Errorf("%s: resources: %q is not a RepairOps resource (one of %s)", where, r, strings.Join(roResourceNames(), ", ")))
			}
		}
		if a.RequestsPerMinute < 0 {
			errs = append(errs, fmt.Errorf("%s: requests_per_minute must be positive", where))
		}
		errs = append(errs, a.checkRepairOps(where)...)
		if a.APIKeyEnv == "" {
			errs = append(errs, fmt.Errorf("%s: api_key_env is missing (name of the environment variable that holds the API key)", where))
		}
	}
	return errors.Join(errs...)
}

// checkRepairOps checks the RepairOps-only keys.
func (a Account) checkRepairOps(where string) []error {
	var errs []error
	if a.Source != "repairops" {
		for key, set := range map[string]bool{"requests_per_hour": a.RequestsPerHour != 0, "start_date": a.StartDate != "", "lookback_days": a.LookbackDays != 0,
			"kpi_reread_days": a.KPIRereadDays != 0, "customer_full_pass_days": a.CustomerFullPassDays != 0, "shops": len(a.Shops) > 0, "page_size": a.PageSize != 0} {
			if set {
				errs = append(errs, fmt.Errorf("%s: %s applies to source repairops only", where, key))
			}
		}
		return errs
	}
	if a.RequestsPerMinute != 0 {
		errs = append(errs, fmt.Errorf("%s: RepairOps quotas are hourly: use requests_per_hour, not requests_per_minute", where))
	}
	for key, v := range map[string]int{"requests_per_hour": a.RequestsPerHour, "lookback_days": a.LookbackDays, "kpi_reread_days": a.KPIRereadDays, "customer_full_pass_days": a.CustomerFullPassDays} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: %s must be positive", where, key))
		}
	}
	if a.PageSize < 0 || a.PageSize > repairops.MaxPageSize {
		errs = append(errs, fmt.Errorf("%s: page_size %d is outside 1..%d (RepairOps' largest limit)", where, a.PageSize, repairops.MaxPageSize))
	}
	if a.StartDate != "" {
		if _, err := time.Parse(repairops.DateFormat, a.StartDate); err != nil {
			errs = append(errs, fmt.Errorf("%s: start_date %q is not a date (YYYY-MM-DD)", where, a.StartDate))
		}
	}
	return errs
}

// apiKey reads an account's key from its environment variable.
func (a Account) apiKey() (string, error) {
	k := os.Getenv(a.APIKeyEnv)
	if k == "" {
		return "", usagef("account %q: environment variable %s is not set or empty; set it to the shop's API key", a.Name, a.APIKeyEnv)
	}
	return k, nil
}
