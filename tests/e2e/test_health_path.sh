#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Health checks via the VIP path: the mistakes of README's "backends do not
# answer" pass a direct check and fail a VIP-path one, as they fail clients.
. "$(dirname "$0")/lib.sh"

INTERVAL_MS=200
TIMEOUT_MS=100
FALL=3
RISE=2
# Probes start on a 10 ms tick, and the e2e suites share two loaded cores.
SLACK_MS=400

svc_of() { [ "$1" = 6 ] && echo "[$VIP6]:80/tcp" || echo "$VIP4:80/tcp"; }
url_of() { [ "$1" = 6 ] && echo "http://[$VIP6]/" || echo "http://$VIP4/"; }

setup() { # FAMILY METHOD VIA [check words...]
	local fam=$1 method=$2 via=$3
	shift 3
	lb_up
	vip_up "$(svc_of "$fam")" method "$method"
	xlbctl health set "$(svc_of "$fam")" "${@:-tcp}" interval ${INTERVAL_MS}ms \
		timeout ${TIMEOUT_MS}ms rise $RISE fall $FALL via "$via"
	SVC=$(svc_of "$fam")
	FAM=$fam
}

state_of() { # backend index (0-based) -> up/down
	xlbctl -j health show "$SVC" | jq -r ".vips[0].backends[$1].state"
}

all_up() {
	local i
	for i in 0 1 2; do [ "$(wait_state $i up 3000)" != timeout ] || return 1; done
}

# The mistakes: be1 has no VIP on lo, be2 no decap (ipip only).
vip_off_lo() { # HOST
	on "$1" ip route del local $N4.1.0/24 dev lo
	on "$1" ip -6 route del local $N6:1::/64 dev lo
}
vip_on_lo() { # HOST
	on "$1" ip route add local $N4.1.0/24 dev lo
	on "$1" ip -6 route add local $N6:1::/64 dev lo
}

failed_requests() { # FIRST COUNT
	requests "$(url_of "$FAM")" "$1" "$2" >"$WORK/req-$1"
	awk '$2 == "-"' "$WORK/req-$1" | wc -l
}

# A broken backend goes down within the window; then no request fails;
# fixed, it comes back within rise x interval.
down_then_back() { # INDEX WHAT FIX...
	local i=$1 what=$2 ms
	shift 2
	ms=$(wait_state "$i" down $((INTERVAL_MS * FALL + TIMEOUT_MS + SLACK_MS)))
	log "$what: down after $ms ms (window $((INTERVAL_MS * FALL + TIMEOUT_MS)) ms)"
	[ "$ms" != timeout ] || { fail "$what: not down within the window"; return 1; }
	xlbctl -j health show "$SVC" |
		jq -e ".vips[0].backends[$i].diagnosis | test(\"VIP path fails\")" >/dev/null ||
		{ fail "$what: health show does not say the VIP path fails"; return 1; }
}

back_up() { # INDEX WHAT
	local ms
	ms=$(wait_state "$1" up $((INTERVAL_MS * RISE + SLACK_MS)))
	log "$2: up again after $ms ms"
	[ "$ms" != timeout ] || fail "$2: not up within rise x interval after the fix"
}

mistakes_caught() { # FAMILY METHOD
	local f
	setup "$1" "$2" vip
	all_up || { fail "not every backend up at start"; return 1; }
	vip_off_lo be1
	down_then_back 0 "be1 without the VIP on lo" || return 1
	if [ "$2" = ipip ]; then
		on be2 "$BUILD/xlbctl" decap detach eth0
		down_then_back 1 "be2 without decap" || return 1
	fi
	f=$(failed_requests 20000 300)
	log "failed requests after detection: $f of 300 ($(tally "$WORK/req-20000"))"
	[ "$f" = 0 ] || { fail "$f of 300 requests failed after detection"; return 1; }
	[ "$(state_of 2)" = up ] || { fail "the healthy be3 went down"; return 1; }
	vip_on_lo be1
	back_up 0 be1 || return 1
	if [ "$2" = ipip ]; then
		on be2 "$BUILD/xlbctl" decap attach eth0
		back_up 1 be2
	fi
}

test_direct_passes_what_clients_fail() {
	local f
	setup 4 ipip direct
	all_up || { fail "not every backend up at start"; return 1; }
	vip_off_lo be1
	on be2 "$BUILD/xlbctl" decap detach eth0
	sleep $(((INTERVAL_MS * FALL * 2 + TIMEOUT_MS) / 100))e-1
	for i in 0 1; do
		[ "$(state_of $i)" = up ] || fail "backend $i went down with a direct check"
	done
	f=$(failed_requests 21000 60)
	log "with direct checks: $f of 60 requests failed"
	[ "$f" -gt 0 ] || fail "the mistakes did not fail any client request"
}

test_vip_path_ipip_v4() { mistakes_caught 4 ipip; }
test_vip_path_ipip_v6() { mistakes_caught 6 ipip; }
test_vip_path_l2_v4() { mistakes_caught 4 l2; }
test_vip_path_l2_v6() { mistakes_caught 6 l2; }

test_vip_path_http_503() {
	setup 4 ipip vip http path /health status 200
	all_up || { fail "not every backend up at start"; return 1; }
	touch "$WORK/nginx-be2/www/sick"
	[ "$(wait_state 1 down 3000)" != timeout ] || fail "be2 answering 503 stayed up"
	xlbctl -j health show | jq -e '.vips[0].backends[1].last_error == "HTTP 503"' >/dev/null ||
		fail "last error is not HTTP 503"
	rm "$WORK/nginx-be2/www/sick"
	[ "$(wait_state 1 up 3000)" != timeout ] || fail "be2 did not come back"
}

probe_link_id() {
	bpftool link show pinned "$WORK_PINS/probe_link_eth0" 2>/dev/null | awk -F: 'NR == 1 { print $1 }'
}

test_restart_and_kill_keep_the_path() {
	local id
	setup 4 ipip vip
	all_up || { fail "not every backend up at start"; return 1; }
	id=$(probe_link_id)
	[ -n "$id" ] || { fail "no pinned probe link"; return 1; }
	kill "$(xlbd_pid)"
	sleep 0.3
	xlbd_start
	kill -9 "$(xlbd_pid)"
	sleep 0.3
	xlbd_start
	[ "$(probe_link_id)" = "$id" ] || fail "the probe link was not adopted ($id -> $(probe_link_id))"
	xlbctl -j health show | jq -e '.vips[0].via == "vip"' >/dev/null ||
		fail "not via vip after restart"
	vip_off_lo be1
	down_then_back 0 "be1 after restarts" || return 1
	[ "$(on lb ip rule | grep -c 22604)" = 1 ] || fail "probe rule not there exactly once"
}

# Nothing of the probe path outlives its last check or the interface.
path_gone() { # WHAT
	[ ! -e "$WORK_PINS/probe_link_eth0" ] || { fail "$1: probe link pin left"; return 1; }
	on lb ip rule | grep -q 22604 && { fail "$1: ip rule left"; return 1; }
	on lb ip -6 rule | grep -q 22604 && { fail "$1: ip -6 rule left"; return 1; }
	[ -z "$(on lb ip route show table 22604)" ] || { fail "$1: route left"; return 1; }
	# The link pinned at setup is gone from the kernel, not only unpinned.
	bpftool link show id "$LINK_ID" >/dev/null 2>&1 &&
		{ fail "$1: tcx link $LINK_ID left"; return 1; }
	return 0
}

rp_filter_of() { on lb cat /proc/sys/net/ipv4/conf/eth0/rp_filter; }

test_health_off_and_detach_clean_up() {
	lb_up
	on lb sysctl -qw net.ipv4.conf.eth0.rp_filter=2
	vip_up $VIP4:80/tcp
	SVC=$VIP4:80/tcp
	xlbctl health set $SVC tcp interval ${INTERVAL_MS}ms timeout ${TIMEOUT_MS}ms via vip
	[ "$(rp_filter_of)" = 0 ] || { fail "rp_filter not 0 with a check via vip"; return 1; }
	all_up || { fail "not every backend up at start"; return 1; }
	LINK_ID=$(probe_link_id)
	[ -n "$LINK_ID" ] || { fail "no pinned probe link"; return 1; }
	xlbctl health set "$SVC" off
	path_gone "health off" || return 1
	xlbctl health set "$SVC" tcp via vip
	LINK_ID=$(probe_link_id)
	[ -n "$LINK_ID" ] || { fail "no probe link after health set"; return 1; }
	xlbctl detach eth0
	path_gone "detach" || return 1
	[ "$(rp_filter_of)" = 2 ] || fail "detach did not put rp_filter back ($(rp_filter_of))"
}

run_suite
