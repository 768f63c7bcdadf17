package export

import (
	"fmt"
	"strings"
	"testing"

	"github.com/repairshop/export/extract/mgr/mgrtest"
	"github.com/repairshop/export/extract/repairops/repairopstest"
)

// bothSources is the text of a config for every shop of an MGR simulator
// and every organisation of a RepairOps one, paced far above the real
// limits, their keys set in the environment; roExtra is added to each
// organisation's line (", timezone: …", with "{org}" for its name). It
// returns the text (more accounts may be appended) and the keys.
func bothSources(t *testing.T, mgrSrv *mgrtest.Server, roSrv *repairopstest.Server, roExtra string) (string, []string) {
	t.Helper()
	var b strings.Builder
	var keys []string
	b.WriteString("warehouse: ./w.duckdb\nparquet: ./pq\nstate_dir: ./state\naccounts:\n")
	for _, sh := range mgrSrv.Shops {
		env := "TEST_MGR_" + strings.ToUpper(sh.Name) + "_KEY"
		setEnv(t, []string{env + "=" + sh.Key})
		keys = append(keys, sh.Key)
		fmt.Fprintf(&b, "  - {name: %s, source: mgr, base_url: %q, api_key_env: %s, currency: %s, requests_per_minute: 100000, override_documented_limit: true}\n", sh.Name, mgrSrv.URL, env, sh.Currency)
	}
	for _, o := range roSrv.Orgs {
		env := "TEST_RO_" + strings.ToUpper(o.Name) + "_KEY"
		setEnv(t, []string{env + "=" + o.Key})
		keys = append(keys, o.Key)
		fmt.Fprintf(&b, "  - {name: %s, source: repairops, base_url: %q, api_key_env: %s, currency: %s, requests_per_hour: 1000000, override_documented_limit: true%s}\n", o.Name, roSrv.URL, env, repairopstest.Currency, strings.ReplaceAll(roExtra, "{org}", o.Name))
	}
	return b.String(), keys
}
