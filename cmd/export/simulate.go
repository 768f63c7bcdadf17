package export

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/internal/atomicfile"
)

// simulateCommand serves every source's simulator on loopback, with the
// flags each declares.
func simulateCommand(stdout io.Writer) *cli.Command {
	var flags []cli.Flag
	for _, sim := range sources.Simulators {
		for _, f := range sim.Flags {
			switch d := f.Default.(type) {
			case string:
				flags = append(flags, &cli.StringFlag{Name: f.Name, Value: d, Usage: f.Usage})
			case int:
				flags = append(flags, &cli.IntFlag{Name: f.Name, Value: d, Usage: f.Usage})
			default:
				flags = append(flags, &cli.IntSliceFlag{Name: f.Name, Usage: f.Usage})
			}
		}
	}
	flags = append(flags,
		&cli.StringFlag{Name: "write-config", Usage: "write a ready-to-use export.yaml for the simulators here"},
		&cli.StringFlag{Name: "env-file", Usage: "write the simulators' keys as shell variable assignments here"},
	)
	return &cli.Command{
		Name:         "simulate",
		Usage:        "serve the sources' simulators (My Gadget Repairs, RepairOps) on loopback until interrupted",
		Flags:        flags,
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			// The simulators hold every shop's data in the heap: no soft
			// limit (see Main), or the collector runs without pause.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(math.MaxInt64)
			}
			for _, sim := range sources.Simulators {
				for _, f := range sim.Flags {
					if _, isInt := f.Default.(int); isInt && c.Int(f.Name) < 1 {
						return config.Usagef("simulate: --%s must be positive", f.Name)
					}
				}
			}
			file := config.File{Warehouse: "./warehouse.duckdb", Parquet: "./parquet"}
			var env strings.Builder
			for _, sim := range sources.Simulators {
				s, err := sim.Start(c, stdout)
				if err != nil {
					return err
				}
				defer s.Close()
				fmt.Fprintln(stdout, s.Banner)
				file.Listen = cmp.Or(file.Listen, s.Listen)
				for _, a := range s.Accounts {
					// Simulator keys are not secrets; printing them is the point.
					fmt.Fprintln(stdout, "  "+a.Line)
					fmt.Fprintf(&env, "export %s=%s\n", a.KeyEnv, a.Key)
					for _, k := range slices.Sorted(maps.Keys(a.Env)) {
						fmt.Fprintf(&env, "export %s=%s\n", k, a.Env[k])
					}
					file.Accounts = append(file.Accounts, config.FileAccount{Name: a.Name, Source: sim.Source, BaseURL: a.BaseURL, APIKeyEnv: a.KeyEnv, Currency: a.Currency, Options: a.Options})
				}
			}
			if p := c.String("env-file"); p != "" {
				if err := atomicfile.WriteBytes(p, []byte(env.String()), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "keys written to %s\n", p)
			}
			if p := c.String("write-config"); p != "" {
				b, err := file.Marshal()
				if err != nil {
					return err
				}
				if err := atomicfile.WriteBytes(p, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "config written to %s\n", p)
			}
			<-c.Context.Done()
			return nil
		},
	}
}

var _ extract.FlagValues = (*cli.Context)(nil)
