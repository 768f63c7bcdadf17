package export

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
)

// After full exports of both sources with faults, a refused key, webhooks,
// status, check, report, metrics and a summary, no window of 8 characters
// of any key's secret part, nor of the webhook secret, appears in any
// output or file: stdout, stderr, logs, metrics, summary, report, the DuckDB
// file, the Parquet tree, the raw archive (decompressed) or the ledgers.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	mgrSrv := mgrtest.NewServer(mgrtest.WithRateLimit(6000, time.Minute), mgrtest.WithTickets(80, 40))
	defer mgrSrv.Close()
	roSrv := repairopstest.NewServer(repairopstest.WithQuota(1_000_000, time.Hour), repairopstest.WithTickets(60))
	defer roSrv.Close()
	dir := t.TempDir()
	const hookSecret = "whsec_Zq8Lr2Vn5Kp1Xy7T"
	const refused = "mgr_badkey_Qw3Er5Ty7Ui9Op1As"
	env := []string{"TEST_HOOK_SECRET=" + hookSecret, "TEST_REFUSED_KEY=" + refused}
	setEnv(t, env)
	text, keys := bothSources(t, mgrSrv, roSrv, ", webhook: {path: /hooks/{org}, secret_env: TEST_HOOK_SECRET}")
	text += fmt.Sprintf("  - {name: refused, source: mgr, base_url: %q, api_key_env: TEST_REFUSED_KEY, requests_per_minute: 6000, override_documented_limit: true}\n", mgrSrv.URL)
	secrets := append([]string{hookSecret, refused}, keys...)
	cfg := writeConfig(t, dir, text)
	mgrSrv.Inject(mgrtest.Fault{ServerErrors: 1, HTMLPage: 1, Unauthorized: 1})

	var outputs bytes.Buffer
	record := func(args ...string) {
		_, out, stderr := runCLI(t, args...)
		outputs.WriteString(out + stderr)
	}
	record("run", "--config", cfg, "--log-level", "debug", "--metrics-file", filepath.Join(dir, "export.prom"), "--summary-json", filepath.Join(dir, "summary.json"))
	record("run", "--config", cfg, "--log-format", "text", "--json")
	record("status", "--config", cfg)
	record("status", "--config", cfg, "--json")
	record("check", "--config", cfg)
	record("plan", "--config", cfg)
	record("report", "--config", cfg, "--out", filepath.Join(dir, "report.html"))
	if !strings.Contains(outputs.String(), "refused") {
		t.Fatalf("the refused key's account is not reported:\n%s", outputs.String())
	}

	files := map[string][]byte{"(stdout and stderr)": outputs.Bytes()}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".zst") {
			dec, err := zstd.NewReader(bytes.NewReader(data))
			if err != nil {
				return err
			}
			data, _ = io.ReadAll(dec) // a torn tail still yields what precedes it
			dec.Close()
		}
		files[path] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for path := range files {
		for _, k := range []string{".duckdb", ".parquet", ".zst", ".prom", "summary.json", "report.html", ".json"} {
			if strings.HasSuffix(path, k) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) < 7 {
		t.Fatalf("the scan misses kinds of files: %v\n%s", kinds, outputs.String()[:min(3000, outputs.Len())])
	}
	found := 0
	for _, s := range secrets {
		secret := s[strings.LastIndexByte(s, '_')+1:] // the random part (prefixes name the shop)
		if len(secret) < 12 {
			t.Fatalf("secret %q too short to scan for", secret)
		}
		for i := 0; i+8 <= len(secret); i++ {
			window := []byte(secret[i : i+8])
			for path, data := range files {
				if bytes.Contains(data, window) {
					found++
					t.Errorf("%s holds %q, part of a secret", path, window)
				}
			}
		}
	}
	t.Logf("scanned %d files (%d kinds) for %d secrets: %d found", len(files), len(kinds), len(secrets), found)
}
