package config

import (
	"strings"
	"testing"

	"github.com/repairshop/export/internal/redact"
)

// A key pasted into any field of the config is refused without being
// repeated: the error names the line and what is wrong, never the value.
func TestAKeyPastedAnywhereIsNotRepeated(t *testing.T) {
	const key = "sk_live_Qw3Er5Ty7Ui9Op1As3Df"
	account := "warehouse: ./w.duckdb\naccounts:\n  - name: north\n    source: repairops\n    api_key_env: K1\n"
	for _, tc := range []struct{ name, text, want string }{
		{"as the account's name", strings.Replace(account, "name: north", "name: "+key, 1), "name " + redact.Hidden},
		{"as the source", strings.Replace(account, "source: repairops", "source: "+key, 1), "source " + redact.Hidden},
		{"as base_url", account + "    base_url: " + key + "\n", "base_url " + redact.Hidden},
		{"in base_url's user", account + "    base_url: https://u:" + key + "@api.example.test/v1\n", "base_url " + redact.Hidden},
		{"as a resource", account + "    resources: [" + key + "]\n", "resources: " + redact.Hidden},
		{"as the timezone", account + "    timezone: " + key + "\n", "timezone " + redact.Hidden},
		{"as the currency", account + "    currency: " + key + "\n", "currency " + redact.Hidden},
		{"as request_timeout", account + "    request_timeout: " + key + "\n", "request_timeout " + redact.Hidden},
		{"as an account's key", account + "    " + key + ": 1\n", "unknown key " + redact.Hidden},
		{"as a top-level key", account + key + ": 1\n", "unknown key " + redact.Hidden},
		{"as a webhook path", account + "    webhook: {path: " + key + ", secret_env: S}\n", "path " + redact.Hidden},
		{"as a source's own option", account + "    start_date: " + key + "\n", "start_date " + redact.Hidden},
		{"as a source's top-level setting", "mgr_rate_scope: " + key + "\n" + account, "mgr_rate_scope " + redact.Hidden},
		{"in the lake's warehouse", account + "lake:\n  catalog: sqlite:///x.db\n  warehouse: gs://u:" + key + "@b/p\n", "warehouse " + redact.Hidden},
		{"as the lake's catalog", account + "lake:\n  catalog: " + key + "\n  warehouse: s3://b/p\n", "lake: catalog: "},
		{"as the lake's endpoint", account + "lake:\n  catalog: sqlite:///x.db\n  warehouse: s3://b/p\n  s3_endpoint: " + key + "\n", "s3_endpoint " + redact.Hidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.text)
			}
			if strings.Contains(err.Error(), "Qw3Er5Ty7Ui9Op1As3Df") {
				t.Errorf("the error repeats the key: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want it to say %q", err, tc.want)
			}
		})
	}
}

// A valid account name is shown whatever its shape; a name that is not
// valid is a value like any other.
func TestAValidAccountNameIsShown(t *testing.T) {
	if got := shownName("north-2024-branch-01"); got != `"north-2024-branch-01"` {
		t.Errorf("a valid account name is hidden: %s", got)
	}
	if got := shownName("sk_live_Qw3Er5Ty7Ui9Op1As3Df"); got != redact.Hidden {
		t.Errorf("a key as a name is shown: %s", got)
	}
}
