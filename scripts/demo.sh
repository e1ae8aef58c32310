#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# `make demo`: xlb balancing real HTTP traffic in network namespaces.
#
#   client ──┐
#            ├── br0 ── lb (xlbd, XDP on eth0)
#   be1..3 ──┘          VIPs 10.99.1.1:80/tcp, [fd00:99:1::1]:80/tcp
#
# The client sends to the VIP; the balancer's XDP program IPIP-encapsulates
# each flow to a backend chosen by Maglev; the backend decapsulates (XDP),
# nginx answers the client directly (direct server return).
#
# Only namespaces named demo-* are created; everything is torn down at the
# end, on Ctrl-C, or when a step fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
topo="$root/scripts/topology.sh"
prefix=demo
vip4=10.99.1.1
vip6=fd00:99:1::1
work=$(mktemp -d /tmp/xlb-demo.XXXXXX)
pins=/sys/fs/bpf/xlb-demo
step_no=0

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else echo "$*"; fi; }
step() { step_no=$((step_no + 1)); echo; bold "[$step_no] $*"; }
on() { "$topo" exec -p $prefix "$@"; }
xlbctl() { on lb "$build/xlbctl" -s "$work/xlbd.sock" "$@"; }
show() { echo "\$ xlbctl $*"; xlbctl "$@" | sed 's/^/  /'; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ $rc -ne 0 ] && [ $rc -ne 130 ] && echo "demo: step $step_no failed (exit $rc); cleaning up" >&2
	[ -f "$work/xlbd.pid" ] && kill "$(cat "$work/xlbd.pid")" 2>/dev/null
	for h in be1 be2 be3; do
		"$root/scripts/nginx-backend.sh" stop "$work/$h"
		on "$h" "$build/xlbctl" decap detach eth0 >/dev/null 2>&1 || true
	done
	"$topo" down -p $prefix
	rm -rf "$pins" "$work"
	[ $rc -eq 0 ] && echo && echo "Torn down: namespaces $prefix-*, xlbd, nginx, pins."
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Which backend answered each of N requests, each a new connection from its
# own source port (a port range in one curl would reuse the same port).
spread() { # URL N FIRST_PORT
	local url=$1 n=$2 port=$3
	on client bash -c "for ((p = $port; p < $port + $n; p++)); do
		curl -s --max-time 5 --local-port \$p '$url' || echo failed; done" |
		sort | uniq -c | awk -v n="$n" '{ printf "  %-6s %5d requests  %5.1f%%\n", $2, $1, 100 * $1 / n }'
}

"$topo" down -p $prefix 2>/dev/null || true
rm -rf "$pins"

step "Network: a client, a balancer and three backends on one bridge (namespaces $prefix-*)"
"$topo" up -p $prefix -4 10.99 -6 fd00:99 -b 3
echo "  client 10.99.0.10   lb 10.99.0.2   be1-3 10.99.0.11-13 (and fd00:99::/64)"

step "Backends: nginx answering with its own name, XDP decapsulation on eth0"
for h in be1 be2 be3; do
	"$root/scripts/nginx-backend.sh" start $prefix $h "$work/$h"
	on $h "$build/xlbctl" decap attach eth0
done
echo "  the VIP ranges are local on each backend's lo; ARP for them is never answered"

step "Balancer: start xlbd and attach XDP to eth0"
on lb "$build/xlbd" -s "$work/xlbd.sock" -c "$work/xlb.conf" -p "$pins" 2>"$work/xlbd.log"
pgrep -f -- "-s $work/xlbd.sock" | head -1 >"$work/xlbd.pid"
show attach eth0
show status

step "VIPs: $vip4:80/tcp and [$vip6]:80/tcp, three backends each, IPIP"
show vip add $vip4:80/tcp
show vip add "[$vip6]:80/tcp"
for i in 1 2 3; do
	xlbctl backend add $vip4:80/tcp 10.99.0.1$i
	xlbctl backend add "[$vip6]:80/tcp" "fd00:99::$(printf %x $((10 + i)))"
done
show vip show $vip4:80/tcp

step "Traffic: 300 new connections to each VIP from the client (curl)"
echo "IPv4 http://$vip4/"
spread "http://$vip4/" 300 20000
echo "IPv6 http://[$vip6]/"
spread "http://[$vip6]/" 300 21000

step "Load: wrk, 4 connections for 3 s through the IPv4 VIP"
on client wrk -t2 -c4 -d3s "http://$vip4/" | sed -n '/Requests\/sec\|Transfer\/sec\|requests in/p' | sed 's/^ */  /'

step "Counters"
show stats $vip4:80/tcp

step "Drain: a 300 MB download runs; its backend gets weight 0"
# Asked of the data plane, not found by a first connection from port 31000:
# that one's TIME_WAIT on the client could make the download's bind fail.
show lookup $vip4:80/tcp 10.99.0.10:31000
addr=$(xlbctl -j lookup $vip4:80/tcp 10.99.0.10:31000 | jq -r .backend)
who=be${addr#10.99.0.1}
echo "  the client's port 31000 goes to $who; downloading /big from it (50 MB/s)"
on client curl -s --max-time 60 --limit-rate 50M --local-port 31000 -o "$work/big" \
	"http://$vip4/big" &
download=$!
sleep 1
show backend set $vip4:80/tcp "$addr" weight 0
echo "  300 new connections while $who drains:"
spread "http://$vip4/" 300 23000
wait $download
# nginx logs the client's port: the download really went to $who.
[ -n "$(awk '$2 == 31000 && $4 == 200' "$work/$who/access.log")" ] ||
	{ echo "demo: $who did not serve the download from port 31000" >&2; exit 1; }
echo "  the download through $who completed: $(stat -c %s "$work/big") bytes"

step "Remove $who from the VIP"
show backend del $vip4:80/tcp "$addr"
show vip show $vip4:80/tcp
spread "http://$vip4/" 300 24000

step "Saved configuration (the state file holds the same lines)"
show save
