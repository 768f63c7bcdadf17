package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Result is a query result rendered as text, for printing.
type Result struct {
	Columns []string
	// Kinds are the columns' kinds, for formats that type their values
	// (JSON): a number, a boolean, an exact decimal (kept as text), text.
	Kinds []Kind
	Rows  [][]string
}

// Kind is what a result column holds, for typed output.
type Kind int

// The kinds of result columns.
const (
	KindText Kind = iota
	KindNumber
	KindBool
	KindDecimal // exact: shown as text, never through a float
)

// kindOf is the kind of a DuckDB column type.
func kindOf(dbType string) Kind {
	switch {
	case strings.HasPrefix(dbType, "DECIMAL"):
		return KindDecimal
	case dbType == "BOOLEAN":
		return KindBool
	}
	switch strings.TrimPrefix(dbType, "U") {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE":
		return KindNumber
	}
	return KindText
}

// Query runs one SQL statement and renders every value as text: instants in
// UTC RFC 3339, decimals exactly, NULL as an empty string.
func (w *Warehouse) Query(ctx context.Context, query string, args ...any) (Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var res Result
	rows, err := w.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return res, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	if res.Columns, err = rows.Columns(); err != nil {
		return res, fmt.Errorf("query: %w", err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return res, fmt.Errorf("query: %w", err)
	}
	isDate := make([]bool, len(types))
	for i, ct := range types {
		isDate[i] = ct.DatabaseTypeName() == "DATE"
		res.Kinds = append(res.Kinds, kindOf(ct.DatabaseTypeName()))
	}
	vals := make([]any, len(res.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return res, fmt.Errorf("query: %w", err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			if d, ok := v.(time.Time); ok && isDate[i] {
				row[i] = d.Format("2006-01-02") // a calendar day, not an instant
				continue
			}
			row[i] = render(v)
		}
		res.Rows = append(res.Rows, row)
	}
	return res, errors.Join(rows.Err(), rows.Close())
}

func render(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case duckdb.Decimal:
		// Exact: scale digits from the big integer, never via float.
		r := new(big.Rat).SetFrac(x.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil))
		return r.FloatString(int(x.Scale))
	case []byte:
		return string(x)
	case map[string]any, []any:
		// JSON columns scan as Go maps; print them as the JSON they are.
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

// SetVariables sets DuckDB variables for the queries to read with
// getvariable(name): a time.Time is a DATE, a []string a list of text.
func (w *Warehouse) SetVariables(ctx context.Context, vars map[string]any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, v := range vars {
		var lit string
		switch x := v.(type) {
		case time.Time:
			lit = "DATE '" + x.Format("2006-01-02") + "'"
		case []string:
			q := make([]string, len(x))
			for i, s := range x {
				q[i] = sqlString(s)
			}
			lit = "[" + strings.Join(q, ", ") + "]::VARCHAR[]"
		default:
			return fmt.Errorf("variable %s: unsupported value %T", name, v)
		}
		if err := w.exec(ctx, fmt.Sprintf("SET VARIABLE %s = %s", Quote(name), lit)); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// QueryToParquet writes a query's result to a Parquet file (zstd),
// through a temporary file renamed into place, and returns its rows.
func (w *Warehouse) QueryToParquet(ctx context.Context, query, path string) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+fmt.Sprintf(".%d.tmp", os.Getpid()))
	defer os.Remove(tmp)
	query = strings.TrimRight(strings.TrimSpace(query), ";")
	res, err := w.execSQL(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd)", query, sqlString(tmp)))
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	n, _ := res.RowsAffected()
	if err := syncFile(tmp); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp, abs)
}
