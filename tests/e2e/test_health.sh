#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Health checks end to end: real nginx backends going away and coming back.
. "$(dirname "$0")/lib.sh"

INTERVAL_MS=200
TIMEOUT_MS=100
FALL=3
RISE=2

setup_checked_vip() { # check words...
	lb_up
	vip_up $VIP4:80/tcp
	xlbctl health set $VIP4:80/tcp "$@" interval ${INTERVAL_MS}ms timeout ${TIMEOUT_MS}ms \
		rise $RISE fall $FALL
}

state_of() { # backend index (0-based) -> up/down
	xlbctl -j health show $VIP4:80/tcp | jq -r ".vips[0].backends[$1].state"
}

requests() { # N FIRST_PORT -> number of failed requests
	on client bash -c "f=0; for ((p = $2; p < $2 + $1; p++)); do
		curl -s -o /dev/null --max-time 2 --local-port \$p http://$VIP4/ || f=\$((f + 1)); done
		echo \$f"
}

test_down_within_window_then_back() {
	local ms limit fails
	setup_checked_vip tcp
	sleep 0.5
	[ "$(state_of 0)" = up ] || fail "be1 not up at start"
	nginx_stop be1
	limit=$((INTERVAL_MS * FALL + TIMEOUT_MS + 200))
	ms=$(wait_state 0 down 3000)
	log "down after $ms ms (window $((INTERVAL_MS * FALL + TIMEOUT_MS)) ms + 200 ms scheduling)"
	[ "$ms" != timeout ] && [ "$ms" -le $limit ] || fail "be1 detected after $ms ms, limit $limit"
	fails=$(requests 500 26000)
	log "failed requests after detection: $fails of 500"
	[ "$fails" = 0 ] || fail "$fails of 500 requests failed after detection"
	xlbctl -j vip show $VIP4:80/tcp | jq -e '.backends[0].ring_slots == 0' >/dev/null ||
		fail "be1 still owns ring slots"
	xlbctl -j health show | jq -e '.vips[0].backends[0].last_error == "connection refused"' \
		>/dev/null || fail "last error does not say connection refused"
	nginx_start be1
	ms=$(wait_state 0 up 3000)
	log "up again after $ms ms"
	[ "$ms" != timeout ] || fail "be1 did not come back"
	[ "$(grep -c 'is down' "$WORK/xlbd.log")" = 1 ] || fail "state change not logged once"
}

test_http_503_marks_down() {
	setup_checked_vip http path /health status 200
	sleep 0.5
	touch "$WORK/nginx-be2/www/sick"
	[ "$(wait_state 1 down 3000)" != timeout ] || fail "be2 answering 503 stayed up"
	xlbctl -j health show | jq -e '.vips[0].backends[1].last_error == "HTTP 503"' >/dev/null ||
		fail "last error is not HTTP 503"
	# The port still accepts connections: a tcp check would say up.
	on lb curl -s -o /dev/null --max-time 2 http://$N4.0.12/ || fail "be2's port is not open"
	[ "$(state_of 0)" = up ] && [ "$(state_of 2)" = up ] || fail "healthy backends went down"
	rm "$WORK/nginx-be2/www/sick"
	[ "$(wait_state 1 up 3000)" != timeout ] || fail "be2 did not come back after 503s stopped"
}

test_blackhole_detected_by_timeout() {
	local ms age
	setup_checked_vip tcp
	sleep 0.5
	# SYNs to be3's own address are dropped: connect() never completes.
	on be3 nft add table inet xlbtest
	on be3 nft add chain inet xlbtest input '{ type filter hook input priority 0; }'
	on be3 nft add rule inet xlbtest input ip daddr $N4.0.13 tcp dport 80 drop
	ms=$(wait_state 2 down 3000)
	log "black-holed be3 down after $ms ms"
	[ "$ms" != timeout ] || fail "black-holed backend not detected"
	xlbctl -j health show | jq -e '.vips[0].backends[2].last_error == "timeout"' >/dev/null ||
		fail "last error is not timeout"
	# Meanwhile the others kept being checked on time.
	for i in 0 1; do
		[ "$(state_of $i)" = up ] || fail "backend $i went down too"
	done
	age=$(xlbctl -j health show | jq '[.vips[0].backends[0,1].ok_in_a_row] | min')
	log "healthy backends' consecutive successes: $age"
	[ "$age" -ge 5 ] || fail "healthy backends were not checked while be3 hung ($age)"
}

test_all_down_fails_open() {
	local before after
	setup_checked_vip tcp
	sleep 0.5
	nginx_stop be1
	nginx_stop be2
	nginx_stop be3
	for i in 0 1 2; do [ "$(wait_state $i down 3000)" != timeout ] || fail "backend $i stayed up"; done
	xlbctl -j status | jq -e '.vips_failing_open | length == 1' >/dev/null ||
		fail "status does not report the VIP failing open"
	xlbctl status | grep -q FAIL-OPEN || fail "status text does not say FAIL-OPEN"
	xlbctl -j vip show $VIP4:80/tcp | jq -e '.fail_open and ([.backends[].ring_slots] | add) == 65537' \
		>/dev/null || fail "fail-open VIP does not keep every backend in the ring"
	before=$(xlbctl -j vip show $VIP4:80/tcp | jq '[.backends[].packets] | add')
	requests 20 27000 >/dev/null
	after=$(xlbctl -j vip show $VIP4:80/tcp | jq '[.backends[].packets] | add')
	log "packets forwarded while failing open: $((after - before))"
	[ "$after" -gt "$before" ] || fail "nothing forwarded while failing open"
}

test_restart_keeps_down_state() {
	setup_checked_vip tcp
	sleep 0.5
	nginx_stop be1
	[ "$(wait_state 0 down 3000)" != timeout ] || fail "be1 not detected"
	xlbctl save | grep -q "health set $VIP4:80/tcp tcp" || fail "health check not saved"
	kill "$(xlbd_pid)"
	sleep 0.3
	xlbd_start
	# Right after the restart, before any probe could decide: still down.
	[ "$(state_of 0)" = down ] || fail "be1 came back up across the restart"
	xlbctl -j vip show $VIP4:80/tcp | jq -e '.backends[0].ring_slots == 0' >/dev/null ||
		fail "be1 got ring slots back across the restart"
}

test_drained_backend_still_checked() {
	setup_checked_vip tcp
	xlbctl backend set $VIP4:80/tcp $N4.0.11 weight 0
	nginx_stop be1
	[ "$(wait_state 0 down 3000)" != timeout ] || fail "a drained backend is not checked"
}

run_suite
