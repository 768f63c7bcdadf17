#!/usr/bin/env bash
# The timing stress check (make test-stress): the tests that involve
# processes, signals, sockets and deadlines, run STRESS_COUNT times each
# under the race detector on one core that a neighbour process keeps busy:
# a machine of about half a core. A test that waits for wall time instead
# of an event fails here first (the 1.5 s sleep before a signal, the 1 s
# client timeout around a 64 MiB body did; they now wait for events).
#
# It exits non-zero on the first failing pass and says which one.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${STRESS_COUNT:-3}
go=${GO:-go}

# The neighbour: one busy loop on core 0, where the tests run too (without
# taskset, they share the machine).
pin=()
if command -v taskset >/dev/null 2>&1; then
	pin=(taskset -c 0)
fi
"${pin[@]}" sh -c 'while :; do :; done' &
burner=$!
trap 'kill "$burner" 2>/dev/null || true' EXIT

# cmd/export: the tests that start processes, send signals, hold locks or
# listen on sockets. The long kill proofs have their own target (make chaos).
cli='^(TestASignalStopsARunCleanly|TestKillAnywhereConverges|TestSecondRunRefusesAtOnce|TestQueryWhileARunHoldsTheWarehouse|TestListenKeepsEveryAcknowledgedEventAcrossAKill|TestSimulateSendsWebhooksToListen|TestSimulatorWebhooksLoadExactly|TestRepairOpsForced429IsWaitedOut|TestProgressOnATerminalReachesFull|TestCronGetsJSONLogsASummaryAndMetrics|TestExitCodes|TestTheREADMEsFirstFiveMinutes)$'

# The HTTP layer, the pacing, the simulators' wire and the receiver: whole
# packages, they are all about deadlines and sockets.
pkgs=(./extract/rest ./extract/wiretest ./extract/budget ./extract/mgr ./extract/repairops ./receive)

# Compile first, on every core: the stress is for the tests, not the build.
$go test -race -count=1 -run '^$' "${pkgs[@]}" ./cmd/export >/dev/null

start=$(date +%s)
echo "test-stress: the tests and a busy neighbour (pid $burner) on one core; each test $count times"
"${pin[@]}" $go test -race -count="$count" -timeout 60m "${pkgs[@]}"
"${pin[@]}" $go test -race -count="$count" -timeout 60m -run "$cli" ./cmd/export
echo "test-stress: passed in $(( $(date +%s) - start )) s"
