#!/usr/bin/env bash
# The timing stress check (make test-stress): the tests that involve
# processes, signals, sockets and deadlines, run STRESS_COUNT times each
# under the race detector while a neighbour process burns one core. A test
# that waits for wall time instead of an event fails here first.
#
# It exits non-zero on the first failing pass and says which one.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${STRESS_COUNT:-3}
go=${GO:-go}

# The neighbour: one busy loop, pinned to core 0 when taskset exists.
burn=(sh -c 'while :; do :; done')
if command -v taskset >/dev/null 2>&1; then
	burn=(taskset -c 0 "${burn[@]}")
fi
"${burn[@]}" &
burner=$!
trap 'kill "$burner" 2>/dev/null || true' EXIT

# cmd/export: the tests that start processes, send signals, hold locks or
# listen on sockets. The long kill proofs have their own target (make chaos).
cli='^(TestASignalStopsARunCleanly|TestKillAnywhereConverges|TestSecondRunRefusesAtOnce|TestQueryWhileARunHoldsTheWarehouse|TestListenKeepsEveryAcknowledgedEventAcrossAKill|TestSimulateSendsWebhooksToListen|TestSimulatorWebhooksLoadExactly|TestRepairOpsForced429IsWaitedOut|TestProgressOnATerminalReachesFull|TestCronGetsJSONLogsASummaryAndMetrics|TestExitCodes)$'

start=$(date +%s)
echo "test-stress: a busy neighbour on one core (pid $burner); each test $count times"
# The HTTP layer, the pacing, the simulators' wire and the receiver: whole
# packages, they are all about deadlines and sockets.
$go test -race -count="$count" -timeout 30m \
	./extract/rest ./extract/wiretest ./extract/budget ./extract/mgr ./extract/repairops ./receive
$go test -race -count="$count" -timeout 30m -run "$cli" ./cmd/export
echo "test-stress: passed in $(( $(date +%s) - start )) s"
