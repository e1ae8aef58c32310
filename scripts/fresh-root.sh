#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Run a command on a clone of a commit in a brand-new minbase Debian 12 root
# with only gcc, make and git: a newcomer's machine, where nothing is there
# that the project's own files do not install. As root (chroot and mounts).
#
# Usage: fresh-root.sh [-C REPO] [-r REV] [COMMAND]
#   REPO     a git checkout (default: the one this script is in)
#   REV      the commit to test (default: HEAD; uncommitted changes are not seen)
#   COMMAND  run by bash in the clone (default: make test); its exit code is ours
#
# The pristine root is built by mmdebstrap (installed with apt-get if missing)
# from this host's apt sources and cached as a tarball under
# ${FRESH_ROOT_CACHE:-/var/tmp}, keyed on the suite, variant, package list and
# sources; `rm /var/tmp/xlb-fresh-root-*.tar` forces a rebuild. Every run
# unpacks it anew, so nothing one run installs is seen by the next.
#
# The host's /proc, /sys (bpffs included), /dev and /run/netns are bound in
# and the root is a mount point of its own ('ip netns exec' remounts / as a
# slave, which needs that). On exit, on failure and on Ctrl-C, what still
# runs in the root is killed, the mounts are undone and the root is deleted.
set -euo pipefail

say() { echo "fresh-root: $*" >&2; }
die() { say "$*"; exit 1; }
elapsed() { echo "$((SECONDS - ${1:-0}))s"; }

root=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$? pid m
	trap - EXIT INT TERM
	[ -n "$root" ] || exit "$rc"
	# Whatever the command left running in the root (daemons, servers).
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && kill -9 "${pid#/proc/}" 2>/dev/null
	done
	# Private first: undoing a shared bind would unmount, on the host, every
	# namespace that other users of this machine have in /run/netns.
	mount --make-rprivate "$root/run/netns" 2>/dev/null || true
	for m in run/netns dev sys proc ""; do
		umount -R -l "$root/$m" 2>/dev/null || true
	done
	# rm must never reach the host's /dev or /run/netns through a bind mount.
	if grep -qF " $root" /proc/self/mountinfo; then
		say "mounts under $root remain; not deleting it"
	else
		rm -rf --one-file-system "$root"
	fi
	exit "$rc"
}
# The body is a function, called on the last line: bash has read all of it
# before it runs, so an edit to this file during a run (a checkout, a
# rebase) cannot change what runs or what the cleanup does.
main() {
	suite=bookworm variant=minbase include=gcc,make,git
	repo=$(cd "$(dirname "$0")/.." && pwd)
	rev=HEAD
	while getopts C:r:h opt; do
		case $opt in
		C) repo=$OPTARG ;;
		r) rev=$OPTARG ;;
		*) sed -n '/^# Usage/,/^#   COMMAND/s/^# \{0,1\}//p' "$0"; exit 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	cmd=${*:-make test}

	[ "$(id -u)" -eq 0 ] || die "needs root (chroot and mounts)"
	sha=$(git -C "$repo" rev-parse --verify -q "$rev^{commit}") || die "$repo: no commit '$rev'"
	[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
		say "note: $repo has uncommitted changes; testing the commit $sha only"

	if ! command -v mmdebstrap >/dev/null; then
		say "installing mmdebstrap"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
	fi

	# The host's sources, as deb822 or one-line entries: the root's apt uses them too.
	sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$sources" ] || sources=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true)
	[ -n "$sources" ] || die "no apt sources on this host"
	cache=${FRESH_ROOT_CACHE:-/var/tmp}
	key=$(printf '%s\n' "$suite" "$variant" "$include" "$sources" | sha256sum | cut -c1-12)
	tar=$cache/xlb-fresh-root-$key.tar

	t0=$SECONDS
	mkdir -p "$cache"
	# One build at a time: concurrent runs wait for it and share the result.
	exec 9>"$tar.lock"
	flock 9
	if [ ! -s "$tar" ]; then
		say "building the pristine root ($suite $variant + $include) into $tar"
		if ! echo "$sources" | mmdebstrap --quiet --format=tar --variant="$variant" \
			--include="$include" "$suite" "$tar.part" - >"$tar.log" 2>&1; then
			tail -20 "$tar.log" >&2
			rm -f "$tar.part"
			die "mmdebstrap failed (log: $tar.log)"
		fi
		mv "$tar.part" "$tar"
		say "pristine root built in $(elapsed "$t0")"
	fi
	flock -u 9
	exec 9>&-

	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	t1=$SECONDS
	root=$(mktemp -d "$cache/xlb-fresh.XXXXXX")
	tar -C "$root" -xf "$tar"
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	# /sys and /dev as slaves: the host's mounts show in the root, nothing
	# done in the root reaches the host. /run/netns stays shared, so that a
	# namespace made in the root is a namespace on the host too ('ip netns
	# list' shows it, 'ip netns del' removes it) rather than an empty file.
	for m in sys dev run/netns; do
		mkdir -p "/$m" "$root/$m"
		mount --rbind "/$m" "$root/$m"
		[ "$m" = run/netns ] || mount --make-rslave "$root/$m"
	done
	git clone -q --no-checkout "$repo" "$root/src"
	git -C "$root/src" checkout -q --detach "$sha"
	say "root unpacked and $(git -C "$root/src" log -1 --format='%h %s' | cut -c1-60) cloned in $(elapsed "$t1")"

	say "running in the root: $cmd"
	# In the background and waited for: a signal to this script is acted on at
	# once (bash holds traps while a foreground command runs), and the
	# cleanup then kills what runs in the root.
	chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 CI="${CI:-}" V="${V:-}" bash -c "cd /src && $cmd" </dev/null &
	wait $!
}

main "$@"; exit
