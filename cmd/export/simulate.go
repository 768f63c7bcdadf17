package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
)

func simulateCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "simulate",
		Usage: "serve the My Gadget Repairs and RepairOps simulators on loopback until interrupted",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:0", Usage: "listen address (port 0 picks a free one)"},
			&cli.IntFlag{Name: "rate", Value: mgrtest.DefaultLimit, Usage: "requests per minute per key the simulator allows"},
			&cli.IntSliceFlag{Name: "tickets", Usage: "MGR tickets per shop, in shop order (the other resources scale with them; default 1800,1600)"},
			&cli.StringFlag{Name: "repairops-addr", Value: "127.0.0.1:0", Usage: "RepairOps listen address"},
			&cli.IntFlag{Name: "repairops-rate", Value: repairopstest.DefaultQuotas["read"], Usage: "RepairOps requests per hour per Read key"},
			&cli.IntSliceFlag{Name: "repairops-tickets", Usage: "RepairOps tickets per organisation (default 1500,400)"},
			&cli.StringFlag{Name: "write-config", Usage: "write a ready-to-use export.yaml for the simulator here"},
			&cli.StringFlag{Name: "env-file", Usage: "write the simulator's keys as shell variable assignments here"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		Action: func(c *cli.Context) error {
			if c.Int("rate") < 1 || c.Int("repairops-rate") < 1 {
				return usagef("simulate: --rate and --repairops-rate must be positive")
			}
			srv, err := mgrtest.Start(mgrtest.WithAddr(c.String("addr")), mgrtest.WithRateLimit(c.Int("rate"), time.Minute), mgrtest.WithTickets(c.IntSlice("tickets")...))
			if err != nil {
				return err
			}
			defer srv.Close()
			ro, err := repairopstest.Start(repairopstest.WithAddr(c.String("repairops-addr")), repairopstest.WithQuota(c.Int("repairops-rate"), time.Hour), repairopstest.WithTickets(c.IntSlice("repairops-tickets")...))
			if err != nil {
				return err
			}
			defer ro.Close()
			fmt.Fprintf(stdout, "My Gadget Repairs simulator at %s (%d requests/min per key)\n", srv.URL, c.Int("rate"))
			for _, sh := range srv.Shops {
				// Simulator keys are not secrets; printing them is the point.
				fmt.Fprintf(stdout, "  shop %-6s key %s (as %s; %d tickets)\n", sh.Name, sh.Key, keyEnv(sh.Name), sh.Tickets())
			}
			fmt.Fprintf(stdout, "RepairOps simulator at %s (%d requests/hour per Read key)\n", ro.URL, c.Int("repairops-rate"))
			for _, o := range ro.Orgs {
				fmt.Fprintf(stdout, "  organisation %-6s key %s (as %s; %d shops, %d tickets)\n", o.Name, o.Key, roKeyEnv(o.Name), len(o.Shops), o.Tickets())
			}
			if p := c.String("env-file"); p != "" {
				var b strings.Builder
				for _, sh := range srv.Shops {
					fmt.Fprintf(&b, "export %s=%s\n", keyEnv(sh.Name), sh.Key)
				}
				for _, o := range ro.Orgs {
					fmt.Fprintf(&b, "export %s=%s\n", roKeyEnv(o.Name), o.Key)
				}
				if err := writeFileAtomic(p, []byte(b.String()), 0o600); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "keys written to %s\n", p)
			}
			if p := c.String("write-config"); p != "" {
				cfg := Config{Warehouse: "./warehouse.duckdb", Parquet: "./parquet"}
				for _, sh := range srv.Shops {
					cfg.Accounts = append(cfg.Accounts, Account{Name: sh.Name, Source: "mgr", BaseURL: srv.URL, APIKeyEnv: keyEnv(sh.Name), RequestsPerMinute: c.Int("rate")})
				}
				for _, o := range ro.Orgs {
					cfg.Accounts = append(cfg.Accounts, Account{Name: o.Name, Source: "repairops", BaseURL: ro.URL, APIKeyEnv: roKeyEnv(o.Name), RequestsPerHour: c.Int("repairops-rate")})
				}
				b, err := yaml.Marshal(cfg)
				if err != nil {
					return err
				}
				if err := writeFileAtomic(p, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "config written to %s\n", p)
			}
			<-c.Context.Done()
			return nil
		},
	}
}

func keyEnv(shop string) string { return "MGR_" + strings.ToUpper(shop) + "_KEY" }

func roKeyEnv(org string) string { return "REPAIROPS_" + strings.ToUpper(org) + "_KEY" }

// writeFileAtomic writes data aside and renames it into place, so whoever
// waits for the file never reads half of it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
