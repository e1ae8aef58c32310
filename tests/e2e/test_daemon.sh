#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# xlbd and xlbctl as a user runs them: namespaces, real clients and servers.
. "$(dirname "$0")/lib.sh"

# A balancer with an IPv4 and an IPv6 VIP of three backends each.
setup_two_vips() {
	lb_up
	vip_up $VIP4:80/tcp
	vip_up "[$VIP6]:80/tcp"
}

test_maps_and_traffic() {
	local js svc n
	setup_two_vips
	for svc in "$VIP4:80/tcp" "[$VIP6]:80/tcp"; do
		js=$(xlbctl -j vip show "$svc")
		log "$js"
		n=$(jq '.backends | length' <<<"$js")
		[ "$n" = 3 ] || fail "$svc: vip show lists $n backends, not 3"
		[ "$(jq '[.backends[].ring_slots] | add' <<<"$js")" = 65537 ] ||
			fail "$svc: ring slots do not add up to 65537"
		jq -e '[.backends[].ring_share_percent] | all(. > 30 and . < 37)' <<<"$js" >/dev/null ||
			fail "$svc: ring shares are not about a third each"
		jq -e '.method == "ipip" and .hash == "5tuple" and .ring_slots == 65537' \
			<<<"$js" >/dev/null || fail "$svc: VIP settings differ from what was added"
	done
	# Real requests through each VIP land on the backends.
	for i in $(seq 1 30); do get "http://$VIP4/" --local-port $((20000 + i)); done |
		sort | uniq -c >"$WORK/v4"
	log "$(cat "$WORK/v4")"
	[ "$(awk '{s += $1} END {print s}' "$WORK/v4")" = 30 ] || fail "IPv4 requests failed"
	[ "$(wc -l <"$WORK/v4")" -ge 2 ] || fail "IPv4 requests did not spread"
	for i in $(seq 1 30); do get "http://[$VIP6]/" --local-port $((21000 + i)); done |
		sort | uniq -c >"$WORK/v6"
	[ "$(awk '{s += $1} END {print s}' "$WORK/v6")" = 30 ] || fail "IPv6 requests failed"
	js=$(xlbctl -j stats)
	[ "$(jq '.outcomes.tx' <<<"$js")" -gt 0 ] || fail "stats shows no forwarded packet"
	grep -q '"":' <<<"$js" && fail "stats JSON has keys without a name"
	xlbctl -j status | jq -e '.interfaces[0].state == "attached"' >/dev/null ||
		fail "status does not show eth0 attached"
}

test_restart_kill9_keeps_flow() {
	local pid size
	setup_two_vips
	# ~6 s of transfer; the daemon dies and comes back in the middle of it.
	on client curl -s --max-time 40 --limit-rate 50M -o "$WORK/big" "http://$VIP4/big" &
	pid=$!
	sleep 1.5
	kill -9 "$(xlbd_pid)"
	sleep 1
	xlbd_start
	xlbctl status >/dev/null || fail "xlbd did not come back"
	wait $pid || fail "the transfer broke across the restart (curl exit $?)"
	size=$(stat -c %s "$WORK/big")
	[ "$size" = $((300 * 1024 * 1024)) ] || fail "transfer incomplete: $size bytes"
	# And the adopted maps still serve new flows.
	[ -n "$(get "http://$VIP4/")" ] || fail "no answer after the restart"
	grep -q "attached to eth0" "$WORK/xlbd.log" || fail "restart did not re-adopt eth0"
}

test_state_round_trip() {
	setup_two_vips
	xlbctl backend set $VIP4:80/tcp $N4.0.12 weight 5
	xlbctl save >"$WORK/saved"
	grep -q "weight 5" "$WORK/saved" || fail "save lacks the weight change"
	[ "$(cat "$WORK/saved")" = "$(cat "$WORK/xlb.conf")" ] || fail "state file differs from save"
	: >"$WORK/empty"
	xlbctl restore "$WORK/empty"
	[ -z "$(xlbctl save)" ] || fail "restoring an empty file left configuration"
	xlbctl restore <"$WORK/saved"
	xlbctl save >"$WORK/again"
	cmp -s "$WORK/saved" "$WORK/again" || fail "save -> restore -> save differs"
	[ -n "$(get "http://$VIP4/")" ] || fail "no traffic after restore"
}

test_restore_is_all_or_nothing() {
	setup_two_vips
	xlbctl save >"$WORK/before"
	{ head -3 "$WORK/before"; echo "vip add 10.98.1.9:80/tcp"; echo "backend add 10.98.1.9:80/tcp 10.98.0.300"; } >"$WORK/bad"
	if xlbctl restore "$WORK/bad" 2>"$WORK/err"; then fail "a bad file was accepted"; fi
	grep -q "line 5" "$WORK/err" || fail "error does not name line 5: $(cat "$WORK/err")"
	xlbctl save | cmp -s - "$WORK/before" || fail "a refused restore changed the configuration"
}

test_bad_commands_change_nothing() {
	local rc
	setup_two_vips
	xlbctl save >"$WORK/before"
	set +e
	xlbctl vip add $VIP4:80/tcp 2>"$WORK/e1"; rc=$?
	[ $rc = 1 ] && grep -q "already exists" "$WORK/e1" || fail "duplicate VIP: exit $rc, $(cat "$WORK/e1")"
	xlbctl backend add $VIP4:80/tcp 10.98.0.300 2>"$WORK/e2"; rc=$?
	[ $rc = 2 ] || fail "bad address: exit $rc"
	xlbctl backend add "[fd00::99]:80/tcp" 10.0.0.1 2>"$WORK/e3"; rc=$?
	[ $rc = 2 ] || fail "IPv4 backend for an IPv6 VIP: exit $rc"
	xlbctl backend set $VIP4:80/tcp $N4.0.19 weight 3 2>"$WORK/e4"; rc=$?
	[ $rc = 1 ] || fail "unknown backend: exit $rc"
	xlbctl vip add $N4.1.7:80/tcp ring 65536 2>"$WORK/e5"; rc=$?
	[ $rc = 2 ] || fail "non-prime ring: exit $rc"
	xlbctl attach nosuch0 2>"$WORK/e6"; rc=$?
	[ $rc = 1 ] && grep -q "no interface" "$WORK/e6" || fail "missing interface: exit $rc"
	xlbctl frobnicate 2>"$WORK/e7"; rc=$?
	[ $rc = 2 ] && grep -q "xlbctl help" "$WORK/e7" || fail "unknown command: exit $rc"
	xlbctl -j vip del 10.98.1.77:80/tcp >"$WORK/e8"; rc=$?
	[ $rc = 1 ] && jq -e .error "$WORK/e8" >/dev/null || fail "JSON error missing: exit $rc"
	set -e
	xlbctl save | cmp -s - "$WORK/before" || fail "a refused command changed the configuration"
	on lb "$BUILD/xlbctl" -s "$WORK/nosuch.sock" status 2>"$WORK/e9" && fail "no daemon: success?"
	grep -q "is it running" "$WORK/e9" || fail "no daemon: $(cat "$WORK/e9")"
}

test_non_root_refused() {
	topo_up 1
	xlbd_start
	chmod 755 "$WORK"
	if on lb setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BUILD/xlbctl" -s "$WORK/xlbd.sock" status 2>"$WORK/err"; then
		fail "a non-root user was served"
	fi
	grep -qi "permission denied" "$WORK/err" || fail "refusal does not say why: $(cat "$WORK/err")"
}

test_two_daemons_eth0() {
	local ns
	# Two more hosts, each with its own eth0 and its own xlbd.
	for ns in x1 x2; do
		ip netns add "$PREFIX-$ns"
		ip -n "$PREFIX-$ns" link add eth0 type veth peer name peer0
		ip -n "$PREFIX-$ns" link set eth0 up
		ip -n "$PREFIX-$ns" link set peer0 up
		ip -n "$PREFIX-$ns" addr add 10.97.0.1/24 dev eth0
		on "$ns" "$BUILD/xlbd" -s "$WORK/$ns.sock" -c "$WORK/$ns.conf" -p "$WORK_PINS-$ns"
		on "$ns" "$BUILD/xlbctl" -s "$WORK/$ns.sock" attach eth0
	done
	for ns in x1 x2; do
		on "$ns" "$BUILD/xlbctl" -s "$WORK/$ns.sock" -j status |
			jq -e '.interfaces[0].state == "attached"' >/dev/null ||
			fail "$ns: eth0 not attached"
	done
	# Decap on eth0 in both too: separate pins per namespace.
	on x1 "$BUILD/xlbctl" decap attach peer0
	on x2 "$BUILD/xlbctl" decap attach peer0
	on x1 "$BUILD/xlbctl" decap detach peer0
	on x2 ip -j link show peer0 | jq -e '.[0].xdp' >/dev/null ||
		fail "detaching decap in x1 removed it from x2"
	on x2 "$BUILD/xlbctl" decap detach peer0
	for ns in x1 x2; do
		pkill -f -- "-s $WORK/$ns.sock" || true
		rm -rf "$WORK_PINS-$ns"
	done
}

# xlbd -b/-r with a stand-in for birdc: what the fragment says, when the
# reload runs, and drain kept in the node's state but out of save/restore.
# The real BIRD, BGP and ECMP are test_scaleout.sh's.
bird_xlbd_start() { # [RELOAD]
	on lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		-b "$WORK/bird/xlb.conf" \
		-r "${1:-echo reloaded; cp $WORK/bird/xlb.conf $WORK/bird/seen.\$(date +%s%N)}" \
		2>>"$WORK/xlbd.log"
}
reloads() { find "$WORK/bird" -name 'seen.*' | wc -l; }
wait_reloads() { # N: at least N reloads have run, at most 3 s
	local i
	for i in $(seq 1 30); do
		[ "$(reloads)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "$(reloads) reloads ran, not $1"
}
xlbd_stop() { # and wait until it has gone, at most 3 s
	local pid i
	pid=$(xlbd_pid)
	kill "$pid"
	for i in $(seq 1 30); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "xlbd $pid did not stop"
}
routes() { grep -o '^	route [^ ]*' "$WORK/bird/xlb.conf" | awk '{print $2}' | xargs; }
# The fragment BIRD was last told to read, routes only: the reload ran after the write.
last_seen() { grep -o '^	route [^ ]*' "$(ls "$WORK"/bird/seen.* | sort | tail -1)" | awk '{print $2}' | xargs; }
wait_routes() { # EXPECTED: the fragment and the last reload's copy, at most 3 s
	local i
	for i in $(seq 1 30); do
		[ "$(routes)" = "$1" ] && [ "$(last_seen)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "fragment routes '$(routes)', last reloaded '$(last_seen)', expected '$1'"
}

test_bird_fragment_and_drain() {
	local n rc
	topo_up 1
	backends_up be1
	mkdir "$WORK/bird"
	bird_xlbd_start
	wait_reloads 1
	[ -z "$(routes)" ] || fail "announced before anything is served: $(routes)"
	grep -q "protocol static xlb_vips4" "$WORK/bird/xlb.conf" || fail "no xlb_vips4 protocol"
	xlbctl vip add $VIP4:80/tcp
	xlbctl vip add "[$VIP6]:80/tcp"
	xlbctl backend add $VIP4:80/tcp "$(be4 be1)"
	xlbctl backend add "[$VIP6]:80/tcp" "$(be6 be1)"
	[ -z "$(routes)" ] || fail "announced while detached: $(routes)"
	xlbctl attach eth0
	wait_routes "$VIP4/32 $VIP6/128"
	xlbctl -j status | tee "$WORK/st" | jq -e --arg a "$VIP4/32" '.bird.announced | index($a) != null' >/dev/null ||
		fail "status does not list $VIP4/32: $(cat "$WORK/st")"
	# An address's VIP without backends: announced only through its sibling.
	xlbctl vip add $VIP4:443/tcp
	xlbctl vip del "[$VIP6]:80/tcp"
	wait_routes "$VIP4/32"

	n=$(reloads)
	xlbctl node drain
	wait_routes ""
	[ "$(reloads)" -gt "$n" ] || fail "no reload after node drain"
	xlbctl node drain # idempotent
	xlbctl backend set $VIP4:80/tcp "$(be4 be1)" weight 2
	xlbctl -j status | jq -e '.node.drained' >/dev/null || fail "a service change undrained the node"
	wait_routes ""
	# The file is rewritten once commands pause (its log holds each change meanwhile).
	[ "$(wait_for 5000 "node drain" head -1 "$WORK/xlb.conf")" != timeout ] ||
		fail "the state file lacks node drain"
	xlbctl save >"$WORK/saved"
	grep -q "^node" "$WORK/saved" && fail "save prints the node's drain"
	[ -n "$(get "http://$VIP4/")" ] || fail "a drained node stopped forwarding"

	# Kept across a restart, which reloads BIRD once whatever the file says.
	xlbd_stop
	n=$(reloads)
	bird_xlbd_start
	xlbctl -j status | jq -e '.node.drained' >/dev/null || fail "restart forgot the drain"
	wait_reloads $((n + 1))
	wait_routes ""

	# Restore: a file from another node never drains or undrains this one.
	xlbctl restore "$WORK/saved"
	xlbctl -j status | jq -e '.node.drained' >/dev/null || fail "restore undrained the node"
	set +e
	xlbctl restore "$WORK/xlb.conf" 2>"$WORK/err"; rc=$?
	set -e
	[ $rc = 1 ] && grep -q "line 1: 'node drain' is this node's own state" "$WORK/err" ||
		fail "restore of a state file with node drain: exit $rc, $(cat "$WORK/err")"
	xlbctl save | cmp -s - "$WORK/saved" || fail "a refused restore changed the configuration"

	xlbctl node undrain
	wait_routes "$VIP4/32"
	xlbctl detach eth0
	wait_routes ""
	xlbctl attach eth0
	wait_routes "$VIP4/32"
	xlbctl vip del $VIP4:80/tcp
	wait_routes ""
}

# announce healthy withdraws a VIP whose backends are all down; always fails open.
test_bird_announce_healthy() {
	topo_up 1
	backends_up be1
	mkdir "$WORK/bird"
	bird_xlbd_start
	xlbctl attach eth0
	xlbctl vip add $VIP4:80/tcp announce healthy
	xlbctl vip add "[$VIP6]:80/tcp"
	xlbctl backend add $VIP4:80/tcp "$(be4 be1)"
	xlbctl backend add "[$VIP6]:80/tcp" "$(be6 be1)"
	xlbctl health set $VIP4:80/tcp tcp interval 100ms timeout 50ms fall 2 rise 1
	xlbctl health set "[$VIP6]:80/tcp" tcp interval 100ms timeout 50ms fall 2 rise 1
	wait_routes "$VIP4/32 $VIP6/128"
	[ "$(wait_for 5000 1 grep -c "announce healthy" "$WORK/xlb.conf")" != timeout ] ||
		fail "the state file lacks announce healthy"
	nginx_stop be1
	wait_routes "$VIP6/128"
	xlbctl -j vip show $VIP4:80/tcp | jq -e '.announce == "healthy" and .announced == false' \
		>/dev/null || fail "vip show does not say the healthy VIP is withdrawn"
	xlbctl -j vip list | jq -e '[.vips[] | select(.announced)] | length == 1' >/dev/null ||
		fail "vip list does not count one announced VIP: $(xlbctl -j vip list)"
	xlbctl -j status | jq -e '.vips_failing_open | length == 2' >/dev/null ||
		fail "both VIPs should fail open"
	nginx_start be1
	wait_routes "$VIP4/32 $VIP6/128"
}

# A reload that fails is reported and retried; a fragment that cannot be written stops xlbd.
test_bird_errors() {
	local rc
	topo_up 1
	mkdir "$WORK/bird"
	bird_xlbd_start "echo no control socket >&2; exit 3"
	xlbctl -j status >"$WORK/st"
	jq -e '.bird.reload == "failed" and .bird.reload_exit == 3' "$WORK/st" >/dev/null ||
		fail "a failing reload is not reported: $(jq -c .bird "$WORK/st")"
	grep -q "failed (exit 3): no control socket" "$WORK/xlbd.log" ||
		fail "the log lacks the reload's failure: $(tail -2 "$WORK/xlbd.log")"
	xlbd_stop
	set +e
	on lb "$BUILD/xlbd" -s "$WORK/x.sock" -c "$WORK/x.conf" -p "$WORK_PINS" \
		-b "$WORK/nosuch/xlb.conf" 2>"$WORK/err"; rc=$?
	on lb "$BUILD/xlbd" -s "$WORK/x.sock" -r "birdc configure" 2>"$WORK/err2"; rc2=$?
	set -e
	[ $rc = 1 ] && grep -q "cannot write the BIRD fragment $WORK/nosuch/xlb.conf" "$WORK/err" ||
		fail "unwritable fragment: exit $rc, $(cat "$WORK/err")"
	[ $rc2 = 2 ] && grep -q -- "-r needs -b" "$WORK/err2" || fail "-r without -b: exit $rc2"
}

run_suite
