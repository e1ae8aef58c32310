#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# GUE and IPv4-in-IPv6 with real traffic: curl and a 300 MB download through
# `method gue` with xlb's decap on the backends, the outer UDP source ports
# as captured on the backends' links before their decap sees the frames, a
# non-default GUE port, and an IPv4 VIP served by IPv6-only backends.
. "$(dirname "$0")/lib.sh"

SVC4=$VIP4:80/tcp
SVC6="[$VIP6]:80/tcp"
BIG=$((300 * 1024 * 1024)) # size of nginx_start's /big

# tcpdump in HOST's namespace, bounded in time; its pid in $WORK/NAME.pid,
# its stderr in $WORK/tcpdump-NAME.log.
tcpdump_start() { # HOST NAME TCPDUMP_ARGS...
	local host=$1 name=$2
	shift 2
	on "$host" sh -c 'echo $$ >"$0"; exec timeout 300 tcpdump "$@"' "$WORK/$name.pid" "$@" \
		2>"$WORK/tcpdump-$name.log" &
}

tcpdump_stop() { # NAME...
	local n
	sleep 0.5
	for n in "$@"; do
		# timeout passes the signal on to tcpdump.
		[ -f "$WORK/$n.pid" ] && kill "$(cat "$WORK/$n.pid")" 2>/dev/null
	done
	wait 2>/dev/null || true
}

# tcpdump on the switch's end of every backend's veth (the frames as the
# backend receives them: its own tcpdump would see them after XDP decap).
capture_start() { # PORT: the GUE port to capture
	local h
	for h in be1 be2 be3; do
		tcpdump_start sw "$h" -i "$PREFIX-$h" -s 128 -U -w "$WORK/cap-$h.pcap" "udp dst port $1"
	done
	# tcpdump says "listening" once its filter is in place.
	for _ in $(seq 50); do
		[ "$(cat "$WORK"/tcpdump-be*.log 2>/dev/null | grep -c listening)" = 3 ] && return 0
		sleep 0.1
	done
	fail "tcpdump did not start: $(cat "$WORK"/tcpdump-be*.log)"
}

capture_stop() {
	tcpdump_stop be1 be2 be3
}

# "OUTER_SPORT INNER_SPORT" per captured TCP frame (client to backend), from
# the bytes: outer IPv4 + UDP + inner IPv4 + TCP, or the IPv6 equivalents.
flow_ports() { # FAMILY(4|6)
	local f
	for f in "$WORK"/cap-be*.pcap; do
		tcpdump -r "$f" -nn -x 2>/dev/null
	done | awk -v fam="$1" '
		function hex(s,   n, k) {
			n = 0
			for (k = 1; k <= length(s); k++)
				n = n * 16 + index("0123456789abcdef", substr(s, k, 1)) - 1
			return n
		}
		function flush() {
			if (h == "") return
			if (fam == 4) { o = 20 * 2; i = (20 + 8 + 20) * 2 }
			else { o = 40 * 2; i = (40 + 8 + 40) * 2 }
			printf "%d %d\n", hex(substr(h, o + 1, 4)), hex(substr(h, i + 1, 4))
			h = ""
		}
		/^[0-9]/ { flush(); next }
		/0x[0-9a-f]+:/ { for (k = 2; k <= NF; k++) h = h $k }
		END { flush() }'
}

# The 1000 flows of requests() from ports 10001-11000, each on one outer
# port, together on at least 900; the download from 30000 on one port.
check_ports() { # FAMILY WHAT
	local pairs flows ports split dl
	flow_ports "$1" | sort -u >"$WORK/pairs"
	pairs=$(wc -l <"$WORK/pairs")
	flows=$(awk '$2 >= 10001 && $2 <= 11000 { print $2 }' "$WORK/pairs" | sort -u | wc -l)
	ports=$(awk '$2 >= 10001 && $2 <= 11000 { print $1 }' "$WORK/pairs" | sort -u | wc -l)
	split=$(awk '{ print $2 }' "$WORK/pairs" | sort | uniq -d | wc -l)
	dl=$(awk '$2 == 30000' "$WORK/pairs" | wc -l)
	log "$2: $pairs port pairs, $flows flows on $ports outer ports, $split flows on several," \
		"the download on $dl; outer ports $(awk '{ print $1 }' "$WORK/pairs" | sort -n |
			sed -n '1p;$p' | xargs)"
	[ "$flows" = 1000 ] || { fail "$2: captured $flows of the 1000 flows"; return 1; }
	[ "$ports" -ge 900 ] || { fail "$2: 1000 flows on $ports outer source ports, not >= 900"; return 1; }
	[ "$split" = 0 ] || { fail "$2: $split flows changed their outer source port"; return 1; }
	[ "$dl" = 1 ] || { fail "$2: the download used $dl outer source ports, not 1"; return 1; }
	awk '$1 < 32768 { bad = 1 } END { exit bad }' "$WORK/pairs" ||
		fail "$2: an outer source port below 32768"
}

gue_traffic() { # FAMILY SERVICE URL_HOST
	local pid got
	lb_up
	vip_up "$2" method gue
	xlbctl -j vip show "$2" | jq -e '.method == "gue" and .encap_port == 6080' >/dev/null ||
		fail "vip show does not say method gue, encap-port 6080"
	xlbctl save | grep -qF "vip add $2 method gue hash 5tuple ring 65537 announce always encap-port 6080" ||
		fail "save does not write the gue VIP: $(xlbctl save | grep 'vip add')"
	got=$(get "http://$3/")
	[[ $got == be[123] ]] || fail "curl http://$3/ answered '$got'"
	capture_start 6080
	requests "http://$3/" 10001 1000 >"$WORK/r"
	all_answered "$WORK/r" 1000 "IPv$1 gue"
	got=$(on client curl -s --max-time 120 --local-port 30000 -o /dev/null \
		-w '%{size_download} %{http_code}' "http://$3/big")
	capture_stop
	[ "$got" = "$BIG 200" ] || fail "300 MB through gue: '$got'"
	check_ports "$1" "IPv$1 gue"
	xlbctl -j stats | jq -e '.vips[0].packets > 1000' >/dev/null ||
		fail "the VIP's counters did not move"
}

test_gue_ipv4() {
	gue_traffic 4 "$SVC4" "$VIP4"
}

test_gue_ipv6() {
	gue_traffic 6 "$SVC6" "[$VIP6]"
}

# Another port on both sides; a backend whose decap listens elsewhere
# leaves the frames alone (nothing answers), as does anything not GUE.
test_gue_other_port() {
	local h got
	topo_up 1
	on be1 "$BUILD/xlbctl" decap attach eth0 gue-port 7000
	nginx_start be1
	xlbd_start
	xlbctl attach eth0
	xlbctl vip add "$SVC4" method gue encap-port 7000
	xlbctl backend add "$SVC4" "$(be4 be1)"
	xlbctl -j vip show "$SVC4" | jq -e '.encap_port == 7000' >/dev/null ||
		fail "vip show does not say encap-port 7000"
	got=$(get "http://$VIP4/")
	[ "$got" = be1 ] || fail "gue to port 7000 answered '$got', not be1"
	on be1 "$BUILD/xlbctl" decap attach eth0
	got=$(get "http://$VIP4/" --max-time 2 || true)
	[ -z "$got" ] || fail "a decap on 6080 took GUE to port 7000: '$got'"
}

# IPv6-only backends: no IPv4 address on their link; their answers to IPv4
# clients leave by an IPv4 route through an IPv6 next hop (the client).
test_ipv4_vip_ipv6_backends() {
	local h m svc n=0 pid got
	topo_up 3
	for h in be1 be2 be3; do
		on "$h" ip -4 addr flush dev eth0
		on "$h" ip route add $N4.0.0/24 via inet6 $N6::a dev eth0
		on "$h" "$BUILD/xlbctl" decap attach eth0
		nginx_start "$h"
	done
	xlbd_start
	xlbctl attach eth0
	for m in ipip gue; do
		svc=$N4.1.$((5 + n)):80/tcp
		xlbctl vip add "$svc" method $m
		for h in be1 be2 be3; do
			xlbctl backend add "$svc" "$(be6 $h)"
		done
		requests "http://${svc%/tcp}/" $((10001 + n * 1000)) 300 >"$WORK/r$m"
		all_answered "$WORK/r$m" 300 "IPv4 VIP, IPv6 backends, $m"
		[ "$(awk '{ print $2 }' "$WORK/r$m" | sort -u | wc -l)" = 3 ] ||
			fail "$m: 300 flows did not reach all three backends: $(tally "$WORK/r$m")"
		got=$(on client curl -s --max-time 120 --local-port $((30000 + n)) -o /dev/null \
			-w '%{size_download} %{http_code}' "http://${svc%/tcp}/big")
		[ "$got" = "$BIG 200" ] || fail "$m: 300 MB from IPv6 backends: '$got'"
		n=$((n + 1))
	done
	# l2 cannot change a packet's family; no method carries IPv6 to IPv4.
	xlbctl vip add $N4.1.9:80/tcp method l2
	! xlbctl backend add $N4.1.9:80/tcp "$(be6 be1)" 2>"$WORK/e1" ||
		fail "an l2 VIP took an IPv6 backend"
	grep -q "method l2" "$WORK/e1" || fail "l2 refusal does not say why: $(cat "$WORK/e1")"
	! xlbctl backend add "$SVC6" "$(be4 be1)" 2>"$WORK/e2" ||
		fail "an IPv6 VIP took an IPv4 backend"
}

# Full-size uploads through encapsulation, nothing lowered on the backends:
# the balancer answers the client's 1500-byte packets with the MTU that fits
# (1480 ipip, 1472 gue; IPv6 1460, 1452), the client's kernel shrinks its
# segments, and 50 MB arrive intact. The errors are captured at the client.
test_too_big_upload() {
	local svc url want got h sum n=0 sent
	lb_up
	head -c 50M /dev/urandom >"$WORK/up"
	sum=$(sha256sum <"$WORK/up")
	tcpdump_start client client -i eth0 -nn -v -l "icmp[0] == 3 or icmp6[0] == 2" >"$WORK/icmp.txt"
	for _ in $(seq 50); do
		grep -q listening "$WORK/tcpdump-client.log" 2>/dev/null && break
		sleep 0.1
	done
	for m in "ipip 4" "gue 4" "ipip 6" "gue 6"; do
		set -- $m
		if [ "$2" = 4 ]; then
			svc=$N4.1.$((10 + n)):80/tcp url="http://$N4.1.$((10 + n))/upload"
		else
			svc="[$N6:1::$((10 + n))]:80/tcp" url="http://[$N6:1::$((10 + n))]/upload"
		fi
		vip_up "$svc" method "$1"
		got=$(on client curl -s --max-time 60 -T "$WORK/up" -o /dev/null -w '%{http_code}' "$url")
		[[ $got == 20[14] ]] || { fail "$1 IPv$2: the 50 MB upload ended with '$got'"; return 1; }
		for h in be1 be2 be3; do
			if [ -f "$WORK/nginx-$h/www/upload" ]; then
				[ "$(sha256sum <"$WORK/nginx-$h/www/upload")" = "$sum" ] ||
					{ fail "$1 IPv$2: the upload on $h differs"; return 1; }
				rm -f "$WORK/nginx-$h/www/upload"
			fi
		done
		n=$((n + 1))
	done
	tcpdump_stop client
	sent=$(xlbctl -j stats | jq '.outcomes.icmp_too_big_sent')
	log "errors sent $sent; captured: $(grep -Eo 'mtu [0-9]+' "$WORK/icmp.txt" | sort | uniq -c | xargs)"
	for want in 1480 1472 1460 1452; do
		grep -q "mtu $want" "$WORK/icmp.txt" || { fail "no too-big error with mtu $want reached the client"; return 1; }
	done
	[ "$sent" -ge 4 ] || fail "icmp_too_big_sent is $sent"
}

run_suite
