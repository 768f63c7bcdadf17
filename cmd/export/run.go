package export

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/internal/atomicfile"
	"github.com/repairshop/export/lake"
	"github.com/repairshop/export/outcome"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
	"github.com/repairshop/export/progress"
)

// operatorFlags are what cron and monitoring set on run and rebuild.
func operatorFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "auto | text | json (auto: text on a terminal, JSON lines otherwise)"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug | info | warn | error"},
		&cli.BoolFlag{Name: "no-progress", Usage: "no live progress display (it shows only when stderr is a terminal)"},
		&cli.BoolFlag{Name: "json", Usage: "print the run's summary as one JSON object on stdout instead of the table"},
		&cli.StringFlag{Name: "summary-json", Usage: "also write the run's summary as JSON to `FILE` (replaced whole)"},
		&cli.StringFlag{Name: "metrics-file", Usage: "write Prometheus metrics to `PATH` at the end of every run, failed ones too (for node_exporter's textfile collector: name it *.prom)"},
	}
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logger makes the command's logger: --log-format, --log-level (--verbose
// is debug), to w.
func logger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	return loggerTo(c, w, isTerminal(w))
}

// loggerTo is logger for a writer that is (or draws on) a terminal or not.
func loggerTo(c *cli.Context, w io.Writer, terminal bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	if s := c.String("log-level"); s != "" {
		if err := level.UnmarshalText([]byte(s)); err != nil {
			return nil, config.Usagef("--log-level %q: want debug, info, warn or error", s)
		}
	}
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := c.String("log-format"); f {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return jsonLogger(c, w, opts), nil
	case "", "auto":
		if terminal {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return jsonLogger(c, w, opts), nil
	default:
		return nil, config.Usagef("--log-format %q: want auto, text or json", f)
	}
}

// jsonLogKey is where an app keeps its command's JSON logger (App.Metadata),
// so that the final error is a JSON line too.
const jsonLogKey = "jsonlog"

// jsonLogger is a JSON-lines logger on w, remembered for the final error.
func jsonLogger(c *cli.Context, w io.Writer, opts *slog.HandlerOptions) *slog.Logger {
	l := slog.New(slog.NewJSONHandler(w, opts))
	c.App.Metadata[jsonLogKey] = l
	return l
}

// runCommand is `repairshop-export run` and `repairshop-export rebuild`: logs, progress, the
// report, and the machine-readable summary and metrics, written whatever
// the run's outcome.
func runCommand(c *cli.Context, stdout, stderr io.Writer, command string) (err error) {
	started := time.Now()
	log, err := logger(c, stderr)
	if err != nil {
		return err
	}
	cfg, err := configFrom(c)
	if err != nil {
		return err
	}
	var rep pipeline.Report
	defer func() {
		err = finishRun(c, stdout, cfg, command, rep, started, err)
	}()

	var display *progress.Display
	opt := options(c, log)
	if cfg.Lake != nil {
		opt.Lake = lake.Publisher(cfg, hooks)
	}
	if command == "run" && !c.Bool("no-progress") && isTerminal(stderr) {
		opt.Progress = &pipeline.Progress{}
		display = progress.Start(stderr, opt.Progress)
		defer display.Stop()
		if log, err = loggerTo(c, display, true); err != nil { // log lines print above the bars
			return err
		}
		opt.Log = log
	}
	switch command {
	case "run":
		opt.Limits.MaxRequests = c.Int64("max-requests")
		if opt.Limits.MaxRequests < 0 || c.Duration("max-duration") < 0 {
			return config.Usagef("run: --max-requests and --max-duration must be positive")
		}
		if d := c.Duration("max-duration"); d > 0 {
			opt.Limits.Deadline = time.Now().Add(d)
		}
		rep, err = pipeline.Run(c.Context, cfg, opt)
	case "rebuild":
		rep, err = pipeline.Rebuild(c.Context, cfg, c.StringSlice("table"), c.Bool("allow-unarchived"), opt)
	}
	if display != nil {
		display.Stop()
	}
	return err
}

// finishRun prints the report (or the JSON summary) and writes the summary
// file and the metrics; their own failures join the run's error.
func finishRun(c *cli.Context, stdout io.Writer, cfg *config.Config, command string, rep pipeline.Report, started time.Time, runErr error) error {
	var accounts []outcome.Configured
	keys := map[string]int64{}
	for _, k := range pipeline.Keys(cfg) {
		keys[k.Account] = k.Signals
	}
	for _, a := range cfg.Accounts {
		accounts = append(accounts, outcome.Configured{Account: a.Name, Source: a.Source, RateSignals: keys[a.Name]})
	}
	sum := outcome.Of(command, rep, accounts, started, time.Now(), runErr, exitCode(runErr))
	if c.Bool("json") {
		if err := sum.WriteJSON(stdout); err != nil {
			return err
		}
	} else {
		present.RunReport(stdout, rep)
	}
	var errs []string
	if path := c.String("summary-json"); path != "" {
		if err := atomicfile.Write(path, 0o644, sum.WriteJSON); err != nil {
			errs = append(errs, fmt.Sprintf("summary %s: %v", path, err))
		}
	}
	if path := c.String("metrics-file"); path != "" {
		if err := outcome.WriteMetrics(path, sum); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) == 0 {
		return runErr
	}
	if runErr == nil {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return fmt.Errorf("%w (and %s)", runErr, strings.Join(errs, "; "))
}
