#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Both ways CI scripts enter a namespace: `ip netns exec` (a new mount
# namespace with a new /sys, so /sys/fs/bpf is not the host's BPF
# filesystem there) and `nsenter --net` (the caller's mounts). xlbd and
# xlbctl decap pin on the host's BPF filesystem either way, so a daemon
# started one way adopts what one started the other way pinned.
. "$(dirname "$0")/lib.sh"

BIG=$((300 * 1024 * 1024))

ipn() { # HOST CMD... : run in a host's namespace through ip netns exec
	local h=$1
	shift
	ip netns exec "$PREFIX-$h" "$@"
}

xlbd_via() { # ENTER PIN_DIR
	$1 lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$2" -v \
		2>>"$WORK/xlbd.log"
}

obj_id() { # PINNED_PATH KIND: id of a pinned link or map
	bpftool -j "$2" show pinned "$1" | jq -r .id
}

# Backends with decap entered by ENTER; the balancer started by FIRST, then
# killed with -9 in the middle of a download and started again by SECOND.
restart_keeps_flow() { # FIRST SECOND
	local first=$1 second=$2 pins=$WORK_PINS/deep/er h ino pid link conns prog
	topo_up 3
	for h in be1 be2 be3; do
		$first "$h" "$BUILD/xlbctl" decap attach eth0
		nginx_start "$h"
		ino=$(stat -L -c %i "/run/netns/$PREFIX-$h")
		[ -e "/sys/fs/bpf/xlb-decap/net$ino/link_eth0" ] ||
			fail "$h: decap link not pinned on the host's BPF filesystem"
	done
	# -p with missing parents: they are made, as -s and -c make theirs.
	xlbd_via "$first" "$pins" || fail "xlbd did not start through '$first'"
	$first lb "$BUILD/xlbctl" -s "$WORK/xlbd.sock" attach eth0
	vip_up $VIP4:80/tcp
	[ -e "$pins/link_eth0" ] || fail "xlbd's link is not on the host's BPF filesystem"
	link=$(obj_id "$pins/link_eth0" link)
	conns=$(obj_id "$pins/conns" map)
	prog=$(bpftool -j link show id "$link" | jq .prog_id)
	[ -n "$(get "http://$VIP4/")" ] || fail "no answer through the VIP"

	# 300 MB at 50 MB/s: about 6 s, with the daemon gone for a while.
	download_start "http://$VIP4/big" 30000 50M
	pid=$!
	sleep 1.5
	kill -9 "$(xlbd_pid)"
	sleep 1
	kill -0 "$pid" 2>/dev/null || fail "the download ended before the restart: too fast"
	xlbd_via "$second" "$pins" || fail "xlbd did not start again through '$second'"
	$second lb "$BUILD/xlbctl" -s "$WORK/xlbd.sock" -j status |
		jq -e '.interfaces[0].state == "attached"' >/dev/null || fail "eth0 not attached"
	# Adopted, not made anew: the same link and connection table, a new program.
	[ "$(obj_id "$pins/link_eth0" link)" = "$link" ] || fail "the link was not adopted"
	[ "$(obj_id "$pins/conns" map)" = "$conns" ] || fail "the connection table was not adopted"
	[ "$(bpftool -j link show id "$link" | jq .prog_id)" != "$prog" ] ||
		fail "the link still runs the killed daemon's program"
	download_done "$pid" 30000 $BIG "download across kill -9 and a restart"
	[ -n "$(get "http://$VIP4/")" ] || fail "no answer after the restart"
	for h in be1 be2 be3; do
		$second "$h" "$BUILD/xlbctl" decap detach eth0
		ino=$(stat -L -c %i "/run/netns/$PREFIX-$h")
		[ ! -e "/sys/fs/bpf/xlb-decap/net$ino" ] || fail "$h: decap pins left after detach"
	done
}

test_ip_netns_exec_kill9_keeps_flow() {
	restart_keeps_flow ipn ipn
}

test_nsenter_then_ip_netns_exec_share_pins() {
	restart_keeps_flow on ipn
}

run_suite
