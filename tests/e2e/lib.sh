# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Shared by the end-to-end suites (sourced). Each suite defines functions
# named test_*; run_suite runs them in order, each in a fresh topology of
# its own, and prints PASS/FAIL/SKIP lines. V=1 shows every command's output.
#
# A test fails by calling `fail MSG` (or any command failing under set -e
# inside it); `skip MSG` skips it. Everything a test starts is killed and
# its namespaces deleted when it ends, even on failure or Ctrl-C.

XLB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$XLB_ROOT/build}
TOPO=$XLB_ROOT/scripts/topology.sh
PREFIX=${PREFIX:-xe$$}
PREFIX=${PREFIX:0:8}
N4=10.98
N6=fd00:98
VIP4=$N4.1.1
VIP6=$N6:1::1
WORK=""

log() { [ "${V:-0}" = 1 ] && echo "    $*" >&2; return 0; }
fail() { echo "$*" >"$WORK/fail_reason"; return 1; }
skip() { echo "$*" >"$WORK/skip_reason"; return 0; }

on() { # HOST CMD... : run in a host's namespace
	"$TOPO" exec -p "$PREFIX" "$@"
}

xlbctl() { # xlbctl on the balancer, with the test's socket
	on lb "$BUILD/xlbctl" -s "$WORK/xlbd.sock" "$@"
}

topo_up() { # [backends] [clients] [topology.sh options...]
	"$TOPO" up -p "$PREFIX" -4 $N4 -6 $N6 -b "${1:-3}" -c "${2:-1}" "${@:3}"
}

xlbd_start() {
	on lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		2>>"$WORK/xlbd.log"
}

xlbd_pid() {
	pgrep -f -- "-s $WORK/xlbd.sock" | head -1
}

# nginx on a host (scripts/nginx-backend.sh: "/" names it, "/big", "/health";
# who asked in $WORK/nginx-HOST/access.log).
nginx_start() { # HOST [PORT]
	"$XLB_ROOT/scripts/nginx-backend.sh" start "$PREFIX" "$1" "$WORK/nginx-$1" "$1" "${2:-80}"
}

nginx_stop() { # HOST
	local pidf=$WORK/nginx-$1/nginx.pid
	[ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null || true
}

backends_up() { # decap + nginx on every backend
	local h
	for h in "$@"; do
		on "$h" "$BUILD/xlbctl" decap attach eth0
		nginx_start "$h"
	done
}

outcome() { # NAME: a global packet counter
	xlbctl -j stats | jq ".outcomes.$1"
}

# curl from the client: prints the body (the backend's name).
get() { # URL [curl args...]
	on client curl -s --max-time 5 "$@"
}

be4() { echo "$N4.0.$((10 + ${1#be}))"; } # beN -> its IPv4 address
be6() { printf '%s::%x\n' "$N6" $((10 + ${1#be})); }

# One VIP (SERVICE, its family's backend addresses) with backends be1..be3.
vip_up() { # SERVICE [vip add args...]
	local svc=$1 h addr
	shift
	xlbctl vip add "$svc" "$@"
	for h in be1 be2 be3; do
		[[ $svc == \[* ]] && addr=$(be6 "$h") || addr=$(be4 "$h")
		xlbctl backend add "$svc" "$addr"
	done
}

# Three backends that decapsulate, the balancer attached.
lb_up() { # [clients]
	topo_up 3 "${1:-1}"
	backends_up be1 be2 be3
	xlbd_start
	xlbctl attach eth0
}

# COUNT HTTP requests from HOST (the client), one curl process, each a new
# connection from its own source port FIRST, FIRST+1, ... Prints one line
# per request: "PORT BODY", or "PORT - CURL_ERROR" when it failed. Bounded:
# $REQ_TIMEOUT (5) seconds a request, 120 s in all.
requests() { # URL FIRST COUNT [HOST]
	local url=$1 first=$2 n=$3 host=${4:-client} p cfg
	cfg=$WORK/curl-$host-$first.cfg
	: >"$cfg"
	for ((p = first; p < first + n; p++)); do
		printf '%s\n' "url = \"$url\"" "local-port = $p" silent "max-time = ${REQ_TIMEOUT:-5}" \
			'header = "Connection: close"' \
			'write-out = "\n@%{local_port} %{http_code} %{errormsg}\n"' >>"$cfg"
		[ $p = $((first + n - 1)) ] || echo next >>"$cfg"
	done
	on "$host" timeout 120 curl -K "$cfg" |
		awk '/^@/ { port = $1; sub(/^@/, "", port); code = $2
			    err = $0; sub(/^@[^ ]* [^ ]* ?/, "", err)
			    if (code == 200 && body != "") print port, body
			    else print port, "-", (err != "" ? err : "HTTP " code)
			    body = ""; next }
		     NF { body = $1 }'
}

# "be1 340 be2 306 ..." for a requests() output file.
tally() { # FILE
	awk '{ n[$2]++ } END { for (b in n) printf "%s %d\n", b, n[b] }' "$1" | sort | xargs
}

# The first failed request's curl error in a requests() output file.
first_error() { # FILE
	awk '$2 == "-" { sub(/^[^ ]* - /, ""); print; exit }' "$1"
}

count_of() { # FILE BODY
	awk -v b="$2" '$2 == b { n++ } END { print n + 0 }' "$1"
}

# Backend H answered between LO and HI percent of FILE's N requests.
share_between() { # FILE N H LO HI WHAT
	local c
	c=$(count_of "$1" "$3")
	awk -v c="$c" -v n="$2" -v lo="$4" -v hi="$5" \
		'BEGIN { p = 100 * c / n; exit !(p >= lo && p <= hi) }' ||
		fail "$6: $3 answered $c of $2, outside $4%-$5% ($(tally "$1"))"
}

# Three equal backends each got 25%-42% of the requests.
spread_check() { # FILE N WHAT
	local h
	all_answered "$@"
	for h in be1 be2 be3; do
		share_between "$1" "$2" "$h" 25 42 "$3"
	done
}

# All N requests of FILE answered, from N distinct source ports.
all_answered() { # FILE N WHAT
	local ok ports err
	ok=$(awk '$2 != "-"' "$1" | wc -l)
	ports=$(awk '$2 != "-" { print $1 }' "$1" | sort -u | wc -l)
	err=$(first_error "$1")
	log "$3: $ok of $2 answered, $ports source ports: $(tally "$1")${err:+; first error: $err}"
	# Returns at the first failure: under $(...) a failure does not end
	# the test, and the next check would replace the reason.
	[ "$ok" = "$2" ] || { fail "$3: $(($2 - ok)) of $2 requests failed (first: $err)"; return 1; }
	[ "$ports" = "$2" ] || fail "$3: $ports distinct source ports, not $2"
}

# The client keeps no TIME_WAIT sockets, so that a source port can be used
# again at once: the same 5-tuple, a few times in a row.
client_reuses_ports() {
	on client sysctl -qw net.ipv4.tcp_max_tw_buckets=0
}

# A rate-limited download from the client in the background, from source
# port PORT; "BYTES HTTP_CODE" goes to $WORK/dl-PORT. The caller takes $!.
download_start() { # URL PORT RATE [curl args...]
	on client curl -s --max-time 50 --local-port "$2" --limit-rate "$3" -o /dev/null \
		-w '%{size_download} %{http_code}\n' "${@:4}" "$1" >"$WORK/dl-$2" &
}

# The download ended well and in full (HTTP CODE: 206 for a range).
download_done() { # PID PORT BYTES WHAT [CODE]
	local rc=0 got want="$3 ${5:-200}"
	wait "$1" || rc=$?
	got=$(cat "$WORK/dl-$2")
	log "$4: curl exit $rc, got '$got'"
	[ $rc = 0 ] || fail "$4: the download broke (curl exit $rc, '$got')"
	[ "$got" = "$want" ] || fail "$4: got '$got', not '$want'"
}

# Milliseconds until CMD... prints WANT, at most MS ("timeout" then).
wait_for() { # MS WANT CMD...
	local ms=$1 want=$2 t0 now
	shift 2
	t0=$(date +%s%N)
	while [ "$("$@")" != "$want" ]; do
		now=$(date +%s%N)
		[ $(((now - t0) / 1000000)) -gt "$ms" ] && { echo timeout; return; }
		sleep 0.02
	done
	echo $((($(date +%s%N) - t0) / 1000000))
}

# Milliseconds until backend $1 reaches health state $2, at most $3 ms
# ("timeout" then). The suite defines state_of BACKEND -> state.
wait_state() {
	wait_for "$3" "$2" state_of "$1"
}

# A second client, "far", behind two routers with a 1280-byte link between
# them; every other link is 1500, so far advertises MSS 1460 and backends
# send 1500-byte packets that only path-MTU discovery can shrink:
#
#   far ==1500== rb ==1280== ra ==1500== bridge (lb, be1..3)
#   10.98.4.2/.1     .3.2/.1     .0.30
#
# ra's "fragmentation needed" / "packet too big" goes to the VIP, so via
# the balancer, which must steer it to the backend owning the flow (or, for
# a nat VIP, translate it). Backends that answer far themselves (DSR) need
# its routes through ra: far_routes.
narrow_path_up() {
	local ra=$PREFIX-ra rb=$PREFIX-rb far=$PREFIX-far h
	ip netns add "$ra"
	ip netns add "$rb"
	ip netns add "$far"
	ip -n "$PREFIX-sw" link add "$PREFIX-ra" type veth peer name eth0 netns "$ra"
	ip -n "$PREFIX-sw" link set "$PREFIX-ra" master br0 up
	ip -n "$ra" link add eth1 mtu 1280 type veth peer name eth0 mtu 1280 netns "$rb"
	ip -n "$rb" link add eth1 type veth peer name eth0 netns "$far"
	for h in "$ra" "$rb" "$far"; do
		ip -n "$h" link set lo up
		ip -n "$h" link set eth0 up
	done
	ip -n "$ra" link set eth1 up
	ip -n "$rb" link set eth1 up
	ip -n "$ra" addr add $N4.0.30/24 dev eth0
	ip -n "$ra" -6 addr add $N6::1e/64 dev eth0 nodad
	ip -n "$ra" addr add $N4.3.1/24 dev eth1
	ip -n "$ra" -6 addr add $N6:3::1/64 dev eth1 nodad
	ip -n "$rb" addr add $N4.3.2/24 dev eth0
	ip -n "$rb" -6 addr add $N6:3::2/64 dev eth0 nodad
	ip -n "$rb" addr add $N4.4.1/24 dev eth1
	ip -n "$rb" -6 addr add $N6:4::1/64 dev eth1 nodad
	ip -n "$far" addr add $N4.4.2/24 dev eth0
	ip -n "$far" -6 addr add $N6:4::2/64 dev eth0 nodad
	on ra sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	on rb sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$ra" route add $N4.4.0/24 via $N4.3.2
	ip -n "$ra" -6 route add $N6:4::/64 via $N6:3::2
	ip -n "$ra" route add $N4.1.0/24 via $N4.0.2
	ip -n "$ra" -6 route add $N6:1::/64 via $N6::2
	ip -n "$rb" route add default via $N4.3.1
	ip -n "$rb" -6 route add default via $N6:3::1
	ip -n "$far" route add default via $N4.4.1
	ip -n "$far" -6 route add default via $N6:4::1
	# A client's packets carry full checksums (as in topology.sh).
	on far ethtool -K eth0 tx off >/dev/null
}

far_routes() { # HOST...: far's networks through ra
	local h
	for h in "$@"; do
		on "$h" ip route add $N4.4.0/24 via $N4.0.30
		on "$h" ip -6 route add $N6:4::/64 via $N6::1e
	done
}

# far fetches 4 MB of random bytes from the VIPs $VIP4:80 and [$VIP6]:80
# over the narrow path, intact; each fetch moves the outcome counter COUNTER
# (errors went through the balancer), and some backend learnt the path MTU
# 1280 towards `ip route get` ROUTE4 and ROUTE6.
fetch_over_narrow_path() { # COUNTER ROUTE4 ROUTE6
	local h sum url before after pmtu=""
	head -c 4M /dev/urandom >"$WORK/blob"
	sum=$(sha256sum <"$WORK/blob")
	for h in be1 be2 be3; do
		cp "$WORK/blob" "$WORK/nginx-$h/www/blob"
	done
	for url in "http://$VIP4/blob" "http://[$VIP6]/blob"; do
		before=$(outcome "$1")
		rm -f "$WORK/far.out"
		on far curl -s --max-time 15 -o "$WORK/far.out" "$url" ||
			{ fail "$url over the 1280-byte path: curl exit $? (path-MTU discovery broken?)"; return 1; }
		after=$(outcome "$1")
		log "$url: $(stat -c %s "$WORK/far.out") bytes, $1 $before -> $after"
		[ "$(sha256sum <"$WORK/far.out")" = "$sum" ] || { fail "$url: the download differs"; return 1; }
		[ "$after" -gt "$before" ] ||
			{ fail "$url: $1 did not move: the test proved nothing"; return 1; }
	done
	for h in be1 be2 be3; do
		pmtu+="$h: $(on "$h" ip -o route get $2 | grep -o 'mtu [0-9]*' || true)"
		pmtu+=" / $(on "$h" ip -o -6 route get $3 | grep -o 'mtu [0-9]*' || true); "
	done
	log "path MTU towards $2 / $3: $pmtu"
	grep -q "mtu 1280 /" <<<"$pmtu" || fail "no backend learnt the IPv4 path MTU: $pmtu"
	grep -q "/ mtu 1280;" <<<"$pmtu" || fail "no backend learnt the IPv6 path MTU: $pmtu"
}

cleanup_test() {
	local pid
	pid=$(xlbd_pid || true)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	for f in "$WORK"/nginx-*/nginx.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	# Decap pins live in bpffs, not in the namespace: remove them first.
	for h in be1 be2 be3 be4 be5 be6 be7 be8 be9; do
		ip netns list | awk '{print $1}' | grep -qx "$PREFIX-$h" || continue
		on "$h" "$BUILD/xlbctl" decap detach eth0 >/dev/null 2>&1 || true
	done
	"$TOPO" down -p "$PREFIX" 2>/dev/null || true
	rm -rf "$WORK_PINS" "$WORK_PINS"-* 2>/dev/null || true
}

run_suite() {
	local t rc reason
	local pass=0 failed=0 skipped=0
	trap 'cleanup_test; rm -rf "$WORK"; exit 130' INT TERM
	for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
		[ -n "${FILTER:-}" ] && [[ $t != *"$FILTER"* ]] && continue
		WORK=$(mktemp -d /tmp/xlb-e2e.XXXXXX)
		WORK_PINS=/sys/fs/bpf/xlb-e2e-$PREFIX
		"$TOPO" down -p "$PREFIX" 2>/dev/null || true
		if [ "${V:-0}" = 1 ]; then
			(set -e; "$t")
		else
			(set -e; "$t") >"$WORK/out" 2>&1
		fi
		rc=$?
		cleanup_test
		if [ -s "$WORK/skip_reason" ]; then
			echo "SKIP $t: $(cat "$WORK/skip_reason")"
			skipped=$((skipped + 1))
		elif [ $rc -eq 0 ]; then
			echo "PASS $t"
			pass=$((pass + 1))
		else
			reason=$(cat "$WORK/fail_reason" 2>/dev/null || echo "a command failed (exit $rc)")
			echo "FAIL $t: $reason"
			[ -f "$WORK/out" ] && tail -15 "$WORK/out" | sed 's/^/    | /'
			for f in "$WORK"/xlbd*.log; do
				[ -f "$f" ] && tail -5 "$f" | sed "s/^/    $(basename "$f" .log)| /"
			done
			failed=$((failed + 1))
		fi
		rm -rf "$WORK"
	done
	echo "$pass passed, $failed failed, $skipped skipped"
	[ $failed -eq 0 ]
}
