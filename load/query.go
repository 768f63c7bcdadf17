package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Result is a query result rendered as text, for printing.
type Result struct {
	Columns []string
	Rows    [][]string
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
