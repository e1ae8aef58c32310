#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What a careless operator or a hostile file does to xlbd: state files it
# cannot trust, restores past the data plane's capacity, addresses that loop
# or take over the host, and bytes that would drive the reader's terminal.
. "$(dirname "$0")/lib.sh"

# xlbd in the foreground on STATE, expected to refuse to start: its exit
# status, and its messages in $WORK/start.err. Bounded: a daemon that starts
# is stopped after 20 s (exit 124).
xlbd_refuses() { # STATE
	local rc=0
	on lb timeout 20 "$BUILD/xlbd" -f -s "$WORK/refused.sock" -c "$1" -p "$WORK_PINS" \
		2>"$WORK/start.err" || rc=$?
	log "xlbd -c $1: exit $rc: $(cat "$WORK/start.err")"
	[ "$rc" = 1 ] || { fail "xlbd -c $1: exit $rc, not 1: $(cat "$WORK/start.err")"; return 1; }
	[ ! -e "$WORK/refused.sock" ] || fail "xlbd -c $1 served its socket"
}

# The message names what and where: "grep -F" for each argument.
says() { # FILE TEXT...
	local f=$1 t
	shift
	for t in "$@"; do
		grep -qF -- "$t" "$f" || { fail "'$t' not in: $(cat "$f")"; return 1; }
	done
}

# Entries of a pinned map: rings set, backends marked active, health not up.
rings_set() { bpftool -j map dump pinned "$WORK_PINS/rings" | jq length; }
backends_active() {
	bpftool -j map dump pinned "$WORK_PINS/backends" |
		jq '[.[] | select(.formatted.value.flags != 0)] | length'
}
health_down() {
	bpftool -j map dump pinned "$WORK_PINS/health" |
		jq '[.[] | select(.formatted.value != 0)] | length'
}

test_state_file_nul_byte() {
	topo_up 1
	printf 'vip add 10.88.0.1:80/tcp ring 1021\n\0vip add 10.88.0.2:80/tcp ring 1021\n' \
		>"$WORK/s.conf"
	cp "$WORK/s.conf" "$WORK/s.orig"
	xlbd_refuses "$WORK/s.conf"
	says "$WORK/start.err" "$WORK/s.conf: line 2: not a text file (it holds a NUL byte)"
	cmp -s "$WORK/s.conf" "$WORK/s.orig" || fail "the state file was changed"
	# restore reads files with the same reader, and says the same.
	xlbd_start
	if xlbctl restore "$WORK/s.conf" 2>"$WORK/err"; then fail "restore took a NUL byte"; fi
	says "$WORK/err" "$WORK/s.conf: line 2: not a text file (it holds a NUL byte)"
	[ -z "$(xlbctl save)" ] || fail "the refused restore configured something"
}

test_state_file_unreadable() {
	topo_up 1
	mkdir "$WORK/dir.conf"
	xlbd_refuses "$WORK/dir.conf"
	says "$WORK/start.err" "$WORK/dir.conf: Is a directory"
	[ -d "$WORK/dir.conf" ] || fail "the directory is gone"
	echo "vip add 10.88.0.1:80/tcp" >"$WORK/locked.conf"
	chmod 000 "$WORK/locked.conf"
	chmod 755 "$WORK"
	# root reads it anyway; a user who cannot is told so.
	if on lb setpriv --reuid=65534 --regid=65534 --clear-groups "$BUILD/xlbd" -f \
		-s "$WORK/u.sock" -c "$WORK/locked.conf" -p "$WORK_PINS" 2>"$WORK/u.err"; then
		fail "xlbd started on a state file it cannot read"
	fi
	says "$WORK/u.err" "$WORK/locked.conf: Permission denied"
}

test_state_file_endless() {
	local t0 t1
	topo_up 1
	t0=$(date +%s)
	xlbd_refuses /dev/zero
	says "$WORK/start.err" "/dev/zero: not a regular file"
	# A regular file past the limit: the size limit of restore, 16 MiB.
	truncate -s 17M "$WORK/big.conf"
	xlbd_refuses "$WORK/big.conf"
	says "$WORK/start.err" "$WORK/big.conf: too large (more than 16 MiB)"
	xlbd_start
	if xlbctl restore </dev/zero 2>"$WORK/err"; then fail "restore took /dev/zero"; fi
	says "$WORK/err" "standard input: too large (more than 16 MiB)"
	t1=$(date +%s)
	[ $((t1 - t0)) -lt 30 ] || fail "refusing endless files took $((t1 - t0)) s"
}

# A state file that does not load leaves the pins as they were: none (the
# file is read while the maps are made, and what was pinned goes again), an
# empty dir, or an earlier run's maps, neither replaced nor added to.
test_bad_state_pins_as_they_were() {
	local pid
	topo_up 1
	printf 'vip add 10.88.0.1:80/tcp ring 1021\nbackend add 10.88.0.1:80/tcp 10.88.9.300\n' \
		>"$WORK/bad.conf"
	xlbd_refuses "$WORK/bad.conf"
	says "$WORK/start.err" "$WORK/bad.conf: line 2: bad backend address '10.88.9.300'"
	[ ! -e "$WORK_PINS" ] || fail "a refused start left $WORK_PINS: $(ls "$WORK_PINS")"
	mkdir "$WORK_PINS"
	xlbd_refuses "$WORK/bad.conf"
	[ -d "$WORK_PINS" ] || fail "a refused start removed the empty pin dir"
	[ -z "$(ls -A "$WORK_PINS")" ] || fail "a refused start pinned $(ls -A "$WORK_PINS")"
	echo "vip add 10.88.0.1:80/tcp ring 1021" >"$WORK/xlb.conf"
	xlbd_start
	pid=$(xlbd_pid)
	kill "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	ls -li "$WORK_PINS" >"$WORK/pins.before"
	xlbd_refuses "$WORK/bad.conf"
	ls -li "$WORK_PINS" | cmp -s - "$WORK/pins.before" ||
		fail "a refused start changed the pins: $(ls -li "$WORK_PINS" | diff - "$WORK/pins.before")"
}

# 1000 VIPs x 99 backends: past the 16383 backends the maps hold.
test_restore_over_capacity() {
	local rc=0
	topo_up 1
	xlbd_start
	xlbctl vip add $VIP4:80/tcp ring 1021
	xlbctl backend add $VIP4:80/tcp $N4.0.11
	xlbctl save >"$WORK/before"
	awk 'BEGIN { for (v = 0; v < 1000; v++) {
		printf "vip add 10.90.%d.%d:80/tcp ring 1021\n", v / 250, v % 250 + 1
		for (b = 0; b < 99; b++)
			printf "backend add 10.90.%d.%d:80/tcp 10.91.%d.%d\n", v / 250, v % 250 + 1,
				b, v % 250 + 1 } }' >"$WORK/huge.conf"
	xlbctl restore "$WORK/huge.conf" 2>"$WORK/err" || rc=$?
	log "restore: exit $rc: $(cat "$WORK/err")"
	[ $rc = 1 ] || fail "restore over capacity: exit $rc"
	# Backend 16384, one past the 16383 ids, is the 49th of the 166th VIP (lines of 100).
	says "$WORK/err" "line 16550: no room for backend 10.91.48.166" "at most 16383 backends"
	xlbctl save | cmp -s - "$WORK/before" || fail "the refused restore changed the config"
	[ "$(rings_set)" = 1 ] || fail "$(rings_set) rings in the maps, not 1"
	[ "$(backends_active)" = 1 ] || fail "$(backends_active) active backends, not 1"
}

# What an older xlbd (or a crash) left in the maps goes at the next start.
test_start_removes_leftovers() {
	topo_up 1
	xlbd_start
	xlbctl vip add $VIP4:80/tcp ring 1021
	xlbctl backend add $VIP4:80/tcp $N4.0.11
	# A ring for VIP id 7, which no VIP holds; its backend id 9; a down mark on id 12.
	# Ring layout: eight 2-byte slots per 16-byte element (struct xlb_ring16).
	bpftool map create "$WORK_PINS/leak" type array key 4 value 16 entries 128 \
		name xlb_ring_7 flags 0x1400
	bpftool map update pinned "$WORK_PINS/rings" key 7 0 0 0 value pinned "$WORK_PINS/leak"
	rm "$WORK_PINS/leak"
	bpftool map update pinned "$WORK_PINS/backends" key 9 0 0 0 value \
		10 98 0 99 0 0 0 0 0 0 0 0 0 0 0 0  7 0 0 0  1 0 0 0  2 1 0 0 0 0 0 0
	bpftool map update pinned "$WORK_PINS/health" key 12 0 0 0 value 1 0 0 0
	[ "$(rings_set)" = 2 ] && [ "$(backends_active)" = 2 ] && [ "$(health_down)" = 1 ] ||
		fail "the leftovers were not written"
	kill "$(xlbd_pid)"
	for _ in $(seq 50); do [ -z "$(xlbd_pid)" ] && break; sleep 0.1; done
	: >"$WORK/xlbd.log"
	xlbd_start
	log "$(cat "$WORK/xlbd.log")"
	says "$WORK/xlbd.log" "removed from the maps what $WORK/xlb.conf does not hold:" \
		"1 rings of no VIP" "1 backends of no VIP" "1 down marks"
	[ "$(rings_set)" = 1 ] || fail "$(rings_set) rings left, not 1"
	[ "$(backends_active)" = 1 ] || fail "$(backends_active) active backends left, not 1"
	[ "$(health_down)" = 0 ] || fail "$(health_down) down marks left"
	xlbctl vip show $VIP4:80/tcp | grep -q "slots 1021" || fail "the VIP lost its ring"
}

test_ring_smaller_than_backends() {
	local rc=0
	topo_up 1
	xlbd_start
	{
		echo "vip add $VIP4:80/tcp ring 1021"
		for i in $(seq 0 1020); do
			echo "backend add $VIP4:80/tcp 10.92.$((i / 250)).$((i % 250 + 1))"
		done
	} >"$WORK/full.conf"
	xlbctl restore "$WORK/full.conf"
	xlbctl backend add $VIP4:80/tcp 10.93.0.1 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "backend 1022 on a ring of 1021: exit $rc"
	says "$WORK/err" "the ring of $VIP4:80/tcp has 1021 slots"
	echo "backend add $VIP4:80/tcp 10.93.0.1" >>"$WORK/full.conf"
	rc=0
	xlbctl restore "$WORK/full.conf" 2>"$WORK/err" || rc=$?
	[ $rc = 1 ] || fail "a restore of 1022 on 1021: exit $rc"
	says "$WORK/err" "line 1023: no ring slot left for backend 10.93.0.1"
	[ "$(xlbctl -j vip show $VIP4:80/tcp | jq '.backends | length')" = 1021 ] ||
		fail "the VIP does not keep its 1021 backends"
}

test_loops_and_own_addresses() {
	local rc lb4
	topo_up 1
	xlbd_start
	xlbctl attach eth0
	lb4=$(on lb ip -4 -o addr show dev eth0 | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
	xlbctl vip add $VIP4:80/tcp
	xlbctl save >"$WORK/before"
	set +e
	xlbctl backend add $VIP4:80/tcp $VIP4 2>"$WORK/e1"; rc=$?
	[ $rc = 1 ] && says "$WORK/e1" "backend $VIP4 is the address of VIP $VIP4:80/tcp" ||
		fail "the VIP as its own backend: exit $rc"
	xlbctl backend add $VIP4:80/tcp 127.0.0.1 2>"$WORK/e2"; rc=$?
	[ $rc = 2 ] && says "$WORK/e2" "loopback address" || fail "loopback backend: exit $rc"
	xlbctl vip add 127.0.0.1:80/tcp 2>"$WORK/e3"; rc=$?
	[ $rc = 2 ] && says "$WORK/e3" "loopback address" || fail "loopback VIP: exit $rc"
	xlbctl vip add "$lb4:0/tcp" 2>"$WORK/e4"; rc=$?
	[ $rc = 1 ] && says "$WORK/e4" "all-ports VIP $lb4:0/tcp is an address of this host (on eth0)" ||
		fail "all-ports VIP on eth0's address: exit $rc"
	set -e
	xlbctl save | cmp -s - "$WORK/before" || fail "a refused command changed the config"
	# A port of the host's own address is a service like any other.
	xlbctl vip add "$lb4:80/tcp"
	# An address that comes after vip add: attach (and a restart) look again.
	xlbctl vip add $N4.1.50:0/udp
	xlbctl detach eth0
	on lb ip addr add $N4.1.50/32 dev eth0
	rc=0
	xlbctl attach eth0 2>"$WORK/e5" || rc=$?
	[ $rc = 1 ] && says "$WORK/e5" "all-ports VIP $N4.1.50:0/udp is an address of this host" ||
		fail "attach with an all-ports VIP on eth0's address: exit $rc"
	kill "$(xlbd_pid)"
	for _ in $(seq 50); do [ -z "$(xlbd_pid)" ] && break; sleep 0.1; done
	xlbd_start
	says "$WORK/xlbd.log" "all-ports VIP $N4.1.50:0/udp is an address of this host"
	xlbctl status >/dev/null || fail "xlbd did not start with the warning"
}

# No byte of a name or a file line reaches the terminal raw.
test_control_characters_escaped() {
	local rc
	topo_up 1
	xlbd_start
	raw() { # FILE: whether it holds a control character other than newline
		tr -d '\n' <"$1" | LC_ALL=C grep -q '[[:cntrl:]]'
	}
	set +e
	xlbctl vip add $'\e[31mRED\e[0m:80/tcp' 2>"$WORK/e1"; rc=$?
	[ $rc = 2 ] || fail "vip add of escapes: exit $rc"
	xlbctl -j vip add $'\e[31mRED\e[0m:80/tcp' >"$WORK/e2"; rc=$?
	[ $rc = 2 ] || fail "vip add -j of escapes: exit $rc"
	# The daemon's own parser, through a restore file (no NUL: xlbctl stops those).
	{ printf 'vip add 10.88.0.1:80/tcp\n'; head -c 3000 /dev/urandom | tr -d '\0'; } \
		>"$WORK/binary"
	printf 'attach eth\e]0;pwned\a\n' >"$WORK/title"
	xlbctl restore "$WORK/binary" 2>"$WORK/e3"; rc=$?
	[ $rc = 1 ] || fail "restore of a binary file: exit $rc"
	xlbctl -j restore "$WORK/binary" >"$WORK/e4"
	xlbctl restore "$WORK/title" 2>"$WORK/e5"
	set -e
	for f in e1 e2 e3 e4 e5; do
		log "$f: $(cat -v "$WORK/$f")"
		[ -s "$WORK/$f" ] || fail "$f: no message"
		! raw "$WORK/$f" || fail "$f: a raw control character: $(cat -v "$WORK/$f")"
	done
	says "$WORK/e1" "bad address '\\x1b[31mRED\\x1b[0m'"
	jq -e '.error | contains("\u001b[31mRED")' "$WORK/e2" >/dev/null ||
		fail "the JSON error lost the name: $(cat -v "$WORK/e2")"
	jq -e .error "$WORK/e4" >/dev/null || fail "restore -j: not one JSON error"
	says "$WORK/e5" "line 1: bad interface name 'eth\\x1b]0;pwned\\x07'"
	# The log of xlbd -f: a state file with an escape in it.
	printf 'attach \e[2J\n' >"$WORK/esc.conf"
	xlbd_refuses "$WORK/esc.conf"
	! raw "$WORK/start.err" || fail "xlbd's log: a raw control character"
	says "$WORK/start.err" "line 1: bad interface name '\\x1b[2J'"
}

# ---- the state file's log: a crash at any point keeps the old or the new configuration ----

# crc32 in 8 hex digits (the trailer of gzip's output holds it, little-endian).
crc32() { gzip -c | tail -c8 | head -c4 | od -An -tx4 | tr -d ' \n'; }
# A log line as xlbd writes it: a change (+ LINE) or a checkpoint of a file (= LEN CRC).
log_change() { printf '%s %s\n' "$(printf '+ %s' "$1" | crc32)" "+ $1"; }
log_checkpoint() { # FILE
	local body
	body="= $(stat -c %s "$1") $(crc32 <"$1")"
	printf '%s %s\n' "$(printf '%s' "$body" | crc32)" "$body"
}

# kill -9 of xlbd, and wait (5 s at most) for it to be gone.
crash_xlbd() {
	local pid
	pid=$(xlbd_pid)
	kill -9 "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
}

# kill -9 of xlbd; HOOK (a function) changes what it left as a crash elsewhere would have; a
# start on it. Its configuration is then $WORK/want.
crash_restart() { # WHAT [HOOK]
	crash_xlbd
	[ -z "${2:-}" ] || "$2"
	xlbd_start
	xlbctl save | cmp -s - "$WORK/want" ||
		fail "$1: after kill -9 and a start: $(xlbctl save | diff "$WORK/want" -)"
}

# Every change acknowledged is there after kill -9: the configuration that the commands so far
# make when restored one after the other.
test_crash_keeps_every_change() {
	local svc=10.88.0.1:80/tcp step b
	topo_up 1
	xlbd_start
	: >"$WORK/script"
	for step in "vip add $svc ring 1021" "backend add $svc 10.88.1.1" \
		"backend add $svc 10.88.1.2 weight 3" "backend set $svc 10.88.1.1 weight 0" \
		"health set $svc tcp interval 1s" "ratelimit set $svc rate 100 burst 10" \
		"vip add 10.88.0.2:53/udp hash src" "backend del $svc 10.88.1.2" \
		"ratelimit off $svc" "health set $svc off" "vip del 10.88.0.2:53/udp"; do
		# shellcheck disable=SC2086 # the step's words
		xlbctl $step || { fail "$step: refused"; return; }
		echo "$step" >>"$WORK/script"
		crash_check "$step" || return
	done
	# Several changes in the log alone (a save or a pause rewrites the file).
	cp "$WORK/xlb.conf" "$WORK/before.conf"
	for b in 3 4 5; do
		xlbctl backend add $svc 10.88.1.$b
		echo "backend add $svc 10.88.1.$b" >>"$WORK/script"
	done
	cmp -s "$WORK/xlb.conf" "$WORK/before.conf" && local logged=1
	crash_check "three changes" || return
	[ -z "${logged:-}" ] || says "$WORK/xlbd.log" "3 changes from its log"
}

# kill -9, a start; what it has is what $WORK/script restores.
crash_check() { # WHAT
	crash_xlbd
	xlbd_start
	xlbctl save >"$WORK/got"
	xlbctl restore "$WORK/script" || { fail "$1: the script does not restore"; return 1; }
	xlbctl save | cmp -s - "$WORK/got" ||
		fail "$1: after kill -9 and a start: $(xlbctl save | diff - "$WORK/got")"
}

SVC=10.88.0.1:80/tcp
be_line() { printf 'backend add %s 10.88.1.%s weight 1\n' $SVC "$1"; }
# A rewrite killed after its checkpoint, before its rename; a change came meanwhile.
before_rename() {
	{ cat "$WORK/xlb.conf"; be_line 9; } >"$WORK/new.conf"
	{ log_checkpoint "$WORK/xlb.conf"; log_change "$(be_line 2)"
	  log_checkpoint "$WORK/new.conf"; log_change "$(be_line 3)"; } >"$WORK/xlb.conf.log"
}
# Killed after the rename, before the log started again.
after_rename() {
	{ cat "$WORK/xlb.conf"; be_line 4; } >"$WORK/new.conf"
	{ log_checkpoint "$WORK/xlb.conf"; log_change "$(be_line 4)"
	  log_checkpoint "$WORK/new.conf"; log_change "$(be_line 5)"; } >"$WORK/xlb.conf.log"
	mv "$WORK/new.conf" "$WORK/xlb.conf"
}
# Killed mid-append: the line cut short was never acknowledged.
cut_short() {
	{ log_checkpoint "$WORK/xlb.conf"; log_change "$(be_line 6)" | head -c 30; } \
		>"$WORK/xlb.conf.log"
}
# A file whose last line has no newline (written by hand), then a change.
no_last_newline() {
	printf '%s' "$(cat "$WORK/xlb.conf")" >"$WORK/new.conf"
	mv "$WORK/new.conf" "$WORK/xlb.conf"
	{ log_checkpoint "$WORK/xlb.conf"; log_change "$(be_line 10)"; } >"$WORK/xlb.conf.log"
}
# The file edited by hand while xlbd was down.
edited() {
	{ log_checkpoint "$WORK/xlb.conf"; log_change "$(be_line 8)"; } >"$WORK/xlb.conf.log"
	be_line 7 >>"$WORK/xlb.conf"
}

# A crash while the file is rewritten, before or after its rename, or mid-append.
test_crash_mid_rewrite() {
	topo_up 1
	xlbd_start
	xlbctl vip add $SVC ring 1021
	xlbctl backend add $SVC 10.88.1.1
	xlbctl save >"$WORK/want"
	{ cat "$WORK/want"; be_line 2; be_line 3; } >"$WORK/want.next"
	mv "$WORK/want.next" "$WORK/want"
	crash_restart "before the rewrite's rename" before_rename || return
	{ cat "$WORK/want"; be_line 4; be_line 5; } >"$WORK/want.next"
	mv "$WORK/want.next" "$WORK/want"
	crash_restart "after the rewrite's rename" after_rename || return
	crash_restart "a line cut short" cut_short || return
	says "$WORK/xlbd.log" "ends in a line cut short"
	be_line 10 >>"$WORK/want"
	crash_restart "no newline at the end of the file" no_last_newline || return
	be_line 7 >>"$WORK/want"
	crash_restart "a file edited by hand" edited || return
	says "$WORK/xlbd.log" "names another file"
	# A clean stop leaves the file whole: an older xlbd, which reads no log, needs no more.
	kill "$(xlbd_pid)"
	for _ in $(seq 100); do [ -z "$(xlbd_pid)" ] && break; sleep 0.05; done
	cmp -s "$WORK/xlb.conf" "$WORK/want" ||
		fail "after a stop: $(diff "$WORK/want" "$WORK/xlb.conf")"
}

run_suite
