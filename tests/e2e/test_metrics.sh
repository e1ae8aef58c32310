#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# xlbd -m: Prometheus metrics scraped with curl inside the balancer's
# namespace while real traffic crosses the VIP, checked with promtool.
. "$(dirname "$0")/lib.sh"

SVC4=$VIP4:80/tcp
SVC6="[$VIP6]:80/tcp"
MPORT=9100	# in the lb namespace: no other suite or host service sees it
URL=http://127.0.0.1:$MPORT/metrics

# lb_up with metrics: xlbd_start has no -m.
metrics_up() {
	topo_up 3
	backends_up be1 be2 be3
	on lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		-m 127.0.0.1:$MPORT 2>>"$WORK/xlbd.log"
	xlbctl attach eth0
}

scrape() { # FILE: the body, or fail
	local code
	code=$(on lb curl -s --max-time 5 -o "$1" -w '%{http_code}' "$URL") || true
	[ "$code" = 200 ] || fail "scrape answered '$code', not 200"
}

# promtool reads the text format and lints names (exit 3 on a lint problem).
promtool_ok() { # FILE
	local out rc=0
	out=$(promtool check metrics <"$1" 2>&1) || rc=$?
	[ $rc = 0 ] && [ -z "$out" ] || fail "promtool check metrics (exit $rc): $out"
}

value() { # FILE SERIES: one sample's value, as NAME{LABELS} is printed; empty if absent
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# The sum of the samples whose series starts with PREFIX.
sum_of() { # FILE PREFIX
	awk -v p="$2" 'index($1, p) == 1 { s += $2 } END { printf "%d\n", s }' "$1"
}

vip_series() { # NAME SERVICE
	echo "$1{vip=\"$2\"}"
}

be_series() { # NAME SERVICE ADDR
	echo "$1{vip=\"$2\",backend=\"$3\"}"
}

# N HTTP requests from the client, each a new connection from its own source
# port FIRST, FIRST+1...; prints how many failed.
requests() { # URL FIRST N
	on client bash -c "f=0; for ((p = $2; p < $2 + $3; p++)); do
		curl -s -o /dev/null --max-time 2 --local-port \$p '$1' || f=\$((f + 1)); done
		echo \$f"
}

# Poll until SERIES has VALUE, at most MS milliseconds; prints the time taken or "timeout".
wait_value() { # SERIES VALUE MS
	local t0 f=$WORK/poll
	t0=$(date +%s%N)
	for (( ; ; )); do
		scrape "$f"
		[ "$(value "$f" "$1")" = "$2" ] && break
		[ $((($(date +%s%N) - t0) / 1000000)) -gt "$3" ] && { echo timeout; return; }
		sleep 0.1
	done
	echo $((($(date +%s%N) - t0) / 1000000))
}

test_counters_follow_traffic() {
	local n=60 fails i prev cur d_pkts d_flows d_bytes d_be d_fwd k h
	metrics_up
	vip_up "$SVC4"
	scrape "$WORK/before"
	# Scrapes while the requests run: each whole, valid, never going back.
	requests "http://$VIP4/" 20001 $n >"$WORK/fails" &
	local pid=$!
	prev=0
	for ((i = 0; i < 10; i++)); do
		scrape "$WORK/during$i"
		promtool_ok "$WORK/during$i"
		cur=$(value "$WORK/during$i" "$(vip_series xlb_vip_packets_total "$SVC4")")
		[ "$cur" -ge "$prev" ] || fail "xlb_vip_packets_total went back from $prev to $cur"
		prev=$cur
		sleep 0.2
	done
	wait $pid
	fails=$(cat "$WORK/fails")
	[ "$fails" = 0 ] || fail "$fails of $n requests failed"
	log "packets seen by the scrapes during traffic: $prev"
	scrape "$WORK/after"
	promtool_ok "$WORK/after"

	k=$(vip_series xlb_vip_new_flows_total "$SVC4")
	d_flows=$(($(value "$WORK/after" "$k") - $(value "$WORK/before" "$k")))
	k=$(vip_series xlb_vip_packets_total "$SVC4")
	d_pkts=$(($(value "$WORK/after" "$k") - $(value "$WORK/before" "$k")))
	k=$(vip_series xlb_vip_bytes_total "$SVC4")
	d_bytes=$(($(value "$WORK/after" "$k") - $(value "$WORK/before" "$k")))
	k="xlb_backend_packets_total{vip=\"$SVC4\","
	d_be=$(($(sum_of "$WORK/after" "$k") - $(sum_of "$WORK/before" "$k")))
	d_fwd=0
	for k in tx redirect pass_no_neigh; do
		k="xlb_packets_total{outcome=\"$k\","
		d_fwd=$((d_fwd + $(sum_of "$WORK/after" "$k") - $(sum_of "$WORK/before" "$k")))
	done
	log "$n requests: new flows +$d_flows, packets +$d_pkts, bytes +$d_bytes," \
		"backends' packets +$d_be, forwarded +$d_fwd"
	# One connection is one flow; each carries SYN, ACK, request and FIN at least.
	[ "$d_flows" = $n ] || fail "new flows went up by $d_flows for $n connections"
	[ "$d_pkts" -ge $((3 * n)) ] || fail "VIP packets went up by $d_pkts for $n requests"
	[ "$d_bytes" -ge $((54 * d_pkts)) ] ||
		fail "VIP bytes went up by $d_bytes, less than 54 bytes a packet ($d_pkts)"
	# Every packet given a backend is counted once on the VIP, once on the backend.
	[ "$d_be" = "$d_pkts" ] || fail "backends' packets went up by $d_be, the VIP's by $d_pkts"
	[ "$d_fwd" -ge "$d_pkts" ] || fail "packets forwarded went up by $d_fwd only"
	for h in be1 be2 be3; do
		k=$(be_series xlb_backend_packets_total "$SVC4" "$(be4 $h)")
		[ "$(value "$WORK/after" "$k")" -gt 0 ] || fail "$h got no packet"
		k=$(be_series xlb_backend_ring_share "$SVC4" "$(be4 $h)")
		awk -v s="$(value "$WORK/after" "$k")" 'BEGIN { exit !(s > 0.30 && s < 0.37) }' ||
			fail "$h's ring share is $(value "$WORK/after" "$k"), not about a third"
	done
	# The connection table is counted in the background, every few seconds.
	for ((i = 0; i < 100; i++)); do
		scrape "$WORK/conns"
		[ "$(value "$WORK/conns" xlb_conn_table_entries)" -ge $n ] 2>/dev/null && break
		sleep 0.1
	done
	[ $i -lt 100 ] || fail "xlb_conn_table_entries is '$(value "$WORK/conns" \
		xlb_conn_table_entries)' 10 s after $n new flows"
	[ "$(value "$WORK/after" 'xlb_interface_attached{interface="eth0",mode="native"}')" = 1 ] ||
		fail "eth0 is not reported attached in native mode"
	grep -q '^xlb_info{version="[^"]*"} 1$' "$WORK/after" || fail "no xlb_info"
	awk '$1 == "xlb_uptime_seconds" { ok = $2 > 0 } END { exit !ok }' "$WORK/after" ||
		fail "no positive xlb_uptime_seconds"
}

# Every kind of series at once (IPv6 labels, health, rate limit, drain):
# promtool must accept all of it, and drops are counted by reason.
test_everything_passes_promtool() {
	local rl fams k
	metrics_up
	vip_up "$SVC4"
	vip_up "$SVC6"
	xlbctl health set "$SVC6" http path /health status 200 interval 200ms timeout 100ms
	xlbctl backend set "$SVC6" "$(be6 be3)" weight 0
	xlbctl ratelimit set "$SVC4" rate 10 burst 5
	on client timeout 5 hping3 -q -S -p 80 -i u5000 -c 200 "$VIP4" >/dev/null 2>&1 || true
	sleep 1
	scrape "$WORK/m"
	promtool_ok "$WORK/m"
	rl=$(value "$WORK/m" "xlb_vip_dropped_packets_total{vip=\"$SVC4\",reason=\"ratelimit\"}")
	log "rate-limited packets: $rl"
	[ "$rl" -gt 100 ] || fail "a 200-SYN flood over a limit of 10/s shows $rl rate-limit drops"
	[ "$(value "$WORK/m" 'xlb_packets_total{outcome="drop_ratelimit",verdict="drop"}')" = "$rl" ] ||
		fail "drop_ratelimit outcome differs from the VIP's rate-limit drops"
	k=$(be_series xlb_backend_weight "$SVC6" "$(be6 be3)")
	[ "$(value "$WORK/m" "$k")" = 0 ] || fail "drained backend's weight is not 0"
	k=$(be_series xlb_backend_ring_share "$SVC6" "$(be6 be3)")
	[ "$(value "$WORK/m" "$k")" = 0.000000 ] || fail "drained backend still has a ring share"
	k=$(be_series xlb_backend_health_checks_total "$SVC6" "$(be6 be1)")
	[ "$(value "$WORK/m" "${k%\}},result=\"ok\"}")" -gt 0 ] || fail "no passed health check counted"
	# Every family has HELP and TYPE; counters, and only they, end in _total.
	fams=$(awk '/^# TYPE / { print $3, $4 }' "$WORK/m")
	[ "$(grep -c . <<<"$fams")" = "$(grep -c '^# HELP ' "$WORK/m")" ] ||
		fail "as many HELP as TYPE lines expected"
	awk '$1 !~ /^xlb_/ || ($2 == "counter") != ($1 ~ /_total$/) { bad = bad " " $1 }
	     END { if (bad) { print bad; exit 1 } }' <<<"$fams" >"$WORK/bad" ||
		fail "badly named families:$(cat "$WORK/bad")"
	grep -v '^#' "$WORK/m" | awk '{ sub(/[{ ].*/, "", $1); print $1 }' | sort -u >"$WORK/names"
	log "$(wc -l <"$WORK/names") metric names, $(grep -vc '^#' "$WORK/m") samples"
}

test_stopped_backend_goes_down() {
	local ms k h ok failed
	metrics_up
	vip_up "$SVC4"
	xlbctl health set "$SVC4" tcp interval 200ms timeout 100ms rise 2 fall 2
	k=$(be_series xlb_backend_up "$SVC4" "$(be4 be1)")
	[ "$(wait_value "$k" 1 2000)" != timeout ] || fail "be1 not up at start"
	nginx_stop be1
	ms=$(wait_value "$k" 0 3000)
	log "xlb_backend_up of be1 went to 0 after $ms ms"
	[ "$ms" != timeout ] || fail "be1 stopped, xlb_backend_up still $(value "$WORK/poll" "$k")"
	scrape "$WORK/m"
	promtool_ok "$WORK/m"
	for h in be2 be3; do
		[ "$(value "$WORK/m" "$(be_series xlb_backend_up "$SVC4" "$(be4 $h)")")" = 1 ] ||
			fail "$h is not up"
	done
	[ "$(value "$WORK/m" "$(be_series xlb_backend_ring_share "$SVC4" "$(be4 be1)")")" = \
		0.000000 ] || fail "be1 still owns ring slots"
	k=$(be_series xlb_backend_health_checks_total "$SVC4" "$(be4 be1)")
	ok=$(value "$WORK/m" "${k%\}},result=\"ok\"}")
	failed=$(value "$WORK/m" "${k%\}},result=\"failed\"}")
	[ "$failed" -ge 2 ] || fail "be1's failed checks not counted ($failed)"
	k=$(be_series xlb_backend_health_check_duration_seconds_count "$SVC4" "$(be4 be1)")
	[ "$(value "$WORK/m" "$k")" = $((ok + failed)) ] ||
		fail "be1's probes: $(value "$WORK/m" "$k") timed, $ok passed, $failed failed"
	# All down: the VIP fails open, and still no backend counts as up.
	nginx_stop be2
	nginx_stop be3
	[ "$(wait_value "$(vip_series xlb_vip_fail_open "$SVC4")" 1 3000)" != timeout ] ||
		fail "the VIP does not fail open with every backend down"
	scrape "$WORK/m"
	[ "$(sum_of "$WORK/m" "xlb_backend_up{vip=\"$SVC4\",")" = 0 ] ||
		fail "a backend counts as up while the VIP fails open"
}

test_http_answers() {
	local h
	metrics_up
	h=$(on lb curl -s -D - -o /dev/null "$URL")
	grep -qi '^Content-Type: text/plain; version=0.0.4' <<<"$h" || fail "Content-Type: $h"
	grep -qi '^Connection: close' <<<"$h" || fail "no Connection: close: $h"
	[ "$(on lb curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/)" = 404 ] ||
		fail "/ is not 404"
	[ "$(on lb curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/metricsx)" = 404 ] ||
		fail "/metricsx is not 404"
	[ "$(on lb curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")" = 405 ] ||
		fail "POST is not 405"
	[ "$(on lb curl -s -I -o /dev/null -w '%{http_code}' "$URL")" = 200 ] || fail "HEAD is not 200"
	[ "$(on lb curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(printf '%9000s' x)" "$URL")" = 431 ] ||
		fail "9000 bytes of headers are not 431"
	[ "$(on lb curl -s -o /dev/null -w '%{http_code}' "$URL?x=1")" = 200 ] ||
		fail "a query string is not ignored"
}

# Idle and trickling clients hold slots, never the event loop.
test_slow_clients_do_not_block() {
	local i t n
	metrics_up
	vip_up "$SVC4"
	# 40 connections that send nothing: more than the server has slots.
	on lb bash -c "for i in \$(seq 40); do exec {fd}<>/dev/tcp/127.0.0.1/$MPORT; done
		sleep 9" &
	local idle=$!
	# One that sends a byte a second and never finishes its request.
	on lb bash -c "exec 3<>/dev/tcp/127.0.0.1/$MPORT
		for c in G E T ' ' /; do printf %s \"\$c\" >&3 || exit; sleep 1; done" &
	local trickle=$!
	sleep 0.5
	for ((i = 0; i < 5; i++)); do
		t=$(on lb curl -s -o "$WORK/m" -w '%{http_code} %{time_total}' --max-time 3 "$URL") ||
			fail "scrape $i failed beside slow clients"
		log "scrape beside slow clients: $t"
		[ "${t% *}" = 200 ] || fail "scrape $i answered ${t% *}"
		awk -v s="${t#* }" 'BEGIN { exit !(s < 0.5) }' || fail "scrape $i took ${t#* } s"
		sleep 1
	done
	promtool_ok "$WORK/m"
	# Idle connections are dropped by the server (5 s without progress).
	sleep 2
	n=$(on lb ss -Htn state established "( sport = :$MPORT )" | wc -l)
	log "server-side connections still open after 7.5 s: $n"
	[ "$n" = 0 ] || fail "$n idle connections still held after 7.5 s"
	wait $idle $trickle || true
}

test_address_checked() {
	local out rc a
	topo_up 3
	for a in :9100 localhost:9100 ::1:9100 127.0.0.1:0 127.0.0.1; do
		rc=0
		out=$(on lb timeout 10 "$BUILD/xlbd" -f -m "$a" -s "$WORK/x.sock" -c "$WORK/x.conf" \
			-p "$WORK_PINS-x" 2>&1) || rc=$?
		log "-m $a: exit $rc: $out"
		[ $rc = 2 ] || fail "-m $a: exit $rc, not 2"
		[[ $out == *"-m $a:"* ]] || fail "-m $a: message does not name it: $out"
	done
	xlbd_start
	[ -z "$(on lb ss -Htln)" ] || fail "xlbd without -m listens on TCP: $(on lb ss -Htln)"
	kill "$(xlbd_pid)"
	sleep 0.3
	on lb "$BUILD/xlbd" -s "$WORK/xlbd.sock" -c "$WORK/xlb.conf" -p "$WORK_PINS" -v \
		-m "[::1]:$MPORT" 2>>"$WORK/xlbd.log"
	[ "$(on lb curl -s -o /dev/null -w '%{http_code}' "http://[::1]:$MPORT/metrics")" = 200 ] ||
		fail "no metrics on [::1]:$MPORT"
	# A taken port stops the start: no daemon that silently serves nothing.
	rc=0
	out=$(on lb timeout 10 "$BUILD/xlbd" -f -m "[::1]:$MPORT" -s "$WORK/y.sock" \
		-c "$WORK/y.conf" -p "$WORK_PINS-y" 2>&1) || rc=$?
	log "second xlbd on the same port: exit $rc: $out"
	[ $rc = 1 ] && [[ $out == *"cannot serve metrics on [::1]:$MPORT"* ]] ||
		fail "a taken port: exit $rc, '$out'"
}

run_suite
