package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/redact"
)

// Starter is what `repairshop-export init` asks for; the rest of the starter config
// is comments with the defaults.
type Starter struct {
	Warehouse string
	Name      string // the account
	Source    string // mgr | repairops
	KeyEnv    string // the environment variable that holds the key
	Timezone  string // IANA name, "" for none
}

// DefaultStarter is the config `repairshop-export init` writes without questions:
// the first source, its key in <SOURCE>_MYSHOP_KEY.
func DefaultStarter() Starter {
	s := Starter{Warehouse: "./warehouse.duckdb", Name: "myshop", Source: sources.All[0].Name}
	s.KeyEnv = s.DefaultKeyEnv()
	return s
}

// SourceChoices describes the sources for a question: "mgr (My Gadget
// Repairs), repairops (RepairOps)".
func SourceChoices() string {
	var out []string
	for _, src := range sources.All {
		out = append(out, fmt.Sprintf("%s (%s)", src.Name, src.Title))
	}
	return strings.Join(out, ", ")
}

// Check reports what is wrong with the answers, as a config would.
func (s Starter) Check() error {
	for _, f := range []struct{ field, v string }{{"source", s.Source}, {"name", s.Name}, {"key_env", s.KeyEnv}, {"timezone", s.Timezone}, {"warehouse", s.Warehouse}} {
		if err := CheckAnswer(f.field, f.v); err != nil {
			return err
		}
	}
	return nil
}

// CheckAnswer checks one of the starter's values: field is source, name,
// key_env, timezone or warehouse.
func CheckAnswer(field, v string) error {
	switch field {
	case "source":
		if _, ok := sources.Lookup(v); !ok {
			return fmt.Errorf("source %s: want %s", redact.Quote(v), strings.Join(sources.Names(), " or "))
		}
	case "name":
		if !accountName.MatchString(v) {
			return fmt.Errorf("account name %s: lower-case letters, digits, '-' or '_'", redact.Quote(v))
		}
	case "key_env":
		if !LooksLikeEnvName(v) {
			// Never repeat it: it may be the key.
			return errors.New("that is not the name of an environment variable; it looks like a key. Keep the key out of the config: name the variable that will hold it (api_key_env), e.g. SHOP_API_KEY")
		}
	case "timezone":
		if v == "" {
			return nil
		}
		if _, err := time.LoadLocation(v); err != nil || strings.EqualFold(v, "local") {
			return fmt.Errorf("time zone %s: want an IANA name such as America/Chicago", redact.Quote(v))
		}
	case "warehouse":
		if strings.TrimSpace(v) == "" {
			return errors.New("warehouse: name the DuckDB file, e.g. ./warehouse.duckdb")
		}
	}
	return nil
}

// DefaultKeyEnv is the variable name suggested for the account's key.
func (s Starter) DefaultKeyEnv() string {
	prefix := strings.ToUpper(s.Source)
	if src, ok := sources.Lookup(s.Source); ok {
		prefix = strings.ToUpper(src.Short)
	}
	return envUnsafe.ReplaceAllString(prefix+"_"+strings.ToUpper(s.Name)+"_KEY", "_")
}

var envUnsafe = regexp.MustCompile(`[^A-Z0-9_]`)

var starterText = template.Must(template.New("starter").Parse(`# export.yaml: what ` + "`repairshop-export run`" + ` reads. Paths are relative to this file.
# Check it (and each account's key, with one request) before the first night:
#   repairshop-export check -c {{.Path}}

# The DuckDB warehouse: one file, one writing process at a time.
warehouse: {{.Warehouse}}
# Hive-partitioned Parquet for BI tools (Power BI, Metabase, DuckDB): remove to skip.
parquet: ./parquet
# raw: ./raw            # the raw archive of every response (default: beside the warehouse)
# state_dir: ./state    # the API keys' rate-budget ledgers (default: the user's state folder)

accounts:
  # One entry per shop (My Gadget Repairs) or organisation (RepairOps).
  # name: lower-case, it becomes the account column and a Parquet folder.
  - name: {{.Name}}
    source: {{.Source}}      # {{.Choices}}
    # The NAME of the environment variable that holds the API key, never the
    # key itself:  export {{.KeyEnv}}='...'   (in cron: in the job's environment)
    api_key_env: {{.KeyEnv}}
{{- if .Timezone}}
    timezone: {{.Timezone}}   # the shop's zone: days and months in reports and KPI queries
{{- else}}
    # timezone: America/Chicago   # the shop's zone, for days and months (default: the offset
    #                             # the source's timestamps carry, else UTC)
{{- end}}
    # currency: USD                     # the shop's money (ISO 4217), for the report's money axes
    # resources: [tickets, customers]   # only these (default: all)
    # status_groups:                    # your own status labels → open, waiting, done, cancelled
    #   done: [Collected, "Reparación terminada"]
    #   waiting: ["Waiting for parts"]
{{- if .OwnKeys}}
    # {{.Title}}'s own keys (see the README): {{.OwnKeys}}
{{- end}}
`))

// Render writes the starter config (to be saved at path).
func (s Starter) Render(path string) ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	src, _ := sources.Lookup(s.Source)
	var b bytes.Buffer
	err := starterText.Execute(&b, struct {
		Starter
		Path, Choices, Title, OwnKeys string
	}{s, path, SourceChoices(), src.Title, strings.Join(keysOf(src.Options()), ", ")})
	return b.Bytes(), err
}
