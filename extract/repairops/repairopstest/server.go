// Package repairopstest is a RepairOps API simulator: a real HTTP server with
// seeded organisations that enforces what the vendor's API reference
// documents as strictly as the real service: Bearer keys with scopes and
// hourly quotas (Read 1,000, Write 100, Admin 10), X-RateLimit-* headers on
// every response, 429 RATE_LIMIT_EXCEEDED in the error envelope, limit ≤
// 500, the list envelope with pagination, the documented filters only (400
// INVALID_REQUEST for any other parameter) and the documented sort only
// (-created_at). By default it shows no more than the reference does: the
// ticket list carries no shop_id. Options turn on what a deployment may do
// beyond it (WithSortable, WithShopIDs). Tests use NewServer like
// httptest.NewServer; `repairshop-export simulate` serves it.
package repairopstest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/wiretest"
)

// Documented quotas per key scope, per hour.
var DefaultQuotas = map[string]int{"read": 1000, "write": 100, "admin": 10, "webhooks": 1000}

// Documented paging.
const (
	DefaultLimit = 50
	MaxLimit     = 500
	// MaxKPIDays is the longest start_date..end_date range /kpis serves
	// (the docs name none; real services have one, so the simulator does).
	MaxKPIDays = 92
)

type config struct {
	clock      budget.Clock
	quotas     map[string]int
	window     time.Duration
	retryAfter bool
	seed       uint64
	tickets    []int
	addr       string
	sortable   map[string]bool // fields sort= may name
	ignoreSort bool
	shopIDs    bool // list records carry shop_id
}

// Option configures a Server.
type Option func(*config)

// WithClock makes the server keep time by clk (share a budget.Fake with
// the client under test to run hours of quota instantly).
func WithClock(clk budget.Clock) Option { return func(c *config) { c.clock = clk } }

// WithClockSkew sets the server's clock d off the one WithClock gave
// (apply it after): its Date header, quota windows and X-RateLimit-Reset.
func WithClockSkew(d time.Duration) Option {
	return func(c *config) { c.clock = wiretest.Skew(c.clock, d) }
}

// WithQuota sets the Read scope's quota and the window of every scope
// (default 1000 per hour); the other scopes keep their documented ratio.
func WithQuota(read int, window time.Duration) Option {
	return func(c *config) {
		c.quotas = map[string]int{"read": read, "write": max(read/10, 1), "admin": max(read/100, 1), "webhooks": read}
		c.window = window
	}
}

// WithRetryAfter makes 429s carry Retry-After (the docs do not promise it).
func WithRetryAfter() Option { return func(c *config) { c.retryAfter = true } }

// WithSeed changes the seeded data (keys included).
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithTickets sets the number of tickets per organisation, in order
// (default 1500, 400); customers and KPIs follow.
func WithTickets(n ...int) Option { return func(c *config) { c.tickets = n } }

// WithAddr listens on addr instead of a random loopback port.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithSortable lets sort= name the given fields (another is 400
// INVALID_REQUEST "Cannot sort by …"); by default only the documented
// example's created_at. With no fields the server ignores sort= and answers
// in its default order. The docs allow every reading.
func WithSortable(fields ...string) Option {
	return func(c *config) {
		c.ignoreSort = len(fields) == 0
		c.sortable = map[string]bool{}
		for _, f := range fields {
			c.sortable[f] = true
		}
	}
}

// WithShopIDs makes list records (tickets, customers, inventory) carry
// their shop_id, as the create call's body suggests a deployment may; the
// documented list shows none, so by default there is none and the
// organisation's KPIs are its shops' together.
func WithShopIDs() Option { return func(c *config) { c.shopIDs = true } }

// Fault is a misbehaviour to inject into the next requests, any key.
type Fault struct {
	// Delay holds the other faults back for this many requests (any
	// key): a fault that strikes once the run is under way.
	Delay        int
	ServerErrors int // 500 SERVER_ERROR
	RateLimited  int // 429 although the quota has room, as when another integration spent it
	Stall        int // hold the next N requests for StallFor
	StallFor     time.Duration
	Truncated    int // cut the next N successful bodies in half (status 200)
	HTMLPage     int // an HTML error page with status 200
	// BadKPIWindows answers the next N /kpis requests with 400
	// INVALID_REQUEST, as a service with a narrower range limit would.
	BadKPIWindows int
	// Unauthorized answers the next N requests with 401 UNAUTHORIZED, as
	// MGR has done under throttling (a key revoked mid-run looks the same).
	Unauthorized int
	// Forbidden answers the next N requests with 403 FORBIDDEN, as for a
	// key whose scope was changed to one that may not read.
	Forbidden int
	// NullData answers the next N list pages with "data": null and their
	// pagination unchanged.
	NullData int
	// DuplicatePage answers the next N list pages asked at offset > 0
	// with the page before them again (a cache in front of the API).
	DuplicatePage int
	// Shift moves each of the next N list pages asked at offset > 0 one
	// record towards the head, as when a record is added at the head of
	// the listing while a client pages: the page repeats the previous
	// page's last record.
	Shift int
	// Unshift moves each of the next N list pages asked at offset > 0 one
	// record towards the tail, as when a record before them is deleted
	// while a client pages: without overlapping pages the client never
	// sees the record that moved onto the previous page.
	Unshift int
}

// Request is one request as the server saw it.
type Request struct {
	Time   time.Time
	Org    string // "" for an unknown key
	Scope  string
	Path   string
	Query  string
	Status int
}

// Server is a running simulator.
type Server struct {
	// URL is the base URL, ending in /v1 like the real one.
	URL  string
	Orgs []*Org

	// Wire is in front of the API: network and proxy faults (see wiretest).
	Wire *wiretest.Wire

	cfg  config
	http *httptest.Server

	mu     sync.Mutex
	data   sync.RWMutex // guards the organisations' records
	keys   map[string]keyInfo
	used   map[string]*window
	faults Fault
	later  wiretest.Later[Fault] // faults held back (Fault.Delay)
	shift  map[string]int        // records added at the head of a listing being paged, by org/resource
	broken map[string]int        // path under /v1 → status it answers with, until mended
	log    []Request
	wh     *hooks // webhook subscriptions and payments (webhooks.go)
}

type keyInfo struct {
	org   *Org
	scope string
}

type window struct {
	start time.Time
	n     int
}

// NewServer starts a simulator on a loopback port; it panics if it cannot
// listen (use Start for the error).
func NewServer(opts ...Option) *Server {
	s, err := Start(opts...)
	if err != nil {
		panic(err)
	}
	return s
}

// Start starts a simulator.
func Start(opts ...Option) (*Server, error) {
	cfg := config{clock: budget.Real{}, quotas: DefaultQuotas, window: time.Hour, seed: 2026, tickets: []int{1500, 400}, addr: "127.0.0.1:0",
		sortable: map[string]bool{"created_at": true}}
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.tickets) == 0 {
		cfg.tickets = []int{1500, 400}
	}
	s := &Server{cfg: cfg, keys: map[string]keyInfo{}, used: map[string]*window{}, shift: map[string]int{}}
	names := []string{"metro", "coast", "valley", "summit"}
	shops := []int{3, 1, 2, 2}
	for i, n := range cfg.tickets {
		name := names[i%len(names)] // then metro2, coast2, …
		if i >= len(names) {
			name = fmt.Sprintf("%s%d", name, i/len(names)+1)
		}
		o := newOrg(name, shops[i%len(shops)], n, cfg.seed+uint64(i))
		s.Orgs = append(s.Orgs, o)
		for scope, k := range o.Keys {
			s.keys[k] = keyInfo{org: o, scope: scope}
		}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("repairopstest: listen on %s: %w", cfg.addr, err)
	}
	s.Wire = wiretest.New(s, cfg.clock)
	s.http = httptest.NewUnstartedServer(s.Wire)
	s.http.Listener.Close()
	s.http.Listener = ln
	s.http.Start()
	s.URL = s.http.URL + "/v1"
	return s, nil
}

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// Org returns the organisation with the given name, or nil.
func (s *Server) Org(name string) *Org {
	for _, o := range s.Orgs {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Inject adds faults to be served to the next requests.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Delay > 0 {
		s.later.Hold(f.Delay, f)
		return
	}
	s.add(f)
}

// add serves f's faults from the next request on.
func (s *Server) add(f Fault) {
	into := &s.faults
	into.ServerErrors += f.ServerErrors
	into.RateLimited += f.RateLimited
	into.Stall += f.Stall
	into.Truncated += f.Truncated
	into.HTMLPage += f.HTMLPage
	into.BadKPIWindows += f.BadKPIWindows
	into.Unauthorized += f.Unauthorized
	into.Forbidden += f.Forbidden
	into.NullData += f.NullData
	into.DuplicatePage += f.DuplicatePage
	into.Shift += f.Shift
	into.Unshift += f.Unshift
	if f.StallFor > 0 {
		into.StallFor = f.StallFor
	}
}

// ClearFaults drops the faults not yet served, the wire's too: the outage
// is over.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults, s.later = Fault{}, wiretest.Later[Fault]{}
	s.mu.Unlock()
	s.Wire.Clear()
}

// Break makes every request for path (under /v1, e.g. "/inventory" or
// "/tickets/<id>") answer status with the error envelope (500 SERVER_ERROR,
// 404 NOT_FOUND, else INVALID_REQUEST) until Break(path, 0) mends it: an
// endpoint a deployment lacks, or one record the vendor cannot serve.
func (s *Server) Break(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = map[string]int{}
	}
	if status == 0 {
		delete(s.broken, path)
		return
	}
	s.broken[path] = status
}

// Log returns a copy of every request seen so far.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Count counts the logged requests of an organisation with the given
// status (0: any) whose path starts with prefix ("" any).
func (s *Server) Count(org string, status int, prefix string) int {
	n := 0
	for _, r := range s.Log() {
		if r.Org == org && (status == 0 || r.Status == status) && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// Spend uses n requests of a key's current window, as the shop's other
// integrations do.
func (s *Server) Spend(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window(key, s.cfg.clock.Now())
	w.n += n
}

// window returns the key's current fixed window (under s.mu).
func (s *Server) window(key string, now time.Time) *window {
	start := now.Truncate(s.cfg.window)
	w := s.used[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		s.used[key] = w
	}
	return w
}

// apiError is the documented error envelope.
func writeError(w http.ResponseWriter, status int, code, msg string, details any) {
	body := map[string]any{"error": map[string]any{"code": code, "message": msg, "details": details}}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// ServeHTTP authenticates, meters the key, applies faults, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if f, due := s.later.Tick(); due {
		s.add(f)
	}
	var stall time.Duration
	if s.faults.Stall > 0 {
		s.faults.Stall--
		stall = s.faults.StallFor
	}
	s.mu.Unlock()
	if stall > 0 {
		select { // real time: a timeout is about the client's real clock
		case <-time.After(stall):
		case <-r.Context().Done():
			return
		}
	}
	rec := Request{Path: r.URL.Path, Query: r.URL.RawQuery}
	rw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		rec.Status = rw.status
		s.log = append(s.log, rec)
		s.mu.Unlock()
	}()
	s.mu.Lock()
	now := s.cfg.clock.Now()
	rec.Time = now
	auth := r.Header.Get("Authorization")
	key, bearer := strings.CutPrefix(auth, "Bearer ")
	ki, known := s.keys[strings.TrimSpace(key)]
	if !bearer || !known {
		s.mu.Unlock()
		writeError(rw, http.StatusUnauthorized, "UNAUTHORIZED", "Missing or invalid API key", nil)
		return
	}
	rec.Org, rec.Scope = ki.org.Name, ki.scope
	// Every request counts against the hour, refused ones included.
	win := s.window(key, now)
	win.n++
	limit := s.cfg.quotas[ki.scope]
	reset := win.start.Add(s.cfg.window)
	rw.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	rw.Header().Set("X-RateLimit-Remaining", strconv.Itoa(max(limit-win.n, 0)))
	rw.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix()+boolInt(reset.Nanosecond() > 0), 10))
	over := win.n > limit
	if !over && s.faults.RateLimited > 0 {
		s.faults.RateLimited--
		over = true
		rw.Header().Set("X-RateLimit-Remaining", "0")
	}
	serverError, unauthorized, forbidden := false, false, false
	if !over && s.faults.ServerErrors > 0 {
		s.faults.ServerErrors--
		serverError = true
	} else if !over && s.faults.Unauthorized > 0 {
		s.faults.Unauthorized--
		unauthorized = true
	} else if !over && s.faults.Forbidden > 0 {
		s.faults.Forbidden--
		forbidden = true
	}
	brokenStatus := s.broken[strings.TrimPrefix(r.URL.Path, "/v1")]
	s.mu.Unlock()
	switch {
	case over:
		if s.cfg.retryAfter {
			rw.Header().Set("Retry-After", strconv.Itoa(int(reset.Sub(now).Seconds()+0.999)))
		}
		writeError(rw, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", fmt.Sprintf("Too many requests; retry later (%d requests per %v for %s keys)", limit, s.cfg.window, ki.scope),
			map[string]any{"limit": limit, "reset": reset.Unix()})
		return
	case unauthorized:
		writeError(rw, http.StatusUnauthorized, "UNAUTHORIZED", "Missing or invalid API key", nil)
		return
	case ki.scope == "webhooks" || forbidden:
		writeError(rw, http.StatusForbidden, "FORBIDDEN", "Insufficient permissions for this operation", map[string]any{"required_scope": "read", "key_scope": ki.scope})
		return
	case serverError || brokenStatus >= 500:
		writeError(rw, http.StatusInternalServerError, "SERVER_ERROR", "Internal server error; contact support", map[string]any{"request_id": fmt.Sprintf("req-%d", now.UnixNano())})
		return
	case brokenStatus == http.StatusNotFound:
		writeError(rw, http.StatusNotFound, "NOT_FOUND", "Resource does not exist", map[string]any{"path": r.URL.Path})
		return
	case brokenStatus != 0:
		writeError(rw, brokenStatus, "INVALID_REQUEST", "Malformed request or invalid parameters", map[string]any{"path": r.URL.Path})
		return
	case r.Method != http.MethodGet:
		writeError(rw, http.StatusMethodNotAllowed, "INVALID_REQUEST", "The simulator serves reads only", nil)
		return
	}
	s.route(rw, r, ki.org, now)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// send writes a 200, or a garbled 200 when a fault says so.
func (s *Server) send(w http.ResponseWriter, v any) {
	s.mu.Lock()
	truncate, html := s.faults.Truncated > 0, false
	if truncate {
		s.faults.Truncated--
	} else if s.faults.HTMLPage > 0 {
		s.faults.HTMLPage--
		html = true
	}
	s.mu.Unlock()
	b, _ := json.Marshal(v)
	switch {
	case truncate:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
	case html:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>`))
	default:
		writeJSON(w, v)
	}
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, o *Org, now time.Time) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1"), "/")
	s.data.RLock()
	defer s.data.RUnlock()
	q := r.URL.Query()
	res, id, hasID := strings.Cut(path, "/")
	if bad := unknownParam(res, hasID, q); bad != "" {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "Unknown query parameter "+bad, map[string]any{"field": bad})
		return
	}
	if hasID {
		if strings.Contains(id, "/") || (res != "tickets" && res != "customers") {
			writeError(w, http.StatusNotFound, "NOT_FOUND", "Resource does not exist", map[string]any{"path": r.URL.Path})
			return
		}
		if !uuidLike(id) {
			field := strings.TrimSuffix(res, "s") + "_id"
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "Invalid "+strings.TrimSuffix(res, "s")+" ID format", map[string]any{"field": field, "value": id})
			return
		}
		switch res {
		case "tickets":
			if t := o.ticketByID[id]; t != nil {
				s.send(w, s.shown(t.detailJSON()))
				return
			}
		case "customers":
			if c := o.custByID[id]; c != nil {
				s.send(w, s.shown(c.detailJSON()))
				return
			}
		}
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Resource does not exist", map[string]any{"id": id})
		return
	}
	switch res {
	case "tickets":
		var rows []row
		for _, t := range o.tickets {
			rows = append(rows, row{rec: s.shown(t.listJSON()), created: t.Created, fields: map[string]string{
				"shop_id": t.ShopID, "status": t.status(), "customer_id": t.Customer.ID}})
		}
		s.list(w, q, o.Name+"/tickets", rows, []string{"shop_id", "status", "customer_id"}, "-created_at")
	case "customers":
		var rows []row
		name := strings.ToLower(q.Get("name"))
		for _, c := range o.customers {
			if name != "" && !strings.Contains(strings.ToLower(c.Name), name) {
				continue
			}
			rows = append(rows, row{rec: s.shown(c.listJSON()), created: c.Created, fields: map[string]string{"shop_id": c.ShopID}})
		}
		s.list(w, q, o.Name+"/customers", rows, []string{"shop_id"}, "-created_at")
	case "inventory":
		var rows []row
		for _, it := range o.inventory {
			if v := q.Get("in_stock"); v != "" && (v == "true") != (it.OnHand > 0) {
				continue
			}
			rows = append(rows, row{rec: s.shown(it.listJSON()), fields: map[string]string{"shop_id": it.ShopID, "category": it.Category}})
		}
		s.list(w, q, o.Name+"/inventory", rows, []string{"shop_id", "category"}, "name")
	case "kpis":
		s.kpis(w, q, o, now)
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Resource does not exist", map[string]any{"path": r.URL.Path})
	}
}

// shown is a record as the server shows it: without shop_id unless
// WithShopIDs.
func (s *Server) shown(rec map[string]any) map[string]any {
	if !s.cfg.shopIDs {
		delete(rec, "shop_id")
	}
	return rec
}

// params are the query parameters each endpoint takes: its documented
// ones, the common filters "most endpoints" take, and paging; a detail
// takes none.
var params = map[string][]string{
	"tickets":   {"shop_id", "status", "customer_id", "created_after", "created_before", "sort", "limit", "offset"},
	"customers": {"shop_id", "name", "status", "customer_id", "created_after", "created_before", "sort", "limit", "offset"},
	"inventory": {"shop_id", "category", "in_stock", "status", "customer_id", "created_after", "created_before", "sort", "limit", "offset"},
	"kpis":      {"shop_id", "start_date", "end_date", "metrics", "limit", "offset"},
}

// unknownParam names a query parameter the endpoint does not take, or "".
func unknownParam(res string, detail bool, q map[string][]string) string {
	allowed := params[res]
	if detail {
		allowed = nil
	}
	var bad []string
	for k := range q {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	sort.Strings(bad)
	return bad[0]
}

func uuidLike(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

type row struct {
	rec     map[string]any
	created time.Time
	fields  map[string]string // filterable values
}

// parseWhen reads a created_after/created_before value: a date (the start
// of that day, UTC) or an RFC 3339 instant.
func parseWhen(v string) (time.Time, bool) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func (s *Server) list(w http.ResponseWriter, q map[string][]string, key string, rows []row, filters []string, defaultSort string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	limit, offset := DefaultLimit, 0
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("limit must be between 1 and %d", MaxLimit), map[string]any{"field": "limit", "value": v})
			return
		}
		limit = n
	}
	if v := get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "offset must be zero or positive", map[string]any{"field": "offset", "value": v})
			return
		}
		offset = n
	}
	var after, before time.Time
	for _, f := range []struct {
		name string
		into *time.Time
	}{{"created_after", &after}, {"created_before", &before}} {
		if v := get(f.name); v != "" {
			t, ok := parseWhen(v)
			if !ok {
				writeError(w, http.StatusBadRequest, "INVALID_REQUEST", f.name+" must be an ISO 8601 date or date-time", map[string]any{"field": f.name, "value": v})
				return
			}
			*f.into = t
		}
	}
	var kept []row
	for _, r := range rows {
		ok := true
		for _, f := range filters {
			if v := get(f); v != "" && r.fields[f] != v {
				ok = false
			}
		}
		if (!after.IsZero() && !r.created.IsZero() && r.created.Before(after)) || (!before.IsZero() && !r.created.IsZero() && !r.created.Before(before)) {
			ok = false
		}
		if ok {
			kept = append(kept, r)
		}
	}
	sortBy := get("sort")
	if sortBy == "" || s.cfg.ignoreSort {
		sortBy = defaultSort
	}
	field, desc := strings.TrimPrefix(sortBy, "-"), strings.HasPrefix(sortBy, "-")
	if !s.cfg.ignoreSort && sortBy != defaultSort && !s.cfg.sortable[field] {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "Cannot sort by "+field, map[string]any{"field": "sort", "value": sortBy})
		return
	}
	if len(kept) > 0 {
		if _, ok := kept[0].rec[field]; !ok {
			writeError(w, http.StatusBadRequest, "INVALID_REQUEST", "Cannot sort by "+field, map[string]any{"field": "sort", "value": sortBy})
			return
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		c := compare(kept[i].rec[field], kept[j].rec[field])
		if c == 0 {
			c = strings.Compare(fmt.Sprint(kept[i].rec["id"]), fmt.Sprint(kept[j].rec["id"]))
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	s.mu.Lock()
	null, from := false, offset
	if s.faults.NullData > 0 {
		s.faults.NullData--
		null = true
	}
	switch {
	case offset == 0:
		delete(s.shift, key) // a fresh listing
	case s.faults.DuplicatePage > 0:
		// The cache replays the earlier answer whole, its pagination too.
		s.faults.DuplicatePage--
		from = max(offset-limit, 0)
		offset = from
	case s.faults.Shift > 0:
		s.faults.Shift--
		s.shift[key]++
	case s.faults.Unshift > 0:
		s.faults.Unshift--
		s.shift[key]--
	}
	if from == offset {
		from = max(offset-s.shift[key], 0)
	}
	s.mu.Unlock()
	data := []map[string]any{}
	for i := from; i < len(kept) && i < from+limit; i++ {
		data = append(data, kept[i].rec)
	}
	// Records deleted at the head (Unshift) are gone from the count too.
	total := len(kept)
	if sh := s.shiftOf(key); sh < 0 {
		total = max(total+sh, 0)
	}
	pg := map[string]any{"offset": offset, "limit": limit, "total": total, "has_more": offset+len(data) < total}
	if offset+len(data) < total {
		pg["next_offset"] = offset + len(data)
	} else {
		pg["next_offset"] = nil
	}
	if null {
		s.send(w, map[string]any{"data": nil, "pagination": pg})
		return
	}
	s.send(w, map[string]any{"data": data, "pagination": pg})
}

// shiftOf is the shift of a listing being paged (see Fault.Shift).
func (s *Server) shiftOf(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shift[key]
}

// compare orders two JSON-ish values of one field: money and numbers by
// value, text (RFC 3339 times included) lexically.
func compare(a, b any) int {
	fa, oka := number(a)
	fb, okb := number(b)
	if oka && okb {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func number(v any) (int64, bool) {
	switch x := v.(type) {
	case money:
		return int64(x), true
	case int:
		return int64(x) * 100, true
	}
	return 0, false
}

func (s *Server) kpis(w http.ResponseWriter, q map[string][]string, o *Org, now time.Time) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	s.mu.Lock()
	bad := s.faults.BadKPIWindows > 0
	if bad {
		s.faults.BadKPIWindows--
	}
	s.mu.Unlock()
	last := lastKPIDay(now)
	end, start := last, last.AddDate(0, 0, -29)
	for _, f := range []struct {
		name string
		into *time.Time
	}{{"start_date", &start}, {"end_date", &end}} {
		if v := get(f.name); v != "" {
			t, err := time.Parse("2006-01-02", v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "INVALID_REQUEST", f.name+" must be a date (YYYY-MM-DD)", map[string]any{"field": f.name, "value": v})
				return
			}
			*f.into = t
		}
	}
	days := int(end.Sub(start)/(24*time.Hour)) + 1
	if bad || days > MaxKPIDays || days < 1 {
		writeError(w, http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf("The date range must span 1 to %d days", MaxKPIDays),
			map[string]any{"start_date": start.Format("2006-01-02"), "end_date": end.Format("2006-01-02")})
		return
	}
	shop := get("shop_id")
	if shop != "" && !o.hasShop(shop) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "Resource does not exist", map[string]any{"shop_id": shop})
		return
	}
	from := maxTime(start, o.zeroDay)
	to := minTime(end, last)
	data := []map[string]any{}
	var sum kpiDay
	if !from.After(to) {
		for _, k := range o.kpis(shop, from, to) {
			data = append(data, k.json())
			sum.Revenue += k.Revenue
			sum.Throughput += k.Throughput
		}
	}
	avg := int64(0)
	if sum.Throughput > 0 {
		avg = sum.Revenue / int64(sum.Throughput)
	}
	s.send(w, map[string]any{"data": data, "summary": map[string]any{
		"period_start": start.Format("2006-01-02"), "period_end": end.Format("2006-01-02"),
		"total_revenue": money(sum.Revenue), "total_tickets": sum.Throughput, "avg_ticket_value": money(avg)}})
}

func (o *Org) hasShop(id string) bool {
	for _, sh := range o.Shops {
		if sh.ID == id {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
