#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Asking what the data plane does with a client: lookup and conns, checked against real flows.
. "$(dirname "$0")/lib.sh"

client_addr() { # 4|6
	on client ip -"$1" -o addr show dev eth0 scope global |
		awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

# The backend name (be1...) of an address lookup printed.
name_of() { # ADDR
	local h
	for h in be1 be2 be3; do
		[ "$1" = "$(be4 $h)" ] || [ "$1" = "$(be6 $h)" ] && { echo $h; return; }
	done
	echo "?"
}

# lookup predicts, for 100 source ports, the backend the request then reaches.
check_lookup_predicts() { # SERVICE URL CLIENT_FMT FIRST
	local svc=$1 url=$2 fmt=$3 first=$4 p js want got wrong=0
	# shellcheck disable=SC2016
	on lb bash -c 'for ((p = $3; p < $3 + 100; p++)); do
			printf "%s " $p; "$1" -s "$2" -j lookup "$4" "$(printf "$5" $p)" || exit
		done' _ "$BUILD/xlbctl" "$WORK/xlbd.sock" "$first" "$svc" "$fmt" >"$WORK/lookup" ||
		fail "lookup failed: $(tail -1 "$WORK/lookup")"
	requests "$url" "$first" 100 >"$WORK/got"
	all_answered "$WORK/got" 100 "$svc" || return 1
	while read -r p js; do
		[ "$(jq -r .reason <<<"$js")" = ring ] || fail "$svc port $p: not a ring answer: $js"
		want=$(name_of "$(jq -r .backend <<<"$js")")
		got=$(awk -v p="$p" '$1 == p { print $2 }' "$WORK/got")
		[ "$want" = "$got" ] || { wrong=$((wrong + 1)); log "port $p: lookup $want, went to $got"; }
	done <"$WORK/lookup"
	log "$svc: $(tally "$WORK/got"); lookup wrong for $wrong of 100"
	[ $wrong = 0 ] || fail "$svc: lookup named another backend than the request reached $wrong times of 100"
}

test_lookup_names_the_backend() {
	lb_up
	vip_up $VIP4:80/tcp
	vip_up "[$VIP6]:80/tcp"
	check_lookup_predicts $VIP4:80/tcp "http://$VIP4/" "$(client_addr 4):%s" 31000
	check_lookup_predicts "[$VIP6]:80/tcp" "http://[$VIP6]/" "[$(client_addr 6)]:%s" 32000
}

test_lookup_hash_src_and_conns_hit() {
	local js c4 pid be name
	lb_up
	vip_up $VIP4:80/tcp hash src
	c4=$(client_addr 4)
	# hash src: the address alone decides, and every request goes there.
	js=$(xlbctl -j lookup $VIP4:80/tcp "$c4")
	log "$js"
	name=$(name_of "$(jq -r .backend <<<"$js")")
	requests "http://$VIP4/" 33000 20 >"$WORK/got"
	all_answered "$WORK/got" 20 "hash src" || return 1
	[ "$(tally "$WORK/got")" = "$name 20" ] || fail "hash src: lookup said $name, got $(tally "$WORK/got")"
	# A long flow's entry wins over the ring once its backend is drained.
	download_start "http://$VIP4/big" 33500 20M
	pid=$!
	sleep 1
	be=$(jq -r .backend <<<"$js")
	xlbctl backend set $VIP4:80/tcp "$be" weight 0
	js=$(xlbctl -j lookup $VIP4:80/tcp "$c4:33500")
	log "drained, flow on: $js"
	jq -e --arg b "$be" '.reason == "conns" and .backend == $b' \
		<<<"$js" >/dev/null || fail "the drained backend's flow is not a conns hit: $js"
	js=$(xlbctl -j lookup $VIP4:80/tcp "$c4:33501")
	jq -e --arg b "$be" '.reason == "ring" and .backend != $b' <<<"$js" >/dev/null ||
		fail "a new flow is not sent past the drained backend: $js"
	xlbctl lookup $VIP4:80/tcp "$c4:33500" | grep -q "backend $be (conns" ||
		fail "text lookup does not say conns: $(xlbctl lookup $VIP4:80/tcp "$c4:33500")"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

test_lookup_refusals() {
	local out rc
	lb_up
	vip_up $VIP4:80/tcp
	rc=0
	out=$(xlbctl lookup $VIP4:80/tcp 10.1.2.3 2>&1) || rc=$?
	[ $rc = 2 ] && [[ $out == *"give the client's port"* ]] ||
		fail "a 5-tuple VIP without a port: exit $rc, '$out'"
	rc=0
	out=$(xlbctl lookup $VIP4:81/tcp 10.1.2.3:5 2>&1) || rc=$?
	[ $rc = 1 ] && [[ $out == *"no VIP"* ]] || fail "an unknown VIP: exit $rc, '$out'"
}

test_conns_lists_wrk_flows() {
	local c4 js n wrk
	lb_up
	vip_up $VIP4:80/tcp
	c4=$(client_addr 4)
	on client timeout 20 wrk -t 2 -c 12 -d 8s "http://$VIP4/" >"$WORK/wrk" 2>&1 &
	wrk=$!
	sleep 2
	js=$(xlbctl -j conns $VIP4:80/tcp from "$c4")
	log "$(jq -c '{entries, matched, shown}' <<<"$js")"
	n=$(jq --arg c "$c4" '[.conns[] | select(.src | startswith($c + ":"))] | length' <<<"$js")
	[ "$n" -ge 12 ] || fail "conns lists $n flows of the client, wrk holds 12"
	jq -e --arg v "$VIP4:80" '[.conns[] | .vip == $v and (.backend | test("^10\\.98\\.0\\.1[1-3]$"))
		] | all' <<<"$js" >/dev/null || fail "conns rows are wrong: $js"
	js=$(xlbctl -j conns from "$c4/32" count 3)
	jq -e '.shown == 3 and (.conns | length) == 3 and .matched >= 12' <<<"$js" >/dev/null ||
		fail "count 3 does not cut the list at 3: $(jq -c '{matched, shown}' <<<"$js")"
	js=$(xlbctl -j conns from 192.0.2.0/24)
	jq -e '.matched == 0 and .entries >= 12' <<<"$js" >/dev/null ||
		fail "another prefix matches flows: $(jq -c '{entries, matched}' <<<"$js")"
	xlbctl conns | grep -q "^tcp $c4:[0-9]* *-> $VIP4:80 " || fail "text conns has no row of the client"
	wait $wrk || fail "wrk failed: $(cat "$WORK/wrk")"
}

run_suite
