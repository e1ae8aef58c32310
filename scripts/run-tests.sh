#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Run every test found by convention and print one closing tally:
#   build/tests/unit/test_*   cmocka, plain userspace
#   build/tests/bpf/test_*    cmocka, loads BPF (root)
#   tests/e2e/test_*.sh       shell, network namespaces (root)
# Usage: run-tests.sh BUILD_DIR [FILTER]   V=1 for verbose output.
set -uo pipefail

build=${1:-build}
filter=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
passed=0 failed=0 skipped=0
failed_names=()

tally() { # name, log file, exit code
	local name=$1 log=$2 rc=$3 p f s
	p=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	s=$(sed -n 's/.*\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	# Shell suites print PASS/FAIL/SKIP lines instead.
	if [ -z "$p$f$s" ]; then
		p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
	fi
	p=${p:-0} f=${f:-0} s=${s:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or errored outside any test
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -ne 0 ] && failed_names+=("$name")
	printf '%-40s %3d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

run() { # name, command...
	local name=$1 log rc
	shift
	[ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
	log=$(mktemp)
	if [ "${V:-0}" = 1 ]; then
		"$@" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
	else
		"$@" >"$log" 2>&1
		rc=$?
	fi
	tally "$name" "$log" "$rc"
	if [ "$rc" -ne 0 ] && [ "${V:-0}" != 1 ]; then
		sed 's/^/    | /' "$log" | tail -60
	fi
	rm -f "$log"
}

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
[ "$is_root" = 1 ] && "$here/scripts/mount-bpffs.sh"

for t in "$build"/tests/unit/test_*; do
	[ -x "$t" ] && run "unit/$(basename "$t")" "$t"
done
for t in "$build"/tests/bpf/test_*; do
	[ -x "$t" ] || continue
	if [ "$is_root" = 1 ]; then
		run "bpf/$(basename "$t")" "$t"
	else
		echo "SKIP bpf/$(basename "$t"): needs root"; skipped=$((skipped + 1))
	fi
done
for t in "$here"/tests/e2e/test_*.sh; do
	[ -f "$t" ] || continue
	if [ "$is_root" = 1 ]; then
		run "e2e/$(basename "$t" .sh)" bash "$t" "$build"
	else
		echo "SKIP e2e/$(basename "$t"): needs root"; skipped=$((skipped + 1))
	fi
done

echo
[ ${#failed_names[@]} -ne 0 ] && echo "failed: ${failed_names[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
