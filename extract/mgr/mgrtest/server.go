// Package mgrtest is a My Gadget Repairs API simulator: a real HTTP server
// with seeded shops that enforces what the vendor documents and what users
// have observed (docs/sources.md) as strictly as the real service: 30
// requests per minute per key, a rate-limit error that must be obeyed for a
// minute, and a six-hour block of the key and the IP after it is ignored
// ten times. Where the vendor's page is ambiguous it serves one reading by
// default and the others as options (WithDocumentedSpellings,
// WithLimitPerIP). Tests use NewServer like httptest.NewServer; `export
// simulate` serves it on a fixed port.
package mgrtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/repairshop/export/extract/budget"
	"github.com/repairshop/export/extract/wiretest"
)

// Defaults as documented by the vendor.
const (
	DefaultLimit         = 30
	DefaultWindow        = time.Minute
	DefaultCooldown      = time.Minute
	DefaultStrikes       = 10
	DefaultBlockDuration = 6 * time.Hour
	PageSize             = 50
)

// RateLimitMessage is the body of the rate-limit error. The docs give no
// status code for it; users report 429 and others, so the status is an option.
const RateLimitMessage = "Rate limit exceeded: you can only send 30 requests per minute. Please wait a minute before sending more requests."

// BlockedMessage is the body sent while a key or IP is blocked.
const BlockedMessage = "Your API key and IP address have been blocked for 6 hours because the rate limit error was ignored too many times."

type config struct {
	clock         budget.Clock
	limit         int
	window        time.Duration
	cooldown      time.Duration
	strikes       int
	blockDuration time.Duration
	rateStatus    int
	seed          uint64
	tickets       []int
	addr          string
	// documented: serve the invoice list and detail only under the
	// spellings of the vendor page's example URLs.
	documented bool
	// perIP: the window counts every key's requests from one address.
	perIP bool
}

// Option configures a Server.
type Option func(*config)

// WithClock makes the server keep time by clk (share a budget.Fake with the
// client under test to run minutes of pacing instantly).
func WithClock(clk budget.Clock) Option { return func(c *config) { c.clock = clk } }

// WithClockSkew sets the server's clock d off the one WithClock gave
// (apply it after): its Date header and its rate-limit window.
func WithClockSkew(d time.Duration) Option {
	return func(c *config) { c.clock = wiretest.Skew(c.clock, d) }
}

// WithRateLimit sets the limit: n requests per window per key.
func WithRateLimit(n int, window time.Duration) Option {
	return func(c *config) { c.limit, c.window = n, window }
}

// WithPenalty sets how long a rate-limit error must be obeyed, how many
// ignored errors block the key and IP, and for how long.
func WithPenalty(cooldown time.Duration, strikes int, block time.Duration) Option {
	return func(c *config) { c.cooldown, c.strikes, c.blockDuration = cooldown, strikes, block }
}

// WithRateLimitStatus sets the HTTP status of the rate-limit error (default 429).
func WithRateLimitStatus(code int) Option { return func(c *config) { c.rateStatus = code } }

// WithSeed changes the seeded data (keys included).
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithTickets sets the number of tickets per shop, in shop order.
func WithTickets(n ...int) Option { return func(c *config) { c.tickets = n } }

// WithDocumentedSpellings serves the ticket invoice list only as
// /ticketsInvoices and its detail only as /ticketinvoices/{id}, the
// spellings of the vendor page's example URLs (its headings say
// /ticketInvoices, which the simulator serves by default): a client must
// cope with either.
func WithDocumentedSpellings() Option { return func(c *config) { c.documented = true } }

// WithLimitPerIP counts the rate limit per client address across keys
// instead of per key. The vendor page speaks of the key's requests but
// blocks the key and the IP; a deployment may count either way.
func WithLimitPerIP() Option { return func(c *config) { c.perIP = true } }

// WithAddr listens on addr (e.g. "127.0.0.1:8081") instead of a random loopback port.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// Fault is a misbehaviour to inject into the next requests, any key.
type Fault struct {
	// Delay holds the other faults back for this many requests (any
	// key): a fault that strikes once the run is under way.
	Delay int
	// Unauthorized answers the next N requests with 401, as the live API
	// has done under throttling.
	Unauthorized int
	// ServerErrors answers the next N requests with 503.
	ServerErrors int
	// OffsetDrift shifts the listing by one record on each of the next N
	// list pages with offset > 0, as when a record is inserted at the head
	// while a client pages: every later page starts one record earlier and
	// repeats the previous page's last record. A request at offset 0 starts
	// a fresh listing.
	OffsetDrift int
	// OffsetDriftBack shifts the listing the other way on each of the next
	// N list pages with offset > 0, as when a record before them is
	// deleted while a client pages: every later page starts one record
	// later, and the record that moved onto the previous page is missed
	// by a client whose pages do not overlap.
	OffsetDriftBack int
	// Stall holds the next N requests for StallFor before answering, to
	// exercise client timeouts.
	Stall    int
	StallFor time.Duration
	// Truncated cuts the next N successful bodies in half (status 200).
	Truncated int
	// HTMLPage answers the next N successful requests with an HTML error
	// page and status 200, as a proxy in front of the API has done.
	HTMLPage int
	// Reorder swaps, on each of the next N list pages with offset > 0, the
	// page's first record with the one just before it (the live API's
	// ordering is loose): without overlapping pages a client sees one
	// record twice and misses the other.
	Reorder int
	// Null answers the next N successful requests with the body null.
	Null int
	// RateLimited answers the next N requests with the rate-limit error
	// although the key is under the limit, as when the shop's other
	// integrations spent it.
	RateLimited int
	// DuplicatePage answers the next N list pages asked at offset > 0
	// with the page before them again (a cache in front of the API).
	DuplicatePage int
}

// Request is one request as the server saw it.
type Request struct {
	Time   time.Time
	Shop   string // "" for an unknown key
	Path   string
	Query  string
	Status int
	// RateLimited is set when the answer was the rate-limit error.
	RateLimited bool
}

// Server is a running simulator.
type Server struct {
	// URL is the base URL, ending in /v1 like the real one.
	URL   string
	Shops []*Shop

	// Wire is in front of the API: network and proxy faults (see wiretest).
	Wire *wiretest.Wire

	cfg  config
	http *httptest.Server

	mu     sync.Mutex
	data   sync.RWMutex // guards the shops' records
	keys   map[string]*keyState
	ips    map[string]*limitState // WithLimitPerIP
	ipBan  map[string]time.Time
	faults Fault
	later  wiretest.Later[Fault] // faults held back (Fault.Delay)
	broken map[string]int        // path under /v1 → status it answers with, until mended
	shift  map[string]int        // current offset drift per shop
	log    []Request
}

type keyState struct {
	shop *Shop
	limitState
}

// limitState is the rate-limit window of a key (or, WithLimitPerIP, of an
// address) and its strikes.
type limitState struct {
	window       []time.Time
	lastRateErr  time.Time
	strikes      int
	blockedUntil time.Time
}

// NewServer starts a simulator on a loopback port. Like httptest.NewServer it
// panics if it cannot listen; use Start to get the error instead.
func NewServer(opts ...Option) *Server {
	s, err := Start(opts...)
	if err != nil {
		panic(err)
	}
	return s
}

// Start starts a simulator and returns an error if it cannot listen.
func Start(opts ...Option) (*Server, error) {
	cfg := config{
		clock: budget.Real{}, limit: DefaultLimit, window: DefaultWindow,
		cooldown: DefaultCooldown, strikes: DefaultStrikes, blockDuration: DefaultBlockDuration,
		rateStatus: http.StatusTooManyRequests, seed: 2026, addr: "127.0.0.1:0",
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cfg: cfg, Shops: newShops(cfg.seed, cfg.tickets), keys: map[string]*keyState{}, ips: map[string]*limitState{}, ipBan: map[string]time.Time{}, shift: map[string]int{}}
	for _, sh := range s.Shops {
		s.keys[sh.Key] = &keyState{shop: sh}
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("mgrtest: listen on %s: %w", cfg.addr, err)
	}
	s.Wire = wiretest.New(s, cfg.clock)
	s.http = httptest.NewUnstartedServer(s.Wire)
	s.http.Listener.Close()
	s.http.Listener = ln
	s.http.Start()
	s.URL = s.http.URL + "/v1"
	return s, nil
}

// SetTicketStatus changes a ticket's status label and last_updated, as a
// shop's staff would between two runs.
func (s *Server) SetTicketStatus(shop, id, label string, at time.Time) error {
	s.data.Lock()
	defer s.data.Unlock()
	sh := s.Shop(shop)
	if sh == nil {
		return fmt.Errorf("mgrtest: no shop %q", shop)
	}
	i, ok := sh.byID[id]
	if !ok {
		return fmt.Errorf("mgrtest: shop %s has no ticket %s", shop, id)
	}
	t := &sh.tickets[i]
	t.Status.Label = label
	t.LastUpdated = at.In(sh.Zone).Format(mgrTime)
	sh.marshalTicket(i)
	return nil
}

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// Shop returns the shop with the given name, or nil.
func (s *Server) Shop(name string) *Shop {
	for _, sh := range s.Shops {
		if sh.Name == name {
			return sh
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
	into.Unauthorized += f.Unauthorized
	into.ServerErrors += f.ServerErrors
	into.OffsetDrift += f.OffsetDrift
	into.OffsetDriftBack += f.OffsetDriftBack
	into.Stall += f.Stall
	into.Truncated += f.Truncated
	into.HTMLPage += f.HTMLPage
	into.Reorder += f.Reorder
	into.Null += f.Null
	into.DuplicatePage += f.DuplicatePage
	into.RateLimited += f.RateLimited
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

// Break makes every admitted request for path (under /v1, e.g.
// "/purchaseOrders" or "/ticketInvoices/<id>") answer status (404 "Resource
// not found", 5xx "Internal server error", else "Invalid request") until
// Break(path, 0) mends it: an endpoint a plan lacks, or one record the
// vendor cannot serve.
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

// RateLimitErrors counts the rate-limit errors sent to a shop's key.
func (s *Server) RateLimitErrors(shop string) int {
	n := 0
	for _, r := range s.Log() {
		if r.Shop == shop && r.RateLimited {
			n++
		}
	}
	return n
}

// Blocked reports whether a shop's key is blocked now.
func (s *Server) Blocked(shop string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.clock.Now()
	for _, ks := range s.keys {
		if ks.shop.Name == shop {
			return now.Before(ks.blockedUntil)
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	writeJSON(w, status, b)
}

// ServeHTTP applies authentication, the rate limit and faults, then routes.
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
	status, shop, rateLimited := s.admit(r)
	rec := Request{Time: s.cfg.clock.Now(), Path: r.URL.Path, Query: r.URL.RawQuery, Status: status, RateLimited: rateLimited}
	if shop != nil {
		rec.Shop = shop.Name
	}
	defer func() {
		s.mu.Lock()
		s.log = append(s.log, rec)
		s.mu.Unlock()
	}()
	switch {
	case rateLimited:
		writeError(w, status, RateLimitMessage)
		return
	case status == http.StatusForbidden:
		writeError(w, status, BlockedMessage)
		return
	case status == http.StatusUnauthorized:
		writeError(w, status, "Invalid API key. Please check the API key in your shop settings > Misc.")
		return
	case status != 0:
		writeError(w, status, "Service temporarily unavailable. Please try again later.")
		return
	}
	rec.Status = s.route(w, r, shop)
}

// admit decides, under the lock, whether a request gets through. It returns
// a non-zero status when it must be refused.
func (s *Server) admit(r *http.Request) (status int, shop *Shop, rateLimited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.clock.Now()
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if now.Before(s.ipBan[ip]) {
		if ks := s.keys[r.Header.Get("Authorization")]; ks != nil {
			shop = ks.shop
		}
		return http.StatusForbidden, shop, false
	}
	ks := s.keys[r.Header.Get("Authorization")]
	if ks == nil {
		return http.StatusUnauthorized, nil, false
	}
	shop = ks.shop
	if now.Before(ks.blockedUntil) {
		return http.StatusForbidden, shop, false
	}
	ls := &ks.limitState
	if s.cfg.perIP {
		if ls = s.ips[ip]; ls == nil {
			ls = &limitState{}
			s.ips[ip] = ls
		}
	}
	// Every request counts against the window, refused ones included.
	cut := now.Add(-s.cfg.window)
	keep := ls.window[:0]
	for _, t := range ls.window {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	ls.window = append(keep, now)
	if !ls.lastRateErr.IsZero() && now.Sub(ls.lastRateErr) < s.cfg.cooldown {
		// The client ignored the rate-limit error.
		ls.strikes++
		if ls.strikes >= s.cfg.strikes {
			ks.blockedUntil = now.Add(s.cfg.blockDuration)
			s.ipBan[ip] = ks.blockedUntil
			return http.StatusForbidden, shop, false
		}
		ls.lastRateErr = now
		return s.cfg.rateStatus, shop, true
	}
	if len(ls.window) > s.cfg.limit {
		ls.lastRateErr = now
		return s.cfg.rateStatus, shop, true
	}
	if !ls.lastRateErr.IsZero() {
		// Obeyed: a full cool-down passed since the last error.
		ls.strikes = 0
		ls.lastRateErr = time.Time{}
	}
	if s.faults.RateLimited > 0 {
		s.faults.RateLimited--
		ls.lastRateErr = now
		return s.cfg.rateStatus, shop, true
	}
	if s.faults.Unauthorized > 0 {
		s.faults.Unauthorized--
		return http.StatusUnauthorized, shop, false
	}
	if s.faults.ServerErrors > 0 {
		s.faults.ServerErrors--
		return http.StatusServiceUnavailable, shop, false
	}
	return 0, shop, false
}

// detailPaths are the documented GET /{resource}/{id} endpoints.
var detailPaths = map[string]bool{
	"customers": true, "tickets": true, "ticketInvoices": true, "posInvoices": true,
	"products": true, "purchaseOrders": true, "users": true, "suppliers": true,
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, shop *Shop) int {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return http.StatusMethodNotAllowed
	}
	s.mu.Lock()
	broken := s.broken[strings.TrimPrefix(r.URL.Path, "/v1")]
	s.mu.Unlock()
	switch {
	case broken == http.StatusNotFound:
		writeError(w, broken, "Resource not found. Please check the endpoint in the API Explorer.")
		return broken
	case broken >= 500:
		writeError(w, broken, "Internal server error.")
		return broken
	case broken != 0:
		writeError(w, broken, "Invalid request.")
		return broken
	}
	path, ok := s.spelling(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1"), "/"))
	if !ok {
		writeError(w, http.StatusNotFound, "Resource not found. Please check the endpoint in the API Explorer.")
		return http.StatusNotFound
	}
	s.data.RLock() // records may change between runs (SetTicketStatus, AddPayment)
	defer s.data.RUnlock()
	if c := shop.colls[path]; c != nil {
		return s.list(w, r, shop, path, c)
	}
	if res, id, ok := strings.Cut(path, "/"); ok && detailPaths[res] && !strings.Contains(id, "/") {
		c := shop.colls[res]
		i, found := c.byID[id]
		if !found {
			writeError(w, http.StatusNotFound, "Record not found.")
			return http.StatusNotFound
		}
		return s.write(w, c.items[i].detail)
	}
	writeError(w, http.StatusNotFound, "Resource not found. Please check the endpoint in the API Explorer.")
	return http.StatusNotFound
}

// spelling maps a request path to the resource it serves: with
// WithDocumentedSpellings the ticket invoices answer only under the
// example URLs' spellings.
func (s *Server) spelling(path string) (string, bool) {
	if !s.cfg.documented {
		return path, true
	}
	res, id, detail := strings.Cut(path, "/")
	switch {
	case res == "ticketInvoices":
		return "", false
	case res == "ticketsInvoices" && !detail:
		return "ticketInvoices", true
	case res == "ticketinvoices" && detail:
		return "ticketInvoices/" + id, true
	}
	return path, true
}

// write sends a 200 with body, or a garbled 200 when a fault says so.
func (s *Server) write(w http.ResponseWriter, body []byte) int {
	s.mu.Lock()
	truncate, html, null := s.faults.Truncated > 0, false, false
	if truncate {
		s.faults.Truncated--
	} else if s.faults.HTMLPage > 0 {
		s.faults.HTMLPage--
		html = true
	} else if s.faults.Null > 0 {
		s.faults.Null--
		null = true
	}
	s.mu.Unlock()
	switch {
	case null:
		writeJSON(w, http.StatusOK, []byte("null"))
	case truncate:
		writeJSON(w, http.StatusOK, body[:len(body)/2])
	case html:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(htmlErrorPage))
	default:
		writeJSON(w, http.StatusOK, body)
	}
	return http.StatusOK
}

// htmlErrorPage is what a proxy in front of the API has served with status
// 200 during an outage.
const htmlErrorPage = `<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>We'll be right back</h1><p>My Gadget Repairs is undergoing maintenance.</p></body></html>`

// mgrDate is the dd-mmm-yyyy format of the createdDateFrom/To filters.
const mgrDate = "02-Jan-2006"

func (s *Server) list(w http.ResponseWriter, r *http.Request, shop *Shop, res string, c *collection) int {
	q := r.URL.Query()
	// Live behaviour: `page` beyond the first returns an empty array.
	if p := q.Get("page"); p != "" && p != "1" && p != "0" {
		writeJSON(w, http.StatusOK, []byte("[]"))
		return http.StatusOK
	}
	limit, offset := PageSize, 0
	var err error
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			writeError(w, http.StatusBadRequest, "Invalid limit. It must be a positive number.")
			return http.StatusBadRequest
		}
		limit = min(limit, PageSize)
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			writeError(w, http.StatusBadRequest, "Invalid offset. It must be zero or a positive number.")
			return http.StatusBadRequest
		}
	}
	var from, to time.Time
	if v := q.Get("createdDateFrom"); v != "" {
		if from, err = time.ParseInLocation(mgrDate, v, shop.Zone); err != nil {
			writeError(w, http.StatusBadRequest, "Invalid createdDateFrom. Use dd-mmm-yyyy, e.g. 01-Jan-2026.")
			return http.StatusBadRequest
		}
	}
	if v := q.Get("createdDateTo"); v != "" {
		if to, err = time.ParseInLocation(mgrDate, v, shop.Zone); err != nil {
			writeError(w, http.StatusBadRequest, "Invalid createdDateTo. Use dd-mmm-yyyy, e.g. 31-Jan-2026.")
			return http.StatusBadRequest
		}
		to = to.AddDate(0, 0, 1) // inclusive of the whole day
	}
	key := shop.Name + "/" + res
	s.mu.Lock()
	swap := false
	if offset == 0 {
		s.shift[key] = 0
	} else {
		if s.faults.OffsetDrift > 0 {
			s.faults.OffsetDrift--
			s.shift[key]++
		} else if s.faults.OffsetDriftBack > 0 {
			s.faults.OffsetDriftBack--
			s.shift[key]--
		}
		if s.faults.Reorder > 0 {
			s.faults.Reorder--
			swap = true
		}
	}
	dup := offset > 0 && s.faults.DuplicatePage > 0
	if dup {
		s.faults.DuplicatePage--
		offset = max(offset-limit, 0)
	}
	offset = max(offset-s.shift[key], 0)
	s.mu.Unlock()
	var matched []*record
	for i := range c.items {
		it := &c.items[i]
		if !it.created.IsZero() && ((!from.IsZero() && it.created.Before(from)) || (!to.IsZero() && !it.created.Before(to))) {
			continue
		}
		matched = append(matched, it)
	}
	if swap && offset > 0 && offset < len(matched) {
		// Loose ordering: the record just before the page and the page's
		// first record trade places between two requests, so a client
		// that does not overlap its pages sees one twice and the other
		// never.
		matched = append([]*record(nil), matched...)
		matched[offset-1], matched[offset] = matched[offset], matched[offset-1]
	}
	var b strings.Builder
	b.WriteByte('[')
	for i := offset; i < len(matched) && i < offset+limit; i++ {
		if i > offset {
			b.WriteByte(',')
		}
		b.Write(matched[i].list)
	}
	b.WriteByte(']')
	return s.write(w, []byte(b.String()))
}

// Delete removes a record of a list resource ("tickets", "customers",
// "ticketInvoices", …) as a shop's staff would between two runs: the list
// no longer returns it and its detail answers 404. Expected keeps
// counting it: an export keeps a deleted row, marked deleted.
func (s *Server) Delete(shop, resource, id string) error {
	s.data.Lock()
	defer s.data.Unlock()
	sh := s.Shop(shop)
	if sh == nil {
		return fmt.Errorf("mgrtest: no shop %q", shop)
	}
	c := sh.colls[resource]
	if c == nil {
		return fmt.Errorf("mgrtest: shop %s has no list %q", shop, resource)
	}
	i, ok := c.byID[id]
	if !ok {
		return fmt.Errorf("mgrtest: shop %s has no %s %s", shop, resource, id)
	}
	items := c.items
	c.items, c.byID = nil, nil
	for j, r := range items {
		if j != i {
			c.add(r)
		}
	}
	if resource == "tickets" { // the tickets mirror the collection, index for index
		sh.tickets = append(sh.tickets[:i:i], sh.tickets[i+1:]...)
		sh.byID = make(map[string]int, len(sh.tickets))
		for j, t := range sh.tickets {
			sh.byID[fmt.Sprint(t.ID)] = j
		}
	}
	return nil
}
