#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Real traffic through the balancer: curl and ping clients, nginx backends,
# spread, weights, stickiness, drain and removal under load, ICMP, path MTU
# discovery through a narrower router, and the host's own traffic.
. "$(dirname "$0")/lib.sh"

SVC4=$VIP4:80/tcp
SVC6="[$VIP6]:80/tcp"
BIG=$((300 * 1024 * 1024)) # size of nginx_start's /big

# The backend holding the established connection from client port PORT,
# within 5 s.
owner() { # PORT
	local i h
	for ((i = 0; i < 50; i++)); do
		for h in be1 be2 be3; do
			if [ -n "$(on "$h" ss -Htn state established "( sport = :80 and dport = :$1 )")" ]; then
				echo "$h"
				return 0
			fi
		done
		sleep 0.1
	done
	fail "no backend holds the connection from client port $1"
}

test_ipv4_spread() {
	lb_up
	vip_up "$SVC4"
	requests "http://$VIP4/" 10001 1000 >"$WORK/r"
	spread_check "$WORK/r" 1000 "IPv4 ipip"
	log "new flows: $(xlbctl -j stats | jq '.vips[0].new_flows')"
}

test_ipv6_spread() {
	lb_up
	vip_up "$SVC6"
	requests "http://[$VIP6]/" 10001 1000 >"$WORK/r"
	spread_check "$WORK/r" 1000 "IPv6 ipip"
	log "new flows: $(xlbctl -j stats | jq '.vips[0].new_flows')"
}

test_l2_method() {
	topo_up 3
	# No decap on the backends: l2 frames arrive as the client sent them,
	# and an encapsulated one would be dropped there (no ipip module).
	nginx_start be1
	nginx_start be2
	nginx_start be3
	xlbd_start
	xlbctl attach eth0
	vip_up "$SVC4" method l2
	vip_up "$SVC6" method l2
	xlbctl -j vip show "$SVC4" | jq -e '.method == "l2"' >/dev/null ||
		fail "vip show does not say method l2"
	requests "http://$VIP4/" 10001 1000 >"$WORK/r4"
	spread_check "$WORK/r4" 1000 "IPv4 l2"
	# IPv6 sockets bind IPv4 ports too: other ports than the IPv4 requests'.
	requests "http://[$VIP6]/" 12001 1000 >"$WORK/r6"
	spread_check "$WORK/r6" 1000 "IPv6 l2"
}

test_weights() {
	local w
	lb_up
	xlbctl vip add "$SVC4"
	for w in 1 2 3; do
		xlbctl backend add "$SVC4" "$(be4 be$w)" weight $w
	done
	requests "http://$VIP4/" 10001 3000 >"$WORK/r"
	all_answered "$WORK/r" 3000 "weights 1:2:3"
	# 1/6, 2/6, 3/6 within 5 points.
	share_between "$WORK/r" 3000 be1 11.67 21.67 "weight 1"
	share_between "$WORK/r" 3000 be2 28.33 38.33 "weight 2"
	share_between "$WORK/r" 3000 be3 45 55 "weight 3"
}

test_same_tuple_same_backend() {
	local r n svc
	lb_up
	client_reuses_ports
	vip_up "$SVC4"
	# The same 20 source ports, five rounds: each port, so each 5-tuple,
	# must get the same backend every time.
	for r in 1 2 3 4 5; do
		requests "http://$VIP4/" 10001 20 >"$WORK/round$r"
		all_answered "$WORK/round$r" 20 "5tuple round $r"
	done
	n=$(cat "$WORK"/round* | sort -u | wc -l)
	[ "$n" = 20 ] || fail "20 5-tuples sent 5 times met $n port/backend pairs, not 20"
	[ "$(awk '{ print $2 }' "$WORK/round1" | sort -u | wc -l)" -ge 2 ] ||
		fail "20 5-tuples all went to one backend: hash 5tuple does not spread"
	log "5tuple: $(tally "$WORK/round1"); new flows $(xlbctl -j stats | jq '.vips[0].new_flows')"

	# hash src: one client, 50 source ports, one backend; both families.
	for svc in "$N4.1.2:80/tcp" "[$N6:1::2]:80/tcp"; do
		vip_up "$svc" hash src
		xlbctl -j vip show "$svc" | jq -e '.hash == "src"' >/dev/null ||
			fail "$svc: vip show does not say hash src"
	done
	requests "http://$N4.1.2/" 11001 50 >"$WORK/src4"
	all_answered "$WORK/src4" 50 "hash src IPv4"
	[ "$(awk '{ print $2 }' "$WORK/src4" | sort -u | wc -l)" = 1 ] ||
		fail "hash src IPv4: one client met several backends: $(tally "$WORK/src4")"
	requests "http://[$N6:1::2]/" 12001 50 >"$WORK/src6"
	all_answered "$WORK/src6" 50 "hash src IPv6"
	[ "$(awk '{ print $2 }' "$WORK/src6" | sort -u | wc -l)" = 1 ] ||
		fail "hash src IPv6: one client met several backends: $(tally "$WORK/src6")"
}

test_drain_keeps_transfer() {
	local pid x
	lb_up
	vip_up "$SVC4"
	# 300 MB at 50 MB/s: about 6 s.
	download_start "http://$VIP4/big" 30000 50M
	pid=$!
	x=$(owner 30000)
	log "the download runs to $x"
	xlbctl backend set "$SVC4" "$(be4 "$x")" weight 0
	xlbctl -j vip show "$SVC4" |
		jq -e --arg a "$(be4 "$x")" '.backends[] | select(.address == $a) | .ring_slots == 0' \
			>/dev/null || fail "drained $x still has ring slots"
	requests "http://$VIP4/" 10001 200 >"$WORK/r"
	kill -0 "$pid" 2>/dev/null ||
		fail "the download ended before the drain was tested: too fast for this check"
	all_answered "$WORK/r" 200 "new requests while $x drains"
	[ "$(count_of "$WORK/r" "$x")" = 0 ] ||
		fail "drained $x got $(count_of "$WORK/r" "$x") of 200 new connections"
	download_done "$pid" 30000 $BIG "download from drained $x"
	requests "http://$VIP4/" 11001 200 >"$WORK/r2"
	all_answered "$WORK/r2" 200 "new requests after the download"
	[ "$(count_of "$WORK/r2" "$x")" = 0 ] ||
		fail "drained $x got $(count_of "$WORK/r2" "$x") of 200 new connections"
}

test_remove_keeps_others() {
	local h p pid1 pid2 port1 port2
	lb_up
	client_reuses_ports
	vip_up "$SVC4"
	# Find a source port that lands on be1 and one on be2; be3 goes.
	requests "http://$VIP4/" 31001 60 >"$WORK/probe"
	port1=$(awk '$2 == "be1" { print $1; exit }' "$WORK/probe")
	port2=$(awk '$2 == "be2" { print $1; exit }' "$WORK/probe")
	[ -n "$port1" ] && [ -n "$port2" ] ||
		fail "60 source ports did not reach both be1 and be2: $(tally "$WORK/probe")"
	# Two 300 MB downloads at 40 MB/s: about 8 s each.
	download_start "http://$VIP4/big" "$port1" 40M
	pid1=$!
	download_start "http://$VIP4/big" "$port2" 40M
	pid2=$!
	for p in "$port1:be1" "$port2:be2"; do
		h=$(owner "${p%:*}")
		[ "$h" = "${p#*:}" ] || fail "the download from port ${p%:*} runs to $h, not ${p#*:}"
	done
	xlbctl backend del "$SVC4" "$(be4 be3)"
	[ "$(xlbctl -j vip show "$SVC4" | jq '.backends | length')" = 2 ] ||
		fail "vip show does not list 2 backends after backend del"
	requests "http://$VIP4/" 10001 100 >"$WORK/r"
	kill -0 "$pid1" 2>/dev/null && kill -0 "$pid2" 2>/dev/null ||
		fail "a download ended before the removal was tested: too fast for this check"
	all_answered "$WORK/r" 100 "new requests after removing be3"
	[ "$(count_of "$WORK/r" be3)" = 0 ] ||
		fail "removed be3 still got $(count_of "$WORK/r" be3) of 100 new connections"
	download_done "$pid1" "$port1" $BIG "download from be1"
	download_done "$pid2" "$port2" $BIG "download from be2"
}

# A balancer that has not talked to a backend yet (a fresh host, an entry
# that expired) must still deliver: the first SYN may wait for the
# neighbour (a retransmit, 1 s), but every connection must succeed. ipip
# hands the encapsulated packet to the kernel (IPv6 needs the interface's
# force_forwarding); l2 drops it (the kernel cannot deliver a VIP packet)
# and xlbd, seeing the counters move, has the neighbour resolved.
test_unresolved_neighbours() {
	local m url port=10001 bad=""
	lb_up
	vip_up "$SVC4"
	vip_up "$SVC6"
	vip_up "$N4.1.3:80/tcp" method l2
	vip_up "[$N6:1::3]:80/tcp" method l2
	for m in "ipip http://$VIP4/" "ipip http://[$VIP6]/" \
		"l2 http://$N4.1.3/" "l2 http://[$N6:1::3]/"; do
		url=${m#* }
		on lb ip neigh flush dev eth0
		on lb ip -6 neigh flush dev eth0
		# The data plane's next-hop cache holds an answer for 1 s.
		sleep 1.2
		REQ_TIMEOUT=4 requests "$url" $port 3 >"$WORK/n$port"
		log "${m% *} $url: $(tally "$WORK/n$port")"
		[ "$(count_of "$WORK/n$port" -)" = 0 ] ||
			bad+=" ${m% *} $url: $(count_of "$WORK/n$port" -) of 3 failed ($(first_error "$WORK/n$port"));"
		port=$((port + 1000))
	done
	log "pass_no_neigh: $(outcome pass_no_neigh)"
	[ -z "$bad" ] || fail "with no neighbour entry:$bad"
}

test_ping_vip() {
	local before after
	lb_up
	vip_up "$SVC4"
	vip_up "$SVC6"
	before=$(outcome icmp_echo)
	on client ping -q -c 3 -i 0.2 -W 2 "$VIP4" >"$WORK/p4" || fail "ping $VIP4: $(tail -2 "$WORK/p4")"
	on client ping -q -c 3 -i 0.2 -W 2 -s 1400 "$VIP4" >"$WORK/p4big" ||
		fail "ping -s 1400 $VIP4: $(tail -2 "$WORK/p4big")"
	on client ping -q -c 3 -i 0.2 -W 2 "$VIP6" >"$WORK/p6" || fail "ping $VIP6: $(tail -2 "$WORK/p6")"
	log "$(grep -h received "$WORK"/p4 "$WORK"/p4big "$WORK"/p6)"
	after=$(outcome icmp_echo)
	log "icmp_echo: $before -> $after"
	# Answered by the balancer itself: no backend sees an echo request.
	[ $((after - before)) -ge 9 ] || fail "the balancer answered $((after - before)) echo requests, not 9"
}

test_mtu_too_big() {
	lb_up
	vip_up "$SVC4"
	vip_up "$SVC6"
	narrow_path_up
	far_routes be1 be2 be3
	# The errors reached the backends that sent the packets: they learnt
	# the path MTU towards far.
	fetch_over_narrow_path icmp_too_big "$N4.4.2 from $VIP4" "$N6:4::2 from $VIP6"
}

test_non_vip_traffic_untouched() {
	local a got pass_before pass_after drops
	lb_up
	vip_up "$SVC4"
	vip_up "$SVC6"
	nginx_start lb 2222
	nginx_start client 2222
	pass_before=$(outcome pass_not_vip)
	# TCP to the balancer's own addresses (small packets in, full ones out)
	# and from them (full ones in): a page, then 50 MB, each way.
	for a in $N4.0.2 "[$N6::2]"; do
		got=$(get "http://$a:2222/")
		[ "$got" = lb ] || fail "client -> http://$a:2222/ answered '$got', not 'lb'"
		got=$(on client curl -s --max-time 20 -r 0-52428799 -o /dev/null \
			-w '%{size_download} %{http_code}' "http://$a:2222/big")
		[ "$got" = "52428800 206" ] || fail "client -> 50 MB from http://$a:2222/big: '$got'"
	done
	for a in $N4.0.10 "[$N6::a]"; do
		got=$(on lb curl -s --max-time 5 "http://$a:2222/")
		[ "$got" = client ] || fail "lb -> http://$a:2222/ answered '$got', not 'client'"
		got=$(on lb curl -s --max-time 20 -r 0-52428799 -o /dev/null \
			-w '%{size_download} %{http_code}' "http://$a:2222/big")
		[ "$got" = "52428800 206" ] || fail "lb -> 50 MB from http://$a:2222/big: '$got'"
	done
	on client ping -q -c 3 -i 0.2 -W 2 $N4.0.2 >/dev/null || fail "ping $N4.0.2 from the client"
	on client ping -q -c 3 -i 0.2 -W 2 $N6::2 >/dev/null || fail "ping $N6::2 from the client"
	on lb ping -q -c 3 -i 0.2 -W 2 $N4.0.10 >/dev/null || fail "ping from the balancer to the client"
	on lb ping -q -c 3 -i 0.2 -W 2 $N6::a >/dev/null || fail "ping6 from the balancer to the client"
	pass_after=$(outcome pass_not_vip)
	drops=$(xlbctl -j stats | jq '[.outcomes | to_entries[] | select(.key | startswith("drop_")) | .value] | add')
	log "pass_not_vip $pass_before -> $pass_after, drops $drops"
	# It all went through the attached program, and was passed, not dropped.
	on lb ip -j link show eth0 | jq -e '.[0].xdp' >/dev/null || fail "xlb is not attached to eth0"
	[ $((pass_after - pass_before)) -gt 1000 ] ||
		fail "only $((pass_after - pass_before)) packets passed as non-VIP: was xlb on the path?"
	[ "$drops" = 0 ] || fail "$drops packets dropped"
	# And the VIP still works beside it.
	[ -n "$(get "http://$VIP4/")" ] || fail "the VIP stopped answering"
}


# The pinned rings' element size (16: 2-byte slots; 8: the last release's 4-byte ones).
ring_value_size() {
	local hex
	# "key: 01 00 00 00  value: ef dd 09 00": the first ring's map id, little-endian.
	hex=$(bpftool map dump pinned "$WORK_PINS/rings" | awk '/value:/ { print $10 $9 $8 $7; exit }')
	[ -n "$hex" ] && bpftool -j map show id $((16#$hex)) | jq .bytes_value
}

# What `vip show` says of $SVC4's ring: slots and shares per backend, the digest.
ring_view() {
	xlbctl -j vip show "$SVC4" |
		jq -c '[.ring_digest, [.backends[] | [.address, .ring_slots, .ring_share_percent]]]'
}

# The last release whose rings have 4-byte slots. Its xlbd and xlbctl are built from git into
# the build directory once (~20 s), unless OLD_BUILD names a build of it already.
LAST_4BYTE_RINGS=532870b

old_build() {
	local dir

	if [ -n "${OLD_BUILD:-}" ]; then
		echo "$OLD_BUILD"
		return 0
	fi
	dir=$(cd "$BUILD" && pwd)/release-$LAST_4BYTE_RINGS
	if [ ! -x "$dir/build/xlbd" ] || [ ! -x "$dir/build/xlbctl" ]; then
		git -C "$XLB_ROOT" cat-file -e "$LAST_4BYTE_RINGS^{commit}" 2>/dev/null || return 1
		rm -rf "$dir" && mkdir -p "$dir" || return 1
		git -C "$XLB_ROOT" archive "$LAST_4BYTE_RINGS" | tar -x -C "$dir" || return 1
		make -C "$dir" -s build/xlbd build/xlbctl >"$WORK/old-build.log" 2>&1 || return 1
	fi
	echo "$dir/build"
}

# An upgrade over the last release (OLD_BUILD: its build directory, with xlbd and xlbctl): its
# program attached, its 4-byte rings pinned, a download from a backend already drained (so
# only the flow's connection entry keeps it there, a re-hash would break it). The new xlbd
# copies the rings into 2-byte ones: the download goes on to its end, `vip show` says what the
# old one said, and a restart adopts the new rings as they are. The same over IPv6, whose
# entries that release placed by the Maglev hash and this build looks for by xlb_conn_hash():
# the new xlbd moves them before its program runs.
test_upgrade_keeps_drained_flow() {
	local pid pid6 x y before old
	old=$(old_build) || {
		skip "no build of $LAST_4BYTE_RINGS (no git history here, or it did not build:" \
			"$WORK/old-build.log); OLD_BUILD=<its build dir> gives one"
		return 0
	}
	topo_up 3
	backends_up be1 be2 be3
	BUILD=$old xlbd_start
	BUILD=$old xlbctl attach eth0
	BUILD=$old vip_up "$SVC4"
	BUILD=$old vip_up "$SVC6"
	[ "$(ring_value_size)" = 8 ] || fail "the last release's rings are not 4-byte: $(ring_value_size)"
	download_start "http://$VIP4/big" 30000 50M
	pid=$!
	download_start "http://[$VIP6]/big" 30001 50M
	pid6=$!
	x=$(owner 30000)
	y=$(owner 30001)
	BUILD=$old xlbctl backend set "$SVC4" "$(be4 "$x")" weight 0
	BUILD=$old xlbctl backend set "$SVC6" "$(be6 "$y")" weight 0
	before=$(BUILD=$old ring_view)
	kill -0 "$pid" 2>/dev/null && kill -0 "$pid6" 2>/dev/null ||
		fail "a download ended before the upgrade: too fast for this check"
	kill "$(xlbd_pid)"
	for _ in $(seq 50); do [ -z "$(xlbd_pid)" ] && break; sleep 0.1; done
	xlbd_start
	log "$(cat "$WORK/xlbd.log")"
	grep -qF "rings: pinned with 8-byte elements, now 16 (2-byte slots): copied" "$WORK/xlbd.log" ||
		fail "xlbd did not say it copied the last release's rings"
	[ "$(ring_value_size)" = 16 ] || fail "the rings are not 2-byte after the upgrade"
	[ "$(ring_view)" = "$before" ] || fail "vip show changed: $(ring_view | diff <(echo "$before") -)"
	grep -qE "conns: [1-9][0-9]* entries of an older build moved" "$WORK/xlbd.log" ||
		fail "xlbd did not say it moved the last release's IPv6 connection entries"
	download_done "$pid" 30000 $BIG "download from drained $x across the upgrade"
	download_done "$pid6" 30001 $BIG "IPv6 download from drained $y across the upgrade"
	requests "http://$VIP4/" 10001 100 >"$WORK/r"
	all_answered "$WORK/r" 100 "new requests after the upgrade"
	[ "$(count_of "$WORK/r" "$x")" = 0 ] || fail "drained $x got new connections"
	# A restart of the new build adopts the 2-byte rings: nothing copied, the same shares.
	: >"$WORK/xlbd.log"
	kill -9 "$(xlbd_pid)"
	xlbd_start
	grep -q "copied" "$WORK/xlbd.log" && fail "the restart copied the rings again"
	[ "$(ring_view)" = "$before" ] || fail "vip show changed across the restart"
}

run_suite
