#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Run every test found by convention and print one closing tally:
#   tests/build/test_*.sh     shell, the build's inputs (after make all)
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

# ---- leftovers: the run leaves /sys/fs/bpf and the kernel's links as it found them ----
# The e2e suites of this run share one prefix (lib.sh), so that what they
# leave is told apart from what other runs on the same machine create
# meanwhile: namespaces PREFIX-*, pin dirs /sys/fs/bpf/xlb-e2e-PREFIX*. A decap
# pin left by a namespace deleted without a detach is found by `xlbctl decap
# prune` (its link has no device); one that was not there before is this
# run's. The BPF tests' pin dirs are xlb-test-*. In CI (one run alone) the
# check is exact; beside concurrent runs, their short-lived objects are
# waited out (a leak stays, theirs go).
export PREFIX=${PREFIX:-r$$}
decap_pins() { ls -d /sys/fs/bpf/xlb-decap/net*/link_* 2>/dev/null | sort; }
bpffs_before=$(ls -A /sys/fs/bpf 2>/dev/null | sort)
decap_before=$(decap_pins)
leftovers() {
	ip netns list 2>/dev/null | awk -v p="$PREFIX-" 'index($1, p) == 1 { print "namespace " $1 }'
	ls -d /sys/fs/bpf/xlb-e2e-"$PREFIX"* 2>/dev/null | sed 's/^/pin dir /'
	comm -13 <(echo "$bpffs_before") <(ls -A /sys/fs/bpf 2>/dev/null | sort) |
		grep -E '^(xlb-test-|tc$|ip$|xdp$)' | sed 's|^|pin /sys/fs/bpf/|'
	[ -x "$build/xlbctl" ] || return 0
	"$build/xlbctl" -j decap prune 2>/dev/null | jq -r '.reclaimed[]?.pin' |
		grep -vxF -f <(echo "$decap_before") | sed 's/^/decap link without a device: /'
}
check_leftovers() {
	local left i
	for i in 1 2 3 4 5; do
		left=$(leftovers)
		[ -z "$left" ] && return 0
		sleep 2
	done
	echo "left behind by this run:"
	echo "$left" | sed 's/^/  /'
	failed=$((failed + 1)) failed_names+=("leftovers")
}

for t in "$here"/tests/build/test_*.sh; do
	[ -f "$t" ] && run "build/$(basename "$t" .sh)" bash "$t" "$build"
done
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

[ "$is_root" = 1 ] && [ -z "$filter" ] && check_leftovers

echo
[ ${#failed_names[@]} -ne 0 ] && echo "failed: ${failed_names[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
