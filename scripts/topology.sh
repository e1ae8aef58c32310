#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A small network in namespaces for xlb: a client, the balancer and N
# backends on one L2 segment (a bridge in a "switch" namespace).
#
#   topology.sh up   [-p PREFIX] [-4 NET4] [-6 NET6] [-b N] [-c N] [-P]
#   topology.sh down [-p PREFIX]
#   topology.sh exec [-p PREFIX] HOST CMD...   (HOST: client, lb, be1, ...)
#   topology.sh pass [-p PREFIX] HOST IFNAME
#
# Defaults: PREFIX xlb, NET4 10.99 (hosts in NET4.0.0/24, VIPs in
# NET4.1.0/24), NET6 fd00:99 (hosts in NET6::/64, VIPs in NET6:1::/64),
# 3 backends, 1 client. Last address byte (IPv6: the same number in hex):
# lb 2, client 10, clientN 40+N, beN 10+N; every host's interface is eth0.
#
# Clients route the VIP ranges via the balancer. Backends are set up for
# direct server return: the VIP ranges on lo, ARP for them never answered,
# reverse-path filtering off; -P leaves them plain hosts, as NAT backends
# are (nothing on lo, no sysctl changed). Nothing happens in the caller's own
# namespace: only namespaces named PREFIX-* are created or deleted.
#
# `pass` gives an interface of a host (of this topology or another one
# built in namespaces PREFIX-HOST) an XDP program that passes everything,
# so that it receives the frames a balancer sends it with XDP_TX.
#
# Commands inside use `nsenter --net`, which keeps the caller's mounts;
# xlbd and xlbctl decap also work under `ip netns exec` (its new /sys hides
# /sys/fs/bpf; see ctl/bpffs.c), which tests/e2e/test_netns.sh enters by.
set -euo pipefail

prefix=xlb net4=10.99 net6=fd00:99 nbe=3 ncl=1 plain=0
root=$(cd "$(dirname "$0")/.." && pwd)
# floor_pass, the first program of section "xdp" there.
passprog=${XLB_BUILD:-$root/build}/bpf/floor.bpf.o

die() { echo "topology: $*" >&2; exit 1; }

parse() {
	local OPTIND=1 opt
	while getopts "p:4:6:b:c:P" opt; do
		case $opt in
		p) prefix=$OPTARG ;;
		4) net4=$OPTARG ;;
		6) net6=$OPTARG ;;
		b) nbe=$OPTARG ;;
		c) ncl=$OPTARG ;;
		P) plain=1 ;;
		*) die "usage: topology.sh up|down|exec|pass [-p PREFIX] [-4 NET4] [-6 NET6] [-b N] [-c N] [-P]" ;;
		esac
	done
	shift $((OPTIND - 1))
	rest=("$@")
	[[ $prefix =~ ^[a-z0-9]{1,8}$ ]] || die "prefix '$prefix': 1-8 lowercase letters/digits"
	[[ $nbe =~ ^[1-9]$ ]] || die "backends: 1-9"
	[[ $ncl =~ ^[1-9]$ ]] || die "clients: 1-9"
}

in_ns() { # namespace, command...
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

hosts() {
	echo lb
	for i in $(seq 1 "$ncl"); do [ "$i" = 1 ] && echo client || echo "client$i"; done
	for i in $(seq 1 "$nbe"); do echo "be$i"; done
}

host_num() { # host -> last address byte
	case $1 in
	lb) echo 2 ;;
	client) echo 10 ;;
	client*) echo $((40 + ${1#client})) ;;
	be*) echo $((10 + ${1#be})) ;;
	esac
}

link_host() { # host: veth pair between its eth0 and the switch's bridge
	local h=$1 ns=$prefix-$1 n mac
	n=$(host_num "$h")
	mac=$(printf '02:00:00:00:%02x:%02x' "${net4#*.}" "$n")
	ip netns add "$ns"
	ip link add "${prefix}-$h" type veth peer name eth0 netns "$ns"
	ip link set "${prefix}-$h" netns "$prefix-sw"
	in_ns "$prefix-sw" ip link set "${prefix}-$h" master br0 up
	in_ns "$ns" ip link set lo up
	in_ns "$ns" ip link set eth0 address "$mac" up
	in_ns "$ns" ip addr add "$net4.0.$n/24" dev eth0
	in_ns "$ns" ip -6 addr add "$net6::$(printf %x "$n")/64" dev eth0 nodad
}

# The two-instruction XDP_PASS program on an interface of a namespace.
xdp_pass() { # namespace, interface
	local had_tc=0
	[ -f "$passprog" ] || die "$passprog missing: run 'make' first"
	[ -e /sys/fs/bpf/tc ] && had_tc=1
	in_ns "$1" ip link set dev "$2" xdpdrv obj "$passprog" sec xdp
	# iproute2 lays out /sys/fs/bpf/{tc,ip,xdp} for pinning on first use;
	# nothing is pinned there for us, so take back what it made.
	if [ $had_tc = 0 ] && [ -z "$(ls -A /sys/fs/bpf/tc/globals 2>/dev/null)" ]; then
		rm -f /sys/fs/bpf/ip /sys/fs/bpf/xdp
		rmdir /sys/fs/bpf/tc/globals /sys/fs/bpf/tc 2>/dev/null || true
	fi
}

up() {
	local h ns
	command -v nsenter >/dev/null || die "nsenter (util-linux) is missing"
	ip netns list | grep -q "^$prefix-" && die "namespaces $prefix-* exist: run 'topology.sh down -p $prefix' first"
	ip netns add "$prefix-sw"
	in_ns "$prefix-sw" ip link set lo up
	in_ns "$prefix-sw" ip link add br0 type bridge
	in_ns "$prefix-sw" ip link set br0 up
	for h in $(hosts); do
		link_host "$h"
	done
	# A veth delivers XDP_TX/redirected frames only to a peer that runs an
	# XDP program itself (GRO alone is not enough on 6.x): give the
	# balancer's peer the two-instruction XDP_PASS program.
	xdp_pass "$prefix-sw" "$prefix-lb"
	for h in $(hosts); do
		ns=$prefix-$h
		case $h in
		client*)
			# Encapsulated frames must carry full checksums: no offload.
			in_ns "$ns" ethtool -K eth0 tx off >/dev/null
			in_ns "$ns" ip route add "$net4.1.0/24" via "$net4.0.2"
			in_ns "$ns" ip -6 route add "$net6:1::/64" via "$net6::2"
			;;
		be*)
			[ $plain = 1 ] && continue
			# Every VIP of the ranges is local (AnyIP): unlike IPv4,
			# an IPv6 prefix on lo makes only its one address local.
			in_ns "$ns" ip route add local "$net4.1.0/24" dev lo
			in_ns "$ns" ip -6 route add local "$net6:1::/64" dev lo
			in_ns "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
				net.ipv4.conf.all.arp_announce=2 \
				net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
				net.ipv4.conf.lo.rp_filter=0
			;;
		esac
	done
	# Neighbours resolved once, so that the first packets need no ARP.
	for h in $(hosts); do
		[ "$h" = lb ] && continue
		in_ns "$prefix-lb" ping -c1 -W1 "$net4.0.$(host_num "$h")" >/dev/null 2>&1 || true
	done
}

down() {
	local ns pids
	for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		# CONT too: a stopped process (a test froze it) takes the TERM
		# only once it runs again.
		[ -z "$pids" ] || kill $pids 2>/dev/null || true
		[ -z "$pids" ] || kill -CONT $pids 2>/dev/null || true
		ip netns del "$ns"
	done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
parse "$@"
case $cmd in
up) up ;;
down) down ;;
exec)
	[ ${#rest[@]} -ge 2 ] || die "exec HOST CMD..."
	in_ns "$prefix-${rest[0]}" "${rest[@]:1}"
	;;
pass)
	[ ${#rest[@]} = 2 ] || die "pass HOST IFNAME"
	xdp_pass "$prefix-${rest[0]}" "${rest[1]}"
	;;
*) die "usage: topology.sh up|down|exec|pass [-p PREFIX] [-4 NET4] [-6 NET6] [-b N] [-c N] [-P]" ;;
esac
