#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What a first hour trips on: versions, a pin dir whose parents are
# missing, a pin dir that is not on a BPF filesystem.
. "$(dirname "$0")/lib.sh"

test_version() {
	local d c
	d=$("$BUILD/xlbd" -V) || fail "xlbd -V failed"
	c=$("$BUILD/xlbctl" -V) || fail "xlbctl -V failed"
	[[ $d =~ ^xlbd\ [[:graph:]]+$ ]] || fail "xlbd -V says '$d'"
	[[ $c =~ ^xlbctl\ [[:graph:]]+$ ]] || fail "xlbctl -V says '$c'"
	[ "$("$BUILD/xlbctl" --version)" = "$c" ] || fail "xlbctl --version differs from -V"
}

test_pin_dir_parents_made() {
	topo_up 1
	on lb "$BUILD/xlbd" -s "$WORK/s/xlbd.sock" -c "$WORK/c/xlb.conf" -p "$WORK_PINS/a/b" \
		2>"$WORK/err" || fail "xlbd -p with missing parents: $(cat "$WORK/err")"
	[ -e "$WORK_PINS/a/b/vips" ] || fail "no maps pinned in $WORK_PINS/a/b"
	pkill -f -- "-s $WORK/s/xlbd.sock" || true
}

test_pin_dir_not_bpffs() {
	local rc=0
	topo_up 1
	on lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK/pins" \
		2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "xlbd -p on tmpfs: exit $rc"
	grep -q "not on a BPF filesystem.*mount -t bpf" "$WORK/err" ||
		fail "the error does not name cause and fix: $(cat "$WORK/err")"
}

run_suite
