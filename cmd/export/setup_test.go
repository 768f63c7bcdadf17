package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/repairshop/export/config"
	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
)

// repairshop-export check: a good key is ready after one request; a bad key, a key
// of the wrong scope and a key of a scope that may not read are not, each
// after one request at most; the exit code says whether all are ready.
func TestCheckVerifiesEachKeyWithOneRequest(t *testing.T) {
	t.Parallel()
	mgrSrv := mgrtest.NewServer(mgrtest.WithTickets(10))
	defer mgrSrv.Close()
	roSrv := repairopstest.NewServer(repairopstest.WithTickets(10))
	defer roSrv.Close()
	org := roSrv.Orgs[0]
	shop := mgrSrv.Shops[0]
	dir := t.TempDir()
	accounts := []struct{ name, source, url, key string }{
		{"good-mgr", "mgr", mgrSrv.URL, shop.Key},
		{"bad-mgr", "mgr", mgrSrv.URL, "not-a-key"},
		{"good-ro", "repairops", roSrv.URL, org.Keys["read"]},
		{"write-ro", "repairops", roSrv.URL, org.Keys["write"]},
		{"hooks-ro", "repairops", roSrv.URL, org.Keys["webhooks"]},
	}
	var b strings.Builder
	b.WriteString("warehouse: ./w.duckdb\nparquet: ./pq\nstate_dir: ./state\naccounts:\n")
	for _, a := range accounts {
		env := "TEST_" + strings.ToUpper(strings.ReplaceAll(a.name, "-", "_")) + "_KEY"
		setEnv(t, []string{env + "=" + a.key})
		fmt.Fprintf(&b, "  - name: %s\n    source: %s\n    base_url: %s\n    api_key_env: %s\n", a.name, a.source, a.url, env)
		if a.name == "good-ro" {
			b.WriteString("    timezone: Europe/Madrid\n")
		}
	}
	cfg := writeConfig(t, dir, b.String())

	code, out, stderr := runCLI(t, "check", "-c", cfg)
	if code != exitFailure {
		t.Fatalf("check: exit %d, want 1 (some keys are bad)\n%s%s", code, out, stderr)
	}
	for name, want := range map[string]string{
		"good-mgr": `account good-mgr \(mgr\): ready \(1 request\)`,
		"bad-mgr":  `account bad-mgr \(mgr\): NOT READY \(1 request\)`,
		"good-ro":  `account good-ro \(repairops\): ready \(1 request\)\n(.*\n)*?.*ok +time zone +Europe/Madrid(.*\n)*?.*ok +key +key accepted; scope Read \(X-RateLimit-Limit 1000`,
		"write-ro": `account write-ro \(repairops\): NOT READY \(1 request\)\n(.*\n)*?.*FAIL +key .*Write scope`,
		"hooks-ro": `account hooks-ro \(repairops\): NOT READY \(1 request\)\n(.*\n)*?.*FAIL +key .*scope does not allow reading`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("%s: want %s in\n%s", name, want, out)
		}
	}
	for _, a := range accounts {
		if strings.Contains(out+stderr, a.key) {
			t.Errorf("check printed %s's key", a.name)
		}
	}
	perKey := map[string]int{}
	for _, r := range mgrSrv.Log() {
		perKey["mgr "+r.Shop]++
	}
	for _, r := range roSrv.Log() {
		perKey["ro "+r.Scope]++
	}
	for k, n := range perKey {
		if n > 1 {
			t.Errorf("%s: %d requests; check sends one per account at most", k, n)
		}
	}
	if len(perKey) < 4 {
		t.Errorf("requests seen: %v", perKey)
	}
	for _, p := range []string{"warehouse folder", "raw archive", "parquet", "state (key ledgers)"} {
		if !regexp.MustCompile(`ok +` + regexp.QuoteMeta(p)).MatchString(out) {
			t.Errorf("no writable check of the %s:\n%s", p, out)
		}
	}

	good := writeConfig(t, t.TempDir(), strings.Join(strings.SplitAfter(b.String(), "\n")[:8], ""))
	if code, out, stderr := runCLI(t, "check", "-c", good); code != exitOK {
		t.Errorf("check of the good account only: exit %d\n%s%s", code, out, stderr)
	}

	// A config error: the file, the line, the field; exit 2 (as every
	// command's config error), nothing sent.
	broken := writeConfig(t, t.TempDir(), strings.Replace(b.String(), "source: repairops", "source: repairopz", 1))
	before := len(roSrv.Log())
	code, out, _ = runCLI(t, "check", "-c", broken)
	if code != exitUsage || !strings.Contains(out, broken) || !strings.Contains(out, "line 13") || !strings.Contains(out, `source "repairopz"`) {
		t.Errorf("a bad config: exit %d\n%s", code, out)
	}
	if len(roSrv.Log()) != before {
		t.Error("check sent requests for a config that does not load")
	}

	// A folder that cannot be written.
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o555)
	if os.Geteuid() != 0 { // root writes anywhere
		readOnly := writeConfig(t, t.TempDir(), strings.Replace(strings.Join(strings.SplitAfter(b.String(), "\n")[:8], ""), "parquet: ./pq", "parquet: "+ro, 1))
		if code, out, _ := runCLI(t, "check", "-c", readOnly); code != exitFailure || !regexp.MustCompile(`FAIL +parquet`).MatchString(out) {
			t.Errorf("a read-only Parquet folder: exit %d\n%s", code, out)
		}
	}
}

// repairshop-export init writes a commented starter config that loads; on a terminal
// (here --ask) it asks, refusing a pasted key without repeating it; it
// never overwrites a file without --force.
func TestInitWritesAStarterConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "export.yaml")
	code, out, stderr := runCLI(t, "init", "-c", path)
	if code != exitOK {
		t.Fatalf("init: exit %d %s%s", code, out, stderr)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the starter does not load: %v", err)
	}
	if len(cfg.Accounts) != 1 || cfg.Accounts[0].Source != "mgr" || cfg.Accounts[0].APIKeyEnv != "MGR_MYSHOP_KEY" {
		t.Errorf("starter accounts: %+v", cfg.Accounts)
	}
	body, _ := os.ReadFile(path)
	if strings.Count(string(body), "#") < 10 || !strings.Contains(string(body), "api_key_env") {
		t.Errorf("the starter is not commented:\n%s", body)
	}
	if code, _, stderr := runCLI(t, "init", "-c", path); code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("init over an existing file: exit %d %s", code, stderr)
	}

	const pasted = "ro_read_metro_5e4d3c2b1a0f9e8d"
	answers := strings.Join([]string{"repairopz", "repairops", "Metro!", "metro", pasted, "", "Mars/Olympus", "America/Chicago", ""}, "\n") + "\n"
	var so, se bytes.Buffer
	app := newApp(&so, &se, testEnv(t))
	app.Reader = strings.NewReader(answers)
	err = app.RunContext(context.Background(), []string{"export", "init", "-c", path, "--force", "--ask"})
	if err != nil {
		t.Fatalf("init --ask: %v\n%s", err, so.String())
	}
	if strings.Contains(so.String(), pasted) {
		t.Error("init repeated the pasted key")
	}
	for _, want := range []string{`source "repairopz"`, `account name "Metro!"`, "looks like a key", "api_key_env", `time zone "Mars/Olympus"`} {
		if !strings.Contains(so.String(), want) {
			t.Errorf("init's questions lack %q:\n%s", want, so.String())
		}
	}
	cfg, err = config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Accounts[0]
	if a.Name != "metro" || a.Source != "repairops" || a.APIKeyEnv != "REPAIROPS_METRO_KEY" || a.Timezone != "America/Chicago" {
		t.Errorf("asked config: %+v", a)
	}
}
