package present

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/load"
	"github.com/repairshop/export/pipeline"
)

func Result(out io.Writer, res load.Result, format string) error {
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
		return JSON(out, objs)
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
	return config.Usagef("query: --format %q: want table, csv, json or parquet", format)
}

func JSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func Check(out io.Writer, path string, paths []pipeline.Finding, accounts []pipeline.AccountCheck) {
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAIL"
	}
	fmt.Fprintf(out, "config %s: valid\n", path)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, p := range paths {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark(p.OK), p.What, p.Detail)
	}
	tw.Flush()
	for _, a := range accounts {
		state := "ready"
		if !a.Ready {
			state = "NOT READY"
		}
		fmt.Fprintf(out, "account %s (%s): %s (%d request)\n", a.Account, a.Source, state, a.Requests)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, f := range a.Findings {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark(f.OK), f.What, f.Detail)
		}
		tw.Flush()
	}
}
