#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Per-source rate limiting end to end: hping3 floods from one client while
# another runs curl through the same VIP.
. "$(dirname "$0")/lib.sh"

RATE=100	# packets per second per source
BURST=50
FLOOD_PPS=1000	# about 10x the limit
FLOOD_S=3

# SYNs from the flooder that reached any backend (nftables counters there).
count_setup() {
	local h
	for h in be1 be2 be3; do
		on $h nft add table inet xlbrl
		on $h nft add chain inet xlbrl input '{ type filter hook input priority 0; }'
		on $h nft add rule inet xlbrl input ip saddr $N4.0.10 tcp dport 80 \
			'tcp flags & (syn|ack) == syn' counter
	done
}

count_delivered() {
	local h total=0 n
	for h in be1 be2 be3; do
		n=$(on $h nft -j list chain inet xlbrl input |
			jq '[.nftables[].rule? | select(.) | .expr[] | .counter? | select(.) | .packets] | add // 0')
		total=$((total + n))
	done
	echo $total
}

test_flood_limited_others_untouched() {
	local sent delivered want lo hi fails top t0 ms
	lb_up 2
	vip_up $VIP4:80/tcp
	xlbctl ratelimit set $VIP4:80/tcp rate $RATE burst $BURST
	count_setup

	# The second client fetches pages while the flood runs.
	on client2 bash -c "f=0; for ((i = 0; i < 60; i++)); do
		curl -s -o /dev/null --max-time 2 http://$VIP4/ || f=\$((f + 1)); sleep 0.05; done
		echo \$f" >"$WORK/curl_fails" &
	local curl_pid=$!
	sent=$((FLOOD_PPS * FLOOD_S))
	t0=$(date +%s%N)
	on client timeout $((FLOOD_S + 5)) hping3 -q -S -p 80 -i u$((1000000 / FLOOD_PPS)) \
		-c $sent $VIP4 >/dev/null 2>&1 || true
	wait $curl_pid
	sleep 0.5
	# Until now: SYNs queued in the veth backlog when hping3 exits are
	# judged later, on a loaded machine up to a few hundred ms later.
	ms=$((($(date +%s%N) - t0) / 1000000))
	delivered=$(count_delivered)
	want=$((RATE * FLOOD_S + BURST))
	lo=$((want * 90 / 100))
	# A loaded machine stretches the flood past FLOOD_S, and the limit lets
	# RATE through for every second it lasts: the upper bound is the flood's,
	# from its start until the count (a broken limit lets ~10x through).
	hi=$(((RATE * ms / 1000 + BURST) * 110 / 100))
	log "flooder sent $sent SYNs in $ms ms, $delivered delivered (rate x seconds + burst = $want)"
	[ "$delivered" -ge $lo ] && [ "$delivered" -le $hi ] ||
		fail "delivered $delivered in $ms ms, want $lo-$hi (rate x seconds + burst, +-10%)"
	fails=$(cat "$WORK/curl_fails")
	log "second client: $fails of 60 requests failed"
	[ "$fails" = 0 ] || fail "the second client saw $fails failures"

	top=$(xlbctl -j top count 5)
	log "$top"
	jq -e --arg src "$N4.0.10" '.sources[0].source == $src and .sources[0].dropped_packets > 0' \
		<<<"$top" >/dev/null || fail "top does not name the flooder first"
	xlbctl top | head -2 | grep -q "$N4.0.10" || fail "top text does not show the flooder"
	[ "$(xlbctl -j stats $VIP4:80/tcp | jq '.vips[0].ratelimited_packets')" -gt 0 ] ||
		fail "stats do not count rate-limited packets"
	xlbctl save | grep -q "ratelimit set $VIP4:80/tcp rate $RATE burst $BURST" ||
		fail "the limit is not saved"
}

test_ratelimit_off_lets_all_through() {
	lb_up
	vip_up $VIP4:80/tcp
	xlbctl ratelimit set $VIP4:80/tcp rate 1 burst 1
	xlbctl ratelimit off $VIP4:80/tcp
	count_setup
	on client hping3 -q -S -p 80 -i u2000 -c 200 $VIP4 >/dev/null 2>&1 || true
	sleep 0.3
	[ "$(count_delivered)" = 200 ] || fail "with the limit off, $(count_delivered) of 200 delivered"
	[ -z "$(xlbctl save | grep ratelimit)" ] || fail "ratelimit off still saved"
}

run_suite
