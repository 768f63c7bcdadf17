package export

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/lake"
	"github.com/repairshop/export/present"
)

// lakeCommand is `repairshop-export lake`: the Iceberg lake of lake: in
// the config (docs/lake.md).
func lakeCommand(stdout io.Writer) *cli.Command {
	sub := func(name, usage string, action func(*cli.Context, *config.Config) error, flags ...cli.Flag) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, Flags: append([]cli.Flag{configFlag()}, flags...), OnUsageError: onUsageError,
			Action: func(c *cli.Context) error {
				cfg, err := configFrom(c)
				if err != nil {
					return err
				}
				return action(c, cfg)
			}}
	}
	return &cli.Command{Name: "lake", Usage: "publish the warehouse to the Apache Iceberg lake that lake: in the config names, and show it",
		Subcommands: []*cli.Command{
			sub("publish", "publish the whole warehouse (the first time, or after a lake was restored); runs publish what changed", func(c *cli.Context, cfg *config.Config) error {
				_, line, err := lake.PublishAll(c.Context, cfg, hooks)
				fmt.Fprintln(stdout, "lake: "+line)
				return err
			}),
			sub("status", "each table's snapshot and rows per account, the last commit by host, files and bytes, and what is unpublished", func(c *cli.Context, cfg *config.Config) error {
				st, err := lake.ReadStatus(c.Context, cfg)
				switch {
				case err != nil:
					return err
				case c.Bool("json"):
					return present.JSON(stdout, st)
				}
				return st.Write(stdout)
			}, &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
			sub("maintain", "compact small files per partition, expire snapshots older than --keep, remove orphan files; safe while other hosts publish", func(c *cli.Context, cfg *config.Config) error {
				keep, err := config.ParseAge("keep", c.String("keep"))
				if err != nil {
					return err
				}
				orphans, err := config.ParseAge("orphans-older-than", c.String("orphans-older-than"))
				if err != nil {
					return err
				}
				m, err := lake.Maintain(c.Context, cfg, lake.MaintainOptions{Keep: keep, OrphanAge: orphans}, hooks)
				fmt.Fprintln(stdout, "lake maintain: "+m.Line())
				return err
			}, &cli.StringFlag{Name: "keep", Value: "7d", Usage: "keep snapshots this long (7d, 36h): time travel reaches back so far"},
				&cli.StringFlag{Name: "orphans-older-than", Value: "1d", Usage: "remove unreferenced files only past this age, so that a publish in flight on another host keeps its files"}),
		}}
}
