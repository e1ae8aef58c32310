#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Nothing left behind: pins of namespaces deleted without a detach are
# reclaimed, xlbd replaces a link whose device is gone and drops what it
# does not use, and detach restores what attach changed.
. "$(dirname "$0")/lib.sh"

mkns() { # NAME: a namespace of the test with eth0 (a veth) and an address
	ip netns add "$PREFIX-$1"
	ip -n "$PREFIX-$1" link add eth0 type veth peer name peer0
	ip -n "$PREFIX-$1" link set eth0 up
	ip -n "$PREFIX-$1" link set peer0 up
	ip -n "$PREFIX-$1" addr add 10.96.0.1/24 dev eth0
}

decap_pin() { # NAME: where decap pins eth0's link in that namespace
	echo "/sys/fs/bpf/xlb-decap/net$(stat -L -c %i "/run/netns/$PREFIX-$1")/link_eth0"
}

link_id() { # PINNED_PATH
	bpftool -j link show pinned "$1" | jq -r .id
}

decap_detach_all() { # NAME...
	local h
	for h in "$@"; do
		on "$h" "$BUILD/xlbctl" decap detach eth0 >/dev/null 2>&1 || true
	done
}

test_stale_decap_pins_reclaimed() {
	local h pin id i stale=() ids=() live live_id
	trap 'decap_detach_all s4 s5' EXIT
	for h in s1 s2 s3 s4; do
		mkns $h
		on $h "$BUILD/xlbctl" decap attach eth0
	done
	for h in s1 s2 s3; do
		pin=$(decap_pin $h)
		stale+=("$pin")
		ids+=("$(link_id "$pin")")
		ip netns del "$PREFIX-$h"
	done
	live=$(decap_pin s4)
	live_id=$(link_id "$live")
	for pin in "${stale[@]}"; do
		[ -e "$pin" ] || fail "$pin went by itself: nothing left to reclaim"
	done
	mkns s5
	for i in $(seq 1 20); do
		on s5 "$BUILD/xlbctl" decap attach eth0 2>>"$WORK/err"
		grep -c "reclaimed .*xlb-decap/" "$WORK/err" | grep -q '^[3-9]' && break
		# A deleted namespace frees its devices a moment later (cleanup_net
		# runs in a workqueue): until then its links still have them.
		sleep 0.5
	done
	log "$(cat "$WORK/err")"
	for i in 0 1 2; do
		grep -qF "reclaimed ${stale[$i]}: its interface is gone (XDP link ${ids[$i]}," \
			"$WORK/err" || fail "${stale[$i]} not reported: $(cat "$WORK/err")"
		# The path may be pinned again: namespace inodes are reused (s5's).
		[ "$(link_id "${stale[$i]}" 2>/dev/null)" != "${ids[$i]}" ] ||
			fail "${stale[$i]} is still pinned"
		# Unpinned, the defunct link and its program leave the kernel.
		! bpftool link show id "${ids[$i]}" >/dev/null 2>&1 ||
			fail "defunct XDP link ${ids[$i]} still in the kernel"
	done
	[ "$(link_id "$live")" = "$live_id" ] || fail "the live link of s4 was touched"
	on s4 ip -j link show eth0 | jq -e '.[0].xdp.prog.id > 0' >/dev/null ||
		fail "s4 lost its decap program"
	on s5 ip -j link show eth0 | jq -e '.[0].xdp.prog.id > 0' >/dev/null ||
		fail "s5 has no decap program"
	# The explicit command: nothing of ours left to reclaim, the two live ones counted.
	on s5 "$BUILD/xlbctl" -j decap prune >"$WORK/prune"
	log "$(cat "$WORK/prune")"
	jq -e '.attached_count >= 2 and (.reclaimed | type == "array")' "$WORK/prune" >/dev/null ||
		fail "decap prune: $(cat "$WORK/prune")"
	for pin in "${stale[@]}"; do
		grep -qF "$pin" "$WORK/prune" && fail "prune found $pin again"
	done
	decap_detach_all s4 s5
	[ ! -e "$live" ] || fail "detach left $live"
}

# ipv4 forwarding, accept_local, ipv6 forwarding, force_forwarding (if any) of eth0.
sysctls() {
	on lb sh -c 'for k in ipv4/conf/eth0/forwarding ipv4/conf/eth0/accept_local \
		ipv6/conf/eth0/forwarding ipv6/conf/eth0/force_forwarding; do
		[ -e /proc/sys/net/$k ] && echo "$k=$(cat /proc/sys/net/$k)"; done' | xargs
}

test_detach_restores_sysctls() {
	local before
	topo_up 1
	# forwarding off, accept_local already on: detach must bring back both.
	on lb sysctl -qw net.ipv4.conf.eth0.forwarding=0 net.ipv6.conf.eth0.forwarding=0 \
		net.ipv4.conf.eth0.accept_local=1
	before=$(sysctls)
	log "before: $before"
	xlbd_start
	xlbctl attach eth0
	[ "$(on lb sysctl -n net.ipv4.conf.eth0.forwarding)" = 1 ] || fail "attach: no forwarding"
	grep -q "forwarding 0" "$WORK/xlb.conf.sysctl" || fail "old values not recorded"
	# The old values outlive the daemon.
	kill -9 "$(xlbd_pid)"
	xlbd_start
	xlbctl detach eth0
	[ "$(sysctls)" = "$before" ] || fail "after detach: $(sysctls), before attach: $before"
	[ ! -e "$WORK/xlb.conf.sysctl" ] || fail "records left after detach"
	# restore without the interface detaches it: the same undo.
	xlbctl attach eth0
	: >"$WORK/empty"
	xlbctl restore "$WORK/empty"
	[ "$(sysctls)" = "$before" ] || fail "after restore: $(sysctls), before attach: $before"
}

test_xlbd_replaces_defunct_link() {
	local old new
	mkns x1
	on x1 "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		2>>"$WORK/xlbd.log"
	on x1 "$BUILD/xlbctl" -s "$WORK/xlbd.sock" attach eth0
	old=$(link_id "$WORK_PINS/link_eth0")
	# A map of an older version, which this one does not use.
	bpftool map create "$WORK_PINS/old_map" type array key 4 value 4 entries 1 name old_map
	kill -9 "$(xlbd_pid)"
	ip -n "$PREFIX-x1" link del eth0
	ip -n "$PREFIX-x1" link add eth0 type veth peer name peer0
	ip -n "$PREFIX-x1" link set eth0 up
	ip -n "$PREFIX-x1" link set peer0 up
	on x1 "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		2>>"$WORK/xlbd.log"
	log "$(cat "$WORK/xlbd.log")"
	grep -qF "removed $WORK_PINS/link_eth0: its interface is gone" "$WORK/xlbd.log" ||
		fail "the link without a device was not reported"
	grep -qF "removed $WORK_PINS/old_map: a map this version does not use" "$WORK/xlbd.log" ||
		fail "the unused map was not reported"
	[ ! -e "$WORK_PINS/old_map" ] || fail "the unused map is still pinned"
	new=$(link_id "$WORK_PINS/link_eth0")
	[ -n "$new" ] && [ "$new" != "$old" ] || fail "no new link for the new eth0"
	! bpftool link show id "$old" >/dev/null 2>&1 || fail "defunct link $old still in the kernel"
	on x1 "$BUILD/xlbctl" -s "$WORK/xlbd.sock" -j status |
		jq -e '.interfaces[0].state == "attached"' >/dev/null || fail "eth0 not attached"
}

run_suite
