package load

// The SQL trace: each statement the warehouse runs that takes at least a
// given time, on standard error. A CPU profile shows a load's DuckDB time
// as one cgo call per statement; the trace names the statements.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// SQLTraceEnv names the variable that turns the trace on: a duration
// (100ms; 0s traces every statement). Each line is the statement's wall
// time and its text, on one line, cut at 200 characters:
//
//	sql  812.4 ms  COMMIT
const SQLTraceEnv = "EXPORT_SQL_TRACE"

// traceOut is where trace lines go (tests swap it).
var traceOut io.Writer = os.Stderr

var traceMu sync.Mutex

// sqlTrace reads SQLTraceEnv: the threshold, and whether to trace at all.
func sqlTrace() (time.Duration, bool, error) {
	v := strings.TrimSpace(os.Getenv(SQLTraceEnv))
	if v == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false, fmt.Errorf("%s=%q: want a duration such as 100ms (0s traces every statement)", SQLTraceEnv, v)
	}
	return d, true, nil
}

// execSQL runs one statement on the warehouse's connection, traced.
func (w *Warehouse) execSQL(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if !w.tracing {
		return w.conn.ExecContext(ctx, q, args...)
	}
	start := time.Now()
	r, err := w.conn.ExecContext(ctx, q, args...)
	if took := time.Since(start); took >= w.traceOver {
		text := strings.Join(strings.Fields(q), " ")
		if len(text) > 200 {
			text = strings.ToValidUTF8(text[:200], "") + " …"
		}
		traceMu.Lock()
		fmt.Fprintf(traceOut, "sql %8.1f ms  %s\n", float64(took.Microseconds())/1000, text)
		traceMu.Unlock()
	}
	return r, err
}
