package lake

// The crash tests' way into the middle of a catalog commit: the
// catalog's database connections, wrapped so that the statement that
// moves a table's metadata pointer passes a hook first. Only a process
// with a crash hook (a test) opens its catalog this way.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
)

// HookInCommit is inside a catalog commit: the new metadata file is
// written, the catalog's transaction is open, its row not yet moved.
const HookInCommit = "lake-in-commit"

// hooked reopens db's driver on dsn with every connection wrapped.
func hooked(db *sql.DB, dsn string, hook func(string)) *sql.DB {
	return sql.OpenDB(hookConnector{drv: db.Driver(), dsn: dsn, hook: hook})
}

type hookConnector struct {
	drv  driver.Driver
	dsn  string
	hook func(string)
}

func (c hookConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return hookConn{conn, c.hook}, nil
}

func (c hookConnector) Driver() driver.Driver { return c.drv }

// hookConn forwards everything to the driver's connection (both drivers
// the catalog uses implement these).
type hookConn struct {
	driver.Conn
	hook func(string)
}

func (c hookConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if strings.Contains(query, "UPDATE") && strings.Contains(query, "iceberg_tables") {
		c.hook(HookInCommit)
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c hookConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c hookConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c hookConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c hookConn) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}
