package config

import (
	"strings"
	"testing"

	"github.com/repairshop/export/extract/mgr"
	"github.com/repairshop/export/extract/repairops"
)

const good = `warehouse: ./w.duckdb
mgr_rate_scope: host
accounts:
  - name: north
    source: mgr
    api_key_env: K1
    requests_per_minute: 20
    resources: [tickets, customFields/tickets]
  - name: metro
    source: repairops
    base_url: https://api.example.test/v1
    api_key_env: K2
    shops: [a, b]
    page_size: 100
    timezone: America/Chicago
    currency: EUR
    status_groups: {done: [Collected, "Reparación terminada"]}
`

// Each source reads its own keys into its own options; the top-level key
// a source owns reaches its accounts.
func TestEachSourceReadsItsOwnKeys(t *testing.T) {
	cfg, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Accounts) != 2 {
		t.Fatalf("accounts %+v", cfg.Accounts)
	}
	north, metro := cfg.Accounts[0], cfg.Accounts[1]
	if o, ok := north.Options.(*mgr.Options); !ok || o.RequestsPerMinute == nil || *o.RequestsPerMinute != 20 || strings.Join(north.Resources, ",") != "tickets,customFields/tickets" {
		t.Errorf("north: %+v %+v", north, north.Options)
	}
	if s, ok := north.Settings.(*mgr.Settings); !ok || s.RateScope != mgr.ScopeHost {
		t.Errorf("north's settings: %+v", north.Settings)
	}
	if metro.Currency != "EUR" {
		t.Errorf("metro's currency: %q", metro.Currency)
	}
	if metro.Timezone != "America/Chicago" || strings.Join(metro.StatusGroups["done"], ",") != "Collected,Reparación terminada" {
		t.Errorf("metro's time zone and status groups: %q %v", metro.Timezone, metro.StatusGroups)
	}
	if o, ok := metro.Options.(*repairops.Options); !ok || o.PageSize != 100 || strings.Join(o.Shops, ",") != "a,b" || metro.BaseURL != "https://api.example.test/v1" {
		t.Errorf("metro: %+v %+v", metro, metro.Options)
	}
}

func TestConfigErrorsNameTheKeyAndLine(t *testing.T) {
	for _, tt := range []struct {
		name, config, want string
	}{
		{"a misspelt account key names its line", strings.Replace(good, "requests_per_minute: 20", "requests_per_minit: 20", 1), `line 7: account "north": unknown key "requests_per_minit"`},
		{"a misspelt top-level key", "warehose: x\n" + good, `line 1: unknown key "warehose"`},
		{"another source's key", strings.Replace(good, "requests_per_minute: 20", "page_size: 20", 1), "account \"north\": page_size applies to source repairops only"},
		{"a source's own check", strings.Replace(good, "page_size: 100", "page_size: 0\n    start_date: 2026-13-01", 1), `start_date "2026-13-01" is not a date`},
		{"a bad top-level value", strings.Replace(good, "mgr_rate_scope: host", "mgr_rate_scope: ip", 1), `mgr_rate_scope "ip": want key or host`},
		{"an unknown resource", strings.Replace(good, "customFields/tickets", "webhooks", 1), `"webhooks" is not an MGR resource`},
		{"a wrong type", strings.Replace(good, "requests_per_minute: 20", "requests_per_minute: lots", 1), "line 7"},
		{"no accounts", "warehouse: x\n", "accounts: none configured"},
		{"a key pasted names the source's variable", strings.Replace(good, "api_key_env: K2", "api_key_env: ro_live_8f7e6d5c4b3a29181716", 1), "(e.g. REPAIROPS_METRO_KEY)"},
		{"a rate above MGR's documented limit", strings.Replace(good, "requests_per_minute: 20", "requests_per_minute: 1000", 1), `requests_per_minute: 1000 is above MGR's documented limit of 30 a minute (ignore its rate-limit error 10 times and it blocks the key and the shop's IP for 6 hours)`},
		{"a rate of zero", strings.Replace(good, "requests_per_minute: 20", "requests_per_minute: 0", 1), `requests_per_minute: 0 is not a whole number of requests of at least 1`},
		{"a fractional rate", strings.Replace(good, "requests_per_minute: 20", "requests_per_minute: 1.5", 1), `requests_per_minute: 1.5 is not a whole number`},
		{"a quota above RepairOps' largest scope", strings.Replace(good, "page_size: 100", "page_size: 100\n    requests_per_hour: 5000", 1), `requests_per_hour: 5000 is above RepairOps' documented limit of 1000 an hour`},
		{"an unknown time zone", strings.Replace(good, "api_key_env: K1", "api_key_env: K1\n    timezone: America/Springfield", 1), `line 7: timezone "America/Springfield" is not an IANA time zone name`},
		{"a currency that is not a code", strings.Replace(good, "api_key_env: K1", "api_key_env: K1\n    currency: dollars", 1), `line 7: currency "dollars": want an ISO 4217 code such as USD or EUR`},
		{"a status group that is not one", strings.Replace(good, "api_key_env: K1", "api_key_env: K1\n    status_groups: {finished: [Collected]}", 1), `line 7: status_groups: "finished" is not a group`},
		{"a label in two groups", strings.Replace(good, "api_key_env: K1", "api_key_env: K1\n    status_groups: {done: [Collected], waiting: [collected]}", 1), `"collected" is in both`},
		{"an unknown source", strings.Replace(good, "source: mgr", "source: shopify", 1), `source "shopify": want mgr or repairops`},
		{"a webhook on a source that sends none", strings.Replace(good, "api_key_env: K1", "api_key_env: K1\n    webhook: {path: /hooks/north, secret_env: S1}", 1), `account "north": webhook: My Gadget Repairs sends no webhooks (only repairops)`},
		{"a webhook path that is not a path", strings.Replace(good, "api_key_env: K2", "api_key_env: K2\n    webhook: {path: hooks, secret_env: S2}", 1), `webhook: path "hooks"`},
		{"a webhook secret pasted", strings.Replace(good, "api_key_env: K2", "api_key_env: K2\n    webhook: {path: /h, secret_env: whsec_a8f9e0d1c2b3a4958}", 1), `secret_env must be the NAME of an environment variable`},
		{"a missing key variable names the account's line", strings.Replace(good, "api_key_env: K1", "", 1), `line 4: account "north": api_key_env is missing`},
	} {
		_, err := Parse([]byte(tt.config))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
}

func TestSelectNamesTheConfiguredAccounts(t *testing.T) {
	cfg, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Select([]string{"west"}); err == nil || !strings.Contains(err.Error(), "north, metro") {
		t.Errorf("unknown account: %v", err)
	}
	if err := cfg.Select([]string{"metro"}); err != nil || len(cfg.Accounts) != 1 || cfg.Accounts[0].Name != "metro" {
		t.Errorf("select metro: %v %+v", err, cfg.Accounts)
	}
}

// A written config reads back with the same accounts and keys.
func TestFileRoundTrips(t *testing.T) {
	f := File{Warehouse: "./w.duckdb", Parquet: "./pq", Accounts: []FileAccount{
		{Name: "north", Source: "mgr", BaseURL: "http://127.0.0.1:1/v1", APIKeyEnv: "MGR_NORTH_KEY", Options: map[string]any{"requests_per_minute": 6000, "override_documented_limit": true}},
		{Name: "metro", Source: "repairops", BaseURL: "http://127.0.0.1:2/v1", APIKeyEnv: "REPAIROPS_METRO_KEY", Options: map[string]any{"requests_per_hour": 100000, "override_documented_limit": true}},
	}}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if o := cfg.Accounts[0].Options.(*mgr.Options); *o.RequestsPerMinute != 6000 || *cfg.Accounts[1].Options.(*repairops.Options).RequestsPerHour != 100000 || cfg.Parquet != "./pq" {
		t.Errorf("read back %+v from\n%s", cfg, b)
	}
}

// A key pasted into the config is refused, pointing to api_key_env, and
// the error never repeats it.
func TestAPIKeyInTheConfigIsRefusedUnshown(t *testing.T) {
	const key = "ro_read_metro_9f8e7d6c5b4a3921"
	for name, cfg := range map[string]string{
		"a key as api_key_env": strings.Replace(good, "api_key_env: K1", "api_key_env: "+key, 1),
		"a hex key":            strings.Replace(good, "api_key_env: K1", "api_key_env: a1b2c3d4e5f60718293a4b5c", 1),
		"an api_key key":       strings.Replace(good, "api_key_env: K1", "api_key_env: K1\n    api_key: "+key, 1),
		"a key with a dash":    strings.Replace(good, "api_key_env: K1", "api_key_env: mgr-"+key, 1),
	} {
		cfg = strings.ReplaceAll(cfg, `\n`, "\n")
		_, err := Parse([]byte(cfg))
		if err == nil || !strings.Contains(err.Error(), "api_key_env") {
			t.Errorf("%s: %v; want a pointer to api_key_env", name, err)
			continue
		}
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "a1b2c3d4e5f6") {
			t.Errorf("%s: the error repeats the key: %v", name, err)
		}
	}
	for _, ok := range []string{"MGR_NORTH_KEY", "RO_METRO_KEY", "K1", "RepairOps_Key", "SHOP2_KEY"} {
		if !LooksLikeEnvName(ok) {
			t.Errorf("%s: taken for a key", ok)
		}
	}
}

func TestArticleIsAsTheWordIsSaid(t *testing.T) {
	for word, want := range map[string]string{"MGR": "an", "API": "an", "URL": "a", "RepairOps": "a", "Shopify": "a", "apple": "an", "XML": "an", "HTTP": "an", "": "a"} {
		if got := article(word); got != want {
			t.Errorf("article(%q) = %q, want %q", word, got, want)
		}
	}
}
