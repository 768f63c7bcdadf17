package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The lake: block is read, its local paths made absolute beside the
// config file, and a secret in it is refused without being repeated.
func TestLakeBlock(t *testing.T) {
	for _, tt := range []struct {
		name, block string
		want        string // an error's text; "" for none
	}{
		{"sqlite and a folder", "  catalog: sqlite://lake.db\n  warehouse: ./lake\n", ""},
		{"postgres from the environment and S3", "  catalog_env: LAKE_URI\n  warehouse: s3://bucket/prefix\n  s3_endpoint: http://127.0.0.1:9000\n  s3_region: eu-west-1\n", ""},
		{"a password in the catalog", "  catalog: postgres://u:hunter2@db:5432/lake\n  warehouse: s3://b/p\n", "catalog holds a password: put the URI in an environment variable and name it in catalog_env"},
		{"an S3 secret key", "  catalog: sqlite:///x.db\n  warehouse: s3://b/p\n  secret_access_key: abc123secret\n", "a storage credential does not go in the config"},
		{"an access key in the endpoint", "  catalog: sqlite:///x.db\n  warehouse: s3://b/p\n  s3_endpoint: http://AKIA:secretsecret@127.0.0.1:9000\n", "s3_endpoint holds a user name or key"},
		{"both catalog keys", "  catalog: sqlite:///x.db\n  catalog_env: X\n  warehouse: ./l\n", "catalog and catalog_env both set"},
		{"no catalog", "  warehouse: ./l\n", "lake: catalog is missing"},
		{"another scheme", "  catalog: mysql://db/lake\n  warehouse: ./l\n", `scheme "mysql": want sqlite:// (one host) or postgres:// (many hosts)`},
		{"no warehouse", "  catalog: sqlite:///x.db\n", "lake: warehouse is missing"},
		{"a bucketless warehouse", "  catalog: sqlite:///x.db\n  warehouse: s3:///prefix\n", "the bucket is missing"},
		{"an unknown key", "  catalog: sqlite:///x.db\n  warehouse: ./l\n  region: x\n", `lake: unknown key "region"`},
		{"commit retries", "  catalog: sqlite://lake.db\n  warehouse: ./lake\n  commit_retries: 3\n", ""},
		{"negative commit retries", "  catalog: sqlite:///x.db\n  warehouse: ./l\n  commit_retries: -1\n", "commit_retries: want a whole number from 0 to 1000"},
		{"a URI in catalog_env", "  catalog_env: postgres://u:pw@h/db\n  warehouse: ./l\n", "catalog_env must be the NAME of an environment variable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "export.yaml")
			os.WriteFile(path, []byte("warehouse: ./w.duckdb\naccounts:\n  - {name: north, source: mgr, api_key_env: K}\nlake:\n"+tt.block), 0o644)
			cfg, err := Load(path)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error saying %q", err, tt.want)
				}
				for _, secret := range []string{"hunter2", "abc123secret", "secretsecret", "pw@"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error shows the secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Lake == nil {
				t.Fatal("no lake read")
			}
			if strings.HasPrefix(cfg.Lake.Catalog, "sqlite") && cfg.Lake.Catalog != "sqlite://"+filepath.Join(dir, "lake.db") {
				t.Errorf("catalog %q, want the file beside the config", cfg.Lake.Catalog)
			}
			if cfg.Lake.Warehouse != "s3://bucket/prefix" && cfg.Lake.Warehouse != "file://"+filepath.Join(dir, "lake") {
				t.Errorf("warehouse %q", cfg.Lake.Warehouse)
			}
			if strings.Contains(tt.block, "commit_retries: 3") && (cfg.Lake.CommitRetries == nil || *cfg.Lake.CommitRetries != 3) {
				t.Errorf("commit_retries read as %v", cfg.Lake.CommitRetries)
			}
		})
	}
}

// catalog_env's variable holds the URI; an empty one is a usage error.
func TestCatalogURIFromTheEnvironment(t *testing.T) {
	cfg, err := Parse([]byte("warehouse: ./w.duckdb\naccounts:\n  - {name: north, source: mgr, api_key_env: K}\nlake: {catalog_env: LAKE_URI, warehouse: s3://b/p}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(string) string { return "" }
	if _, err := cfg.CatalogURI(); err == nil || !strings.Contains(err.Error(), "LAKE_URI is not set") {
		t.Errorf("empty variable: %v", err)
	}
	cfg.Getenv = func(k string) string { return map[string]string{"LAKE_URI": "postgres://u:pw@db:5432/lake"}[k] }
	if uri, err := cfg.CatalogURI(); err != nil || uri != "postgres://u:pw@db:5432/lake" {
		t.Errorf("got %q, %v", uri, err)
	}
}
