package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

type bench struct {
	bin     string
	only    string
	results results
}

// results is bench/results.json.
type results struct {
	Rebuild []rebuildRun `json:"rebuild"`
}

func (b *bench) want(what string) bool { return b.only == "" || b.only == what }

func (b *bench) run(ctx context.Context, sizes string) error {
	if b.want("rebuild") {
		for _, s := range strings.Split(sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-sizes: %w", err)
			}
			r, err := b.rebuild(ctx, n)
			if err != nil {
				return err
			}
			b.results.Rebuild = append(b.results.Rebuild, r)
		}
	}
	return nil
}

func (b *bench) print(w io.Writer) {
	for _, r := range b.results.Rebuild {
		fmt.Fprintf(w, "rebuild %d tickets: %.1f s (%.0f rows/s), peak RSS %.0f MB; read_json %.2f s (%.0f rows/s); ratio %.3f\n",
			r.Tickets, r.Seconds, r.RowsPerSec, float64(r.PeakRSS)/1e6, r.JSONSeconds, r.JSONRowsSec, r.Ratio)
	}
}
