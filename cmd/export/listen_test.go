package export

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/repairshop/export/extract"
	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/repairops/repairopstest"
	"github.com/repairshop/export/extract/sources"
	"github.com/repairshop/export/pipeline"
	"github.com/repairshop/export/present"
	"github.com/repairshop/export/receive"
)

// startListener starts `repairshop-export listen` as its own process and returns it
// and the URL of the account's endpoint, read from its log.
func startListener(t *testing.T, env []string, cfg, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(exportBinary(), "listen", "--config", cfg, "--addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(append(os.Environ(), asBinaryEnv+"=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var rec struct{ Msg, URL string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "receiving webhooks" && strings.HasSuffix(rec.URL, path) {
			go io.Copy(io.Discard, stderr)
			return cmd, rec.URL
		}
	}
	cmd.Process.Kill()
	t.Fatalf("the listener did not start: %v", sc.Err())
	return nil, ""
}

// deliver posts one signed event and says whether it was acknowledged.
func deliver(url, secret string, n int) bool {
	body := fmt.Sprintf(`{"event":"payment.processed","timestamp":"2026-02-21T15:30:%02dZ","data":{"payment_id":"p-%d","amount":%d.25,"ticket_id":"t-%d"}}`, n%60, n, n, n)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-RepairOps-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Webhook-Id", fmt.Sprintf("d-%d", n))
	resp, err := (&http.Client{Timeout: patience}).Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// repairshop-export listen, killed with SIGKILL while deliveries arrive: every event
// it acknowledged is in the event log; the sender's retries of the others
// land after a restart. Meanwhile repairshop-export run works on the same warehouse.
func TestListenKeepsEveryAcknowledgedEventAcrossAKill(t *testing.T) {
	t.Parallel()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(20))
	defer roSrv.Close()
	org := roSrv.Orgs[0]
	dir := t.TempDir()
	const secret = "whsec_test_5f0c"
	env := []string{"TEST_RO_KEY=" + org.Key, "TEST_RO_WEBHOOK_SECRET=" + secret}
	cfg := webhookConfig(t, dir, roSrv.URL, org, secret, "/hooks/"+org.Name, "")

	listener, url := startListener(t, env, cfg, "/hooks/"+org.Name)
	var mu sync.Mutex
	acked := map[int]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			ok := deliver(url, secret, n)
			mu.Lock()
			acked[n] = ok
			mu.Unlock()
		}
	}()
	// repairshop-export run on the same warehouse while events arrive.
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Errorf("run beside the listener: exit %d\n%s%s", code, out, stderr)
	}
	// The kill comes while deliveries go on: once a few more have been
	// acknowledged after the run, and until the sender has met the dead
	// receiver at least once.
	counts := func() (ok, refused int) {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range acked {
			if a {
				ok++
			} else {
				refused++
			}
		}
		return ok, refused
	}
	before, _ := counts()
	eventually(t, "three more deliveries acknowledged", func() bool { n, _ := counts(); return n >= before+3 })
	listener.Process.Kill() // SIGKILL, mid-delivery
	listener.Wait()
	_, refused := counts()
	eventually(t, "a delivery refused by the dead receiver", func() bool { _, n := counts(); return n > refused })
	close(stop)
	wg.Wait()

	stored := func() map[string]int {
		out := map[string]int{}
		f, err := os.Open(receive.EventLog(dir+"/raw", "repairops", org.Name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev receive.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("a torn line in the event log: %q", sc.Text())
			}
			out[ev.ID]++
		}
		return out
	}
	got := stored()
	var lost, retried int
	for n, ok := range acked {
		if ok && got[fmt.Sprintf("delivery:d-%d", n)] == 0 {
			lost++
		}
		if !ok {
			retried++
		}
	}
	if lost > 0 || len(acked) < 5 {
		t.Fatalf("%d acknowledged event(s) lost of %d delivered", lost, len(acked))
	}
	if retried == 0 {
		t.Log("no delivery was refused by the kill (it came between two)")
	}

	// The sender retries what was not acknowledged: after a restart, all land.
	listener, url = startListener(t, env, cfg, "/hooks/"+org.Name)
	defer func() { listener.Process.Kill(); listener.Wait() }()
	for n, ok := range acked {
		if !ok && !deliver(url, secret, n) {
			t.Fatalf("redelivery of %d refused", n)
		}
	}
	got = stored()
	for n := range acked {
		if got[fmt.Sprintf("delivery:d-%d", n)] == 0 {
			t.Errorf("event %d missing after the retries", n)
		}
	}
}

// Webhook events load exactly once: redeliveries and replays of an event
// are one row, a bad signature loads nothing, a line torn by a killed
// receiver is skipped, payments sum to what was paid, and rebuild gives
// the same.
func TestWebhookEventsLoadOnce(t *testing.T) {
	t.Parallel()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(10))
	defer roSrv.Close()
	org := roSrv.Orgs[0]
	dir := t.TempDir()
	const secret = "whsec_load_77"
	cfg := webhookConfig(t, dir, roSrv.URL, org, secret, "/hooks/x", "inventory, tickets")
	raw := dir + "/raw"
	src, _ := sources.Lookup("repairops")
	newReceiver := func() (*receive.Receiver, *httptest.Server) {
		r, err := receive.New(raw, []receive.Endpoint{{Account: org.Name, Source: "repairops", Path: "/hooks/x", Secret: []byte(secret), Header: "X-RepairOps-Signature", EventID: src.Webhooks.EventID}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return r, httptest.NewServer(r)
	}
	post := func(url, body, sig string) int {
		req, _ := http.NewRequest("POST", url+"/hooks/x", strings.NewReader(body))
		req.Header.Set("X-RepairOps-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	signed := func(body string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		return hex.EncodeToString(m.Sum(nil))
	}
	payment := func(id string, cents int) string {
		return fmt.Sprintf(`{"event":"payment.processed","timestamp":"2026-03-0%dT10:00:00Z","data":{"payment_id":"%s","amount":%d.%02d,"method":"card","ticket_id":"t-%s","gateway_ref":"g-%s"}}`, len(id)%9+1, id, cents/100, cents%100, id, id)
	}
	paid := map[string]int{} // payment id → cents, the test's own books
	rcv, srv := newReceiver()
	for i, cents := range []int{12050, 9999, 100, 45001, 3333} {
		id := fmt.Sprintf("p%d", i)
		paid[id] = cents
		body := payment(id, cents)
		for range 2 { // every event delivered twice
			if code := post(srv.URL, body, signed(body)); code != 200 {
				t.Fatalf("delivery: %d", code)
			}
		}
	}
	transition := `{"event":"ticket.transitioned","timestamp":"2026-03-02T15:30:00Z","data":{"ticket_id":"t-9","from_status":"IN_REPAIR","to_status":"QC_REVIEW","shop_id":"s-1"}}`
	post(srv.URL, transition, signed(transition))
	forged := payment("p-forged", 1000000)
	if code := post(srv.URL, forged, signed(forged)[:10]+"00"+signed(forged)[12:]); code != 401 {
		t.Fatalf("a forged delivery: %d", code)
	}
	srv.Close()
	rcv.Close()

	check := func(when string, events int) {
		t.Helper()
		total := 0
		for _, c := range paid {
			total += c
		}
		want := fmt.Sprintf("%d|%d|%d.%02d|%d", events, len(paid), total/100, total%100, len(paid))
		got := queryCSV(t, cfg, `SELECT (SELECT count(*) FROM repairops.webhook_events) || '|' || count(*) || '|' || sum(amount) || '|' ||
			(SELECT count(*) FROM main.payments WHERE source = 'repairops') FROM repairops.payments`)
		if got != want {
			t.Errorf("%s: events|payments|sum|conformed = %s, want %s", when, got, want)
		}
		if n := queryCSV(t, cfg, `SELECT count(*) FROM repairops.payments WHERE id = 'p-forged'`); n != "0" {
			t.Errorf("%s: the forged payment loaded", when)
		}
	}
	if code, out, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	check("first run", 6)
	if got := queryCSV(t, cfg, `SELECT from_status || '>' || to_status || '@' || strftime(timestamp, '%Y-%m-%d %H:%M') FROM repairops.webhook_events WHERE event = 'ticket.transitioned'`); got != "IN_REPAIR>QC_REVIEW@2026-03-02 15:30" {
		t.Errorf("the transition: %s", got)
	}
	if got := queryCSV(t, cfg, `SELECT _extra FROM repairops.payments WHERE id = 'p0'`); !strings.Contains(got, "gateway_ref") {
		t.Errorf("an undocumented field is not kept in _extra: %s", got)
	}

	// A receiver killed mid-write left half a line; the next one ends it.
	f, _ := os.OpenFile(receive.EventLog(raw, "repairops", org.Name), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"sha256:torn","account":"` + org.Name + `","body":{"event":"payment.proc`)
	f.Close()
	if code, _, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run with a line being written: exit %d %s", code, stderr)
	}
	check("a half-written line waits", 6)
	rcv, srv = newReceiver()
	paid["p9"] = 777
	late := payment("p9", 777)
	post(srv.URL, late, signed(late))
	again := payment("p1", 9999) // a redelivery, hours later
	post(srv.URL, again, signed(again))
	srv.Close()
	rcv.Close()
	status := func() pipeline.ReceiverInfo {
		t.Helper()
		code, out, stderr := runCLI(t, "status", "--config", cfg, "--json")
		var rep present.StatusReport
		if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || len(rep.Webhooks) != 1 {
			t.Fatalf("status: exit %d %v %s%s", code, err, out, stderr)
		}
		return rep.Webhooks[0]
	}
	if h := status(); h.Waiting != 2 || h.Received != 13 || h.Refused != 1 || !strings.Contains(h.LastReason, "does not match") || h.Last == nil || h.Warning != "" {
		t.Errorf("status before the run: %+v", h)
	}
	if code, _, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d %s", code, stderr)
	}
	if h := status(); h.Waiting != 0 || h.Received != 13 {
		t.Errorf("status after the run: %+v", h)
	}
	check("after more deliveries", 7)

	// A transition the timeline does not hold is a status change of its
	// own ('event'); a payment against a closed ticket makes its invoice
	// part paid.
	if got := queryCSV(t, cfg, `SELECT basis || '|' || to_status FROM main.status_changes WHERE ticket_id = 't-9'`); got != "event|QC_REVIEW" {
		t.Errorf("the transition in main.status_changes: %q", got)
	}
	closed := strings.Split(queryCSV(t, cfg, `SELECT id || '|' || total FROM main.invoices WHERE source = 'repairops' ORDER BY id LIMIT 1`), "|")
	if len(closed) != 2 {
		t.Fatalf("no closed RepairOps ticket: %v", closed)
	}
	if n := queryCSV(t, cfg, `SELECT count(*) FROM main.invoices WHERE source = 'repairops' AND (paid <> 0 OR due <> total OR due IS NULL)`); n != "0" {
		t.Errorf("%s RepairOps invoices paid before any payment names them", n)
	}
	rcv, srv = newReceiver()
	part := fmt.Sprintf(`{"event":"payment.processed","timestamp":"2026-03-05T10:00:00Z","data":{"id":"pay-closed","amount":10.05,"ticket_id":%q}}`, closed[0])
	post(srv.URL, part, signed(part))
	srv.Close()
	rcv.Close()
	if code, _, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d %s", code, stderr)
	}
	paid["pay-closed"] = 1005
	if got := queryCSV(t, cfg, fmt.Sprintf(`SELECT paid || '|' || (total - due) FROM main.invoices WHERE source = 'repairops' AND id = '%s'`, closed[0])); got != "10.05|10.05" {
		t.Errorf("the paid ticket's invoice: %s", got)
	}
	check("a payment by id", 8)

	// A run with events fetches the details they name before anything
	// else, once.
	rcv, srv = newReceiver()
	updated := fmt.Sprintf(`{"event":"ticket.updated","timestamp":"2026-03-06T09:00:00Z","data":{"ticket_id":%q,"changes":["notes"]}}`, closed[0])
	post(srv.URL, updated, signed(updated))
	srv.Close()
	rcv.Close()
	before := len(roSrv.Log())
	if code, _, stderr := runCLI(t, "run", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d %s", code, stderr)
	}
	reqs := roSrv.Log()[before:]
	if len(reqs) == 0 || !strings.HasSuffix(reqs[0].Path, "/tickets/"+closed[0]) {
		t.Errorf("the run's first request: %+v; want the detail of ticket %s", reqs[:min(len(reqs), 1)], closed[0])
	}
	n := 0
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, "/tickets/"+closed[0]) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("ticket %s fetched %d times in the run", closed[0], n)
	}
	check("a ticket event", 9)
	if code, _, stderr := runCLI(t, "rebuild", "--config", cfg); code != exitOK {
		t.Fatalf("rebuild: exit %d %s", code, stderr)
	}
	check("after rebuild", 9)
}

// The RepairOps simulator's own webhooks, through the receiver: sent
// twice and newest first, refused while the receiver is down and retried
// on the documented schedule. Payments arrive only through events and
// sum exactly to the simulator's books; each transition an event reports
// is in the ticket's timeline from the detail endpoint, at the same time;
// five failed attempts disable the endpoint.
func TestSimulatorWebhooksLoadExactly(t *testing.T) {
	t.Parallel()
	clk := budget.NewFake(repairopstest.DataEnd().Add(8 * time.Hour))
	srv := repairopstest.NewServer(repairopstest.WithClock(clk), repairopstest.WithTickets(150))
	defer srv.Close()
	org := srv.Orgs[0]
	const secret = "whsec_sim_1"
	setEnv(t, []string{"TEST_RO_HOOK_SECRET=" + secret})
	path, cfg := roConfig(t, srv, "    resources: [tickets]\n    webhook: {path: /hooks/"+org.Name+", secret_env: TEST_RO_HOOK_SECRET}\n")
	rcv, err := receive.New(cfg.RawDir(), []receive.Endpoint{{Account: org.Name, Source: "repairops", Path: "/hooks/" + org.Name, Secret: []byte(secret),
		Header: repairopstest.SignatureHeader, EventID: mustSource(t, "repairops").Webhooks.EventID}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	var down sync.Mutex
	isDown := false
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		down.Lock()
		d := isDown
		down.Unlock()
		if d {
			http.Error(w, "down", http.StatusBadGateway) // the proxy in front of a stopped receiver
			return
		}
		rcv.ServeHTTP(w, r)
	}))
	defer hooks.Close()
	setDown := func(d bool) { down.Lock(); isDown = d; down.Unlock() }
	srv.Subscribe(org.Name, hooks.URL+"/hooks/"+org.Name, secret)
	srv.WebhookFaults(true, true)
	run := func() {
		t.Helper()
		if err, logs := runRO(t, cfg, pipeline.Limits{}, clk); err != nil {
			t.Fatalf("run: %v\n%s", err, logs)
		}
	}
	run()

	clk.Advance(time.Hour)
	moved, err := srv.ChangeTickets(org.Name, 3, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range org.TicketIDs()[:4] {
		if _, err := srv.Pay(org.Name, id, int64(1999+i*1234), "card", clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	setDown(true)
	if ok, failed := srv.Deliver(); ok != 0 || failed != 7 {
		t.Fatalf("while down: %d delivered, %d failed; want 0 and 7", ok, failed)
	}
	clk.Advance(4 * time.Minute)
	if ok, failed := srv.Deliver(); ok+failed != 0 {
		t.Fatalf("before the 5-minute retry: %d attempts", ok+failed)
	}
	setDown(false)
	clk.Advance(time.Minute)
	if ok, failed := srv.Deliver(); ok != 7 || failed != 0 {
		t.Fatalf("the retry after 5 minutes: %d delivered, %d failed", ok, failed)
	}
	if srv.Forge(org.Name, "payment.processed", map[string]any{"payment_id": "forged", "amount": 5000, "ticket_id": moved[0]}) {
		t.Fatal("a forged delivery was accepted")
	}
	before := len(srv.Log())
	run()
	var lists, details int
	for _, r := range srv.Log()[before:] {
		if strings.Count(strings.Trim(r.Path, "/"), "/") >= 2 {
			details++
		} else {
			lists++
		}
	}
	t.Logf("the run after %d changed tickets and their events: %d list and %d detail requests", len(moved), lists, details)
	// The details the events named were fetched for what the listing then
	// saw: a run with nothing changed since fetches none of them again.
	clk.Advance(time.Hour)
	before = len(srv.Log())
	run()
	for _, r := range srv.Log()[before:] {
		if strings.Count(strings.Trim(r.Path, "/"), "/") >= 2 {
			t.Errorf("a run with nothing changed fetched %s again", r.Path)
		}
	}

	n, total := srv.Payments(org.Name)
	if got := queryCSV(t, path, `SELECT count(*) || '|' || sum(amount) FROM repairops.payments`); got != fmt.Sprintf("%d|%s", n, total) {
		t.Errorf("payments %s; the simulator's books: %d|%s", got, n, total)
	}
	if got := queryCSV(t, path, `SELECT count(*) FROM repairops.webhook_events`); got != "7" {
		t.Errorf("%s events; 7 were sent (each twice)", got)
	}
	// Every transition an event reports is in the timeline, at its time.
	got := queryCSV(t, path, `SELECT count(*) || '|' || count(l.ticket_id) FROM repairops.webhook_events e
		LEFT JOIN repairops.ticket_timeline l ON l.account = e.account AND l.ticket_id = e.ticket_id AND l.status = e.to_status AND l.timestamp = e.timestamp
		WHERE e.event = 'ticket.transitioned'`)
	if got != fmt.Sprintf("%d|%d", len(moved), len(moved)) {
		t.Errorf("transitions from events / found in the timelines: %s, want %d of %d", got, len(moved), len(moved))
	}

	// Down for all five attempts: the endpoint is disabled.
	setDown(true)
	srv.ChangeTickets(org.Name, 1, clk.Now())
	for _, wait := range repairopstest.RetrySchedule {
		clk.Advance(wait)
		srv.Deliver()
	}
	if !srv.Disabled(org.Name) {
		t.Error("five failed attempts did not disable the endpoint")
	}
}

func mustSource(t *testing.T, name string) *extract.Source {
	t.Helper()
	src, ok := sources.Lookup(name)
	if !ok {
		t.Fatalf("no source %s", name)
	}
	return src
}

// The event log does not grow without end: repairshop-export listen writes it in
// segments, each run loads across them, and the next run removes the
// segments the warehouse has loaded completely (never the newest). Their
// events stay in the warehouse, and rebuild brings them back from the raw
// archive: after it, the same events and payments, to the cent.
func TestLoadedSegmentsOfTheEventLogAreRemoved(t *testing.T) {
	t.Parallel()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(5))
	defer roSrv.Close()
	org := roSrv.Orgs[0]
	dir := t.TempDir()
	const secret = "whsec_segments_5"
	cfg := webhookConfig(t, dir, roSrv.URL, org, secret, "/hooks/x", "inventory")
	log := receive.EventLog(dir+"/raw", "repairops", org.Name)
	src, _ := sources.Lookup("repairops")
	paid := map[string]int{} // the test's own books: payment id → cents
	deliver := func(from, n int) {
		r, err := receive.New(dir+"/raw", []receive.Endpoint{{Account: org.Name, Source: "repairops", Path: "/hooks/x", Secret: []byte(secret), Header: "X-RepairOps-Signature", EventID: src.Webhooks.EventID}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		r.SegmentBytes = 1000 // three or four events a segment
		srv := httptest.NewServer(r)
		defer func() { srv.Close(); r.Close() }()
		for i := from; i < from+n; i++ {
			id, cents := fmt.Sprintf("pay-%03d", i), 1000+i*37
			paid[id] = cents
			body := fmt.Sprintf(`{"event":"payment.processed","timestamp":"2026-03-01T10:%02d:00Z","data":{"payment_id":%q,"amount":%d.%02d,"method":"card"}}`, i%60, id, cents/100, cents%100)
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(body))
			req, _ := http.NewRequest("POST", srv.URL+"/hooks/x", strings.NewReader(body))
			req.Header.Set("X-RepairOps-Signature", hex.EncodeToString(m.Sum(nil)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("delivery %s: %v %v", id, resp, err)
			}
			resp.Body.Close()
		}
	}
	books := func() string {
		total := 0
		for _, c := range paid {
			total += c
		}
		return fmt.Sprintf("%d|%d|%d.%02d", len(paid), len(paid), total/100, total%100)
	}
	loaded := func(when string) {
		t.Helper()
		got := queryCSV(t, cfg, `SELECT (SELECT count(*) FROM repairops.webhook_events) || '|' || count(*) || '|' || sum(amount) FROM repairops.payments`)
		if want := books(); got != want {
			t.Errorf("%s: events|payments|sum = %s, want %s (the test's books)", when, got, want)
		}
	}
	run := func(args ...string) {
		t.Helper()
		if code, out, stderr := runCLI(t, append(args, "--config", cfg)...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	segments := func() []receive.Segment {
		segs, err := receive.Segments(log)
		if err != nil {
			t.Fatal(err)
		}
		return segs
	}

	deliver(0, 20)
	first := segments()
	if len(first) < 4 {
		t.Fatalf("20 events in segments of 1000 bytes: %d segment(s)", len(first))
	}
	run("run")
	loaded("the first run")
	if got := segments(); len(got) != len(first) {
		t.Errorf("the first run removed segments before its cursor was committed: %d of %d left", len(got), len(first))
	}
	deliver(20, 5)
	run("run")
	loaded("the second run")
	// What the first run loaded is gone; what came since, and the newest,
	// stay until a run has loaded them and a newer segment exists.
	left := segments()
	for _, s := range first[:len(first)-1] {
		if _, err := os.Stat(s.Path); err == nil {
			t.Errorf("%s, loaded by the first run, is still there", filepath.Base(s.Path))
		}
	}
	if len(left) == 0 || left[0].Start != first[len(first)-1].Start {
		t.Errorf("segments left: %+v, want the first run's newest and those after it", left)
	}
	code, out, _ := runCLI(t, "status", "--config", cfg, "--json")
	var rep present.StatusReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil || len(rep.Webhooks) != 1 || rep.Webhooks[0].Waiting != 0 || rep.Webhooks[0].Last == nil {
		t.Errorf("status: exit %d %v %+v", code, err, rep.Webhooks)
	}
	run("run")
	if got := segments(); len(got) != 1 || got[0] != left[len(left)-1] {
		t.Errorf("after a third run: %+v, want only the newest segment %+v", got, left[len(left)-1])
	}
	loaded("the third run")
	run("rebuild")
	loaded("after rebuild (the removed segments' events from the raw archive)")
}

// webhookConfig writes a config for one RepairOps organisation with a
// webhook at path, its key and secret in the environment; resources ""
// exports them all.
func webhookConfig(t *testing.T, dir, url string, org *repairopstest.Org, secret, path, resources string) string {
	t.Helper()
	setEnv(t, []string{"TEST_RO_KEY=" + org.Key, "TEST_RO_WEBHOOK_SECRET=" + secret})
	if resources != "" {
		resources = "\n    resources: [" + resources + "]"
	}
	return writeConfig(t, dir, fmt.Sprintf(`warehouse: ./w.duckdb
parquet: ./pq
state_dir: ./state
accounts:
  - name: %s
    source: repairops
    base_url: %s
    api_key_env: TEST_RO_KEY
    requests_per_hour: 1000000
    override_documented_limit: true%s
    webhook: {path: %s, secret_env: TEST_RO_WEBHOOK_SECRET}
`, org.Name, url, resources, path))
}
