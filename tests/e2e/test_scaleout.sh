#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Scale-out: two balancer nodes behind a router that spreads flows over
# them by ECMP, as BGP (BIRD) tells it. Every node makes the same Maglev
# choice, so a flow reaches the same backend whichever node carries it;
# a node that dies (BFD notices) or is drained hands its flows to the
# other without breaking the transfers in progress.
#
#              client 10.97.1.2
#                |
#              router (BIRD, AS 65000; ECMP by 5-tuple hash; BFD)
#             /  |  \________________________
#          lb1  lb2   be1      be2      be3
#   AS 65001 65002    .21.2    .22.2    .23.2
#   .11.2    .12.2   (decap XDP + nginx, replies straight to the client)
#
# Link L is 10.97.L.0/24 and fd00:97:L::/64: the router .1 / ::1 (its
# interface named after the host), the host .2 / ::2 on eth0. VIPs are in
# 10.97.100.0/24 and fd00:97:100::/64. Each node has a BGP session per
# family.
. "$(dirname "$0")/lib.sh"

N=10.97
N6=fd00:97
VIPNET=$N.100.0/24
VIPNET6=$N6:100::/64
VIP=$N.100.1
VIP6=$N6:100::1
SVC=$VIP:80/tcp
SVC6="[$VIP6]:80/tcp"
HOSTS="client lb1 lb2 be1 be2 be3"
BFD_TIMERS="min rx interval 100 ms; min tx interval 100 ms; multiplier 3;"
# Fast (re)connects, so that sessions come up in a second or two.
BGP_TIMERS="connect delay time 1; connect retry time 1; error wait time 1, 2;"

link_of() { # HOST -> L of its link 10.97.L.0/24
	case $1 in
	client) echo 1 ;;
	lb*) echo $((10 + ${1#lb})) ;;
	be*) echo $((20 + ${1#be})) ;;
	esac
}
addr_of() { echo "$N.$(link_of "$1").2"; }      # HOST -> its address
gw_of() { echo "$N.$(link_of "$1").1"; }        # HOST -> the router's address on its link
addr6_of() { echo "$N6:$(link_of "$1")::2"; }   # the same, IPv6
gw6_of() { echo "$N6:$(link_of "$1")::1"; }

net_up() {
	local h ns
	ip netns add "$PREFIX-router"
	# Forwarding, the ECMP next hop by the 5-tuple, and no reverse-path
	# filter: backends answer from the VIP, which the router routes elsewhere.
	#
	# Not hash policy 1 (L4): a veth hands the router the skb that the
	# client's TCP stack made, with the socket's random hash in it, and
	# policy 1 takes that hash as it is ("L4 hash already present"): each
	# connection would pick its node at random, and again after each
	# retransmission timeout. Policy 3 hashes the fields named, always from
	# the headers, as a router behind a wire would: source and destination
	# address (0x1, 0x2), protocol (0x4), source and destination port
	# (0x10, 0x20); the same bits for IPv6.
	on router sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.fib_multipath_hash_policy=3 net.ipv4.fib_multipath_hash_fields=0x37 \
		net.ipv6.fib_multipath_hash_policy=3 net.ipv6.fib_multipath_hash_fields=0x37 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	on router ip link set lo up
	for h in $HOSTS; do
		ns=$PREFIX-$h
		ip netns add "$ns"
		ip -n "$PREFIX-router" link add "$h" type veth peer name eth0 netns "$ns"
		ip -n "$PREFIX-router" addr add "$(gw_of "$h")/24" dev "$h"
		ip -n "$PREFIX-router" -6 addr add "$(gw6_of "$h")/64" dev "$h" nodad
		ip -n "$PREFIX-router" link set "$h" up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$(addr_of "$h")/24" dev eth0
		ip -n "$ns" -6 addr add "$(addr6_of "$h")/64" dev eth0 nodad
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$(gw_of "$h")"
		ip -n "$ns" -6 route add default via "$(gw6_of "$h")"
	done
	# The balancers send with XDP_TX: their peers must run XDP to receive.
	"$TOPO" pass -p "$PREFIX" router lb1
	"$TOPO" pass -p "$PREFIX" router lb2
	# Encapsulated frames must carry full checksums: no offload.
	on client ethtool -K eth0 tx off >/dev/null
	for h in be1 be2 be3; do
		# Every VIP of the ranges is local (unlike IPv4, an IPv6 prefix
		# on lo makes only its one address local).
		on "$h" ip route add local "$VIPNET" dev lo
		on "$h" ip -6 route add local "$VIPNET6" dev lo
		on "$h" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
			net.ipv4.conf.lo.rp_filter=0
	done
}

birdc_on() { # HOST birdc args...
	local h=$1
	shift
	on "$h" birdc -s "$WORK/bird-$h.ctl" "$@"
}

# Write HOST's BIRD config to $WORK/bird-HOST.conf (BIRD checks it), start
# BIRD with its own control socket and pid file.
bird_start() { # HOST
	local h=$1 conf=$WORK/bird-$1.conf
	"bird_conf_${h%[0-9]}" "$h" >"$conf"
	bird -p -c "$conf" || fail "BIRD refuses $conf"
	on "$h" bird -c "$conf" -s "$WORK/bird-$h.ctl" -P "$WORK/bird-$h.pid"
}

bird_conf_router() {
	cat <<-EOF
		# The router: one eBGP session per balancer, BFD on each, and every
		# balancer's route to a VIP merged into one ECMP route in the kernel.
		router id $(gw_of client);
		log "$WORK/bird-router.log" all;
		timeformat log iso long ms;

		protocol device {}

		protocol bfd {
			interface "lb*" { $BFD_TIMERS };
		}

		protocol kernel {
			ipv4 { import none; export all; };
			merge paths on;
		}

		protocol kernel {
			ipv6 { import none; export all; };
			merge paths on;
		}

		template bgp balancer {
			local as 65000;
			bfd on;
			$BGP_TIMERS
			ipv4 { import all; export none; };
			ipv6 { import all; export none; };
		}

		protocol bgp lb1 from balancer { neighbor $(addr_of lb1) as 65001; }
		protocol bgp lb2 from balancer { neighbor $(addr_of lb2) as 65002; }
		protocol bgp lb1v6 from balancer { neighbor $(addr6_of lb1) as 65001; }
		protocol bgp lb2v6 from balancer { neighbor $(addr6_of lb2) as 65002; }
	EOF
}

bird_conf_lb() { # HOST
	local h=$1
	cat <<-EOF
		# A balancer: it announces to the router what xlbd puts in the
		# fragment (xlb_vips4, xlb_vips6), and keeps those blackholes out of
		# its kernel.
		router id $(addr_of "$h");
		log "$WORK/bird-$h.log" all;
		timeformat log iso long ms;

		include "$WORK/vips-$h.conf";

		protocol device {}

		protocol bfd {
			interface "eth0" { $BFD_TIMERS };
		}

		protocol kernel {
			ipv4 { import none; export where proto !~ "xlb_vips*"; };
		}

		protocol kernel {
			ipv6 { import none; export where proto !~ "xlb_vips*"; };
		}

		template bgp uplink {
			local as $((65000 + ${h#lb}));
			bfd on;
			$BGP_TIMERS
		}

		protocol bgp uplink4 from uplink {
			neighbor $(gw_of "$h") as 65000;
			ipv4 { import none; export where proto = "xlb_vips4"; };
		}

		protocol bgp uplink6 from uplink {
			neighbor $(gw6_of "$h") as 65000;
			ipv6 { import none; export where proto = "xlb_vips6"; };
		}
	EOF
}

lbctl() { # NODE xlbctl args...
	local n=$1
	shift
	on "$n" "$BUILD/xlbctl" -s "$WORK/$n.sock" "$@"
}

# xlbd on a node: it keeps the fragment that the node's BIRD includes
# up to date, and makes that BIRD read it.
xlbd_on() { # NODE
	on "$1" "$BUILD/xlbd" -s "$WORK/$1.sock" -c "$WORK/$1.conf" -p "$WORK_PINS-$1" \
		-b "$WORK/vips-$1.conf" -r "birdc -s $WORK/bird-$1.ctl configure" -v \
		2>>"$WORK/xlbd-$1.log"
}

# The devices the router's kernel sends VIP (an address) to: "lb1 lb2",
# "lb2", or nothing.
nexthops() { # VIP
	if [[ $1 == *:* ]]; then
		on router ip -6 -j route show exact "$1/128"
	else
		on router ip -j route show exact "$1/32"
	fi | jq -r '.[0] // {} | [(.nexthops // [.])[] | .dev // empty] | sort | join(" ")'
}

# Wait until the router sends VIP to exactly WANT ("" for no route);
# prints the milliseconds it took. Bounded: 10 s. (Called in $(...),
# where a failed command does not end the test: hence the returns.)
wait_nexthops() { # VIP WANT WHAT
	local t0 ms got
	t0=$(date +%s%N)
	while :; do
		got=$(nexthops "$1")
		ms=$((($(date +%s%N) - t0) / 1000000))
		if [ "$got" = "$2" ]; then
			echo "$ms"
			return 0
		fi
		if [ "$ms" -ge 10000 ]; then
			fail "$3: after 10 s the router sends $1 to '$got', not '$2'"
			return 1
		fi
		sleep 0.02
	done
}

# Both nodes up: BIRD on the router and on each node, xlbd attached with
# the same VIPs (one per family) and backends in the same order, the
# routes to the VIPs over both nodes.
scaleout_up() {
	local n h ms
	net_up
	for h in be1 be2 be3; do
		on "$h" "$BUILD/xlbctl" decap attach eth0
		nginx_start "$h"
	done
	bird_start router
	for n in lb1 lb2; do
		# xlbd first: it writes the fragment that BIRD's config includes.
		xlbd_on "$n"
		bird_start "$n"
		lbctl "$n" attach eth0
		lbctl "$n" vip add "$SVC"
		lbctl "$n" vip add "$SVC6"
		for h in be1 be2 be3; do
			lbctl "$n" backend add "$SVC" "$(addr_of "$h")"
			lbctl "$n" backend add "$SVC6" "$(addr6_of "$h")"
		done
	done
	ms=$(wait_nexthops "$VIP" "lb1 lb2" "BGP up")
	log "BGP up, ECMP over both nodes after $ms ms"
	wait_nexthops "$VIP6" "lb1 lb2" "BGP up (IPv6)" >/dev/null
}

# New flows a node's xlbd counted for a VIP.
new_flows() { # NODE [SERVICE]
	lbctl "$1" -j stats "${2:-$SVC}" | jq -e '.vips[0].new_flows'
}

# The node the router sends each TCP flow from client port FIRST, ...
# FIRST+COUNT-1 to VIP's port 80 through, by the kernel's own ECMP hash:
# "PORT NODE" lines. IPv4 only (see spread_check).
route_of() { # VIP FIRST COUNT
	local p
	for ((p = $2; p < $2 + $3; p++)); do
		echo "route get $1 from $(addr_of client) iif client ipproto tcp sport $p dport 80"
	done | on router ip -o -batch - |
		awk -v p="$2" '{ for (i = 1; i < NF; i++) if ($i == "dev") print p++, $(i + 1) }'
}

# Make the router send the VIPs through NODE only (rules and tables of its
# own, beside BIRD's routes), or over ECMP again when NODE is "".
force_via() { # [NODE]
	on router ip rule del pref 100 2>/dev/null || true
	on router ip -6 rule del pref 100 2>/dev/null || true
	on router ip route del "$VIPNET" table 100 2>/dev/null || true
	on router ip -6 route del "$VIPNET6" table 100 2>/dev/null || true
	[ -n "${1:-}" ] || return 0
	on router ip route add "$VIPNET" via "$(addr_of "$1")" table 100
	on router ip -6 route add "$VIPNET6" via "$(addr6_of "$1")" table 100
	on router ip rule add to "$VIPNET" lookup 100 pref 100
	on router ip -6 rule add to "$VIPNET6" lookup 100 pref 100
}

# 300 new flows to a VIP over ECMP, then the same 5-tuples through lb1
# only, then through lb2 only. Prefix for the result files: $WORK/NAME-.
spread_check() { # SERVICE URL FIRST NAME
	local svc=$1 url=$2 first=$3 r=$WORK/$4 n c d1 d2 p1 digests
	local vip=${svc%:*}
	vip=${vip#[}
	vip=${vip%]}
	c=$(shares "$first" 300 "$url" "$svc" "$r-ecmp" "$4 over ECMP")
	read -r d1 d2 <<<"$c"
	log "$4: 300 flows over ECMP: lb1 $d1, lb2 $d2 new flows"
	[ $((d1 + d2)) = 300 ] || fail "$4: 300 flows made $d1 + $d2 new flows on the nodes, not 300"
	[ "$d1" -ge 60 ] && [ "$d2" -ge 60 ] ||
		fail "$4: unfair spread over the nodes: lb1 $d1, lb2 $d2 of 300 flows (20% each at least)"
	# What test_node_loss relies on: the router tells which node a flow
	# takes. Not for IPv6, where 'ip route get' hashes a flow description
	# instead of a packet, and with policy 3 not the same way.
	if [[ $vip != *:* ]]; then
		p1=$(route_of "$vip" "$first" 300 | awk '$2 == "lb1"' | wc -l)
		[ "$p1" = "$d1" ] ||
			fail "$4: the router's ECMP hash sends $p1 of the flows via lb1, lb1 saw $d1"
	fi
	digests=$(for n in lb1 lb2; do lbctl "$n" -j vip show "$svc" | jq -r .ring_digest; done | sort -u)
	log "$4: Maglev ring digests: $(xargs <<<"$digests")"
	[ "$(wc -w <<<"$digests")" = 1 ] || fail "$4: the nodes' Maglev rings differ: $(xargs <<<"$digests")"

	# The same 5-tuples again, all through one node, then all through the
	# other: each meets the backend it met over ECMP.
	for n in lb1 lb2; do
		force_via "$n"
		c=$(shares "$first" 300 "$url" "$svc" "$r-via-$n" "$4 through $n only")
		read -r d1 d2 <<<"$c"
		log "$4 through $n only: lb1 $d1, lb2 $d2 new flows"
		if [ "$n" = lb1 ]; then
			[ "$d2" = 0 ] || fail "$4: $d2 flows forced through lb1 reached lb2"
		else
			[ "$d1" = 0 ] || fail "$4: $d1 flows forced through lb2 reached lb1"
		fi
		join "$r-ecmp" "$r-via-$n" | awk '$2 != $3' >"$r-moved-$n"
		[ ! -s "$r-moved-$n" ] ||
			fail "$4: $(wc -l <"$r-moved-$n") of 300 5-tuples met another backend through $n" \
				"than over ECMP (port, ECMP, $n: $(head -1 "$r-moved-$n"))"
	done
	force_via
}

test_spread_and_consistency() {
	scaleout_up
	client_reuses_ports
	spread_check "$SVC" "http://$VIP/" 20001 IPv4
	spread_check "$SVC6" "http://[$VIP6]/" 22001 IPv6
}

# Downloads through lb1, then lb1 dies. Its BIRD first stops answering:
# frozen, not killed, since a killed BIRD's TCP session is closed by the
# kernel at once and the router would never need BFD. Once the router has
# dropped lb1, BIRD is killed, XDP comes off and xlbd stops. The transfers
# go on through lb2, which must send them to the same backends, to the
# last byte.
test_node_loss() {
	local p i ms why pids=() ports=() f1 f2 bytes=$((100 * 1024 * 1024))
	scaleout_up
	route_of "$VIP" 30001 40 >"$WORK/routes"
	ports=($(awk '$2 == "lb1" { print $1 }' "$WORK/routes" | head -4))
	[ ${#ports[@]} = 4 ] || fail "40 source ports, fewer than 4 routed via lb1: $(xargs <"$WORK/routes")"
	# 100 MB at 20 MB/s: 5 s each. Started one by one, so that the
	# counters tell that each went through lb1, as the router's hash said.
	for p in "${ports[@]}"; do
		f1=$(new_flows lb1)
		f2=$(new_flows lb2)
		download_start "http://$VIP/big" "$p" 20M -r 0-$((bytes - 1))
		pids+=($!)
		wait_counter lb1 $((f1 + 1)) "the download from port $p"
		[ "$(new_flows lb2)" = "$f2" ] || fail "the download from port $p went through lb2, not lb1"
	done
	sleep 1
	f2=$(new_flows lb2)
	kill -STOP "$(cat "$WORK/bird-lb1.pid")"
	ms=$(wait_nexthops "$VIP" lb2 "lb1's BIRD frozen")
	why=$(birdc_on router show protocols all lb1 | sed -n 's/^ *Last error: *//p')
	log "lb1's BIRD frozen: the router dropped lb1 after $ms ms ($why)"
	[[ $why == *"BFD session down"* ]] || fail "the router dropped lb1 for '$why', not for BFD"
	# The downloads' packets (the client's ACKs) now reach lb2: 4 flows
	# it never saw.
	wait_counter lb2 $((f2 + 4)) "the downloads moving to lb2"
	kill -KILL "$(cat "$WORK/bird-lb1.pid")"
	lbctl lb1 detach eth0
	kill "$(pgrep -f -- "-s $WORK/lb1.sock")"
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "a download ended before lb1 died: too fast for this check"
	done
	for i in "${!pids[@]}"; do
		download_done "${pids[$i]}" "${ports[$i]}" "$bytes" "download from port ${ports[$i]}" 206
	done
	f2=$(new_flows lb2)
	requests "http://$VIP/" 20001 100 >"$WORK/after"
	all_answered "$WORK/after" 100 "after lb1 died"
	[ $(($(new_flows lb2) - f2)) = 100 ] || fail "lb2 saw $(($(new_flows lb2) - f2)) of 100 new flows"
}

# Wait until NODE counted WANT new flows for the VIP (2 s at most).
wait_counter() { # NODE WANT WHAT
	local i got
	for ((i = 0; i < 100; i++)); do
		got=$(new_flows "$1")
		[ "$got" -ge "$2" ] && return 0
		sleep 0.02
	done
	fail "$3: $1 counted $got new flows, not $2"
}

# What a node's xlbd says it announces: "10.97.100.1/32 ..." (sorted).
announced() { # NODE
	lbctl "$1" -j status | jq -r '.bird.announced | sort | join(" ")'
}

# Both VIPs (one per family) routed to exactly WANT; prints the
# milliseconds until the IPv4 one was.
wait_both() { # WANT WHAT
	local ms
	ms=$(wait_nexthops "$VIP" "$1" "$2") || return 1
	wait_nexthops "$VIP6" "$1" "$2 (IPv6)" >/dev/null || return 1
	echo "$ms"
}

# COUNT new connections to URL from port FIRST on, all answered (their
# requests() lines in OUT): "N1 N2", the new flows lb1 and lb2 counted
# for SERVICE meanwhile.
shares() { # FIRST [COUNT URL SERVICE OUT LABEL]
	local n=${2:-200} url=${3:-http://$VIP/} svc=${4:-$SVC} out=${5:-$WORK/shares-$1} f1 f2
	f1=$(new_flows lb1 "$svc")
	f2=$(new_flows lb2 "$svc")
	requests "$url" "$1" "$n" >"$out"
	all_answered "$out" "$n" "${6:-$n connections from port $1}" || return 1
	echo "$(($(new_flows lb1 "$svc") - f1)) $(($(new_flows lb2 "$svc") - f2))"
}

# Drained, a node withdraws its VIPs (and stays drained across a restart)
# and new flows go to the other; a VIP announced only while healthy is
# withdrawn by every node when its backends are all down; vip del and
# detach withdraw too.
test_drain() {
	local n h i ms pid c vip2=$N.100.2
	local svc2=$vip2:8080/tcp # nobody listens on 8080
	scaleout_up
	lbctl lb1 node drain
	ms=$(wait_both lb2 "lb1 drained")
	log "lb1 drained: the router dropped it after $ms ms"
	lbctl lb1 -j status | jq -e '.node.drained' >/dev/null || fail "lb1's status does not say drained"
	[ -z "$(announced lb1)" ] || fail "drained lb1 says it announces $(announced lb1)"
	c=$(shares 40001)
	log "lb1 drained: new flows lb1, lb2: $c"
	[ "$c" = "0 200" ] || fail "with lb1 drained, lb1 and lb2 counted $c of 200 new flows"

	# The drain is kept in the node's state: a restarted xlbd has it, and
	# its first reload of BIRD (at start, whatever the file) announces
	# nothing.
	pid=$(pgrep -f -- "-s $WORK/lb1.sock")
	kill "$pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	xlbd_on lb1
	lbctl lb1 -j status | jq -e '.node.drained' >/dev/null || fail "restarted lb1 forgot its drain"
	for ((i = 0; i < 50; i++)); do
		[ "$(lbctl lb1 -j status | jq -r .bird.reload)" = ok ] && break
		sleep 0.1
	done
	[ "$(lbctl lb1 -j status | jq -r .bird.reload)" = ok ] ||
		fail "restarted lb1 did not reload BIRD: $(lbctl lb1 -j status | jq -c .bird)"
	sleep 0.2
	[ "$(nexthops "$VIP")" = lb2 ] || fail "restarted, drained lb1 is back on the router"

	lbctl lb1 node undrain
	ms=$(wait_both "lb1 lb2" "lb1 undrained")
	log "lb1 undrained: back on the router after $ms ms"
	lbctl lb1 -j status | jq -e '.node.drained == false' >/dev/null ||
		fail "lb1's status still says drained"
	[ "$(announced lb1)" = "$VIP/32 $VIP6/128" ] ||
		fail "undrained lb1 says it announces '$(announced lb1)'"
	c=$(shares 40401)
	log "lb1 undrained: new flows lb1, lb2: $c"
	[ "${c% *}" -ge 40 ] && [ "${c#* }" -ge 40 ] || fail "undrained, lb1 and lb2 counted $c new flows"

	# announce healthy: withdrawn once every backend fails its check, on
	# both nodes, and back when they pass again. The other VIPs stay.
	for n in lb1 lb2; do
		lbctl "$n" vip add "$svc2" announce healthy
		for h in be1 be2 be3; do
			lbctl "$n" backend add "$svc2" "$(addr_of "$h")"
		done
	done
	wait_nexthops "$vip2" "lb1 lb2" "$svc2 added" >/dev/null
	for n in lb1 lb2; do
		lbctl "$n" health set "$svc2" tcp interval 100ms timeout 50ms fall 1 rise 1
	done
	ms=$(wait_nexthops "$vip2" "" "$svc2's backends all down")
	log "$svc2 withdrawn by both nodes $ms ms after its checks began"
	for n in lb1 lb2; do
		lbctl "$n" -j vip show "$svc2" | jq -e '.announced == false' >/dev/null ||
			fail "$n's vip show says $svc2 is still announced"
	done
	[ "$(nexthops "$VIP")" = "lb1 lb2" ] || fail "$VIP went with $vip2: '$(nexthops "$VIP")'"
	for n in lb1 lb2; do
		lbctl "$n" health set "$svc2" tcp port 80 interval 100ms timeout 50ms fall 1 rise 1
	done
	ms=$(wait_nexthops "$vip2" "lb1 lb2" "$svc2's backends up again")
	log "$svc2 announced again $ms ms after its backends came up"

	# vip del withdraws from that node only; detach, everything it had.
	lbctl lb1 vip del "$svc2"
	wait_nexthops "$vip2" lb2 "$svc2 deleted on lb1" >/dev/null
	lbctl lb2 detach eth0
	wait_nexthops "$vip2" "" "lb2 detached" >/dev/null
	wait_both lb1 "lb2 detached" >/dev/null
	[ -z "$(announced lb2)" ] || fail "detached lb2 says it announces $(announced lb2)"
	c=$(shares 41001)
	[ "$c" = "200 0" ] || fail "with lb2 detached, lb1 and lb2 counted $c of 200 new flows"
}

run_suite
