#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Install what building, testing and the demo need on Debian 12, on top of a
# minbase root with gcc and make. Idempotent and silent when everything is
# already there. --list prints the packages, one a line, and installs nothing
# (tests/build/test_deps.sh checks the build's inputs against it).
set -eu

# libc6-dev: userspace's headers and crt files (gcc only recommends it);
# libclang-common-14-dev: clang's own headers (stdbool.h for the BPF code);
# procps: sysctl and pgrep in the tests; netbase: /etc/protocols, which
# `ip route get ... ipproto tcp` reads; prometheus: only for promtool, which
# checks xlbd's metrics in the tests; bird2: only to check the generated BIRD
# fragments parse; tcpdump: reads the pcap files of `xlbctl trace` and sees
# GUE frames on the wire (tests/e2e/test_gue.sh); socat: UDP and long-lived
# TCP flows through NAT VIPs (tests/e2e/test_nat.sh);
# xdp-tools: xdpdump beside xlb. tests/build/test_deps.sh checks that every
# file the build reads comes from this list or from a minbase root with gcc
# and make.
PKGS="clang llvm libc6-dev libclang-common-14-dev libbpf-dev libelf-dev zlib1g-dev libcmocka-dev \
bpftool pkg-config linux-libc-dev \
iproute2 util-linux procps netbase ethtool iputils-ping curl nginx jq wrk nftables hping3 \
prometheus bird2 tcpdump xdp-tools socat"

if [ "${1:-}" = --list ]; then
	# shellcheck disable=SC2086 # one word a package
	printf '%s\n' $PKGS
	exit 0
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Packages like nginx and prometheus start a service of their own on install;
# the tests run their own servers in namespaces, so keep the host's untouched.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Installed, prometheus and bird are also enabled at boot (prometheus
# listening on every address): the tests need only their command-line tools.
for service in prometheus bird; do
	case " $missing " in
	*" $service "* | *" ${service}2 "*)
		# update-rc.d disables the systemd unit as well as the init script.
		update-rc.d "$service" disable >/dev/null 2>&1 || true
		;;
	esac
done
