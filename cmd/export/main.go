// Package export is the command line of repairshop-export, which copies
// repair-shop data from the APIs of the sources in extract/sources (My
// Gadget Repairs, RepairOps) into a DuckDB warehouse and a Parquet tree.
// It parses flags, builds a config and calls one function of package
// pipeline per subcommand, and prints what came back; this file is the one
// place that turns errors into exit codes. The binary is
// cmd/repairshop-export: a name no shell reserves (`export` is a builtin).
package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/atomicfile"
	"github.com/repairshop/export/internal/cliargs"
	"github.com/repairshop/export/internal/crashpoint"
	"github.com/repairshop/export/internal/heaplimit"
	"github.com/repairshop/export/internal/profile"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
	"github.com/repairshop/export/queries"
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

// crashEnv and checkpointEnv are the crash tests' variables (package
// crashpoint); hooks and checkpointPages what they set, nil and 0 in
// production.
const (
	crashEnv      = crashpoint.Env
	checkpointEnv = crashpoint.PagesEnv
)

var (
	hooks           func(point string)
	checkpointPages int
)

// heapFloor is the Go heap's soft limit while the live heap is small.
const heapFloor = 128 << 20

// Name is the command's name, in every help text and message.
const Name = "repairshop-export"

// Main runs the command line in os.Args and returns its exit code.
func Main() int {
	// The Go heap's soft limit, unless GOMEMLIMIT sets one: 128 MiB while
	// the export holds little (a checkpoint's pages), and half again over
	// the live heap when its accounts' detail queues hold more. A fixed
	// limit would have the collector run back to back once the live heap
	// neared it; with none the heap grows to twice its largest, beside
	// DuckDB's memory.
	if os.Getenv("GOMEMLIMIT") == "" {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		heaplimit.Follow(ctx, heapFloor, time.Second)
	}
	defer profile.Start()()
	return run()
}

func run() int {
	hooks, checkpointPages = crashpoint.FromEnv()
	// A file-size limit (ulimit -f, systemd's LimitFSIZE) must fail the
	// write that crosses it, as a full disk does, not kill the process:
	// DuckDB writes from its own threads, where Go's handler would let the
	// default action through.
	signal.Ignore(syscall.SIGXFSZ)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the run winds down (it commits what is
		// complete and exits 3); a second one takes the default action and
		// ends the process at once: what was committed stays committed.
		s := <-sigs
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		name := "SIGTERM"
		if s == os.Interrupt {
			name = "SIGINT"
		}
		cancel(fmt.Errorf("interrupted by %s", name))
	}()
	app := newApp(os.Stdout, os.Stderr, nil)
	err := app.RunContext(ctx, cliargs.FlagsFirst(app, os.Args))
	code := exitCode(err)
	if err != nil {
		// One line, the cause first; with JSON logs, a JSON line like
		// every line before it.
		msg := present.ErrorLine(err)
		if l, ok := app.Metadata[jsonLogKey].(*slog.Logger); ok {
			l.Error(msg, "exit_code", code)
		} else {
			fmt.Fprintln(os.Stderr, Name+": "+msg)
		}
	}
	return code
}

// exitCode is the one map from errors to exit codes.
func exitCode(err error) int {
	var ue config.UsageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, pipeline.ErrPartial):
		return exitPartial
	case errors.Is(err, pipeline.ErrRejected):
		return exitRejected
	}
	return exitFailure
}

func usageError(err error) error { return config.UsageError{Err: err} }

// options are the pipeline's options from the command line.
func options(c *cli.Context, log *slog.Logger) pipeline.Options {
	opt := pipeline.Options{Log: log, Hook: hooks, CheckpointPages: checkpointPages}
	if checkpointPages > 0 {
		opt.CheckpointInterval = -1 // a crash test counts pages
	}
	return opt
}

// Flags are made anew for each app, never shared: urfave/cli writes to a
// flag when it parses one, so two command lines run side by side (tests
// do) must not hold the same flag values.

// configFlag names the config file.
func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "export.yaml", Usage: "config file", EnvVars: []string{"EXPORT_CONFIG"}}
}

// accountFlag limits a command to some of the configured accounts, e.g. an
// hourly cron line draining a RepairOps backlog beside the nightly run of
// every account.
func accountFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "account", Usage: "only this configured account (repeatable; default: all)"}
}

// shardFlag gives a host its part of the accounts (config.ShardOf).
func shardFlag() cli.Flag {
	return &cli.StringFlag{Name: "shard", Usage: "only the accounts of shard `I/N` (1 + FNV-1a of the name mod N): one host's part"}
}

// helpFlag is each command's --help. urfave/cli's own is one global
// value it writes to on every parse; ours is made per command (and the
// library's is hidden), so the same --help works without that.
func helpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}
}

// helpCommand is `repairshop-export help [command]`, in place of urfave/cli's own
// (hidden with its flag, see helpFlag).
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Usage:     "show the commands, or one command's help",
		ArgsUsage: "[command]",
		Action: func(c *cli.Context) error {
			if name := c.Args().First(); name != "" {
				if c.App.Command(name) == nil {
					return config.Usagef("help: no command %q", name)
				}
				return cli.ShowCommandHelp(c, name)
			}
			return cli.ShowAppHelp(c)
		},
	}
}

// getenvKey is where an app keeps the environment its commands read keys
// and secrets from (App.Metadata).
const getenvKey = "getenv"

// getenv is the environment a command line reads keys and secrets from.
func getenv(c *cli.Context) func(string) string {
	if f, ok := c.App.Metadata[getenvKey].(func(string) string); ok {
		return f
	}
	return os.Getenv
}

// loadConfig reads a config file with the command line's environment.
func loadConfig(c *cli.Context, path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg.Getenv = getenv(c)
	return cfg, nil
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError(err) }

// examples are each command's examples, shown by its --help (with the
// exit codes); check, init and report carry theirs in their description.
var examples = map[string]string{
	"run": "repairshop-export run -c export.yaml\n" +
		"   repairshop-export run -c export.yaml --metrics-file /var/lib/node_exporter/textfile/export.prom --summary-json last-run.json\n" +
		"   repairshop-export run -c export.yaml --account metro --max-duration 50m   # an hourly drain of one RepairOps backlog",
	"rebuild":  "repairshop-export rebuild -c export.yaml\n   repairshop-export rebuild -c export.yaml --table mgr.tickets",
	"status":   "repairshop-export status -c export.yaml\n   repairshop-export status -c export.yaml --json | jq '.runs[0]'",
	"plan":     "repairshop-export plan -c export.yaml\n   repairshop-export plan -c export.yaml --probe   # size never-exported lists with a few requests",
	"simulate": "repairshop-export simulate --write-config sim.yaml --env-file sim.env   # then: set -a; . sim.env; repairshop-export run -c sim.yaml",
	"query": "repairshop-export query --list\n" +
		"   repairshop-export query turnaround -c export.yaml --from 2026-01-01 --to 2026-03-31\n" +
		"   repairshop-export query revenue_by_technician -c export.yaml --account north --format csv --out tech.csv\n" +
		"   repairshop-export query -c export.yaml --sql \"SELECT status_group, count(*) FROM main.tickets GROUP BY ALL\"",
	"schema": "repairshop-export schema\n   repairshop-export schema --json | jq '.[] | .name'",
	"lake":   "repairshop-export lake status -c export.yaml\n   repairshop-export lake publish -c export.yaml   # the whole warehouse: the first time, or after a lake was restored",
}

// withHelp adds the examples and the exit codes to every command's --help,
// and each command's own help flag (see helpFlag).
func withHelp(app *cli.App) *cli.App {
	app.HideHelp, app.HideHelpCommand = true, true
	app.Flags = append(app.Flags, helpFlag())
	app.Commands = append(app.Commands, helpCommand())
	for _, c := range app.Commands {
		c.HideHelp = true
		c.Flags = append(c.Flags, helpFlag())
		if ex, ok := examples[c.Name]; ok {
			if c.Description != "" {
				c.Description += "\n\n"
			}
			c.Description += "EXAMPLES:\n   " + ex
		}
		c.CustomHelpTemplate = cli.CommandHelpTemplate + "\n" + present.RateLimits() + present.ExitCodes + "\n"
	}
	return app
}

// newApp is the command line: it prints to stdout and stderr and reads
// keys and secrets through getenv (nil: the process's environment).
func newApp(stdout, stderr io.Writer, getenv func(string) string) *cli.App {
	if getenv == nil {
		getenv = os.Getenv
	}
	return withHelp(&cli.App{
		Metadata:              map[string]any{getenvKey: getenv},
		Name:                  Name,
		Usage:                 "export repair-shop data (My Gadget Repairs, RepairOps) into DuckDB and Parquet",
		CustomAppHelpTemplate: cli.AppHelpTemplate + "\n" + present.RateLimits() + present.ExitCodes + "\n",
		Writer:                stdout,
		ErrWriter:             stderr,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every retry and page"},
			&cli.BoolFlag{Name: "version", Usage: "print the version (the build's module, commit, Go and DuckDB driver) and exit"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(stdout, Name, present.Version(debug.ReadBuildInfo()))
				return nil
			}
			if c.NArg() > 0 {
				c.App.CommandNotFound(c, c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: onUsageError,
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "repairshop-export: no command %q; see `repairshop-export --help`\n", name)
			os.Exit(exitUsage)
		},
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "extract every configured account and load the warehouse (and Parquet)",
				Flags: append([]cli.Flag{
					configFlag(),
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.StringFlag{Name: "parquet", Usage: "Parquet root (overrides the config)"},
					&cli.Int64Flag{Name: "max-requests", Usage: "send at most `N` requests per account, then commit and exit 3 (the next run continues)"},
					&cli.DurationFlag{Name: "max-duration", Usage: "send no request after this long (e.g. 45m), then commit and exit 3 (the next run continues)"},
					accountFlag(), shardFlag(),
				}, operatorFlags()...),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return runCommand(c, stdout, stderr, "run") },
			},
			{
				Name:  "rebuild",
				Usage: "re-run transform and load from the raw archive: no network, no rate budget (e.g. after adding a column)",
				Flags: append([]cli.Flag{
					configFlag(),
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.StringFlag{Name: "parquet", Usage: "Parquet root (overrides the config)"},
					&cli.StringSliceFlag{Name: "table", Usage: "rebuild only this table (repeatable; a child table rebuilds with its parent)"},
					&cli.BoolFlag{Name: "allow-unarchived", Usage: "rebuild even though earlier runs loaded rows without archiving them (those rows are lost)"},
				}, operatorFlags()...),
				OnUsageError: onUsageError,
				Action:       func(c *cli.Context) error { return runCommand(c, stdout, stderr, "rebuild") },
			},
			{
				Name:  "status",
				Usage: "show the last runs, cursors, open rejects and schema drift",
				Flags: []cli.Flag{
					configFlag(),
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
					&cli.IntFlag{Name: "limit", Value: 10, Usage: "rows per section"},
				},
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					path, err := warehousePath(c)
					if err != nil {
						return err
					}
					cfg, _ := loadConfig(c, c.String("config")) // for the key ledgers; --warehouse alone does without
					return present.Status(c.Context, stdout, path, cfg, c.Int("limit"), c.Bool("json"))
				},
			},
			{
				Name:  "plan",
				Usage: "print, per account and resource, the requests the next run needs and the time at the key's rate",
				Description: "Estimates come from the warehouse (rows held, unfinished listings, the detail queue) and spend no requests.\n" +
					"Resources never exported are unknown; --probe sizes them with a few one-record requests each (paced like a run).",
				Flags: []cli.Flag{
					configFlag(),
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.BoolFlag{Name: "probe", Usage: "size resources never exported with a few one-record requests"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
					accountFlag(), shardFlag(),
				},
				OnUsageError: onUsageError,
				Action: func(c *cli.Context) error {
					cfg, err := configFrom(c)
					if err != nil {
						return err
					}
					log, err := logger(c, stderr)
					if err != nil {
						return err
					}
					plans, err := pipeline.Plan(c.Context, cfg, c.Bool("probe"), options(c, log))
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return present.JSON(stdout, plans)
					}
					if cfg.Sharded != "" {
						fmt.Fprintf(stdout, "%s\n\n", cfg.Sharded)
					}
					present.Plan(stdout, plans)
					return nil
				},
			},
			simulateCommand(stdout),
			initCommand(stdout),
			reportCommand(stdout, stderr),
			listenCommand(stderr),
			checkCommand(stdout, stderr),
			lakeCommand(stdout),
			{
				Name:      "query",
				Usage:     "run a shipped analytics query (or --sql) against the warehouse",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					configFlag(),
					&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
					&cli.BoolFlag{Name: "list", Usage: "list the shipped queries"},
					&cli.StringFlag{Name: "sql", Usage: "run this SQL instead of a shipped query"},
					&cli.StringFlag{Name: "format", Value: "table", Usage: "table | csv | json | parquet (parquet needs --out)"},
					&cli.StringFlag{Name: "out", Usage: "write the result to this file (replaced whole, never half-written)"},
					&cli.StringFlag{Name: "from", Usage: "first local date (YYYY-MM-DD), for queries that take it"},
					&cli.StringFlag{Name: "to", Usage: "last local date (YYYY-MM-DD), for queries that take it"},
					&cli.StringSliceFlag{Name: "account", Usage: "only this account (repeatable), for queries that take it"},
					&cli.IntFlag{Name: "limit", Usage: "print at most this many rows (0: all)"},
					&cli.BoolFlag{Name: "from-parquet", Usage: "answer from the published Parquet files, not the warehouse (automatic while a run holds the warehouse)"},
				},
				OnUsageError: onUsageError,
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
						return present.SchemaMarkdown(stdout)
					}
					return present.Schema(stdout, c.Bool("json"))
				},
			},
		},
	})
}

// configFrom loads --config and applies flag overrides.
func configFrom(c *cli.Context) (*config.Config, error) {
	cfg, err := loadConfig(c, c.String("config"))
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
		if err := cfg.Select(names); err != nil {
			return nil, err
		}
	}
	if c.IsSet("shard") {
		if err := cfg.ApplyShard(c.String("shard")); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// warehousePath is --warehouse, or the config's warehouse.
func warehousePath(c *cli.Context) (string, error) {
	if p := c.String("warehouse"); p != "" {
		return p, nil
	}
	cfg, err := loadConfig(c, c.String("config"))
	if err != nil {
		return "", err
	}
	return cfg.Warehouse, nil
}

func queryCommand(c *cli.Context, out, errOut io.Writer) error {
	if c.Bool("list") {
		return present.QueryList(out, sources.Queries())
	}
	sqlText := c.String("sql")
	params := []string{queries.ParamFrom, queries.ParamTo, queries.ParamAccount} // --sql may read any
	if sqlText == "" {
		if c.NArg() != 1 {
			return config.Usagef("query: name one query (see `repairshop-export query --list`) or pass --sql")
		}
		q, err := sources.Query(c.Args().First())
		if err != nil {
			var names []string
			for _, q := range sources.Queries() {
				names = append(names, q.Name)
			}
			return config.Usagef("query: no query named %q; the shipped queries are %s", c.Args().First(), strings.Join(names, ", "))
		}
		sqlText, params = q.SQL, q.Params
	}
	vars, err := queries.Variables(c, c.Args().First(), params)
	if err != nil {
		return usageError(err)
	}
	format, file := c.String("format"), c.String("out")
	switch format {
	case "table", "csv", "json":
	case "parquet":
		if file == "" {
			return config.Usagef("query: --format parquet needs --out FILE")
		}
	default:
		return config.Usagef("query: --format %q: want table, csv, json or parquet", format)
	}
	w, _, err := openForReading(c, errOut)
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.SetVariables(c.Context, vars); err != nil {
		return err
	}
	if format == "parquet" {
		n, err := w.QueryToParquet(c.Context, sqlText, file)
		if err != nil {
			return err
		}
		fmt.Fprintf(errOut, "repairshop-export: %d row(s) written to %s\n", n, file)
		return nil
	}
	res, err := w.Query(c.Context, sqlText)
	if err != nil {
		return err
	}
	if n := c.Int("limit"); n > 0 && len(res.Rows) > n {
		res.Rows = res.Rows[:n]
	}
	if file == "" {
		return present.Result(out, res, format)
	}
	return atomicfile.Write(file, 0o644, func(f io.Writer) error { return present.Result(f, res, format) })
}

// openForReading opens the warehouse read-only, or the published Parquet
// files (--from-parquet, or while a run holds the warehouse), says which
// on errOut, and returns it in words.
func openForReading(c *cli.Context, errOut io.Writer) (*load.Warehouse, string, error) {
	fromParquet := c.Bool("from-parquet")
	var cfg *config.Config
	if c.String("warehouse") == "" || fromParquet {
		var err error
		if cfg, err = configFrom(c); err != nil {
			return nil, "", err
		}
	}
	say := func(s string) { fmt.Fprintln(errOut, Name+": "+s) }
	return pipeline.OpenForReading(c.Context, cfg, c.String("warehouse"), fromParquet, c.Command.Name, say)
}
