package load

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the expected days come from Go's zone data, not the machine's or ICU's

	"github.com/repairshop/export/internal/tiny"
)

// meta.local_day gives the date an instant falls on in a zone, as Go's own
// zone data has it, for every zone the accounts hold (a configured name, a
// zone noted from the source's offsets, UTC by default) and for any other
// (the macro's per-row path), across each zone's daylight-saving changes
// and local midnights, to the microsecond.
func TestLocalDayIsTheDateInTheZone(t *testing.T) {
	w, _ := openTemp(t)
	if err := w.SetAccounts(ctx, []AccountInfo{
		{Name: "chicago", Source: tiny.Name, Timezone: "America/Chicago"},
		{Name: "berlin", Source: tiny.Name, Timezone: "Europe/Berlin"},
		{Name: "north", Source: tiny.Name},
	}, nil); err != nil {
		t.Fatal(err)
	}
	// north's zone is noted from its timestamps and written by a checkpoint.
	w.NoteZone("north", "UTC-06:00")
	loadRun(t, w, "r1", "["+jobJSON(1, "2026-07-16T10:00:00-0600", "New")+"]")

	def := one(t, w, `SELECT macro_definition FROM duckdb_functions() WHERE schema_name = 'meta' AND function_name = 'local_day'`)
	for _, z := range []string{"UTC", "America/Chicago", "Europe/Berlin", "UTC-06:00"} {
		if !strings.Contains(def, "timezone('"+z+"'") {
			t.Errorf("meta.local_day has no branch of its own for %s, a zone of meta.accounts: %s", z, def)
		}
	}

	zones := map[string]*time.Location{"UTC": time.UTC, "UTC-06:00": time.FixedZone("UTC-06:00", -6*3600)}
	for _, name := range []string{"America/Chicago", "Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones[name] = loc
	}
	// Four days around each change of 2026 in these zones, every quarter
	// hour and a microsecond before it; NULL is UTC.
	rows, err := w.conn.QueryContext(ctx, `
		WITH instants AS (
			SELECT unnest(generate_series(start, start + INTERVAL 4 DAY, INTERVAL 15 MINUTE)) AS q
			FROM (VALUES (TIMESTAMPTZ '2026-03-06 00:00:00+00'), (TIMESTAMPTZ '2026-03-27 00:00:00+00'), (TIMESTAMPTZ '2026-04-03 00:00:00+00'),
			             (TIMESTAMPTZ '2026-10-02 00:00:00+00'), (TIMESTAMPTZ '2026-10-23 00:00:00+00'), (TIMESTAMPTZ '2026-10-30 00:00:00+00')) w(start)
		),
		cases AS (
			SELECT z.tz, ts FROM (VALUES ('America/Chicago'), ('Europe/Berlin'), ('UTC'), (NULL), ('UTC-06:00'), ('America/St_Johns'), ('Australia/Lord_Howe')) z(tz),
			     (SELECT q AS ts FROM instants UNION ALL SELECT q - INTERVAL 1 MICROSECOND FROM instants)
		)
		SELECT coalesce(tz, ''), epoch_us(ts), CAST(meta.local_day(tz, ts) AS VARCHAR) FROM cases`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n, wrong := 0, 0
	for rows.Next() {
		var tz, got string
		var us int64
		if err := rows.Scan(&tz, &us, &got); err != nil {
			t.Fatal(err)
		}
		n++
		loc := zones[tz]
		if tz == "" {
			loc = time.UTC
		}
		at := time.UnixMicro(us)
		if want := at.In(loc).Format(time.DateOnly); got != want {
			if wrong++; wrong <= 5 {
				t.Errorf("local_day(%q, %s) = %s, want %s", tz, at.UTC().Format(time.RFC3339Nano), got, want)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 7*6*2*(4*96+1) || wrong > 0 {
		t.Fatalf("%d instants checked, %d wrong", n, wrong)
	}
}
