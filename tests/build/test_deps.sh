#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Every file the build reads comes from a package that a fresh machine has:
# a minbase Debian 12 root with gcc and make, plus scripts/install-deps.sh's
# list. The compilers list each object's inputs themselves (-M, system
# headers included, with the Makefile's own flags from `make print-VAR`);
# the linker lists the libraries it reads (-Wl,--trace). Each file is mapped
# to the package that owns it with dpkg -S.
#
# Usage: test_deps.sh [BUILD_DIR]   (after `make all`: the skeletons and the
# objects the links read must exist). V=1 prints every file and its package;
# KEEP=1 keeps the lists in /tmp/xlb-deps.*.
#
# The base set is computed here from dpkg's database rather than kept in a
# file: the Essential and Priority: required packages (what mmdebstrap's
# minbase installs, plus apt) and the Depends/Pre-Depends closure of gcc and
# make, without Recommends, as mmdebstrap installs them. Packages that only
# arrive as another listed package's dependency do not count: the list must
# name what the build reads.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath -m "${1:-build}")
build=${build#"$root"/}
cd "$root" || exit 1
work=$(mktemp -d /tmp/xlb-deps.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT # KEEP=1: left for a look
passed=0 failed=0

mk() { make -s --no-print-directory BUILD="$build" "$@"; }

# dpkg's package names: "libc6-dev:amd64" -> "libc6-dev".
base_packages() {
	dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Essential}\t${Priority}\t${Provides}\t${Pre-Depends}, ${Depends}\n' |
		awk -F'\t' '
		function bare(d) { sub(/\(.*/, "", d); sub(/:.*/, "", d); gsub(/ /, "", d); return d }
		$1 ~ /^ii/ {
			have[$2] = 1; deps[$2] = $6
			n = split($5, pv, ",")
			for (i = 1; i <= n; i++) if (!(bare(pv[i]) in via)) via[bare(pv[i])] = $2
			if ($3 == "yes" || $4 == "required") queue[++tail] = $2
		}
		END {
			queue[++tail] = "apt"; queue[++tail] = "gcc"; queue[++tail] = "make"
			for (head = 1; head <= tail; head++) {
				p = queue[head]
				if (p in seen || !(p in have)) continue
				seen[p] = 1; print p
				n = split(deps[p], group, ",")
				for (i = 1; i <= n; i++) {
					# The first alternative installed, as apt picked it.
					m = split(group[i], alt, "|")
					for (j = 1; j <= m; j++) {
						a = bare(alt[j])
						if (a in have) { queue[++tail] = a; break }
						if (a in via) { queue[++tail] = via[a]; break }
					}
				}
			}
		}'
}

# compile-deps KIND COMPILER FLAGS SOURCES: "KIND SOURCE FILE" for every file
# the compiler reads; -MG lists a header it cannot find instead of stopping.
compile_deps() {
	local kind=$1 cc=$2 flags=$3 srcs=$4
	# shellcheck disable=SC2086 # the flags are make's, quoted as make quotes them
	eval "$cc $flags -M -MG $srcs" 2>"$work/$kind.err" |
		sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' |
		awk -v kind="$kind" '{ src = $2; for (i = 2; i <= NF; i++) print kind, src, $i }'
}

# Every file the links read, for one program of each link rule.
link_deps() {
	local t cmd
	for t in $(mk print-BINS print-UNIT_TESTS print-BPF_TESTS | awk '{ print $1 }') \
		$(mk print-BENCH_OBJS | awk 'NF { print "'"$build"'/xlb-bench" }'); do
		cmd=$(make -n -B V=1 --no-print-directory BUILD="$build" "$t" | grep -- "-o $t\$" | tail -1)
		[ -n "$cmd" ] || { echo "link $t: no link command from make -n" >>"$work/link.err"; continue; }
		eval "${cmd% -o *} -o $work/a.out -Wl,--trace" 2>>"$work/link.err" |
			sed -n -e 's/^-l[^ ]* (\(.*\))$/\1/p' -e '/^\//p' -e 's/^(\(\/[^)]*\)).*/\1/p' |
			sort -u | awk -v t="$t" '{ print "link", t, $0 }'
	done
}

# Owner of each file (project files: "-"), trying the path as written, then
# with symlinks resolved, each also across Debian 12's merged /usr.
owners() { # reads files, writes "FILE PACKAGE"
	local f
	while read -r f; do
		if [ ! -e "$f" ]; then
			echo "$f MISSING"
		elif [[ $f != /* || $f == "$root"/* ]]; then
			echo "$f -"
		else
			echo "$f" >>"$work/abs"
		fi
	done
	[ -s "$work/abs" ] || return 0
	# FILE, as written (.. folded), resolved; each also with /usr toggled.
	paste "$work/abs" <(xargs realpath -s <"$work/abs") <(xargs realpath <"$work/abs") |
		awk -F'\t' '{ for (i = 2; i <= 3; i++) {
			p = $i; print $1 "\t" p
			if (p ~ /^\/usr\//) print $1 "\t" substr(p, 5); else print $1 "\t/usr" p } }' >"$work/cand"
	cut -f2 "$work/cand" | sort -u | xargs -r dpkg -S 2>/dev/null |
		awk '{ p = $0; sub(/: \/.*/, "", p); f = substr($0, length(p) + 3)
			gsub(/:[a-z0-9]+/, "", p); gsub(/ /, "", p); print f "\t" p }' >"$work/owned"
	awk -F'\t' 'NR == FNR { own[$1] = $2; next }
		NF == 2 && !($1 in done) && ($2 in own) { done[$1] = 1; print $1, own[$2] }
		NF == 2 { all[$1] = 1 }
		END { for (f in all) if (!(f in done)) print f, "NONE" }' "$work/owned" "$work/cand"
}

collect() {
	local bpf user
	bpf=$(mk print-BPF_SRCS) user=$(mk print-USER_SRCS)
	{
		compile_deps bpf "$(mk print-CLANG)" "$(mk print-BPF_CFLAGS)" "$bpf"
		compile_deps user "$(mk print-CC)" "$(mk print-CFLAGS)" "$user"
		link_deps
	} | sort -u >"$work/deps"
	cut -d' ' -f3 "$work/deps" | sort -u | owners | sort -u >"$work/owner"
	# KIND OBJECT FILE PACKAGE
	awk 'NR == FNR { own[$1] = $2; next } { print $0, own[$3] }' "$work/owner" "$work/deps" >"$work/all"
	{ base_packages; "$root/scripts/install-deps.sh" --list; } | sort -u >"$work/allowed"
	[ "${V:-0}" = 1 ] && sed 's/^/    /' "$work/all"
	return 0
}

# Each check prints one line per offending file and fails when any.
report() { # NAME MESSAGE, offending lines on stdin
	local name=$1 what=$2 bad
	mapfile -t bad < <(sort -u | head -40)
	if [ ${#bad[@]} -eq 0 ]; then
		echo "PASS $name"; passed=$((passed + 1))
	else
		echo "FAIL $name: $what"; printf '    %s\n' "${bad[@]}"; failed=$((failed + 1))
	fi
}

test_compilers_and_linker_ran() {
	local kind
	for kind in bpf user link; do
		grep -q "^$kind " "$work/all" || echo "no $kind inputs listed: $(head -3 "$work/$kind.err" 2>/dev/null)"
	done | report "${FUNCNAME[0]}" "the dependency lists are empty"
}

test_every_input_found() {
	awk '$4 == "MISSING" { print $2 ": " $3 " not found" }' "$work/all" |
		report "${FUNCNAME[0]}" "an input the compiler or linker cannot find"
}

# One line for each package: the first offending file, who reads it, how many more.
by_package() {
	awk '{ if (!($4 in n)) first[$4] = $3 " (read by " $2 ")"; if (!(($4, $3) in seen)) n[$4]++; seen[$4, $3] = 1 }
		END { for (p in n) print p ": " first[p] (n[p] > 1 ? ", and " n[p] - 1 " more files" : "") }'
}

test_bpf_reads_no_glibc() {
	awk '$1 == "bpf" && ($4 == "libc6-dev" || $4 == "libc6-dev-i386")' "$work/all" | by_package |
		report "${FUNCNAME[0]}" "a BPF object reads glibc's headers"
}

test_every_input_owned() {
	awk '$4 == "NONE" { print $2 ": " $3 " belongs to no package" }' "$work/all" |
		report "${FUNCNAME[0]}" "an input that no package installs"
}

test_every_package_installed_by_deps() {
	awk 'NR == FNR { ok[$1] = 1; next }
		$4 != "-" && $4 != "NONE" && $4 != "MISSING" && !($4 in ok)' "$work/allowed" "$work/all" |
		by_package | report "${FUNCNAME[0]}" "inputs from a package neither in scripts/install-deps.sh nor in minbase + gcc + make"
}

collect
for t in $(declare -F | awk '$3 ~ /^test_/ { print $3 }'); do
	[ -n "${FILTER:-}" ] && [[ $t != *"$FILTER"* ]] && continue
	"$t"
done
[ "$failed" -eq 0 ]
