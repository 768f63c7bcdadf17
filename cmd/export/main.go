// Command export copies repair-shop data from My Gadget Repairs (and, later,
// RepairOps) into a DuckDB warehouse and a Parquet tree. It parses flags,
// builds a config and calls one function per subcommand; the work is done in
// extract/, transform/ and load/. This file is the one place that turns
// errors into exit codes.
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/queries"
	"github.com/repairshop/export/schema"
)

// Exit codes: cron users script on these.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPartial = 3
	// exitRejected: the run completed but quarantined some records.
	exitRejected = 4
)

const exitHelp = `EXIT CODES:
   0  done
   1  failure (see the message; nothing half-written is visible)
   2  bad usage or configuration (a flag, the config file, a missing API key variable)
   3  partial: stopped by the rate budget; committed what it fetched, the next run resumes
   4  done, but some records were rejected (quarantined in meta.rejects; see export status)`

// crashEnv names a point at which the process kills itself with SIGKILL,
// e.g. "checkpoint:after-commit#2" (the second time): how the crash tests
// stop a real `export run` exactly where they want. Unset in production.
const crashEnv = "EXPORT_TEST_CRASH_AT"

// checkpointEnv overrides the pages per checkpoint, so that a crash test
// sees several checkpoints in a small export.
const checkpointEnv = "EXPORT_TEST_CHECKPOINT_PAGES"

func crashHook(spec string) func(string) {
	point, nth := spec, 1
	if i := strings.LastIndexByte(spec, '#'); i > 0 {
		point = spec[:i]
		fmt.Sscan(spec[i+1:], &nth)
	}
	var mu sync.Mutex
	seen := 0
	return func(p string) {
		mu.Lock()
		defer mu.Unlock()
		if p == point {
			if seen++; seen == nth {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
}

func main() {
	if spec := os.Getenv(crashEnv); spec != "" {
		hooks = crashHook(spec)
	}
	if n, err := strconv.Atoi(os.Getenv(checkpointEnv)); err == nil && n > 0 {
		checkpointPages = n
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newApp(os.Stdout, os.Stderr).RunContext(ctx, os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
	}
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errPartial):
		return exitPartial
	case errors.Is(err, errRejected):
		return exitRejected
	}
	return exitFailure
}

var configFlag = &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "export.yaml", Usage: "config file", EnvVars: []string{"EXPORT_CONFIG"}}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                  "export",
		Usage:                 "export repair-shop data from My Gadget Repairs into DuckDB and Parquet",
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + exitHelp + "\n",
		Writer:                stdout,
		ErrWriter:             stderr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every retry and page"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "export: no command %q; see `export --help`\n", name)
			os.Exit(exitUsage)
		},
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "extract every configured account and load the warehouse (and Parquet)",
				Flags: []cli.Flag{
					configFlag,
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.StringFlag{Name: "parquet", Usage: "Parquet root (overrides the config)"},
					&cli.Int64Flag{Name: "max-requests", Usage: "send at most `N` requests per account, then commit and exit 3 (the next run continues)"},
					&cli.DurationFlag{Name: "max-duration", Usage: "send no request after this long (e.g. 45m), then commit and exit 3 (the next run continues)"},
					accountFlag,
				},
				OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
				Action: func(c *cli.Context) error {
					cfg, err := configFrom(c)
					if err != nil {
						return err
					}
					lim := runLimits{maxRequests: c.Int64("max-requests")}
					if lim.maxRequests < 0 || c.Duration("max-duration") < 0 {
						return usagef("run: --max-requests and --max-duration must be positive")
					}
					if d := c.Duration("max-duration"); d > 0 {
						lim.deadline = time.Now().Add(d)
					}
					_, err = runExport(c.Context, cfg, lim, budget.Real{}, logger(c, stderr), stdout)
					return err
				},
			},
			{
				Name:  "rebuild",
				Usage: "re-run transform and load from the raw archive: no network, no rate budget (e.g. after adding a column)",
				Flags: []cli.Flag{
					configFlag,
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.StringFlag{Name: "parquet", Usage: "Parquet root (overrides the config)"},
					&cli.StringSliceFlag{Name: "table", Usage: "rebuild only this table (repeatable; a child table rebuilds with its parent)"},
					&cli.BoolFlag{Name: "allow-unarchived", Usage: "rebuild even though earlier runs loaded rows without archiving them (those rows are lost)"},
				},
				OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
				Action: func(c *cli.Context) error {
					cfg, err := configFrom(c)
					if err != nil {
						return err
					}
					_, err = rebuild(c.Context, cfg, c.StringSlice("table"), c.Bool("allow-unarchived"), budget.Real{}, logger(c, stderr), stdout)
					return err
				},
			},
			{
				Name:  "status",
				Usage: "show the last runs, cursors, open rejects and schema drift",
				Flags: []cli.Flag{
					configFlag,
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
					&cli.IntFlag{Name: "limit", Value: 10, Usage: "rows per section"},
				},
				OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
				Action: func(c *cli.Context) error {
					path, err := warehousePath(c)
					if err != nil {
						return err
					}
					cfg, _ := loadConfig(c.String("config")) // for the key ledgers; --warehouse alone does without
					return showStatus(c.Context, stdout, path, cfg, c.Int("limit"), c.Bool("json"))
				},
			},
			planCommand(stdout),
			simulateCommand(stdout),
			{
				Name:      "query",
				Usage:     "run a shipped analytics query (or --sql) against the warehouse",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					configFlag,
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.BoolFlag{Name: "list", Usage: "list the shipped queries"},
					&cli.StringFlag{Name: "sql", Usage: "run this SQL instead of a shipped query"},
					&cli.StringFlag{Name: "format", Value: "table", Usage: "table | csv | json"},
					&cli.IntFlag{Name: "limit", Usage: "print at most this many rows (0: all)"},
					&cli.BoolFlag{Name: "from-parquet", Usage: "answer from the published Parquet files, not the warehouse (automatic while a run holds the warehouse)"},
				},
				OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
				Action:       func(c *cli.Context) error { return queryCommand(c, stdout, stderr) },
			},
			{
				Name:  "schema",
				Usage: "print the declared tables: columns, types, keys",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
					&cli.BoolFlag{Name: "markdown", Usage: "print the reference page docs/tables.md"},
				},
				Action: func(c *cli.Context) error {
					if c.Bool("markdown") {
						return printSchemaMarkdown(stdout)
					}
					return printSchema(stdout, c.Bool("json"))
				},
			},
		},
	}
}

func logger(c *cli.Context, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// configFrom loads --config and applies flag overrides.
func configFrom(c *cli.Context) (*Config, error) {
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return nil, err
	}
	if v := c.String("warehouse"); v != "" {
		cfg.Warehouse = v
	}
	if c.IsSet("parquet") {
		cfg.Parquet = c.String("parquet")
	}
	if names := c.StringSlice("account"); len(names) > 0 {
		if cfg.Accounts, err = selectAccounts(cfg.Accounts, names); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// accountFlag limits a command to some of the configured accounts, e.g. an
// hourly cron line draining a RepairOps backlog beside the nightly run of
// every account.
var accountFlag = &cli.StringSliceFlag{Name: "account", Usage: "only this configured account (repeatable; default: all)"}

// selectAccounts keeps the named accounts, in the config's order.
func selectAccounts(all []Account, names []string) ([]Account, error) {
	var kept []Account
	known := make([]string, len(all))
	for i, a := range all {
		known[i] = a.Name
		if slices.Contains(names, a.Name) {
			kept = append(kept, a)
		}
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, usagef("--account %q: no such account in the config (it has %s)", n, strings.Join(known, ", "))
		}
	}
	return kept, nil
}

// warehousePath is --warehouse, or the config's warehouse.
func warehousePath(c *cli.Context) (string, error) {
	if p := c.String("warehouse"); p != "" {
		return p, nil
	}
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return "", err
	}
	return cfg.Warehouse, nil
}

func queryCommand(c *cli.Context, out, errOut io.Writer) error {
	if c.Bool("list") {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, q := range queries.All() {
			fmt.Fprintf(tw, "%s\t%s\n", q.Name, q.Description)
		}
		return tw.Flush()
	}
	sqlText := c.String("sql")
	if sqlText == "" {
		if c.NArg() != 1 {
			return usagef("query: name one query (see `export query --list`) or pass --sql; flags go before the name")
		}
		q, err := queries.Get(c.Args().First())
		if err != nil {
			return usageError{err}
		}
		sqlText = q.SQL
	}
	w, err := openForQuery(c, errOut)
	if err != nil {
		return err
	}
	defer w.Close()
	res, err := w.Query(c.Context, sqlText)
	if err != nil {
		return err
	}
	if n := c.Int("limit"); n > 0 && len(res.Rows) > n {
		res.Rows = res.Rows[:n]
	}
	return printResult(out, res, c.String("format"))
}

// openForQuery opens the warehouse to read, or with --from-parquet, or
// while a run holds the warehouse (DuckDB then admits no other process), a
// snapshot served from the Parquet files the config publishes; it says so
// on errOut, with the run the snapshot shows.
func openForQuery(c *cli.Context, errOut io.Writer) (*load.Warehouse, error) {
	fromParquet := c.Bool("from-parquet")
	var cfg *Config
	if c.String("warehouse") == "" || fromParquet {
		var err error
		if cfg, err = configFrom(c); err != nil {
			return nil, err
		}
	}
	path := c.String("warehouse")
	if path == "" {
		path = cfg.Warehouse
	}
	if !fromParquet {
		w, err := load.OpenReadOnly(c.Context, path)
		if err == nil || !errors.Is(err, load.ErrBusy) || cfg == nil || cfg.Parquet == "" {
			return w, err
		}
		busy := "another process"
		if h, herr := load.ReadHolder(path); herr == nil && h.PID != 0 {
			busy = fmt.Sprintf("`%s` (pid %d, since %s)", h.Command, h.PID, h.Since.Local().Format(time.RFC3339))
		}
		fmt.Fprintf(errOut, "export: the warehouse is busy: %s has it open.\n", busy)
	}
	if cfg.Parquet == "" {
		return nil, usagef("query: --from-parquet needs a config whose `parquet:` names the published files")
	}
	w, snap, err := load.OpenParquet(c.Context, cfg.Parquet)
	if err != nil {
		return nil, fmt.Errorf("query from the Parquet files: %w", err)
	}
	fmt.Fprintf(errOut, "export: answering from the Parquet files under %s, as published at %s by run %s (%d tables; meta.* is in the warehouse only).\n",
		snap.Root, snap.WrittenAt.Local().Format(time.RFC3339), snap.RunID, snap.Tables)
	return w, nil
}

func printResult(out io.Writer, res load.Result, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(out)
		cw.Write(res.Columns)
		cw.WriteAll(res.Rows)
		return cw.Error()
	case "json":
		objs := make([]map[string]string, len(res.Rows))
		for i, r := range res.Rows {
			objs[i] = map[string]string{}
			for j, c := range res.Columns {
				objs[i][c] = r[j]
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(objs)
	case "table":
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
		for _, r := range res.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "(%d rows)\n", len(res.Rows))
		return err
	}
	return usagef("query: --format %q: want table, csv or json", format)
}

func printSchema(out io.Writer, asJSON bool) error {
	type col struct {
		Name     string   `json:"name"`
		Type     string   `json:"type"`
		Paths    []string `json:"json_paths,omitempty"`
		Parent   string   `json:"from_parent,omitempty"`
		Required bool     `json:"required"`
		Nullable bool     `json:"nullable"`
		Doc      string   `json:"doc,omitempty"`
	}
	type table struct {
		Name        string   `json:"name"`
		Doc         string   `json:"doc"`
		Resource    string   `json:"resource"`
		Parent      string   `json:"parent,omitempty"`
		ArrayPaths  []string `json:"array_paths,omitempty"`
		Key         []string `json:"primary_key"`
		PartitionBy string   `json:"partition_by,omitempty"`
		Columns     []col    `json:"columns"`
	}
	var ts []table
	for _, t := range schema.All {
		tt := table{Name: t.FullName(), Doc: t.Doc, Resource: t.Resource, ArrayPaths: t.ArrayPaths, Key: t.Key, PartitionBy: t.PartitionBy}
		if t.Parent != nil {
			tt.Parent = t.Parent.FullName()
		}
		for _, c := range t.Columns {
			tt.Columns = append(tt.Columns, col{Name: c.Name, Type: c.Type.DuckDBType(), Paths: c.Paths, Parent: c.Parent, Required: c.Required, Nullable: c.Nullable, Doc: c.Doc})
		}
		ts = append(ts, tt)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(ts)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, t := range ts {
		fmt.Fprintf(tw, "%s — %s\n", t.Name, t.Doc)
		if t.Parent != "" {
			fmt.Fprintf(tw, "  lines of %s, from its array %s; replaced whole when the parent is re-fetched with it\n", t.Parent, strings.Join(t.ArrayPaths, " | "))
		}
		fmt.Fprintf(tw, "  primary key (%s)", strings.Join(t.Key, ", "))
		if t.PartitionBy != "" {
			fmt.Fprintf(tw, "; Parquet partitioned by year/month of %s", t.PartitionBy)
		}
		fmt.Fprintln(tw)
		for _, c := range t.Columns {
			src := strings.Join(c.Paths, " | ")
			switch {
			case c.Parent != "":
				src = "(parent's " + c.Parent + ")"
			case c.Name == schema.ColLineNo:
				src = "(position in the array)"
			case src == "":
				src = "(exporter)"
			}
			null := "NOT NULL"
			if c.Nullable {
				null = ""
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Type, null, src)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// printSchemaMarkdown renders docs/tables.md, the column reference for SQL
// and BI users, from the declarations (a test keeps the file current).
func printSchemaMarkdown(out io.Writer) error {
	var b strings.Builder
	b.WriteString("# Tables\n\nGenerated by `export schema --markdown` from the declarations in `schema/`; do not edit.\n")
	b.WriteString("Every table has `account`, `extracted_at`, `run_id` and `_extra` (fields the API sent that no column declares, as JSON).\n")
	for _, t := range schema.All {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", t.FullName(), t.Doc)
		if t.Parent != nil {
			fmt.Fprintf(&b, "Lines of `%s`, from its array `%s`; a parent fetched with the array replaces its lines whole.\n", t.Parent.FullName(), strings.Join(t.ArrayPaths, "` | `"))
		} else {
			fmt.Fprintf(&b, "From the API resource `%s`.\n", t.Resource)
		}
		fmt.Fprintf(&b, "Primary key `(%s)`.", strings.Join(t.Key, ", "))
		if t.PartitionBy != "" {
			fmt.Fprintf(&b, " Parquet: `%s/%s/account=…/year=…/month=…/` by `%s` (UTC).", t.Source, t.Name, t.PartitionBy)
		} else {
			fmt.Fprintf(&b, " Parquet: `%s/%s/account=…/`.", t.Source, t.Name)
		}
		b.WriteString("\n\n| column | type | null | from |\n|---|---|---|---|\n")
		for _, c := range t.Columns {
			src := "`" + strings.Join(c.Paths, "` or `") + "`"
			switch {
			case c.Parent != "":
				src = "parent's `" + c.Parent + "`"
			case c.Name == schema.ColLineNo:
				src = "position in the array (1-based)"
			case c.System:
				src = c.Doc
			}
			null := "no"
			if c.Nullable {
				null = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Name, c.Type.DuckDBType(), null, src)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}
