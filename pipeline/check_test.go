package pipeline

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/load"
)

// keyFinding runs Check for one MGR account at baseURL and returns what it
// says of the key.
func keyFinding(t *testing.T, baseURL, extra string) Finding {
	t.Helper()
	return sourceKeyFinding(t, "mgr", baseURL, extra)
}

// sourceKeyFinding is keyFinding for an account of any source.
func sourceKeyFinding(t *testing.T, source, baseURL, extra string) Finding {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("warehouse: " + dir + "/w.duckdb\nstate_dir: " + dir + "/state\naccounts:\n" +
		"  - name: north\n    source: " + source + "\n    base_url: " + baseURL + "\n    api_key_env: TEST_CHECK_KEY\n" + extra))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(k string) string {
		if k == "TEST_CHECK_KEY" {
			return "k-secret-check"
		}
		return ""
	}
	_, accounts := Check(context.Background(), cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, f := range accounts[0].Findings {
		if f.What == "key" {
			return f
		}
	}
	t.Fatalf("no key finding in %+v", accounts[0])
	return Finding{}
}

// answering is a server that answers every request with status and body.
func answering(t *testing.T, status int, contentType, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// TestCheckSaysWhatFailedAndWhatToDo drives `check` against real loopback
// servers that fail each way a first setup does, and wants the cause and
// the fix in one short line of text: never "budget is spent" for a network
// failure, never a web page pasted in.
func TestCheckSaysWhatFailedAndWhatToDo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/v1"
	l.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(stall.Close)
	page := "<!DOCTYPE html><html><head><title>Sign in – Acme Hosting</title></head><body>" + strings.Repeat("<p>Welcome</p>", 500) + "</body></html>"

	for _, c := range []struct {
		name, url, extra string
		want             []string
	}{
		{"connection refused", refused, "", []string{"connection refused by 127.0.0.1:", "check base_url's host and port"}},
		{"a name that does not resolve", "http://repairshop-export-check.invalid/v1", "", []string{"DNS: the host name repairshop-export-check.invalid does not resolve", "check base_url's host name"}},
		{"an untrusted certificate", tlsSrv.URL + "/v1", "", []string{"TLS: the certificate of 127.0.0.1:", "not trusted"}},
		{"https to a plain server", strings.Replace(plain.URL, "http://", "https://", 1) + "/v1", "", []string{"does not speak TLS", "https:// for a server that answers plain http://"}},
		{"no answer in time", stall.URL + "/v1", "    request_timeout: 1s\n", []string{"timeout: 127.0.0.1:", "raise request_timeout"}},
		{"a website instead of the API", answering(t, 200, "text/html", page), "", []string{`not with the API's JSON (response is not JSON but an HTML page titled "Sign in – Acme Hosting")`, "check that base_url points at the API"}},
		{"a wrong base path", answering(t, 404, "application/json", `{"error":"Not found"}`), "", []string{"HTTP 404 for the API's first path below", "base_url is probably wrong"}},
		{"a bad key", answering(t, 401, "application/json", `{"error":"Invalid API key"}`), "", []string{"HTTP 401: the key is refused (Invalid API key)", "check that TEST_CHECK_KEY holds the shop's current key"}},
		{"a key without the plan", answering(t, 403, "application/json", `{"error":"API access is not part of your plan"}`), "", []string{"HTTP 403: the key is known but not allowed (API access is not part of your plan)", "scope or the shop's plan"}},
		{"the rate limit", answering(t, 429, "application/json", `{"error":"Rate limit exceeded"}`), "", []string{"HTTP 429: the key's rate limit is reached (Rate limit exceeded)", "keeps the key silent"}},
		{"the vendor's failure, as a web page", answering(t, 502, "text/html", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"), "", []string{`HTTP 502: the API failed on its side (an HTML page titled "502 Bad Gateway")`, "try again later"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := keyFinding(t, c.url, c.extra)
			t.Logf("FAIL key: %s", f.Detail)
			if f.OK {
				t.Fatalf("ok: %q", f.Detail)
			}
			for _, w := range c.want {
				if !strings.Contains(f.Detail, w) {
					t.Errorf("%q\ndoes not say %q", f.Detail, w)
				}
			}
			if n := len([]rune(f.Detail)); n > 300 || strings.ContainsAny(f.Detail, "<>\n") || strings.Contains(f.Detail, "budget") || strings.Contains(f.Detail, "k-secret-check") {
				t.Errorf("%q: %d characters; want one line of at most 300, no markup, no budget, no key", f.Detail, n)
			}
		})
	}
}

// TestCheckOpensTheWarehouseAsARunWould: a folder that does not exist yet
// is fine (a run creates it), a DuckDB file is fine, anything else at the
// warehouse's path is not.
func TestCheckOpensTheWarehouseAsARunWould(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string)
		ok    bool
		want  string
	}{
		{"a folder not made yet", func(t *testing.T, path string) {}, true, "absent; the first run creates it"},
		{"a DuckDB file", func(t *testing.T, path string) {
			w, err := load.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
		}, true, "a DuckDB database, writable"},
		{"a text file", func(t *testing.T, path string) { os.WriteFile(path, []byte("account,amount\nnorth,12.50\n"), 0o644) }, false, "is not a DuckDB database (27 bytes of something else)"},
		{"an empty file", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o644) }, false, "is not a DuckDB database"},
		{"a folder", func(t *testing.T, path string) { os.Mkdir(path, 0o755) }, false, "is a folder, not a DuckDB file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "w.duckdb")
			if c.ok && !strings.Contains(c.name, "DuckDB") {
				path = filepath.Join(dir, "not", "yet", "w.duckdb")
			}
			c.setup(t, path)
			cfg, err := config.Parse([]byte("warehouse: " + path + "\nstate_dir: " + dir + "/state\naccounts:\n  - {name: north, source: mgr, base_url: \"http://127.0.0.1:1/v1\", api_key_env: TEST_CHECK_KEY}\n"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Getenv = func(string) string { return "" }
			paths, _ := Check(context.Background(), cfg, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			var got *Finding
			for i := range paths {
				if paths[i].What == "warehouse file" {
					got = &paths[i]
				}
			}
			if got == nil || got.OK != c.ok || !strings.Contains(got.Detail, c.want) {
				t.Fatalf("warehouse file: %+v; want ok=%v saying %q", got, c.ok, c.want)
			}
			if c.ok && !strings.Contains(c.name, "DuckDB") {
				// and a run does create it
				lock, err := load.AcquireLock(path, "test", time.Now())
				if err != nil {
					t.Fatalf("the folder check promised a run could create: %v", err)
				}
				lock.Release()
			}
		})
	}
}

// A key paced above the vendor's documented limit (the account overrides
// it) is ready, and check says that it is above and why it is allowed.
func TestCheckSaysWhenARateIsAboveTheDocumentedLimit(t *testing.T) {
	url := answering(t, 200, "application/json", `[{"id":1,"label":"New"}]`)
	f := keyFinding(t, url, "    requests_per_minute: 6000\n    override_documented_limit: true\n")
	if !f.OK || !strings.Contains(f.Detail, "paced at 5400 requests/min, above MGR's documented 30 (override_documented_limit is set") {
		t.Errorf("%+v", f)
	}
	f = keyFinding(t, url, "")
	if !f.OK || !strings.Contains(f.Detail, "paced at 27 requests/min (MGR allows 30)") {
		t.Errorf("%+v", f)
	}
}

// A RepairOps key at its hourly quota: check answers at once (it does not
// wait for the reset with no request left to send) and says when it resets.
func TestCheckOfAKeyAtItsQuotaSaysWhenItResets(t *testing.T) {
	reset := time.Now().Add(40 * time.Minute).Truncate(time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-RateLimit-Limit", "1000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		io.WriteString(w, `{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded"}}`)
	}))
	t.Cleanup(srv.Close)
	began := time.Now()
	f := sourceKeyFinding(t, "repairops", srv.URL+"/v1", "")
	if took := time.Since(began); took > time.Minute {
		t.Errorf("check took %s: it waited for the reset", took)
	}
	want := "it resets at " + reset.Local().Format(time.RFC3339)
	if f.OK || !strings.Contains(f.Detail, "HTTP 429") || !strings.Contains(f.Detail, want) {
		t.Errorf("%q; want HTTP 429 and %q", f.Detail, want)
	}
}
