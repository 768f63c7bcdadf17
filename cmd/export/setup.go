package export

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/internal/atomicfile"
	"github.com/repairshop/export/lake"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
	"github.com/repairshop/export/queries"
	"github.com/repairshop/export/report"
)

// The first five minutes: `repairshop-export init` writes a config, `repairshop-export check`
// says whether it is ready.

func checkCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate the config and verify each account's key with one cheap request; exit 0 when every account is ready, 2 for a config error, else 1",
		Description: "Checks the config (the file, line and field at fault), that the warehouse, Parquet, raw and state folders\n" +
			"are writable, each account's time zone, and its key: one request per account at most (RepairOps: its\n" +
			"X-RateLimit-Limit tells the key's scope; an export needs Read), and with lake: its catalog and storage.\n\n" +
			"EXAMPLE:\n   repairshop-export check -c export.yaml",
		Flags:        []cli.Flag{configFlag(), accountFlag(), shardFlag(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			cfg, err := configFrom(c)
			if err != nil {
				var ue config.UsageError
				if errors.As(err, &ue) { // exit 2, as every command's config error
					fmt.Fprintf(stdout, "not ready: %v\n", err)
					return config.Usagef("the config is not valid")
				}
				return err
			}
			log, err := logger(c, stderr)
			if err != nil {
				return err
			}
			paths, accounts := pipeline.Check(c.Context, cfg, options(c, log))
			if cfg.Lake != nil {
				paths = append(paths, lake.Check(c.Context, cfg)...)
			}
			ready := true
			for _, p := range paths {
				ready = ready && p.OK
			}
			for _, a := range accounts {
				ready = ready && a.Ready
			}
			if c.Bool("json") {
				if err := present.JSON(stdout, map[string]any{"config": cfg.Path, "ready": ready, "paths": paths, "accounts": accounts}); err != nil {
					return err
				}
			} else {
				present.Check(stdout, cfg.Path, paths, accounts)
			}
			if !ready {
				return errors.New("not ready: see the lines marked FAIL")
			}
			return nil
		},
	}
}

func initCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "write a commented starter export.yaml (on a terminal, it asks for the few values)",
		Description: "Never overwrites a file without --force. A key pasted where the variable's name goes is refused:\n" +
			"the config names the environment variable that holds the key (api_key_env), never the key.\n\n" +
			"EXAMPLES:\n   repairshop-export init                     # asks on a terminal, else writes the defaults\n" +
			"   repairshop-export init -c shop.yaml --source repairops --name metro --timezone Europe/Madrid",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: "export.yaml", Usage: "the file to write"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing file"},
			&cli.BoolFlag{Name: "ask", Usage: "ask for the values even when stdin is not a terminal (answers on stdin)"},
			&cli.BoolFlag{Name: "no-ask", Usage: "never ask: the defaults and the flags below"},
			&cli.StringFlag{Name: "source", Usage: "the source: " + config.SourceChoices()},
			&cli.StringFlag{Name: "name", Usage: "the account's name"},
			&cli.StringFlag{Name: "key-env", Usage: "the environment variable that will hold the key"},
			&cli.StringFlag{Name: "timezone", Usage: "the shop's IANA time zone, e.g. America/Chicago"},
			&cli.StringFlag{Name: "warehouse", Usage: "the DuckDB file"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			path := c.String("config")
			if _, err := os.Stat(path); err == nil && !c.Bool("force") {
				return config.Usagef("init: %s exists; pass --force to replace it (or -c another file)", path)
			}
			s := config.DefaultStarter()
			for flag, field := range map[string]*string{"source": &s.Source, "name": &s.Name, "key-env": &s.KeyEnv, "timezone": &s.Timezone, "warehouse": &s.Warehouse} {
				if c.IsSet(flag) {
					*field = c.String(flag)
				}
			}
			if !c.IsSet("key-env") {
				s.KeyEnv = s.DefaultKeyEnv()
			}
			stdin := c.App.Reader
			f, isFile := stdin.(*os.File)
			if c.Bool("ask") || (!c.Bool("no-ask") && isFile && term.IsTerminal(int(f.Fd()))) {
				var err error
				if s, err = ask(bufio.NewReader(stdin), stdout, s); err != nil {
					return err
				}
			}
			body, err := s.Render(path)
			if err != nil {
				return config.Usagef("init: %v", err)
			}
			if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { _, err := w.Write(body); return err }); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\nnext:\n  export %s='<the API key>'\n  repairshop-export check -c %s\n  repairshop-export run -c %s\n", path, s.KeyEnv, path, path)
			return nil
		},
	}
}

// ask asks for the starter's values, each with its default, until each
// answer is valid. A pasted key is refused, never echoed, and asked again.
func ask(in *bufio.Reader, out io.Writer, s config.Starter) (config.Starter, error) {
	questions := []struct {
		field, prompt string
		value         *string
		def           func() string
	}{
		{"source", "Source: " + config.SourceChoices(), &s.Source, func() string { return s.Source }},
		{"name", "Account name (lower-case, e.g. the shop's)", &s.Name, func() string { return s.Name }},
		{"key_env", "Name of the environment variable that will hold the API key (not the key)", &s.KeyEnv, func() string { return s.DefaultKeyEnv() }},
		{"timezone", "The shop's time zone (IANA, e.g. America/Chicago; empty: none)", &s.Timezone, func() string { return s.Timezone }},
		{"warehouse", "Warehouse file", &s.Warehouse, func() string { return s.Warehouse }},
	}
	for _, q := range questions {
		for {
			def := q.def()
			fmt.Fprintf(out, "%s [%s]: ", q.prompt, def)
			line, err := in.ReadString('\n')
			if err != nil && line == "" {
				return s, config.Usagef("init: no answer (%v)", err)
			}
			v := strings.TrimSpace(line)
			if v == "" {
				v = def
			}
			if cerr := config.CheckAnswer(q.field, v); cerr != nil {
				fmt.Fprintf(out, "  %v\n", cerr)
				continue
			}
			*q.value = v
			break
		}
	}
	return s, nil
}

func reportCommand(stdout, stderr io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "write the owner's KPI report: one self-contained HTML file with charts and their numbers (opens offline)",
		Description: "Revenue, turnaround, backlog, top repairs, receivables, low stock and technicians' revenue, for all shops\n" +
			"and each shop, from the KPI queries. While a run holds the warehouse it reads the published Parquet files.\n\n" +
			"EXAMPLES:\n   repairshop-export report -c export.yaml --out report.html\n" +
			"   repairshop-export report -c export.yaml --from 2026-01-01 --to 2026-06-30 --account north --out h1.html",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "warehouse", Usage: "DuckDB file (overrides the config)"},
			&cli.StringFlag{Name: "out", Value: "report.html", Usage: "the HTML file to write (replaced whole)"},
			&cli.StringFlag{Name: "from", Usage: "first local date (YYYY-MM-DD)"},
			&cli.StringFlag{Name: "to", Usage: "last local date (YYYY-MM-DD)"},
			&cli.StringSliceFlag{Name: "account", Usage: "only this account (repeatable)"},
			&cli.BoolFlag{Name: "from-parquet", Usage: "read the published Parquet files, not the warehouse (automatic while a run holds it)"},
		},
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			vars, err := queries.Variables(c, "report", []string{queries.ParamFrom, queries.ParamTo, queries.ParamAccount})
			if err != nil {
				return usageError(err)
			}
			w, source, err := openForReading(c, stderr)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.SetVariables(c.Context, vars); err != nil {
				return err
			}
			rep, err := report.Build(c.Context, w, report.Options{From: c.String("from"), To: c.String("to"), Accounts: c.StringSlice("account"), Generated: time.Now(), Source: "from " + source})
			if err != nil {
				return err
			}
			path := c.String("out")
			if err := atomicfile.Write(path, 0o644, rep.HTML); err != nil {
				return fmt.Errorf("report %s: %w", path, err)
			}
			abs, _ := filepath.Abs(path)
			fmt.Fprintf(stdout, "report: %s (%d charts, for all shops and %d shop(s))\n", abs, len(rep.Sections), len(rep.Scopes)-1)
			return nil
		},
	}
}
