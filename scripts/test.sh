#!/usr/bin/env bash
# make test's tests and fuzzing: units of work that TEST_WORKERS workers
# (2, one per core) take from one queue, longest first, each unit running
# one test at a time. A worker that finishes early takes the next unit, so
# the two stay even on a fast machine and a slow one alike; two fixed jobs
# were even on one machine and 120 s apart on another.
#
# The units, longest first as measured on 2 cores: cmd/export without its
# three slowest tests; the lake; the fault matrix; the random kills and
# the signals (mostly waiting on their processes); the fuzzing; the three
# other packages of more than 15 s; then every other package in one unit.
# A package that is not named runs in the last unit, so a new one is never
# left out.
#
# Environment: GO (go), TEST_WORKERS (2), TEST_PARALLEL (1), TEST_LOGS (a
# folder to keep each unit's log in; a temporary one if unset),
# TEST_TMPDIR (below). It prints each package's result, the failures, the
# 10 slowest tests, the time per package and per unit, and exits non-zero
# if any unit failed.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
workers=${TEST_WORKERS:-2}
# cmd/export's tests that run in units of their own.
matrix='^TestFaultMatrix$'
kills='^(TestRandomKillsConverge|TestASignalStopsARunCleanly)$'
module=$($GO list -m) || exit 1
# The tests' folders (t.TempDir, and go's own build folders) go to a
# tmpfs when /dev/shm is one with 4 GiB free: the suite writes hundreds of
# small warehouses and thousands of Hive partitions, and a directory
# costs 300 us to create on this machine's ext4 against 4 us on tmpfs
# (1,000 mkdirs). Measured: 299-307 s on disk, 254 s on tmpfs; the suite
# holds about 530 MB there at its peak. TEST_TMPDIR names another folder;
# TEST_TMPDIR=keep leaves TMPDIR as it is.
scratch=
cleanup() { [ -n "$scratch" ] && rm -rf "$scratch"; [ -n "${own_logs:-}" ] && rm -rf "$logs"; }
trap cleanup EXIT
case "${TEST_TMPDIR:-}" in
keep) ;;
"")
  if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    [ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt $((4 << 20)) ] 2>/dev/null; then
    scratch=$(mktemp -d /dev/shm/repairshop-test.XXXXXX) && chmod 755 "$scratch" && export TMPDIR=$scratch
  fi
  ;;
*) export TMPDIR=$TEST_TMPDIR ;;
esac

logs=${TEST_LOGS:-}
if [ -z "$logs" ]; then
  logs=$(mktemp -d) || exit 1
  own_logs=1
fi
mkdir -p "$logs" || exit 1
rm -f "$logs"/unit-*

# -timeout bounds a hung test binary, not a slow machine: 40 minutes is
# over three times the longest unit on the slowest 2-core machine measured
# (cmd/export, under 500 s), and under CI's 90.
gotest="test -race -count=1 -timeout 40m -parallel ${TEST_PARALLEL:-1} -json"
named=(lake extract/mgr load extract/repairops)
rest=$($GO list ./... | grep -v -x -F -e "$module/cmd/export" $(printf -- "-e $module/%s " "${named[@]}")) || exit 1

# One unit a line: its name, a tab, then its go command's arguments (or
# fuzz, for make fuzz).
{
  printf 'cmd/export\t%s -skip %s|%s ./cmd/export\n' "$gotest" "$matrix" "$kills"
  printf 'lake\t%s ./lake\n' "$gotest"
  printf 'fault matrix\t%s -run %s ./cmd/export\n' "$gotest" "$matrix"
  printf 'kills and signals\t%s -run %s ./cmd/export\n' "$gotest" "$kills"
  printf 'fuzzing\tfuzz\n'
  for p in "${named[@]:1}"; do printf '%s\t%s ./%s\n' "$p" "$gotest" "$p"; done
  printf 'the rest\t%s -p 1 %s\n' "$gotest" "$(echo $rest)"
} > "$logs/units"

# unit N runs line N of the units: go test's JSON to unit-N.json (the
# fuzzing's text to unit-N.log), its seconds and exit code beside it.
unit() {
  local n=$1 name what start rc
  IFS=$'\t' read -r name what < <(sed -n "${n}p" "$logs/units")
  start=$(date +%s)
  if [ "$what" = fuzz ]; then
    make --no-print-directory fuzz FUZZTIME=10000x > "$logs/unit-$n.log" 2>&1
  else
    # shellcheck disable=SC2086 # the flags and packages are words
    $GO $what > "$logs/unit-$n.json"
  fi
  rc=$?
  echo "$(( $(date +%s) - start )) $rc" > "$logs/unit-$n.done"
}
export -f unit
export GO logs

start=$(date +%s)
seq "$(wc -l < "$logs/units")" | xargs -P "$workers" -n 1 bash -c 'unit "$1"' _
took=$(( $(date +%s) - start ))

cat "$logs"/unit-*.json | $GO run ./tools/testreport -slowest 10; report=$?
failed=0
times=()
n=0
while IFS=$'\t' read -r name what; do
  n=$((n + 1))
  read -r secs rc < "$logs/unit-$n.done" 2>/dev/null || { secs='?'; rc=1; }
  if [ "$what" = fuzz ]; then
    if [ "$rc" = 0 ]; then grep '^fuzz ' "$logs/unit-$n.log"; else grep -v '^fuzz: elapsed' "$logs/unit-$n.log"; fi
  fi
  [ "$rc" = 0 ] || { failed=1; echo "FAIL: $name (exit $rc)"; }
  times+=("$name $secs s")
done < "$logs/units"
echo "tests and fuzzing: $took s on $workers workers ($(IFS=,; echo "${times[*]}" | sed 's/,/, /g'))"
[ "$failed" -eq 0 ] && [ "$report" -eq 0 ]
