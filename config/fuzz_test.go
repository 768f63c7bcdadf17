package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad reads any bytes as export.yaml: a config or an error naming
// what is wrong, never a panic, and never an error that prints a value
// that looks like a pasted key back.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("warehouse: ./w.duckdb\naccounts:\n  - name: north\n    source: mgr\n    api_key_env: MGR_NORTH_KEY\n"))
	f.Add([]byte("warehouse: ./w.duckdb\naccounts:\n  - {name: metro, source: repairops, api_key_env: RO_KEY, requests_per_hour: 900, request_timeout: 30s, webhook: {path: /hooks/metro, secret_env: HOOK}}\n"))
	f.Add([]byte("accounts: [1, 2, {name: x}]\n"))
	f.Add([]byte("warehouse: [\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("accounts:\n  - name: north\n    source: mgr\n    api_key_env: sk_live_Qw3Er5Ty7Ui9Op1As3Df\n"))
	f.Add([]byte("accounts:\n  - name: sk_live_Qw3Er5Ty7Ui9Op1As3Df\n")) // found by CI's fuzzing
	f.Fuzz(func(t *testing.T, text []byte) {
		path := filepath.Join(t.TempDir(), "export.yaml")
		if err := os.WriteFile(path, text, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err == nil && cfg == nil {
			t.Fatal("no config and no error")
		}
		if err != nil && strings.Contains(string(text), "sk_live_Qw3Er5Ty7Ui9Op1As3Df") && strings.Contains(err.Error(), "Qw3Er5Ty7Ui9Op1As3Df") {
			t.Fatalf("the error prints the pasted key back: %v", err)
		}
	})
}
