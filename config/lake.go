package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/repairshop/export/internal/redact"
)

// Lake is the optional lake: block, where a run also publishes its tables
// as Apache Iceberg tables (package lake). Nil: no lake.
type Lake struct {
	// Catalog is the Iceberg SQL catalog's URI: sqlite:///path/lake.db
	// (one host) or postgres://host:5432/db (many hosts). CatalogEnv
	// instead names the environment variable that holds it, which is the
	// only place a URI with a password may be.
	Catalog    string
	CatalogEnv string
	// Warehouse is where the tables' files go: s3://bucket/prefix or
	// file:///path (a plain path is taken relative to the config file).
	Warehouse string
	// S3Endpoint is an S3-compatible store's URL (path-style requests);
	// S3Region its region. Credentials come only from the standard AWS
	// variables or the AWS shared config.
	S3Endpoint string
	S3Region   string
	// CommitRetries bounds a table's commit attempts after the first
	// when other hosts commit first (nil: the default, 20); past it the
	// run exits 3 and the next run publishes the table.
	CommitRetries *int
}

// lakeKeys are the keys lake: takes.
var lakeKeys = []string{"catalog", "catalog_env", "warehouse", "s3_endpoint", "s3_region", "commit_retries"}

// lakeSecret matches keys that would put a storage credential in the file.
var lakeSecret = regexp.MustCompile(`(?i)(secret|password|access_?key|token|credential)`)

// parseLake reads lake: (paths as written).
func parseLake(n *yaml.Node) (*Lake, []error) {
	if n.Kind != yaml.MappingNode {
		return nil, []error{fmt.Errorf("line %d: lake: want keys and values (catalog:, warehouse:, …)", n.Line)}
	}
	l := &Lake{}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *string
		switch k.Value {
		case "catalog":
			dst = &l.Catalog
		case "catalog_env":
			dst = &l.CatalogEnv
		case "warehouse":
			dst = &l.Warehouse
		case "s3_endpoint":
			dst = &l.S3Endpoint
		case "s3_region":
			dst = &l.S3Region
		case "commit_retries":
			var n int
			if err := decode(v, &n); err != nil || n < 0 || n > 1000 {
				errs = append(errs, fmt.Errorf("line %d: lake: commit_retries: want a whole number from 0 to 1000", v.Line))
			} else {
				l.CommitRetries = &n
			}
			continue
		default:
			if lakeSecret.MatchString(k.Value) {
				errs = append(errs, fmt.Errorf("line %d: lake: %s: a storage credential does not go in the config: S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS shared config (the value is not shown)", k.Line, k.Value))
				continue
			}
			errs = append(errs, fmt.Errorf("line %d: lake: unknown key %s (lake: has %s)", k.Line, redact.Quote(k.Value), strings.Join(lakeKeys, ", ")))
			continue
		}
		if err := decode(v, dst); err != nil {
			errs = append(errs, fmt.Errorf("line %d: lake: %s: %w", v.Line, k.Value, err))
		}
	}
	line := n.Line
	switch {
	case l.Catalog != "" && l.CatalogEnv != "":
		errs = append(errs, fmt.Errorf("line %d: lake: catalog and catalog_env both set: keep one", line))
	case l.Catalog == "" && l.CatalogEnv == "":
		errs = append(errs, fmt.Errorf("line %d: lake: catalog is missing (sqlite:///path/lake.db or postgres://host:5432/db), or catalog_env naming the variable that holds it", line))
	case l.CatalogEnv != "" && !LooksLikeEnvName(l.CatalogEnv):
		errs = append(errs, fmt.Errorf("line %d: lake: catalog_env must be the NAME of an environment variable, not the URI (the value is not shown)", line))
	case l.Catalog != "":
		if err := CheckCatalogURI(l.Catalog); err != nil {
			errs = append(errs, fmt.Errorf("line %d: lake: catalog: %w", line, err))
		} else if u, _ := url.Parse(l.Catalog); u.User != nil {
			if _, has := u.User.Password(); has {
				errs = append(errs, fmt.Errorf("line %d: lake: catalog holds a password: put the URI in an environment variable and name it in catalog_env (the value is not shown)", line))
			}
		}
	}
	if l.Warehouse == "" {
		errs = append(errs, fmt.Errorf("line %d: lake: warehouse is missing (s3://bucket/prefix or file:///path)", line))
	} else if u, err := url.Parse(l.Warehouse); err == nil && u.Scheme != "" && u.Scheme != "s3" && u.Scheme != "file" {
		errs = append(errs, fmt.Errorf("line %d: lake: warehouse %s: want s3://bucket/prefix or file:///path", line, redact.Quote(l.Warehouse)))
	} else if err == nil && u.Scheme == "s3" && u.Host == "" {
		errs = append(errs, fmt.Errorf("line %d: lake: warehouse %s: the bucket is missing (s3://bucket/prefix)", line, redact.Quote(l.Warehouse)))
	}
	if l.S3Endpoint != "" {
		if u, err := url.Parse(l.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("line %d: lake: s3_endpoint %s is not an http(s) URL", line, redact.Quote(l.S3Endpoint)))
		} else if u.User != nil {
			errs = append(errs, fmt.Errorf("line %d: lake: s3_endpoint holds a user name or key: S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS shared config (the value is not shown)", line))
		}
	}
	return l, errs
}

// CheckCatalogURI checks a catalog URI's shape (never repeating it: it
// may hold a password).
func CheckCatalogURI(uri string) error {
	if rest, ok := strings.CutPrefix(uri, "sqlite://"); ok {
		if rest == "" || strings.HasSuffix(rest, "/") {
			return errors.New("want sqlite:///path/lake.db (three slashes, then the file's path; sqlite://lake.db for one beside the config)")
		}
		return nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return errors.New("not a URI: want sqlite:///path/lake.db or postgres://host:5432/db (the value is not shown)")
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		if u.Host == "" {
			return errors.New("the host is missing: want postgres://host:5432/db")
		}
	default:
		return fmt.Errorf("scheme %s: want sqlite:// (one host) or postgres:// (many hosts)", redact.Quote(u.Scheme))
	}
	return nil
}

// resolve makes the lake's local paths absolute, relative to dir (the
// config file's folder): a plain warehouse path becomes file://, a
// relative sqlite file is taken beside the config.
func (l *Lake) resolve(dir string) {
	if l == nil {
		return
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // a file:// URI's path is absolute
	}
	if u, err := url.Parse(l.Warehouse); err == nil && u.Scheme == "" {
		l.Warehouse = "file://" + filepath.ToSlash(resolve(dir, l.Warehouse))
	}
	if rest, ok := strings.CutPrefix(l.Catalog, "sqlite://"); ok && !strings.HasPrefix(rest, "/") {
		l.Catalog = "sqlite://" + filepath.ToSlash(resolve(dir, rest))
	}
}

// CatalogURI is the catalog's URI: catalog:, or the variable catalog_env
// names.
func (c *Config) CatalogURI() (string, error) {
	l := c.Lake
	if l == nil {
		return "", Usagef("no lake: block in the config")
	}
	if l.CatalogEnv == "" {
		return l.Catalog, nil
	}
	uri := c.getenv(l.CatalogEnv)
	if uri == "" {
		return "", Usagef("lake: environment variable %s is not set or empty; set it to the catalog's URI", l.CatalogEnv)
	}
	if err := CheckCatalogURI(uri); err != nil {
		return "", Usagef("lake: the catalog URI in %s: %w", l.CatalogEnv, err)
	}
	if rest, ok := strings.CutPrefix(uri, "sqlite://"); ok && !strings.HasPrefix(rest, "/") {
		dir, _ := filepath.Abs(filepath.Dir(c.Path))
		uri = "sqlite://" + filepath.ToSlash(resolve(dir, rest))
	}
	return uri, nil
}

// Env reads the config's environment (the process's unless a test gave
// its own).
func (c *Config) Env(key string) string { return c.getenv(key) }

// ParseAge reads a retention such as 7d, 36h or 90m: Go's durations, and
// whole days (d). Negative ages are refused.
func ParseAge(flag, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if _, serr := fmt.Sscanf(days, "%d", &n); serr == nil && fmt.Sprint(n) == days {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return 0, Usagef("--%s %s: want an age such as 7d, 36h or 0s", flag, redact.Quote(v))
	}
	return d, nil
}
