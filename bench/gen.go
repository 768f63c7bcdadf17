package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/repairshop/export/extract/archive"
)

// ticketsPerRunFile is how many tickets one archived run holds: a large
// history is many nights' runs.
const ticketsPerRunFile = 100_000

// generate writes n MGR tickets — the wire shape users report, nested
// objects, {} for no invoice, fields the docs never mention — as the raw
// API pages a run archives (list pages of 50, one archive file per
// 100,000 tickets, as successive runs), and the same records as
// newline-delimited JSON for DuckDB's own reader.
func generate(dir string, n int) (raw, ndjson string, err error) {
	raw, ndjson = filepath.Join(dir, "raw"), filepath.Join(dir, "tickets.ndjson")
	return raw, ndjson, generateRuns(raw, ndjson, n, ticketsPerRunFile)
}

// generateRuns writes the same n tickets as generate (the same seed),
// perRun tickets to an archived run, into the archive folder raw, and
// as NDJSON into ndjson ("": none).
func generateRuns(raw, ndjson string, n, perRun int) error {
	var out io.Writer = io.Discard
	if ndjson != "" {
		f, err := os.Create(ndjson)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	nd := bufio.NewWriterSize(out, 1<<20)
	rng := rand.New(rand.NewPCG(2026, 13))
	zone := time.FixedZone("", -6*3600)
	end := time.Date(2026, 11, 15, 18, 0, 0, 0, time.UTC)
	statuses := []string{"New", "Diagnosing", "Waiting for Parts", "In Progress", "Ready for Collection", "Completed", "Cancelled"}
	issues := []string{"Cracked screen", "Battery", "Water damage", "Charging port", "Software"}
	models := [][2]string{{"Apple", "iPhone 13"}, {"Apple", "iPhone 15 Pro"}, {"Samsung", "Galaxy S23"}, {"Google", "Pixel 8"}, {"Apple", "iPad Air"}}
	techs := []map[string]any{
		{"id": 11, "first_name": "Dana", "last_name": "Whitfield", "email": "dana@north-fix.example"},
		{"id": 12, "first_name": "Marcus", "last_name": "Ohlsson", "email": "marcus@north-fix.example"},
		nil,
	}
	var w *archive.Writer
	page := make([]json.RawMessage, 0, 50)
	flush := func(offset int) error {
		if len(page) == 0 {
			return nil
		}
		body, _ := json.Marshal(page)
		_, err := w.Append(archive.Entry{Resource: "tickets", Kind: archive.KindList, Params: url.Values{"limit": {"50"}, "offset": {fmt.Sprint(offset)}},
			FetchedAt: end, Body: body})
		page = page[:0]
		return err
	}
	for i := range n {
		if i%perRun == 0 {
			if err := flush(i - 50); err != nil {
				return err
			}
			if w != nil {
				if err := w.Close(); err != nil {
					return err
				}
			}
			run := end.Add(time.Duration(i/perRun) * time.Minute).Format("20060102T150405.000Z")
			var err error
			if w, err = archive.Create(raw, "mgr", "north", run+"-bench0"); err != nil {
				return err
			}
		}
		created := end.Add(-time.Duration(rng.Int64N(int64(2 * 365 * 24 * time.Hour)))).In(zone)
		model := models[rng.IntN(len(models))]
		rec := map[string]any{
			"id": 100000 + i, "ticket_ref": fmt.Sprintf("N-%07d", i),
			"description":  model[0] + " " + model[1] + " - " + issues[rng.IntN(len(issues))],
			"created_date": created.Format("2006-01-02T15:04:05-0700"),
			"last_updated": created.Add(time.Duration(rng.IntN(240)) * time.Hour).Format("2006-01-02T15:04:05-0700"),
			"status":       map[string]any{"id": 100 + rng.IntN(7), "label": statuses[rng.IntN(len(statuses))]},
			"issue_type":   map[string]any{"id": 200 + rng.IntN(5), "label": issues[rng.IntN(len(issues))]},
			"customer":     map[string]any{"id": fmt.Sprintf("c%06d", rng.IntN(n/3+1)), "name": "Customer " + fmt.Sprint(rng.IntN(9999))},
			"device":       map[string]any{"brand": model[0], "model": model[1], "imei": fmt.Sprintf("35%013d", rng.Int64N(1e13))},
			"technician":   techs[rng.IntN(len(techs))],
			"invoice":      map[string]any{},
			"source":       "web",
		}
		if rng.IntN(3) > 0 {
			rec["invoice"] = map[string]any{"id": fmt.Sprint(500000 + i), "number": fmt.Sprintf("INV-%07d", i), "last_payment_date": created.Add(72 * time.Hour).Format("2006-01-02T15:04:05-0700")}
		}
		if rng.IntN(4) == 0 {
			rec["custom_fields"] = map[string]any{"passcode_given": "yes", "colour": "black"}
		}
		b, _ := json.Marshal(rec)
		nd.Write(b)
		nd.WriteByte('\n')
		page = append(page, b)
		if len(page) == 50 {
			if err := flush(i - 49); err != nil {
				return err
			}
		}
	}
	if err := flush(n - len(page)); err != nil {
		return err
	}
	if w != nil {
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nd.Flush()
}
