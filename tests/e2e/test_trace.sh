#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# xlbctl trace: what the data plane did with real packets, and that it stops tracing after.
. "$(dirname "$0")/lib.sh"

client_addr() {
	on client ip -4 -o addr show dev eth0 scope global |
		awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

# A trace in the background, its JSON lines in $WORK/trace-NAME; waits until xlbd has started
# it (it may be over already: count N).
trace_start() { # NAME ARGS...
	local name=$1 i before
	shift
	before=$(grep -c "trace: started" "$WORK/xlbd.log" || true)
	xlbctl -j trace "$@" >"$WORK/trace-$name" 2>"$WORK/trace-$name.err" &
	TRACE_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c "trace: started" "$WORK/xlbd.log" || true)" -gt "$before" ] && return 0
		sleep 0.1
	done
	fail "trace $name did not start: $(cat "$WORK/trace-$name.err")"
}

# The program eth0 runs, by name: xlb_lb, or xlb_lb_traced (the build with the trace hooks)
# while a trace runs; "?" when xlbctl or bpftool fails under load.
iface_prog() {
	local prog
	prog=$(xlbctl -j status | jq -r '.interfaces[0] | select(.state == "attached") | .prog_id')
	[ -n "$prog" ] || { echo "?"; return; }
	bpftool -j prog show id "$prog" | jq -r '.name // "?"' 2>/dev/null || echo "?"
}

# The trace's xlbctl, by its pid (the background job is the namespace wrapper).
trace_client_kill() { # SIGNAL
	local pid
	pid=$(pgrep -f -- "^$BUILD/xlbctl -s $WORK/xlbd.sock -j trace" | head -1)
	[ -n "$pid" ] && kill -"$1" "$pid"
}

untraced_after() { # WHAT
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(iface_prog)" = xlb_lb ] && return 0
		sleep 0.1
	done
	fail "eth0 does not run the untraced program after $1 (runs: $(iface_prog))"
}

traced_now() {
	local p
	p=$(iface_prog)
	[ "$p" = xlb_lb_traced ] || fail "eth0 runs $p while a trace runs, not xlb_lb_traced"
}

test_curl_shows_backend_and_tx() {
	local c4 served be js
	lb_up
	vip_up $VIP4:80/tcp
	c4=$(client_addr)
	trace_start curl $VIP4:80/tcp from "$c4" port 34001 timeout 6s
	served=$(get "http://$VIP4/" --local-port 34001)
	wait $TRACE_PID || fail "trace exited $?: $(cat "$WORK/trace-curl.err")"
	log "served by $served; $(head -3 "$WORK/trace-curl")"
	be=$(be4 "$served")
	js=$(grep '"outcome"' "$WORK/trace-curl")
	[ -n "$js" ] || fail "the trace shows no packet of the request"
	jq -se --arg b "$be" --arg c "$c4:34001" 'all(.outcome == "tx" and .backend == $b and
		.src == $c and .vip == "'$VIP4:80/tcp'")' <<<"$js" >/dev/null ||
		fail "trace lines do not all say tx to $be ($served): $js"
	# The SYN takes the ring and binds nothing (SYN floods cannot flush the
	# table); the handshake's ACK binds the flow, which every later packet finds.
	jq -se '.[0].how == "ring" and (.[0].new_flow | not) and .[1].how == "ring" and
		.[1].new_flow and (.[2:] | all(.how == "conns" and (.new_flow | not)))' \
		<<<"$js" >/dev/null || fail "not SYN by the ring, ACK bound, then conns: $js"
	jq -se 'last | .events >= 3 and .lost_budget == 0' <"$WORK/trace-curl" >/dev/null ||
		fail "no summary at the end: $(tail -1 "$WORK/trace-curl")"
	untraced_after "the timeout"
}

test_unconfigured_port_and_ratelimit() {
	local c4 js
	lb_up
	vip_up $VIP4:80/tcp
	c4=$(client_addr)
	trace_start port port 81 count 1 timeout 8s
	get "http://$VIP4:81/" --max-time 1 --local-port 34002 >/dev/null || true
	wait $TRACE_PID || true
	js=$(grep '"outcome"' "$WORK/trace-port" | head -1)
	log "port 81: $js"
	jq -e '.outcome | startswith("pass_")' <<<"$js" >/dev/null ||
		fail "a packet to port 81 is not pass_*: $js"
	untraced_after "count"

	xlbctl ratelimit set $VIP4:80/tcp rate 1 burst 1
	trace_start rl $VIP4:80/tcp timeout 4s
	for p in 34010 34011 34012; do get "http://$VIP4/" --max-time 1 --local-port $p >/dev/null || true; done
	wait $TRACE_PID || true
	js=$(grep '"drop_ratelimit"' "$WORK/trace-rl" | head -1)
	log "rate limited: $js"
	jq -e '.ratelimited == true and .vip == "'$VIP4:80/tcp'"' <<<"$js" >/dev/null ||
		fail "no drop_ratelimit line with ratelimited: $(head -3 "$WORK/trace-rl")"
}

test_drained_backend_conns_hit() {
	local c4 pid be js
	lb_up
	vip_up $VIP4:80/tcp
	c4=$(client_addr)
	download_start "http://$VIP4/big" 34020 10M
	pid=$!
	sleep 1
	be=$(xlbctl -j lookup $VIP4:80/tcp "$c4:34020" | jq -r .backend)
	xlbctl backend set $VIP4:80/tcp "$be" weight 0
	trace_start drain $VIP4:80/tcp from "$c4/32" port 34020 count 3 timeout 5s
	wait $TRACE_PID || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	js=$(grep '"outcome"' "$WORK/trace-drain")
	log "$js"
	[ "$(wc -l <<<"$js")" = 3 ] || fail "count 3 gave $(wc -l <<<"$js") lines"
	jq -se --arg b "$be" 'all(.how == "conns" and .backend == $b and .outcome == "tx" and
		(.new_flow | not))' <<<"$js" >/dev/null ||
		fail "the drained backend's flow is not shown as a conns hit on $be: $js"
}

test_pcap_reads_back() {
	local c4 n_in n_out
	lb_up
	vip_up $VIP4:80/tcp
	c4=$(client_addr)
	trace_start pcap $VIP4:80/tcp port 34030 timeout 5s pcap "$WORK/t.pcap"
	get "http://$VIP4/" --local-port 34030 >/dev/null
	wait $TRACE_PID || fail "trace with pcap exited $?: $(cat "$WORK/trace-pcap.err")"
	tcpdump -nr "$WORK/t.pcap" >"$WORK/dump" 2>"$WORK/dump.err" ||
		fail "tcpdump -r cannot read the file: $(cat "$WORK/dump.err")"
	log "$(head -4 "$WORK/dump")"
	# As received: client -> VIP; as sent: lb -> backend carrying client -> VIP.
	n_in=$(grep -c "^[0-9:.]* IP $c4.34030 > $VIP4.80:" "$WORK/dump" || true)
	n_out=$(grep -c "IP $N4\.[0-9.]* > $N4.0.1[1-3]: IP $c4.34030 > $VIP4.80:" "$WORK/dump" || true)
	[ "$n_in" -ge 3 ] && [ "$n_in" = "$n_out" ] ||
		fail "pcap: $n_in packets as received, $n_out encapsulated as sent"
	[ "$n_in" = "$(grep -c '"outcome"' "$WORK/trace-pcap")" ] ||
		fail "pcap and trace lines disagree: $n_in vs $(grep -c '"outcome"' "$WORK/trace-pcap")"
}

test_untraced_after_interrupt_and_kill() {
	local out rc
	lb_up
	vip_up $VIP4:80/tcp
	[ "$(iface_prog)" = xlb_lb ] || fail "eth0 runs $(iface_prog) before any trace"
	trace_start int timeout 20s
	traced_now || return 1
	log "$(grep "trace: started" "$WORK/xlbd.log" | tail -1)"
	rc=0
	out=$(xlbctl trace timeout 1s 2>&1) || rc=$?
	[ $rc = 1 ] && [[ $out == *"already running"* ]] || fail "a second trace: exit $rc, '$out'"
	trace_client_kill INT || fail "no trace client to interrupt"
	wait $TRACE_PID || true
	untraced_after "Ctrl-C"
	grep -q '"events"' "$WORK/trace-int" || fail "no summary after Ctrl-C: $(cat "$WORK/trace-int")"
	trace_start kill timeout 20s
	traced_now || return 1
	trace_client_kill KILL || fail "no trace client to kill"
	wait $TRACE_PID || true
	untraced_after "the client was killed"
	[ -n "$(get "http://$VIP4/")" ] || fail "no traffic after the traces"
}

# xlbd killed mid-trace leaves the link on the traced build; the next xlbd's attach puts its
# own untraced program there.
test_untraced_after_xlbd_killed() {
	local prog
	lb_up
	vip_up $VIP4:80/tcp
	trace_start dkill timeout 30s
	traced_now || return 1
	kill -9 "$(xlbd_pid)"
	wait $TRACE_PID || true
	# Without xlbd, as the kernel says: the link still runs the traced build.
	prog=$(on lb bpftool -j net show dev eth0 | jq -r '.[0].xdp[0].id // empty')
	[ -n "$prog" ] && [ "$(bpftool -j prog show id "$prog" | jq -r .name)" = xlb_lb_traced ] ||
		fail "after kill -9, eth0 runs program '$prog', not xlb_lb_traced"
	xlbd_start
	untraced_after "xlbd was killed mid-trace and restarted"
	[ -n "$(get "http://$VIP4/")" ] || fail "no traffic after the restart"
}

run_suite
