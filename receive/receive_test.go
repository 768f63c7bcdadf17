package receive

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func sign(secret, body string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return m.Sum(nil)
}

func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

func TestDeliveriesAreVerifiedThenStoredBeforeTheAnswer(t *testing.T) {
	const secret = "whsec_3b1f"
	body := `{"event":"ticket.transitioned","timestamp":"2026-02-21T15:30:00Z","data":{"ticket_id":"t-1","from_status":"IN_REPAIR","to_status":"QC_REVIEW"}}`
	dir := t.TempDir()
	var logs strings.Builder
	r, err := New(dir, []Endpoint{{Account: "metro", Source: "repairops", Path: "/hooks/metro", Secret: []byte(secret), Header: "X-RepairOps-Signature",
		EventID: func(http.Header, []byte) string { return "id-1" }}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(r)
	defer srv.Close()

	mac := sign(secret, body)
	for _, tc := range []struct {
		name, method, path, sig, body string
		want                          int
		stored                        bool
		reason                        string
	}{
		{"hex", "POST", "/hooks/metro", hex.EncodeToString(mac), body, 200, true, ""},
		{"sha256= hex", "POST", "/hooks/metro", "sha256=" + hex.EncodeToString(mac), body, 200, true, ""},
		{"base64", "POST", "/hooks/metro", base64.StdEncoding.EncodeToString(mac), body, 200, true, ""},
		{"sha256= base64 url", "POST", "/hooks/metro", "sha256=" + base64.RawURLEncoding.EncodeToString(mac), body, 200, true, ""},
		{"another secret", "POST", "/hooks/metro", hex.EncodeToString(sign("other", body)), body, 401, false, "does not match"},
		{"a changed body", "POST", "/hooks/metro", hex.EncodeToString(mac), strings.Replace(body, "QC_REVIEW", "CLOSED", 1), 401, false, "does not match"},
		{"no signature", "POST", "/hooks/metro", "", body, 401, false, "no signature"},
		{"not a digest", "POST", "/hooks/metro", "hello", body, 401, false, "not a SHA-256"},
		{"signed, not JSON", "POST", "/hooks/metro", hex.EncodeToString(sign(secret, "nope")), "nope", 400, false, "not a JSON object"},
		{"GET", "GET", "/hooks/metro", hex.EncodeToString(mac), "", 405, false, ""},
		{"another path", "POST", "/hooks/coast", hex.EncodeToString(mac), body, 404, false, ""},
		{"too large", "POST", "/hooks/metro", hex.EncodeToString(mac), `{"x":"` + strings.Repeat("a", MaxBody) + `"}`, 413, false, "body over"},
	} {
		before := len(readLines[Event](t, EventLog(dir, "repairops", "metro")))
		rejectsBefore := len(readLines[Rejected](t, RejectLog(dir, "repairops", "metro")))
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.sig != "" {
			req.Header.Set("X-RepairOps-Signature", tc.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		// What was answered 2xx is on disk already; nothing else is.
		events := readLines[Event](t, EventLog(dir, "repairops", "metro"))
		if got := len(events) - before; got != map[bool]int{true: 1}[tc.stored] {
			t.Errorf("%s: %d event(s) stored", tc.name, got)
		}
		if tc.stored {
			ev := events[len(events)-1]
			if ev.ID != "id-1" || ev.Account != "metro" || string(ev.Body) != body || ev.ReceivedAt.IsZero() {
				t.Errorf("%s: stored %+v", tc.name, ev)
			}
		}
		rejects := readLines[Rejected](t, RejectLog(dir, "repairops", "metro"))
		if tc.reason != "" {
			if len(rejects) != rejectsBefore+1 || !strings.Contains(rejects[len(rejects)-1].Reason, tc.reason) {
				t.Errorf("%s: rejects %+v, want one saying %q", tc.name, rejects[rejectsBefore:], tc.reason)
			}
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the log shows the secret")
	}
	if !strings.Contains(logs.String(), "webhook refused") || !strings.Contains(logs.String(), "account=metro") {
		t.Errorf("refusals are not logged with the account:\n%s", logs.String())
	}
}
