// Package lake publishes the warehouse's tables as Apache Iceberg v2
// tables, so that many hosts, each with its own warehouse and accounts,
// publish into one lake that Trino, Spark, pyiceberg and DuckDB read.
//
// It owns the lake: the Iceberg SQL catalog (the JDBC catalog's table
// layout, in SQLite for one host or Postgres for many, catalog name
// "export"), the tables' layout (namespace = the warehouse schema, the
// warehouse's table names, partitioned by identity(account) and
// month(time column)), and the commit protocol: data files written once
// by DuckDB, then committed per table as a copy-on-write replacement of
// exactly the accounts that changed, retried against a reloaded table
// when another host committed first. The warehouse (package load) says
// what changed and writes the files; nothing else here knows DuckDB, and
// nothing outside this package and the command line imports iceberg-go.
package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// warehouses
	"github.com/apache/iceberg-go/table"
	_ "github.com/jackc/pgx/v5/stdlib" // postgres:// catalogs
	_ "modernc.org/sqlite"             // sqlite:// catalogs

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/pipeline"
)

// DefaultRetries bounds a table's commit attempts after the first
// (lake: commit_retries changes it).
const DefaultRetries = 20

// CatalogName is the Iceberg catalog's name: the catalog_name column of
// the JDBC layout, which Trino's and Spark's catalog config must match.
const CatalogName = "export"

// ErrConflict is a commit that lost to other hosts' commits more times
// than the retry bound allows: the lake stays at a complete snapshot, and
// the warehouse keeps the accounts queued for the next run.
// It is a partial run's error (exit 3).
var ErrConflict = fmt.Errorf("the lake's commit kept losing to other hosts' commits: %w", pipeline.ErrPartial)

// Lake is an open catalog and warehouse.
type Lake struct {
	cat       *sqlcat.Catalog
	db        *sql.DB
	where     string // the catalog, named without credentials
	warehouse string
	props     iceberg.Properties
	// parquet is the local Parquet tree (config parquet:), whose view
	// files a publish reads when they are current; "" for none.
	parquet string
	// Host names this publisher in each snapshot's summary (lake status's
	// last commit by host).
	Host string
	// Retries bounds the commit attempts after the first; Backoff is the
	// first wait, doubled each time, with jitter.
	Retries int
	Backoff time.Duration
	// Hook is called at the publish's crash points (Hook* constants):
	// crash tests kill the process there. Nil in production.
	Hook func(point string)
}

// Crash points of a table's publish, in order.
const (
	HookFilesWritten = "lake-files-written" // data files in place, not committed
	HookBeforeCommit = "lake-before-commit" // about to commit to the catalog
	HookAfterCommit  = "lake-after-commit"  // committed, the warehouse not yet told
)

func (l *Lake) at(point string) {
	if l.Hook != nil {
		l.Hook(point)
	}
}

// Open opens the lake a config names: its catalog (creating the catalog's
// tables the first time) and warehouse. Errors name the part that failed
// and never the catalog URI (it may hold a password).
//
// hook, when not nil, is the crash tests' (see the Hook* points).
func Open(ctx context.Context, cfg *config.Config, hook func(string)) (*Lake, error) {
	uri, err := cfg.CatalogURI()
	if err != nil {
		return nil, err
	}
	lc := cfg.Lake
	props := iceberg.Properties{"warehouse": strings.TrimSuffix(lc.Warehouse, "/")}
	if lc.S3Endpoint != "" {
		props[icebergio.S3EndpointURL] = lc.S3Endpoint
	}
	if lc.S3Region != "" {
		props[icebergio.S3Region] = lc.S3Region
	} else if strings.HasPrefix(lc.Warehouse, "s3://") && cfg.Env("AWS_REGION") == "" && cfg.Env("AWS_DEFAULT_REGION") == "" {
		props[icebergio.S3Region] = "us-east-1" // what S3-compatible stores answer to
	}
	db, dialect, where, err := openCatalogDB(uri, hook)
	if err != nil {
		return nil, err
	}
	// Several hosts may create the catalog's tables at once; one of them
	// then fails on the other's, and a second try finds them.
	var cat *sqlcat.Catalog
	for try := 0; try < 3; try++ {
		if cat, err = sqlcat.NewCatalog(CatalogName, db, dialect, props); err == nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	if err == nil {
		// The JDBC layout's columns, which Trino and Spark read too.
		_, err = db.ExecContext(ctx, `SELECT catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location FROM iceberg_tables WHERE 1 = 0`)
		if err != nil {
			err = errors.New("its iceberg_tables table is not the Iceberg SQL (JDBC) catalog's layout: give the lake a database of its own")
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("lake catalog (%s): %w", where, catalogError(err))
	}
	host, _ := os.Hostname()
	l := &Lake{cat: cat, db: db, where: where, warehouse: props["warehouse"], props: props, Host: host, Retries: DefaultRetries, Backoff: 50 * time.Millisecond, Hook: hook, parquet: cfg.Parquet}
	if lc.CommitRetries != nil {
		l.Retries = *lc.CommitRetries
	}
	return l, nil
}

// openCatalogDB opens the catalog's database; where names it without its
// credentials.
func openCatalogDB(uri string, hook func(string)) (db *sql.DB, dialect sqlcat.SupportedDialect, where string, err error) {
	driverName, dsn := "pgx", uri
	dialect = sqlcat.Postgres
	if path, ok := strings.CutPrefix(uri, "sqlite://"); ok {
		where = "sqlite " + path
		// Busy, not failing, while another process holds the file's
		// lock; WAL, so that readers do not wait for a publisher.
		driverName, dsn, dialect = "sqlite", "file:"+path+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)", sqlcat.SQLite
	} else {
		u, perr := url.Parse(uri)
		if perr != nil {
			return nil, "", "", errors.New("lake catalog: not a URI (the value is not shown)")
		}
		where = "postgres " + u.Host + u.Path
	}
	if db, err = sql.Open(driverName, dsn); err != nil {
		return nil, "", "", wrapOpen(where, err)
	}
	if hook != nil {
		db = hooked(db, dsn, hook)
	}
	if dialect == sqlcat.SQLite {
		db.SetMaxOpenConns(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", "", wrapOpen(where, err)
	}
	return db, dialect, where, nil
}

func wrapOpen(where string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("lake catalog (%s): cannot connect: %w", where, catalogError(err))
}

// Close closes the catalog's database.
func (l *Lake) Close() error { return l.db.Close() }

// Catalog is the Iceberg catalog (for lake status and tests).
func (l *Lake) Catalog() catalog.Catalog { return l.cat }

// Warehouse is the lake's warehouse URI.
func (l *Lake) Warehouse() string { return l.warehouse }

// loadTable loads a table, or nil when it does not exist.
func (l *Lake) loadTable(ctx context.Context, id table.Identifier) (*table.Table, error) {
	t, err := l.cat.LoadTable(ctx, id)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lake catalog (%s): load table %s: %w", l.where, strings.Join(id, "."), catalogError(err))
	}
	return t, nil
}
