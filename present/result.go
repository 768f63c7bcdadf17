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
		return resultJSON(out, res)
	case "table":
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
		for _, r := range res.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "(%s)\n", Plural(len(res.Rows), "row", "rows"))
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

// resultJSON writes a result as a JSON array of objects, keys in the
// columns' order: numbers and booleans as JSON numbers and booleans (null
// when NULL), exact decimals and everything else as strings.
func resultJSON(out io.Writer, res load.Result) error {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range res.Rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for j, c := range res.Columns {
			if j > 0 {
				b.WriteString(", ")
			}
			k, _ := json.Marshal(c)
			b.Write(k)
			b.WriteString(": ")
			b.WriteString(jsonValue(r[j], kindAt(res, j)))
		}
		b.WriteString("}")
	}
	if len(res.Rows) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := io.WriteString(out, b.String())
	return err
}

func kindAt(res load.Result, j int) load.Kind {
	if j < len(res.Kinds) {
		return res.Kinds[j]
	}
	return load.KindText
}

// jsonValue is one value as JSON for its column's kind.
func jsonValue(v string, k load.Kind) string {
	switch {
	case (k == load.KindNumber || k == load.KindBool) && v == "":
		return "null"
	case k == load.KindNumber && json.Valid([]byte(v)):
		return v
	case k == load.KindBool && (v == "true" || v == "false"):
		return v
	}
	q, _ := json.Marshal(v) // NaN and Inf stay strings: JSON has no such numbers
	return string(q)
}

// Plural is n with the noun's singular or plural form: "1 row", "2 rows".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
