#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# method nat with real traffic. The backends are plain hosts running nginx
# (or socat) and nothing else: no VIP, no decap, no sysctl changed. One-arm
# (backends beside the client) and two-arm (backends behind a second
# interface of the balancer); port mapping, wrk, a 300 MB download across a
# drain, a kill -9 and another backend's removal, UDP, the port pool running
# out and coming back, TCP entries ending after FIN and RST, health checks
# at the backend's port ending a down backend's flows, and path-MTU
# discovery through the translation.
. "$(dirname "$0")/lib.sh"

SVC4=$VIP4:80/tcp
SVC6="[$VIP6]:80/tcp"
BIG=$((300 * 1024 * 1024)) # size of nginx_start's /big
LB4=$N4.0.2                # the balancer's eth0: the default pool
LB6=$N6::2
MPORT=9100                 # metrics, in the lb namespace only
ECHO_PORT=7000             # socat echo servers on the backends

xlbd_nat_start() { # [xlbd options...]
	on lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		-m 127.0.0.1:$MPORT "$@" 2>>"$WORK/xlbd.log"
}

# A veth hands the receiver the sender's skb, partial checksum included
# (checksum offload); XDP cannot see that, and a frame it sends on keeps the
# partial sum, which the next host drops. A real wire carries full
# checksums: the switch's port towards the balancer computes them (no tx
# offload there), so that the backends keep every default.
wire_checksums() { # SWITCH_PORT
	on sw ethtool -K "$1" tx off >/dev/null
}

# One-arm: client, balancer and three plain backends on one segment.
nat_up() { # [BACKEND_PORT]
	local h
	topo_up 3 1 -P
	wire_checksums "$PREFIX-lb"
	for h in be1 be2 be3; do
		nginx_start "$h" "${1:-80}"
	done
	xlbd_nat_start
	xlbctl attach eth0
}

# A nat VIP with backends be1..be3 of its family, at BPORT if given.
nat_vip_up() { # SERVICE BPORT [vip add args...]
	local svc=$1 port=$2 h addr
	shift 2
	xlbctl vip add "$svc" method nat "$@"
	for h in be1 be2 be3; do
		if [[ $svc == \[* ]]; then
			addr=$(be6 "$h")
			[ -n "$port" ] && addr="[$addr]:$port"
		else
			addr=$(be4 "$h")${port:+:$port}
		fi
		xlbctl backend add "$svc" "$addr"
	done
}

# Each backend is a plain host: no XDP program, no address or local route
# of the VIP ranges, its IP sysctls as a namespace made now has them.
plain_backends() {
	local h fresh=$PREFIX-fresh
	ip netns add "$fresh"
	ip -n "$fresh" link set lo up
	conf_of "$fresh" >"$WORK/sysctl-fresh"
	ip netns del "$fresh"
	for h in be1 be2 be3; do
		[ "$(on "$h" ip -j link show | jq '[.[] | select(.xdp)] | length')" = 0 ] ||
			{ fail "$h has an XDP program: $(on "$h" ip -j link show | jq -c '.[].xdp')"; return 1; }
		! on "$h" ip -o addr show | grep -qE " ($N4\.1\.|$N6:1::)" ||
			{ fail "$h holds a VIP address: $(on "$h" ip -o addr show)"; return 1; }
		[ -z "$(on "$h" ip route show table local $N4.1.0/24)" ] &&
			[ -z "$(on "$h" ip -6 route show table local $N6:1::/64)" ] ||
			{ fail "$h routes the VIP range to itself"; return 1; }
		conf_of "$PREFIX-$h" >"$WORK/sysctl-$h"
		diff "$WORK/sysctl-fresh" "$WORK/sysctl-$h" >"$WORK/sysctl-diff" ||
			{ fail "$h's sysctls differ from a new namespace's: $(xargs <"$WORK/sysctl-diff")"; return 1; }
	done
	log "backends plain: no XDP, no VIP, $(wc -l <"$WORK/sysctl-fresh") sysctls as a new namespace's"
}

# The IP sysctls of a namespace that DSR backends change: the whole host's
# and lo's, and eth0's printed under "default" (a new interface takes
# default's values, so a fresh namespace's default stands for its eth0; its
# IPv6 mtu is the link's, which default has not).
conf_of() { # NAMESPACE
	{
		nsenter --net="/run/netns/$1" sysctl -e -a -r '^net\.ipv[46]\.(ip_forward|conf\.(all|default|lo)\.)' 2>/dev/null
		nsenter --net="/run/netns/$1" sysctl -e -r '^net\.ipv[46]\.conf\.eth0\.' -a 2>/dev/null |
			sed 's/\.eth0\./.default./' | grep -v '^net\.ipv6\.conf\.default\.mtu '
	} | grep -v stable_secret | sort -u
}

# The client address the backends saw, from nginx's logs: every request of
# the test came from ADDR and a port in LO-HI, N of them.
backends_saw() { # ADDR N LO HI WHAT
	local logs n bad
	logs=$(cat "$WORK"/nginx-be*/access.log 2>/dev/null || true)
	n=$(awk -v a="$1" '$1 == a' <<<"$logs" | wc -l)
	bad=$(awk -v a="$1" -v lo="$3" -v hi="$4" '$1 == a && ($2 < lo || $2 > hi) { print $2 }' \
		<<<"$logs" | sort -n | sed -n '1p;$p' | xargs)
	log "$5: backends logged $n requests from $1 (ports $(awk -v a="$1" '$1 == a { print $2 }' \
		<<<"$logs" | sort -n | sed -n '1p;$p' | xargs))"
	[ "$n" = "$2" ] || { fail "$5: backends logged $n requests from $1, not $2"; return 1; }
	[ -z "$bad" ] || fail "$5: source ports outside $3-$4 seen by the backends: $bad"
}

listening() { # HOST t|u PORT: how many TCP (t) or UDP (u) sockets HOST listens with on PORT
	on "$1" ss -Hl"$2"n "( sport = :$3 )" | wc -l
}

# Entries of the pinned NAT table, all or of protocol PROTO (6 tcp, 17 udp).
nat_entries() { # [PROTO]
	bpftool -j map dump pinned "$WORK_PINS/nat" |
		jq --arg p "${1:-}" '[.[] | select($p == "" or .formatted.key.proto == ($p | tonumber))] | length'
}

metric() { # SERIES: its value in xlbd's metrics, empty when absent
	on lb curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
		awk -v k="$1" '$1 == k { print $2; exit }'
}

# ---- long-lived TCP flows: socat from the client, an echo server behind ----

# The listener's pid in $WORK/echo-HOST.pid; each connection is served by
# a child of its own, which outlives the listener. IPv4, or IPv6 with
# ECHO_FAM=6.
echo_servers() { # HOST...
	local h
	for h in "$@"; do
		on "$h" sh -c 'echo $$ >"$0"; exec socat TCP'${ECHO_FAM:-}'-LISTEN:'$ECHO_PORT',fork,reuseaddr EXEC:cat' \
			"$WORK/echo-$h.pid" >"$WORK/echo-$h.log" 2>&1 &
	done
	for h in "$@"; do
		[ "$(wait_for 5000 1 listening "$h" t "$ECHO_PORT")" != timeout ] ||
			fail "$h: the echo server does not listen on $ECHO_PORT: $(cat "$WORK/echo-$h.log")"
	done
}

# Flow N: socat from the client to ADDR:PORT, its input a fifo kept open on
# descriptor FLOW_FD[N], its output in $WORK/flow-N.out, its pid in
# $WORK/flow-N.pid. Bounded: 120 s idle.
declare -a FLOW_FD
flow_open() { # N ADDR:PORT [socat TCP options]
	local fifo=$WORK/flow-$1.in fd
	mkfifo "$fifo"
	(
		# Not the other flows' inputs: each must see its own end alone.
		for fd in "${FLOW_FD[@]}"; do
			exec {fd}>&-
		done
		exec "$TOPO" exec -p "$PREFIX" client sh -c \
			'echo $$ >"$0"; exec socat -t 5 -T 120 - "$1"' "$WORK/flow-$1.pid" \
			"TCP:$2,connect-timeout=3${3:-}" <"$fifo" >"$WORK/flow-$1.out" 2>"$WORK/flow-$1.err"
	) &
	exec {fd}>"$fifo"
	FLOW_FD[$1]=$fd
}

# Send a line on flow N; it comes back from the echo server within 5 s.
flow_echo() { # N TEXT
	echo "$2" >&"${FLOW_FD[$1]}"
	for _ in $(seq 50); do
		grep -qx "$2" "$WORK/flow-$1.out" && return 0
		sleep 0.1
	done
	fail "flow $1: '$2' did not come back (socat: $(cat "$WORK/flow-$1.err"))"
}

# The client closes flow N: end of input, a FIN each way.
flow_close() { # N
	local fd=${FLOW_FD[$1]}
	exec {fd}>&-
	for _ in $(seq 100); do
		kill -0 "$(cat "$WORK/flow-$1.pid")" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "flow $1: socat still runs 10 s after its input ended"
}

# The client aborts flow N: opened with so-linger 0, its socket closed by
# SIGKILL sends a RST and no FIN.
flow_reset() { # N
	local fd=${FLOW_FD[$1]}
	kill -9 "$(cat "$WORK/flow-$1.pid")"
	exec {fd}>&-
}

# The source ports of the established connections to the echo server on
# HOST, as HOST sees them: "ADDR:PORT" a line, sorted.
echo_peers() { # HOST
	on "$1" ss -Htn state established "( sport = :$ECHO_PORT )" | awk '{ print $NF }' | sort -t: -k2 -n
}

# ---- tests ----

# One-arm, both families, VIP :80 to backends listening on :8080 only.
test_one_arm_spread_port_mapping() {
	nat_up 8080
	plain_backends
	nat_vip_up "$SVC4" 8080
	nat_vip_up "$SVC6" 8080
	xlbctl -j vip show "$SVC4" | jq -e '.method == "nat" and .snat == ["'$LB4'"] and .snat_default and
		([.backends[].port] == [8080, 8080, 8080])' >/dev/null ||
		fail "vip show: not method nat from $LB4 to backend port 8080: $(xlbctl -j vip show "$SVC4")"
	[ -z "$(on be1 ss -Htln '( sport = :80 )')" ] || fail "be1 listens on :80: the mapping is not tested"
	requests "http://$VIP4/" 10001 1000 >"$WORK/r4"
	spread_check "$WORK/r4" 1000 "IPv4 nat"
	requests "http://[$VIP6]/" 12001 1000 >"$WORK/r6"
	spread_check "$WORK/r6" 1000 "IPv6 nat"
	backends_saw $LB4 1000 1024 32767 "IPv4 nat"
	backends_saw $LB6 1000 1024 32767 "IPv6 nat"
	[ "$(cat "$WORK"/nginx-be*/access.log | wc -l)" = 2000 ] ||
		fail "backends logged requests from other addresses: $(cat "$WORK"/nginx-be*/access.log |
			awk '{ print $1 }' | sort | uniq -c | xargs)"
	[ "$(outcome nat_replies)" -gt 2000 ] || fail "nat_replies is $(outcome nat_replies)"
	# The same count as a metric of its own (not an ICMP outcome); read
	# first, as late FIN exchanges may still move the counter.
	local m o
	m=$(metric xlb_nat_replies_total)
	o=$(outcome nat_replies)
	[ "${m:-0}" -gt 2000 ] && [ "$m" -le "$o" ] ||
		fail "xlb_nat_replies_total is '$m', stats nat_replies $o"
	# ICMP echo to a nat VIP: answered by the balancer as for the others.
	on client ping -q -c 2 -i 0.2 -W 2 "$VIP4" >/dev/null || fail "ping $VIP4"
	on client ping -q -c 2 -i 0.2 -W 2 "$VIP6" >/dev/null || fail "ping $VIP6"
}

# Two-arm: the backends on a segment of their own behind the balancer's
# eth1, their default route through it:
#
#   client ==br0== eth0 [lb] eth1 ==br1== be1, be2, be3
#   10.98.0.10      .0.2     .2.2         10.98.2.11-13
#
# Requests go out of eth1, replies come back on it and leave by eth0: both
# directions redirected. IPv4 leaves from the pool $N4.2.2 (snat, on the
# backends' segment), IPv6 from the default pool, eth0's address.
second_arm_up() {
	local sw=$PREFIX-sw h n
	ip -n "$sw" link add br1 type bridge
	ip -n "$sw" link set br1 up
	ip -n "$sw" link add "$PREFIX-lb1" type veth peer name eth1 netns "$PREFIX-lb"
	ip -n "$sw" link set "$PREFIX-lb1" master br1 up
	on lb ip link set eth1 up
	on lb ip addr add $N4.2.2/24 dev eth1
	on lb ip -6 addr add $N6:2::2/64 dev eth1 nodad
	"$TOPO" pass -p "$PREFIX" sw "$PREFIX-lb1"
	wire_checksums "$PREFIX-lb1"
	for h in be1 be2 be3; do
		n=$((10 + ${h#be}))
		ip -n "$sw" link set "$PREFIX-$h" nomaster
		ip -n "$sw" link set "$PREFIX-$h" master br1
		on "$h" ip addr flush dev eth0 scope global
		on "$h" ip addr add "$N4.2.$n/24" dev eth0
		on "$h" ip -6 addr add "$N6:2::$(printf %x $n)/64" dev eth0 nodad
		on "$h" ip route add default via $N4.2.2
		on "$h" ip -6 route add default via $N6:2::2
		on lb ping -c1 -W1 "$N4.2.$n" >/dev/null || true
		on lb ping -c1 -W1 "$N6:2::$(printf %x $n)" >/dev/null || true
	done
}

test_two_arm_spread() {
	local h before after
	topo_up 3 1 -P
	wire_checksums "$PREFIX-lb"
	second_arm_up
	for h in be1 be2 be3; do
		nginx_start "$h"
	done
	xlbd_nat_start
	xlbctl attach eth0
	xlbctl attach eth1
	plain_backends
	xlbctl vip add "$SVC4" method nat snat $N4.2.2
	xlbctl vip add "$SVC6" method nat
	for h in be1 be2 be3; do
		xlbctl backend add "$SVC4" "$N4.2.$((10 + ${h#be}))"
		xlbctl backend add "$SVC6" "$N6:2::$(printf %x $((10 + ${h#be})))"
	done
	before=$(outcome redirect)
	requests "http://$VIP4/" 10001 600 >"$WORK/r4"
	spread_check "$WORK/r4" 600 "two-arm IPv4 nat"
	requests "http://[$VIP6]/" 12001 600 >"$WORK/r6"
	spread_check "$WORK/r6" 600 "two-arm IPv6 nat"
	after=$(outcome redirect)
	backends_saw $N4.2.2 600 1024 32767 "two-arm IPv4 nat"
	backends_saw $LB6 600 1024 32767 "two-arm IPv6 nat"
	log "redirected: $((after - before)), nat_replies $(outcome nat_replies), tx $(outcome tx)"
	# Each request is at least 3 packets each way, every one redirected.
	[ $((after - before)) -ge $((2 * 3 * 1200)) ] ||
		fail "only $((after - before)) packets redirected for 1200 requests"
}

test_wrk_no_errors() {
	local reqs
	nat_up 8080
	nat_vip_up "$SVC4" 8080
	on client timeout 30 wrk -t 2 -c 16 -d 5s "http://$VIP4/" >"$WORK/wrk" 2>&1 ||
		fail "wrk failed: $(cat "$WORK/wrk")"
	log "$(grep -E 'requests in|Socket errors|Non-2xx|Requests/sec' "$WORK/wrk" | xargs)"
	reqs=$(awk '/requests in/ { print $1 }' "$WORK/wrk")
	[ "${reqs:-0}" -ge 500 ] || fail "wrk made ${reqs:-no} requests in 5 s: $(cat "$WORK/wrk")"
	! grep -qE 'Socket errors|Non-2xx' "$WORK/wrk" ||
		fail "wrk saw errors: $(grep -E 'Socket errors|Non-2xx' "$WORK/wrk")"
	backends_saw $LB4 "$(cat "$WORK"/nginx-be*/access.log | wc -l)" 1024 32767 "wrk"
	for h in be1 be2 be3; do
		[ -s "$WORK/nginx-$h/access.log" ] || fail "$h got none of wrk's requests"
	done
}

# The backend holding the one established connection to nginx on :80.
nat_owner() {
	local h
	for _ in $(seq 50); do
		for h in be1 be2 be3; do
			[ -n "$(on "$h" ss -Htn state established '( sport = :80 )')" ] && { echo "$h"; return 0; }
		done
		sleep 0.1
	done
	fail "no backend holds the download"
}

# One 300 MB download across its backend's drain, then kill -9 of xlbd and
# a restart (the NAT entries are pinned and adopted), then the removal of
# another backend.
test_download_drain_kill9() {
	local pid x y h natmap
	nat_up
	nat_vip_up "$SVC4" ""
	natmap=$(bpftool -j map show pinned "$WORK_PINS/nat" | jq .id)
	# 300 MB at 30 MB/s: about 10 s.
	download_start "http://$VIP4/big" 30000 30M
	pid=$!
	x=$(nat_owner)
	log "the download runs to $x"
	xlbctl backend set "$SVC4" "$(be4 "$x")" weight 0
	requests "http://$VIP4/" 10001 100 >"$WORK/r"
	all_answered "$WORK/r" 100 "new requests while $x drains"
	[ "$(count_of "$WORK/r" "$x")" = 0 ] ||
		fail "drained $x got $(count_of "$WORK/r" "$x") of 100 new connections"
	kill -9 "$(xlbd_pid)"
	sleep 1
	kill -0 "$pid" 2>/dev/null || fail "the download ended before the restart: too fast for this check"
	xlbd_nat_start
	[ "$(bpftool -j map show pinned "$WORK_PINS/nat" | jq .id)" = "$natmap" ] ||
		fail "the NAT table was not adopted"
	requests "http://$VIP4/" 11001 100 >"$WORK/r2"
	all_answered "$WORK/r2" 100 "new requests after the restart"
	[ "$(count_of "$WORK/r2" "$x")" = 0 ] ||
		fail "drained $x got $(count_of "$WORK/r2" "$x") of 100 new connections after the restart"
	# Another backend goes: its flows end, not this one.
	y=$(for h in be1 be2 be3; do [ "$h" != "$x" ] && echo "$h"; done | head -1)
	xlbctl backend del "$SVC4" "$(be4 "$y")"
	requests "http://$VIP4/" 12001 50 >"$WORK/r3"
	all_answered "$WORK/r3" 50 "new requests after removing $y"
	[ "$(count_of "$WORK/r3" "$x")" = 0 ] && [ "$(count_of "$WORK/r3" "$y")" = 0 ] ||
		fail "drained $x or removed $y got new connections: $(tally "$WORK/r3")"
	kill -0 "$pid" 2>/dev/null || fail "the download ended before the checks after the restart"
	download_done "$pid" 30000 $BIG "download from drained $x across kill -9 and removing $y"
}

# An IPv6 address in full, as socat prints a peer: 8 groups of 4 digits.
expand6() { # ADDR
	awk -v a="$1" 'function g4(g) { return substr("0000" g, length(g) + 1) }
	BEGIN {
		split(a, lr, "::")
		nl = lr[1] == "" ? 0 : split(lr[1], l, ":")
		nr = lr[2] == "" ? 0 : split(lr[2], r, ":")
		for (i = 1; i <= nl; i++) out = out ":" g4(l[i])
		for (i = 0; i < 8 - nl - nr; i++) out = out ":0000"
		for (i = 1; i <= nr; i++) out = out ":" g4(r[i])
		print substr(out, 2)
	}'
}

# For a failure: each unanswered request of family FAM, whether a backend
# read it (the reply was lost) or none did (the request was), and what its
# client printed.
udp_unanswered() { # FAM
	local i
	for i in $(seq 30); do
		grep -q '^be[123] ' "$WORK/u$1-$i" && continue
		grep -qx "q$1.$i" "$WORK/seen" 2>/dev/null && printf 'q%s read, ' "$i" || printf 'q%s not read, ' "$i"
		printf '"%s"; ' "$(head -c 200 "$WORK/u$1-$i" | tr '\n' ' ')"
	done
}

# Request/response over UDP: socat on the backends answers each datagram
# with its name and the client address it saw (after reading it: socat
# fails on a child that left before taking the datagram).
test_udp_request_response() {
	local h fam i ms addr pids
	nat_up
	for h in be1 be2 be3; do
		for fam in 4 6; do
			# ipv6only: the IPv4 datagrams are the other socket's.
			on "$h" socat "UDP$fam-RECVFROM:5353,fork$([ $fam = 6 ] && echo ,ipv6only=1)" \
				SYSTEM:"read -r q; echo \$q >>$WORK/seen; echo $h \$SOCAT_PEERADDR \$SOCAT_PEERPORT" \
				>"$WORK/udp$fam-$h.log" 2>&1 &
		done
	done
	nat_vip_up "$VIP4:53/udp" 5353 udp-timeout 5s
	nat_vip_up "[$VIP6]:53/udp" 5353 udp-timeout 5s
	# Both sockets bound before the first request: a backend not yet
	# listening answers port unreachable, and busy cores can start a socat
	# later than the VIPs are set up.
	for h in be1 be2 be3; do
		[ "$(wait_for 5000 2 listening "$h" u 5353)" != timeout ] ||
			{ fail "$h: not listening on UDP 5353 for both families: $(cat "$WORK"/udp?-"$h".log)"; return 1; }
	done
	for fam in 4 6; do
		[ $fam = 4 ] && addr=$VIP4 || addr="[$VIP6]"
		pids=()
		for i in $(seq 30); do
			on client socat -t 2 - "UDP$fam:$addr:53,sourceport=$((20000 + fam * 100 + i))" \
				<<<"q$fam.$i" >"$WORK/u$fam-$i" 2>&1 &
			pids+=($!)
		done
		wait "${pids[@]}" || true
		cat "$WORK"/u$fam-* >"$WORK/u$fam"
		log "IPv$fam: $(awk '{ print $1 }' "$WORK/u$fam" | sort | uniq -c | xargs);" \
			"seen as $(awk '{ print $2 }' "$WORK/u$fam" | sort -u | xargs)"
		[ "$(grep -c '^be[123] ' "$WORK/u$fam")" = 30 ] ||
			{ fail "IPv$fam UDP: $(grep -c '^be[123] ' "$WORK/u$fam") of 30 answered;" \
				"unanswered: $(udp_unanswered "$fam");" \
				"outcomes $(xlbctl -j stats | jq -c '.outcomes | with_entries(select(.value > 0))')"
				return 1; }
		[ "$(awk '{ print $1 }' "$WORK/u$fam" | sort -u | wc -l)" = 3 ] ||
			fail "IPv$fam UDP: 30 flows did not reach all three backends"
		# Two entries a flow, younger than udp-timeout.
		[ "$(nat_entries 17)" -ge 60 ] || fail "IPv$fam UDP: $(nat_entries 17) NAT entries for 30 flows"
		[ "$fam" = 4 ] && addr=$LB4 || addr="[$(expand6 $LB6)]"
		[ "$(awk -v a="$addr" '$2 == a' "$WORK/u$fam" | wc -l)" = 30 ] ||
			fail "IPv$fam UDP: the backends saw other clients than $addr: $(awk '{ print $2 }' "$WORK/u$fam" | sort -u | xargs)"
	done
	ms=$(wait_for 12000 0 nat_entries 17)
	log "UDP entries gone after $ms ms (udp-timeout 5s)"
	[ "$ms" != timeout ] || { fail "UDP NAT entries left 12 s after the flows: $(nat_entries 17)"; return 1; }
	[ "$(wait_for 3000 60 metric 'xlb_nat_flows_ended_total{reason="idle"}')" != timeout ] ||
		fail "$(metric 'xlb_nat_flows_ended_total{reason="idle"}') flows ended idle, not 60"
}

# A one-address pool of 8 ports to one backend: 8 flows take them all, the
# 9th is refused and counted, the 8 keep working; closed, their ports come
# back after fin-timeout. In FAMILY 4 or 6, the same steps.
port_pool_exhaustion() { # FAMILY
	local svc pool addr i before after ms
	if [ "$1" = 4 ]; then
		pool=$N4.0.3 addr=$N4.1.5 svc=$N4.1.5:$ECHO_PORT/tcp
	else
		pool=$N6::3 addr="[$N6:1::5]" svc="[$N6:1::5]:$ECHO_PORT/tcp"
	fi
	topo_up 1 1 -P
	wire_checksums "$PREFIX-lb"
	if [ "$1" = 4 ]; then
		on lb ip addr add $pool/24 dev eth0
	else
		on lb ip -6 addr add $pool/64 dev eth0 nodad
	fi
	ECHO_FAM=$1 echo_servers be1
	xlbd_nat_start
	xlbctl attach eth0
	xlbctl vip add "$svc" method nat snat $pool snat-ports 20000-20007 fin-timeout 1s
	xlbctl backend add "$svc" "$(be$1 be1)"
	xlbctl -j vip show "$svc" |
		jq -e '.snat == ["'$pool'"] and .snat_ports == "20000-20007" and .fin_timeout_ms == 1000' \
			>/dev/null || fail "vip show: not the pool, ports and fin-timeout given: $(xlbctl -j vip show "$svc")"
	[ "$1" = 6 ] && pool="[$pool]"
	for i in $(seq 8); do
		flow_open "$i" "$addr:$ECHO_PORT"
		flow_echo "$i" "hello $i"
	done
	echo_peers be1 >"$WORK/peers"
	log "be1 sees: $(xargs <"$WORK/peers")"
	[ "$(xargs <"$WORK/peers")" = "$(for i in $(seq 20000 20007); do echo "$pool:$i"; done | xargs)" ] ||
		fail "8 flows are not seen from $pool:20000-20007: $(xargs <"$WORK/peers")"
	before=$(outcome drop_nat_no_port)
	if on client timeout 10 socat -T 3 - "TCP:$addr:$ECHO_PORT,connect-timeout=3" <<<"refused?" \
		>"$WORK/ninth" 2>&1; then
		fail "a 9th flow got through a pool of 8 ports: $(cat "$WORK/ninth")"
	fi
	after=$(outcome drop_nat_no_port)
	log "9th flow: $(cat "$WORK/ninth"); drop_nat_no_port $before -> $after"
	[ "$after" -gt "$before" ] || fail "the refused flow was not counted in drop_nat_no_port"
	for i in $(seq 8); do
		flow_echo "$i" "still here $i"
	done
	for i in $(seq 8); do
		flow_close "$i"
	done
	ms=$(wait_for 8000 0 nat_entries)
	log "entries gone $ms ms after the FINs (fin-timeout 1s)"
	[ "$ms" != timeout ] || fail "$(nat_entries) NAT entries left 8 s after 8 flows closed"
	# Every port again, for 8 new flows; none refused.
	for i in $(seq 11 18); do
		flow_open "$i" "$addr:$ECHO_PORT"
		flow_echo "$i" "again $i"
	done
	[ "$(echo_peers be1 | xargs)" = "$(xargs <"$WORK/peers")" ] ||
		fail "the new flows do not reuse $pool:20000-20007: $(echo_peers be1 | xargs)"
	[ "$(outcome drop_nat_no_port)" = "$after" ] || fail "new flows were refused after the ports came back"
	for i in $(seq 11 18); do
		flow_close "$i"
	done
}

test_port_pool_exhaustion() {
	port_pool_exhaustion 4
}

test_port_pool_exhaustion6() {
	port_pool_exhaustion 6
}

# UDP flows from the client to ADDR:PORT, one a source port, N of them in
# one bash (a socket each: /dev/udp binds a new port), a datagram on each
# every 0.3 s while $WORK/fill exists (at most 60 s), to outlive udp-timeout.
# Rounds sent counted in $WORK/fill.rounds.
udp_fill_start() { # N ADDR PORT
	touch "$WORK/fill"
	: >"$WORK/fill.rounds"
	on client bash -c '
		for i in $(seq "$1"); do
			exec {fd}<>"/dev/udp/$2/$3"
			fds+=($fd)
		done
		for r in $(seq 200); do
			[ -e "$4" ] || break
			for fd in "${fds[@]}"; do
				echo k >&$fd || true
			done
			echo "$r" >"$4.rounds"
			sleep 0.3
		done' fill "$1" "$2" "$3" "$WORK/fill" >"$WORK/fill.log" 2>&1 &
	[ "$(wait_for 10000 1 cat "$WORK/fill.rounds")" != timeout ] ||
		fail "the UDP filler sent nothing: $(cat "$WORK/fill.log")"
}

# The NAT entries in use and the table's size, as status shows them.
status_nat() {
	xlbctl -j status | jq -r '"\(.nat.entries) \(.nat.max_entries)"'
}

# A NAT table of the least size xlbd takes (XLB_NAT_MIN entries, two a
# flow): an established TCP flow, then UDP flows from as many source ports
# as fill it and a few more. Full, the extra flows and a new TCP flow are
# refused and counted as drop_nat_full; the established flow keeps
# working. When the UDP flows stop, new flows get through. udp-timeout 3s,
# not 1s: xlbd's clock counts whole seconds, so a 1s timeout ends a flow
# that sent 0.3 s ago, and the filler's flows would churn, not stay.
test_nat_table_full() {
	local max tcp=$N4.1.8:$ECHO_PORT/tcp vip=$N4.1.8 before after ms full drops
	max=$(awk '$2 == "XLB_NAT_MIN" { print $3 }' "$XLB_ROOT/include/xlb_abi.h")
	topo_up 1 1 -P
	wire_checksums "$PREFIX-lb"
	echo_servers be1
	# A sink for the UDP flows: one socat, never answering.
	on be1 socat -u UDP4-RECV:5353 - >/dev/null 2>&1 &
	xlbd_nat_start -T "$max"
	xlbctl attach eth0
	xlbctl vip add $tcp method nat fin-timeout 1s
	xlbctl backend add $tcp "$(be4 be1)"
	xlbctl vip add $vip:53/udp method nat udp-timeout 3s
	xlbctl backend add $vip:53/udp "$(be4 be1):5353"
	flow_open 1 "${tcp%/tcp}"
	flow_echo 1 "before"
	before=$(outcome drop_nat_full)
	# (max - 2) / 2 flows fill what the TCP flow left; 8 more overflow it.
	udp_fill_start $(((max - 2) / 2 + 8)) $vip 53
	ms=$(wait_for 10000 "$max" nat_entries)
	log "table full ($max entries) after $ms ms; drop_nat_full $before -> $(outcome drop_nat_full)"
	[ "$ms" != timeout ] || { fail "$(nat_entries) NAT entries, not $max: the table did not fill"; return 1; }
	after=$(outcome drop_nat_full)
	[ "$after" -ge $((before + 8)) ] ||
		fail "8 UDP flows over a full table: drop_nat_full $before -> $after"
	if on client timeout 10 socat -T 3 - "TCP:${tcp%/tcp},connect-timeout=3" <<<"refused?" \
		>"$WORK/extra" 2>&1; then
		fail "a new TCP flow got through a full NAT table: $(cat "$WORK/extra")"
	fi
	log "new TCP flow: $(cat "$WORK/extra"); drop_nat_full now $(outcome drop_nat_full)"
	[ "$(outcome drop_nat_full)" -gt "$after" ] || fail "the refused TCP flow was not counted in drop_nat_full"
	flow_echo 1 "still here"
	[ "$(nat_entries)" = "$max" ] || fail "the table lost entries while the UDP flows lived: $(nat_entries)"
	# status shows the table's use as the metric does (the sweeper's count).
	[ "$(wait_for 3000 "$max $max" status_nat)" != timeout ] ||
		fail "status shows NAT use $(status_nat), metric $(metric xlb_nat_entries), not $max of $max"
	xlbctl status | grep -qx "nat table: $max entries of $max (xlbd -T), two per flow" ||
		fail "status text does not show the full NAT table: $(xlbctl status | grep nat)"
	# The UDP senders still hit the full table: read the counter first.
	full=$(outcome drop_nat_full)
	drops=$(xlbctl -j status | jq .packets.drop)
	[ "$drops" -ge "$full" ] || fail "status counts $drops drops, fewer than drop_nat_full ($full)"
	# The filler's flows lived throughout: none ended idle and came back.
	[ "$(metric 'xlb_nat_flows_ended_total{reason="idle"}')" = 0 ] ||
		fail "$(metric 'xlb_nat_flows_ended_total{reason="idle"}') live UDP flows ended idle"
	rm "$WORK/fill"
	ms=$(wait_for 10000 2 nat_entries)
	log "UDP entries gone $ms ms after the flows stopped (udp-timeout 3s)"
	[ "$ms" != timeout ] || { fail "$(nat_entries) NAT entries 10 s after the UDP flows stopped"; return 1; }
	after=$(outcome drop_nat_full)
	flow_open 2 "${tcp%/tcp}"
	flow_echo 2 "room again"
	flow_echo 1 "and the old one"
	[ "$(outcome drop_nat_full)" = "$after" ] || fail "new flows refused after the table emptied"
	flow_close 1
	flow_close 2
}

# Within 8 s of WHAT, the table holds the entries of N TCP flows (two
# each); conns lists N NAT flows of SERVICE, and the metrics count the
# entries and CLOSED flows ended as closed, within 3 s more.
flows_left() { # N CLOSED WHAT SERVICE
	local ms
	ms=$(wait_for 8000 $((2 * $1)) nat_entries 6)
	log "$3: $((2 * $1)) entries left after $ms ms"
	[ "$ms" != timeout ] ||
		{ fail "after $3: $(nat_entries 6) NAT entries 8 s later, not $((2 * $1))"; return 1; }
	xlbctl -j conns "$4" >"$WORK/conns"
	log "conns: $(jq -c '[.conns[] | select(.snat) | {src, backend, snat, state, idle_seconds}]' "$WORK/conns")"
	[ "$(jq '[.conns[] | select(.snat)] | length' "$WORK/conns")" = "$1" ] ||
		{ fail "after $3, conns lists $(jq -c .conns "$WORK/conns"), not $1 NAT flows"; return 1; }
	[ "$(wait_for 3000 $((2 * $1)) metric xlb_nat_entries)" != timeout ] ||
		{ fail "after $3, xlb_nat_entries is $(metric xlb_nat_entries), not $((2 * $1))"; return 1; }
	[ "$(wait_for 3000 "$2" metric 'xlb_nat_flows_ended_total{reason="closed"}')" != timeout ] ||
		fail "after $3, $(metric 'xlb_nat_flows_ended_total{reason="closed"}') flows ended as closed, not $2"
}

# The states conns shows for SERVICE's NAT flows, sorted, on one line.
nat_states() { # SERVICE
	xlbctl -j conns "$1" | jq -c '[.conns[] | select(.snat) | .state] | sort'
}

# A TCP flow's entries stay while it lives, idle longer than fin-timeout;
# after a FIN each way, and after a RST, they linger for fin-timeout (conns
# shows the flow closed, reset), then go; the metrics follow.
test_tcp_entries_end() {
	local svc=$N4.1.6:$ECHO_PORT/tcp
	nat_up
	echo_servers be1 be2 be3
	nat_vip_up "$svc" "" fin-timeout 3s
	flow_open 1 "${svc%/tcp}"
	flow_echo 1 "one"
	flow_open 2 "${svc%/tcp}" ",so-linger=0"
	flow_echo 2 "two"
	flows_left 2 0 "opening 2 flows" "$svc"
	jq -e '[.conns[] | select(.snat) | .state == "established" and (.snat | startswith("'$LB4':"))] |
		all' "$WORK/conns" >/dev/null || fail "conns does not show 2 established flows from $LB4"
	# Idle for longer than fin-timeout: still there, still working.
	sleep 3.5
	flow_echo 1 "one again"
	flow_echo 2 "two again"
	[ "$(nat_entries 6)" = 4 ] || fail "idle established flows lost entries: $(nat_entries 6) of 4"
	flow_close 1
	[ "$(nat_states "$svc")" = '["closed","established"]' ] ||
		fail "right after a FIN each way, conns shows $(nat_states "$svc"), not the flow lingering closed"
	flows_left 1 1 "a FIN each way" "$svc"
	flow_reset 2
	[ "$(nat_states "$svc")" = '["reset"]' ] ||
		fail "right after a RST, conns shows $(nat_states "$svc"), not the flow lingering reset"
	flows_left 0 2 "a RST" "$svc"
}

# The backend holding the one established connection to the echo servers.
echo_owner() {
	local h
	for h in be1 be2 be3; do
		[ -n "$(echo_peers "$h" 2>/dev/null)" ] && { echo "$h"; return 0; }
	done
	fail "no backend holds the flow"
}

# Health checks of a nat VIP go to each backend's own address and port (the
# VIP's port is another). A backend whose listener goes is marked down: its
# established flow ends at once (a NAT flow cannot move to another backend)
# and new flows go to the others; back when it listens again.
test_health_ends_flows_of_down_backend() {
	local svc=$N4.1.7:7070/tcp x old i ms
	nat_up
	echo_servers be1 be2 be3
	nat_vip_up "$svc" $ECHO_PORT
	xlbctl health set "$svc" tcp interval 200ms timeout 100ms rise 2 fall 3
	state_of() { # backend index (0-based) -> up/down
		xlbctl -j health show "$svc" | jq -r ".vips[0].backends[$1].state"
	}
	sleep 1
	for i in 0 1 2; do
		[ "$(state_of $i)" = up ] ||
			{ fail "backend $i is $(state_of $i): not checked at its port $ECHO_PORT?"; return 1; }
	done
	flow_open 1 "${svc%/tcp}"
	flow_echo 1 "hello"
	x=$(echo_owner)
	old=$(echo_peers "$x")
	log "the flow runs to $x from $old"
	[ "$(nat_entries 6)" = 2 ] || fail "$(nat_entries 6) NAT entries for one flow"
	# The listener goes; the child serving the flow stays.
	kill "$(cat "$WORK/echo-$x.pid")"
	ms=$(wait_state $((${x#be} - 1)) down 3000)
	log "$x down after $ms ms"
	[ "$ms" != timeout ] || { fail "$x stayed up without a listener"; return 1; }
	ms=$(wait_for 3000 0 nat_entries 6)
	log "its flow's entries gone $ms ms later"
	[ "$ms" != timeout ] || { fail "the flow of down $x kept its NAT entries"; return 1; }
	[ "$(wait_for 3000 1 metric 'xlb_nat_flows_ended_total{reason="backend_gone"}')" != timeout ] ||
		fail "xlb_nat_flows_ended_total{reason=\"backend_gone\"} is not 1"
	for i in 2 3 4 5; do
		flow_open $i "${svc%/tcp}"
		flow_echo $i "new $i"
	done
	# x still holds the old flow's socket (it was told nothing), no other.
	[ "$(echo_peers "$x")" = "$old" ] || fail "down $x got new flows: $(echo_peers "$x" | xargs)"
	echo_servers "$x"
	ms=$(wait_state $((${x#be} - 1)) up 3000)
	[ "$ms" != timeout ] || fail "$x did not come back up"
}

# Path MTU discovery through NAT: far, behind a 1280-byte link, fetches 4 MB
# from nat VIPs of both families. ra's too-big errors go to the VIP; the
# balancer translates them towards the backend, which learns the path MTU
# towards the pool address (the backends know nothing of far).
test_pmtu_through_nat() {
	nat_up
	nat_vip_up "$SVC4" ""
	nat_vip_up "$SVC6" ""
	narrow_path_up
	fetch_over_narrow_path icmp_nat "$LB4" "$LB6"
}

run_suite
