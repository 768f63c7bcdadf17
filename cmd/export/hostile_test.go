package export

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/transform"
)

// TestHostileRecordsAreBoundedAndRefused puts a proxy in front of the MGR
// simulator that slips into north's customers two records a hostile or
// broken server might send (a 1 MB string; an unknown field nested 1,000
// deep) and answers its suppliers with JSON nested 10,000 deep. The two
// records are rejected with the reason, every other customer loads, the
// suppliers fail at the first answer (whole, it would be the same again:
// not retried) with a message naming them and the cause, and once the
// server mends, the next run loads them. Bodies over 64 MiB are the
// fault matrix's.
func TestHostileRecordsAreBoundedAndRefused(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC))
	srv := mgrtest.NewServer(mgrtest.WithClock(clk), mgrtest.WithTickets(20, 10))
	defer srv.Close()
	north := srv.Shop("north")
	long := strings.Repeat("Ω", 1<<19) // 1 MiB of UTF-8
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	hostile := fmt.Sprintf(`{"id": 900001, "firstname": "Long", "notes": %q}, {"id": 900002, "firstname": "Deep", "preferences": %s}, `, long, deep(1000))
	var mended atomic.Bool
	var deepServed atomic.Int32
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.ModifyResponse = func(resp *http.Response) error {
		q := resp.Request.URL.Query()
		if resp.StatusCode != 200 || resp.Request.Header.Get("Authorization") != north.Key || q.Get("offset") != "0" {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(resp.Request.URL.Path, "/customers") && len(body) > 2:
			body = append([]byte("["+hostile), body[1:]...)
		case strings.HasSuffix(resp.Request.URL.Path, "/suppliers") && !mended.Load():
			body = []byte(`[{"id": 1, "name": "Deep", "x": ` + deep(10000) + `}]`)
			deepServed.Add(1)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	front := httptest.NewServer(proxy)
	defer front.Close()

	path, cfg := inProcessConfig(t, srv, "    resources: [customers, suppliers]\n", "north")
	cfg.Accounts[0].BaseURL = front.URL + "/v1"
	err, logs := runRO(t, cfg, pipeline.Limits{}, clk)
	if err == nil || exitCode(err) != exitFailure {
		t.Fatalf("run: exit %d, want 1 (the suppliers fail): %v\n%s", exitCode(err), err, logs)
	}
	if n := deepServed.Load(); n != 1 {
		t.Errorf("the 10,000-deep answer was asked for %d times, want once (it is not worth a retry)", n)
	}
	for _, want := range []string{"north", "suppliers", "nested more than 10,000 levels deep; refused", "exceeded max depth"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	rejects := queryCSV(t, path, `SELECT string_agg(record_key || ': ' || reason || ' (kept: ' || (length(raw::VARCHAR) > 1000) || ')', ' | ' ORDER BY record_key) FROM meta.rejects`)
	want := fmt.Sprintf("900001: record holds a string of %d bytes, more than the %d allowed (kept: true) | 900002: record is nested 1001 levels deep, more than the %d allowed (kept: true)",
		len(long), transform.MaxRecordString, transform.MaxRecordDepth)
	if rejects = strings.Trim(rejects, `"`); rejects != want {
		t.Errorf("meta.rejects:\n%s\nwant\n%s", rejects, want)
	}
	assertTables(t, path, shopChecks(north, "mgr.customers"))

	mended.Store(true)
	clk.Advance(2 * time.Minute)
	if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil && exitCode(err) != exitRejected {
		t.Fatalf("the next run: exit %d: %v\n%s", exitCode(err), err, logs)
	}
	assertTables(t, path, shopChecks(north, "mgr.customers", "mgr.suppliers"))
}
