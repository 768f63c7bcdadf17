// Package config reads export.yaml: where the warehouse, the Parquet tree,
// the raw archive and the key ledgers live, and the accounts. It reads the
// keys every account has (name, source, base_url, api_key_env, resources,
// timezone, currency, status_groups, webhook, request_timeout);
// an account's other keys, and the top-level keys a source owns, are read
// into that source's own Options and Settings, so each source's keys live
// with its code. The keys are a contract with users' files: extend, never
// rename. A misspelt key, or one that belongs to another source, is an
// error naming its line.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zone names on hosts without a zoneinfo database

	"go.yaml.in/yaml/v3"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/redact"
	"github.com/repairshop/export/model"
)

// Config is a loaded export.yaml, its paths made absolute.
type Config struct {
	// Path is the file it was read from.
	Path      string
	Warehouse string
	Parquet   string
	// Raw is the raw archive directory (every response body a run used,
	// for `repairshop-export rebuild`); default: "raw" beside the warehouse file.
	Raw string
	// StateDir holds state shared across warehouses, such as each API
	// key's rate-budget ledger. Default: $EXPORT_STATE_DIR, else
	// $XDG_STATE_HOME/repairshop-export, else ~/.local/state/repairshop-export.
	StateDir string
	// Listen is the address `repairshop-export listen` receives webhooks on (the
	// --addr flag wins); default DefaultListen.
	Listen   string
	Accounts []extract.Account
	// Lake is the optional Iceberg lake a run also publishes to (nil: none).
	Lake *Lake
	// Settings are the sources' top-level keys, by source name.
	Settings map[string]extract.Options
	// Sharded says which shard of the accounts --shard kept, and the
	// whole split ("" for all the accounts): see ApplyShard.
	Sharded string
	// Getenv is the environment the API keys, the webhook secrets and
	// the default state directory are read from (nil: the process's).
	// Tests give each config its own, so that they can run side by side.
	Getenv func(string) string
}

func (c *Config) getenv(key string) string {
	if c.Getenv != nil {
		return c.Getenv(key)
	}
	return os.Getenv(key)
}

// UsageError is a bad flag, config or environment: exit code 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// topKeys are the top-level keys the config itself reads.
var topKeys = []string{"warehouse", "parquet", "raw", "state_dir", "listen", "lake", "accounts"}

// DefaultListen is where `repairshop-export listen` receives webhooks without a
// listen: key or --addr: loopback, behind a reverse proxy with TLS.
const DefaultListen = "127.0.0.1:8787"

// accountKeys are the keys every account has.
var accountKeys = []string{"name", "source", "base_url", "api_key_env", "resources", "timezone", "currency", "status_groups", "webhook", "request_timeout"}

var accountName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// secretKey matches config keys that would hold a key itself.
var secretKey = regexp.MustCompile(`(?i)^(api_?key|key|token|api_?token|secret|password|bearer)$`)

// currencyCode is an ISO 4217 code's shape.
var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkWebhook checks an account's webhook endpoint.
func checkWebhook(line int, w *extract.Webhook) error {
	switch {
	case !strings.HasPrefix(w.Path, "/") || strings.ContainsAny(w.Path, "?# "):
		return fmt.Errorf("line %d: webhook: path %s: want a URL path such as /hooks/metro", line, redact.Quote(w.Path))
	case w.SecretEnv == "":
		return fmt.Errorf("line %d: webhook: secret_env is missing (the environment variable that holds the signing secret)", line)
	case !LooksLikeEnvName(w.SecretEnv):
		return fmt.Errorf("line %d: webhook: secret_env must be the NAME of an environment variable, not the secret (the value is not shown)", line)
	case w.SignatureHeader != "" && !envName.MatchString(strings.ReplaceAll(w.SignatureHeader, "-", "_")):
		return fmt.Errorf("line %d: webhook: signature_header %s is not a header name", line, redact.Quote(w.SignatureHeader))
	}
	return nil
}

// WebhookSecret reads an account's webhook secret from its environment
// variable.
func (c *Config) WebhookSecret(a extract.Account) (string, error) {
	if a.Webhook == nil {
		return "", Usagef("account %q has no webhook", a.Name)
	}
	s := c.getenv(a.Webhook.SecretEnv)
	if s == "" {
		return "", Usagef("account %q: environment variable %s is not set or empty; set it to the webhook's signing secret", a.Name, a.Webhook.SecretEnv)
	}
	return s, nil
}

// LooksLikeEnvName says whether s can be an environment variable's name
// and does not look like a pasted key: names are letters, digits and
// underscores, and a long run of mixed-case letters and digits without
// underscores (ro_read_... or a hex string) is taken for a key.
func LooksLikeEnvName(s string) bool {
	if !envName.MatchString(s) || len(s) > 64 {
		return false
	}
	lower, digits := 0, 0
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower++
		case r >= '0' && r <= '9':
			digits++
		}
	}
	// MGR_NORTH_KEY, RepairOps_Key: fine; a1b2c3d4e5f6a7b8c9d0: a key.
	return !(lower > 0 && digits >= 6) && !(len(s) >= 24 && lower > len(s)/2)
}

// Load reads and checks a config file. Relative paths in it are relative
// to the file, so a cron job finds the same warehouse whatever its working
// directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Usagef("config: %w (pass --config, or write a starter config with `repairshop-export init`)", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, Usagef("config %s: %w", path, err)
	}
	cfg.Path = path
	dir := filepath.Dir(path)
	cfg.Warehouse = resolve(dir, cfg.Warehouse)
	for _, p := range []*string{&cfg.Parquet, &cfg.Raw, &cfg.StateDir} {
		if *p != "" {
			*p = resolve(dir, *p)
		}
	}
	cfg.Lake.resolve(dir)
	return cfg, nil
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// decode reads a YAML node into dst, with quiet errors.
func decode(n *yaml.Node, dst any) error { return quiet(n.Decode(dst)) }

// quoted is what the YAML library quotes of the file in its errors: an
// anchor's name, a value it could not read ('…' or `…`).
var quoted = regexp.MustCompile("'[^'\n]*'|`[^`\n]*`")

// quiet keeps the file's own text out of a YAML error: the line and what
// is wrong stay, the value does not. Whatever sits in the file may be a
// key someone pasted (even as an anchor's name), and errors go to logs.
func quiet(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(quoted.ReplaceAllString(err.Error(), "(a value, not shown)"))
}

// Parse reads a config's text (paths as written).
func Parse(data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, quiet(err)
	}
	cfg := &Config{Settings: map[string]extract.Options{}}
	if len(doc.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want keys and values (warehouse:, accounts:, …)", root.Line)
	}
	var errs []error
	settings := map[string]*yaml.Node{} // source → its top-level keys
	var accounts *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "warehouse":
			errs = append(errs, decode(v, &cfg.Warehouse))
		case "parquet":
			errs = append(errs, decode(v, &cfg.Parquet))
		case "raw":
			errs = append(errs, decode(v, &cfg.Raw))
		case "state_dir":
			errs = append(errs, decode(v, &cfg.StateDir))
		case "listen":
			errs = append(errs, decode(v, &cfg.Listen))
		case "accounts":
			accounts = v
		case "lake":
			var lerrs []error
			cfg.Lake, lerrs = parseLake(v)
			errs = append(errs, lerrs...)
		default:
			src := ownerOf(k.Value, func(s *extract.Source) extract.Options {
				if s.Settings == nil {
					return nil
				}
				return s.Settings()
			})
			if src == nil {
				errs = append(errs, fmt.Errorf("line %d: unknown key %s (known: %s)", k.Line, redact.Quote(k.Value), strings.Join(append(slices.Clone(topKeys), settingKeys()...), ", ")))
				continue
			}
			if settings[src.Name] == nil {
				settings[src.Name] = &yaml.Node{Kind: yaml.MappingNode}
			}
			settings[src.Name].Content = append(settings[src.Name].Content, k, v)
		}
	}
	for _, s := range sources.All {
		if s.Settings == nil {
			continue
		}
		opts := s.Settings()
		if n := settings[s.Name]; n != nil {
			if err := decode(n, opts); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		errs = append(errs, opts.Check()...)
		cfg.Settings[s.Name] = opts
	}
	if cfg.Warehouse == "" {
		errs = append(errs, errors.New("warehouse: missing (the DuckDB file to write, e.g. ./warehouse.duckdb)"))
	}
	if accounts == nil || len(accounts.Content) == 0 {
		errs = append(errs, errors.New("accounts: none configured"))
	} else if accounts.Kind != yaml.SequenceNode {
		errs = append(errs, fmt.Errorf("line %d: accounts: want a list of accounts", accounts.Line))
	} else {
		seen, paths := map[string]bool{}, map[string]string{}
		for i, n := range accounts.Content {
			a, aerrs := parseAccount(n, i, cfg)
			for _, err := range aerrs {
				if err != nil && !strings.Contains(err.Error(), "line ") {
					err = fmt.Errorf("line %d: %w", n.Line, err) // the account's first line
				}
				errs = append(errs, err)
			}
			if a.Name != "" && seen[a.Name] {
				errs = append(errs, fmt.Errorf("line %d: account %s: name used twice", n.Line, shownName(a.Name)))
			}
			seen[a.Name] = true
			if a.Webhook != nil {
				if other, ok := paths[a.Webhook.Path]; ok {
					errs = append(errs, fmt.Errorf("line %d: account %s: webhook path %s is account %s's too", n.Line, shownName(a.Name), redact.Quote(a.Webhook.Path), shownName(other)))
				}
				paths[a.Webhook.Path] = a.Name
			}
			cfg.Accounts = append(cfg.Accounts, a)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseAccount reads one account: the common keys here, the rest into its
// source's Options.
func parseAccount(n *yaml.Node, i int, cfg *Config) (extract.Account, []error) {
	var a extract.Account
	where := fmt.Sprintf("accounts[%d]", i)
	if n.Kind != yaml.MappingNode {
		return a, []error{fmt.Errorf("line %d: %s: want keys and values (name:, source:, …)", n.Line, where)}
	}
	var errs []error
	own := &yaml.Node{Kind: yaml.MappingNode}
	var others []*yaml.Node // keys that are not common, in order
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		var err error
		switch k.Value {
		case "name":
			err = decode(v, &a.Name)
		case "source":
			err = decode(v, &a.Source)
		case "base_url":
			err = decode(v, &a.BaseURL)
		case "api_key_env":
			err = decode(v, &a.APIKeyEnv)
		case "resources":
			err = decode(v, &a.Resources)
		case "timezone":
			if err = decode(v, &a.Timezone); err == nil && a.Timezone != "" {
				if _, lerr := time.LoadLocation(a.Timezone); lerr != nil || strings.EqualFold(a.Timezone, "local") {
					err = fmt.Errorf("line %d: timezone %s is not an IANA time zone name (e.g. America/Chicago, Europe/Madrid)", v.Line, redact.Quote(a.Timezone))
				}
			}
		case "currency":
			if err = decode(v, &a.Currency); err == nil && !currencyCode.MatchString(a.Currency) {
				err = fmt.Errorf("line %d: currency %s: want an ISO 4217 code such as USD or EUR", v.Line, redact.Quote(a.Currency))
			}
		case "request_timeout":
			var d string
			if err = decode(v, &d); err == nil {
				a.Timeout, err = time.ParseDuration(d)
				if err != nil || a.Timeout <= 0 {
					err = fmt.Errorf("line %d: request_timeout %s: want a duration such as 30s or 2m", v.Line, redact.Quote(d))
				}
			}
		case "webhook":
			a.Webhook = &extract.Webhook{}
			if err = decode(v, a.Webhook); err != nil {
				err = fmt.Errorf("line %d: webhook: want {path: /hooks/NAME, secret_env: VARIABLE, signature_header: HEADER}", v.Line)
			} else {
				err = checkWebhook(v.Line, a.Webhook)
			}
		case "status_groups":
			if err = decode(v, &a.StatusGroups); err == nil {
				if cerr := model.CheckGroups(a.StatusGroups); cerr != nil {
					err = fmt.Errorf("line %d: %w", v.Line, cerr)
				}
			} else {
				err = fmt.Errorf("line %d: status_groups: want group: [label, …] (groups %s)", v.Line, strings.Join(model.Groups, ", "))
			}
		default:
			others = append(others, k, v)
		}
		errs = append(errs, err)
	}
	if accountName.MatchString(a.Name) {
		where = fmt.Sprintf("account %q", a.Name)
	}
	for j, err := range errs {
		if err != nil {
			errs[j] = fmt.Errorf("%s: %w", where, err)
		}
	}
	switch {
	case a.Name == "":
		errs = append(errs, fmt.Errorf("%s: name is missing", where))
	case !accountName.MatchString(a.Name):
		errs = append(errs, fmt.Errorf("%s: name %s: want lower-case letters, digits, '-' or '_' (it becomes the account column and a Parquet folder)", where, redact.Quote(a.Name)))
	}
	if a.BaseURL != "" {
		if u, err := url.Parse(a.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: base_url %s is not an http(s) URL", where, redact.Quote(a.BaseURL)))
		} else if u.User != nil {
			errs = append(errs, fmt.Errorf("%s: base_url %s: a user name or key does not go in the URL: put the key in an environment variable and name it in api_key_env", where, redact.Hidden))
		}
	}
	switch {
	case a.APIKeyEnv == "":
		errs = append(errs, fmt.Errorf("%s: api_key_env is missing (name of the environment variable that holds the API key)", where))
	case !LooksLikeEnvName(a.APIKeyEnv):
		// Never repeat the value: it is likely the key itself.
		errs = append(errs, fmt.Errorf("%s: api_key_env must be the NAME of an environment variable (e.g. %s), not the key: keep the key out of this file, put it in that variable (the value given is not shown)",
			where, Starter{Source: cmp.Or(a.Source, "shop"), Name: cmp.Or(a.Name, "shop")}.DefaultKeyEnv()))
	}
	src, ok := sources.Lookup(a.Source)
	if !ok {
		return a, append(errs, fmt.Errorf("%s: source %s: want %s", where, redact.Quote(a.Source), strings.Join(sources.Names(), " or ")))
	}
	a.Settings = cfg.Settings[src.Name]
	if a.Webhook != nil && src.Webhooks == nil {
		var with []string
		for _, s := range sources.All {
			if s.Webhooks != nil {
				with = append(with, s.Name)
			}
		}
		errs = append(errs, fmt.Errorf("%s: webhook: %s sends no webhooks (only %s)", where, src.Title, strings.Join(with, ", ")))
	}
	for _, r := range a.Resources {
		if _, ok := src.Lookup(r); !ok {
			var names []string
			for _, x := range src.Resources {
				names = append(names, x.Name)
			}
			errs = append(errs, fmt.Errorf("%s: resources: %s is not %s %s resource (one of %s)", where, redact.Quote(r), article(src.Short), src.Short, strings.Join(names, ", ")))
		}
	}
	known := keysOf(src.Options())
	for j := 0; j+1 < len(others); j += 2 {
		k, v := others[j], others[j+1]
		if slices.Contains(known, k.Value) {
			own.Content = append(own.Content, k, v)
			continue
		}
		if owner := ownerOf(k.Value, func(s *extract.Source) extract.Options { return s.Options() }); owner != nil {
			errs = append(errs, fmt.Errorf("%s: %s applies to source %s only", where, k.Value, owner.Name))
			continue
		}
		if secretKey.MatchString(k.Value) {
			errs = append(errs, fmt.Errorf("line %d: %s: %s: an API key does not go in the config: put it in an environment variable and name that variable in api_key_env (the value is not shown)", k.Line, where, k.Value))
			continue
		}
		errs = append(errs, fmt.Errorf("line %d: %s: unknown key %s (an account has %s)", k.Line, where, redact.Quote(k.Value), strings.Join(append(slices.Clone(accountKeys), known...), ", ")))
	}
	a.Options = src.Options()
	if err := decode(own, a.Options); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	} else {
		for _, err := range a.Options.Check() {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return a, errs
}

// article is "a" or "an" before a word as it is said: by its first
// letter, and for an initialism (all capitals, as a source's short name
// may be) by how that letter is spelt out ("an MGR", "an API", "a URL").
func article(word string) string {
	if word == "" {
		return "a"
	}
	first := rune(word[0])
	if word == strings.ToUpper(word) && len(word) > 1 {
		if strings.ContainsRune("AEFHILMNORSX", first) { // "ay", "ef", "aitch", "em", …
			return "an"
		}
		return "a"
	}
	if strings.ContainsRune("AEIOUaeiou", first) {
		return "an"
	}
	return "a"
}

// ownerOf finds the source whose options (as opts gives them) have key.
func ownerOf(key string, opts func(*extract.Source) extract.Options) *extract.Source {
	for _, s := range sources.All {
		if o := opts(s); o != nil && slices.Contains(keysOf(o), key) {
			return s
		}
	}
	return nil
}

// settingKeys are every source's top-level keys.
func settingKeys() []string {
	var out []string
	for _, s := range sources.All {
		if s.Settings != nil {
			out = append(out, keysOf(s.Settings())...)
		}
	}
	return out
}

// keysOf lists the yaml keys of an options struct.
func keysOf(opts any) []string {
	t := reflect.TypeOf(opts)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// RawDir is the raw archive directory: configured, or "raw" beside the
// warehouse file.
func (c *Config) RawDir() string {
	if c.Raw != "" {
		return c.Raw
	}
	return filepath.Join(filepath.Dir(c.Warehouse), "raw")
}

// StateDirectory is where per-key state lives: shared by every warehouse
// and process of this user, so two cron jobs on one key pace as one client.
func (c *Config) StateDirectory() (string, error) {
	switch {
	case c.StateDir != "":
		return c.StateDir, nil
	case c.getenv("EXPORT_STATE_DIR") != "":
		return c.getenv("EXPORT_STATE_DIR"), nil
	case c.getenv("XDG_STATE_HOME") != "":
		return filepath.Join(c.getenv("XDG_STATE_HOME"), "repairshop-export"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: %w (set state_dir in the config or EXPORT_STATE_DIR)", err)
	}
	return filepath.Join(home, ".local", "state", "repairshop-export"), nil
}

// Select keeps the named accounts, in the config's order (--account).
func (c *Config) Select(names []string) error {
	var kept []extract.Account
	known := make([]string, len(c.Accounts))
	for i, a := range c.Accounts {
		known[i] = a.Name
		if slices.Contains(names, a.Name) {
			kept = append(kept, a)
		}
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return Usagef("--account %s: no such account in the config (it has %s)", shownName(n), strings.Join(known, ", "))
		}
	}
	c.Accounts = kept
	return nil
}

// APIKey reads an account's key from its environment variable.
func (c *Config) APIKey(a extract.Account) (string, error) {
	k := c.getenv(a.APIKeyEnv)
	if k == "" {
		return "", Usagef("account %q: environment variable %s is not set or empty; set it to the shop's API key", a.Name, a.APIKeyEnv)
	}
	return k, nil
}

// File is a config to write (`repairshop-export simulate --write-config`).
type File struct {
	Warehouse string        `yaml:"warehouse"`
	Parquet   string        `yaml:"parquet,omitempty"`
	Listen    string        `yaml:"listen,omitempty"`
	Accounts  []FileAccount `yaml:"accounts"`
}

// FileAccount is one account of a File: the common keys, then its
// source's.
type FileAccount struct {
	Name      string         `yaml:"name"`
	Source    string         `yaml:"source"`
	BaseURL   string         `yaml:"base_url,omitempty"`
	APIKeyEnv string         `yaml:"api_key_env"`
	Currency  string         `yaml:"currency,omitempty"`
	Options   map[string]any `yaml:",inline"`
}

// Marshal renders a File as YAML.
func (f File) Marshal() ([]byte, error) { return yaml.Marshal(f) }
