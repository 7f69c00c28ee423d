# shellcheck shell=bash
# Shared helpers for the host side of the dm-remap VM bench.
# Sourced by scripts/vm/{kernels,run,setup} and scripts/build-module.

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DMREMAP_ROOT="$(cd "$VM_DIR/../.." && pwd)"
export DMREMAP_ROOT
DMREMAP_CACHE="${DMREMAP_CACHE:-${HOME:-/root}/.cache/dm-remap}"

# Kernel series the VM bench boots by default (`--kernel all`), and the
# series it can also build for: 7.2 only builds (no VM runs), 7.3-rt boots
# when asked for (`--kernel 7.3-rt`). apt_target says where each comes from.
VM_KERNELS=(6.1 6.12 7.3)
VM_EXTRA_KERNELS=(7.3-rt 7.2)

PROG="${PROG:-$(basename "$0")}"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (needs apt-get and dpkg)"
}

host_codename() {
	local c=""
	# shellcheck disable=SC1091
	c="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
	[[ -n $c ]] || die "cannot determine the Debian codename from /etc/os-release"
	printf '%s\n' "$c"
}

# check_kernel SERIES: validate a kernel series argument.
check_kernel() {
	local k
	for k in "${VM_KERNELS[@]}" "${VM_EXTRA_KERNELS[@]}"; do
		[[ $1 == "$k" ]] && return 0
	done
	die "unknown kernel '$1' (expected one of: ${VM_KERNELS[*]} ${VM_EXTRA_KERNELS[*]})"
}

# apt_target SERIES: prints the apt -t argument for a kernel series (empty:
# the default candidate of the host's own suite). The 7.x series come from
# suites the host does not have: see private_apt.
apt_target() {
	case "$1" in
	6.1) printf '\n' ;;
	6.12) printf '%s-backports\n' "$(host_codename)" ;;
	7.3 | 7.3-rt) printf 'trixie-backports\n' ;;
	7.2) printf 'unstable\n' ;;
	*) die "unknown kernel '$1'" ;;
	esac
}

# kernel_flavour SERIES: the Debian kernel flavour (amd64 or rt-amd64).
kernel_flavour() {
	case "$1" in
	*-rt) printf 'rt-amd64\n' ;;
	*) printf 'amd64\n' ;;
	esac
}

# needs_buildroot SERIES: true if the series' headers and kbuild need a newer
# userland than the host's (gcc-14, glibc >= 2.38): module builds for it run
# in the trixie build root (buildroot_run), and its packages resolve through
# the private apt configuration (private_apt).
needs_buildroot() {
	case "$1" in
	6.*) return 1 ;;
	*) return 0 ;;
	esac
}

# --- the private apt configuration for the 7.x kernels -----------------------
# The 7.x kernel packages come from trixie-backports and sid, which a bookworm
# host must not have as apt sources: `apt-get install` or `upgrade` would then
# move the host to them. So they live in a separate apt configuration under
# the cache, with its own sources, lists, package cache and an empty dpkg
# status. It is only ever given to apt-cache and to `apt-get update|download`
# (private_apt refuses anything else), never to anything that installs.
PRIVATE_APT="$DMREMAP_CACHE/apt"

private_apt_init() {
	local d="$PRIVATE_APT"
	[[ -f $d/apt.conf && -f $d/sources.list ]] && return 0
	mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/etc/preferences.d" \
		"$d/etc/sources.list.d"
	: >"$d/status"
	cat >"$d/sources.list.tmp" <<EOF
# dm-remap's private apt sources, for the kernel packages only (see
# scripts/vm/common.sh); never used to install anything on the host.
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
EOF
	mv "$d/sources.list.tmp" "$d/sources.list"
	cat >"$d/apt.conf.tmp" <<EOF
Dir::Etc::sourcelist "$d/sources.list";
Dir::Etc::sourceparts "$d/etc/sources.list.d";
Dir::Etc::preferences "$d/etc/preferences";
Dir::Etc::preferencesparts "$d/etc/preferences.d";
Dir::State::lists "$d/lists";
Dir::State::status "$d/status";
Dir::State::extended_states "$d/extended_states";
Dir::Cache "$d";
Dir::Cache::archives "$d/archives";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
EOF
	mv "$d/apt.conf.tmp" "$d/apt.conf"
}

# private_apt apt-cache ARGS... | private_apt apt-get [-q] update|download ...:
# apt with the private configuration; refuses any other apt-get action.
private_apt() {
	local a
	if [[ $1 == apt-get ]]; then
		for a in "${@:2}"; do
			[[ $a == -* ]] && continue
			[[ $a == update || $a == download ]] || die "private_apt: refusing apt-get $a"
			break
		done
	elif [[ $1 != apt-cache ]]; then
		die "private_apt: refusing $1"
	fi
	private_apt_init
	APT_CONFIG="$PRIVATE_APT/apt.conf" "$@"
}

APT_UPDATE_STAMP="$DMREMAP_CACHE/apt-update.stamp"

# apt_update [private] [force]: apt-get update, at most once per
# DMREMAP_APT_MAX_AGE seconds (default 3600) unless forced; "private" updates
# the lists of the private configuration (the 7.x kernels) instead of the
# host's. Returns non-zero (after a warning) if the mirror could not be reached.
apt_update() {
	local run=() stamp="$APT_UPDATE_STAMP"
	if [[ ${1:-} == private ]]; then
		run=(private_apt)
		stamp="$PRIVATE_APT/update.stamp"
		shift
	fi
	local force="${1:-}" max_age="${DMREMAP_APT_MAX_AGE:-3600}" now age
	now="$(date +%s)"
	if [[ -z $force && -f $stamp ]]; then
		age=$((now - $(stat -c %Y "$stamp")))
		((age < max_age)) && return 0
	fi
	mkdir -p "$DMREMAP_CACHE"
	local out
	if out="$("${run[@]}" apt-get update -q 2>&1)" && ! grep -qE '^(W: Failed to fetch|E: )' <<<"$out"; then
		touch "$stamp"
		return 0
	fi
	warn "apt-get update failed (mirror unreachable?):"
	grep -E '^(W|E):' <<<"$out" | head -5 >&2 || true
	return 1
}

# ensure_backports: make sure <codename>-backports is an apt source.
ensure_backports() {
	local codename suite f
	codename="$(host_codename)"
	suite="$codename-backports"
	shopt -s nullglob
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		if grep -Eq "^[^#]*[[:space:]]$suite([[:space:]]|\$)" "$f" 2>/dev/null ||
			grep -Eq "^Suites:.*[[:space:]]$suite([[:space:]]|\$)" "$f" 2>/dev/null; then
			shopt -u nullglob
			return 0
		fi
	done
	shopt -u nullglob
	need_root
	log "adding apt source /etc/apt/sources.list.d/$suite.sources"
	cat >"/etc/apt/sources.list.d/$suite.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	apt_update force || true
}

pkg_installed() {
	[[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == "ii " ]]
}

# ensure_packages PKG...: install whatever is missing, quietly.
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		pkg_installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	need_root
	log "installing host packages: ${missing[*]}"
	local logf
	logf="$(mktemp)"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >"$logf" 2>&1; then
		apt_update force || true
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing[@]}" >"$logf" 2>&1; then
			tail -20 "$logf" >&2
			rm -f "$logf"
			die "apt-get install ${missing[*]} failed"
		fi
	fi
	rm -f "$logf"
}

# Everything the host side and the guest userland (the host's own /, seen
# through 9p) need.
HOST_PACKAGES=(
	qemu-system-x86 busybox-static cpio kmod dmsetup fio xz-utils zstd
	make gcc-12 dwarves coreutils diffutils util-linux
)

ensure_host_packages() {
	ensure_packages "${HOST_PACKAGES[@]}"
}

# ensure_build_tools KDIR: what building a module against KDIR needs: make,
# pahole (BTF for modules) and the gcc-NN the headers ask for.
ensure_build_tools() {
	local gcc
	gcc="$(grep -oE 'gcc-[0-9]+' "$1/.kernelvariables" 2>/dev/null | head -1 || true)"
	ensure_packages make dwarves ${gcc:+"$gcc"}
}

# --- build roots for the 7.x kernels ---------------------------------------
# Debian's 7.x headers call gcc-14 (trixie-backports) or gcc-16 (sid), and
# their kbuild binaries (fixdep, modpost, ...) need glibc >= 2.38: none of
# that is on bookworm. Modules for them are built in a minimal tree of the
# suite the kernel was built on, made with debootstrap, cached under
# $DMREMAP_CACHE/buildroot/<suite> and reused; the kernel trees stay in the
# kernel cache, which buildroot_run binds in at the same path, so the same
# kdir and make command work inside and outside.
BUILDROOT_PACKAGES=make,libc6-dev,libelf1t64,libssl3t64,zlib1g,pahole,bc,kmod,dkms
BUILDROOT_FORMAT=1 # bump to force new build roots after changing the recipe

# buildroot_suite SERIES: the Debian suite whose userland builds for SERIES.
buildroot_suite() {
	case "$1" in
	7.2) printf 'sid\n' ;;
	*) printf 'trixie\n' ;;
	esac
}

# buildroot_dir SUITE: where that suite's build root is.
buildroot_dir() {
	printf '%s\n' "$DMREMAP_CACHE/buildroot/$1"
}

# kdir_gcc KDIR: the gcc-NN package a kernel's headers ask for.
kdir_gcc() {
	grep -oE 'gcc-[0-9]+' "$1/.kernelvariables" 2>/dev/null | head -1 || true
}

# ensure_buildroot SUITE GCC: make SUITE's build root, with GCC (gcc-14, ...),
# unless an up-to-date one is there; prints its directory.
ensure_buildroot() {
	local suite="$1" gcc="$2" dir parent tmp want
	dir="$(buildroot_dir "$suite")"
	want="$suite $gcc,$BUILDROOT_PACKAGES $BUILDROOT_FORMAT"
	if [[ -f $dir/.dm-remap-buildroot && $(<"$dir/.dm-remap-buildroot") == "$want" ]]; then
		printf '%s\n' "$dir"
		return 0
	fi
	need_root
	ensure_packages debootstrap
	parent="$(dirname "$dir")"
	mkdir -p "$parent"
	local fd
	exec {fd}>"$parent/.lock"
	flock "$fd"
	if ! [[ -f $dir/.dm-remap-buildroot && $(<"$dir/.dm-remap-buildroot") == "$want" ]]; then
		tmp="$(mktemp -d "$parent/.new.XXXXXX")"
		log "making the $suite build root in $dir (debootstrap, about a minute)"
		if ! debootstrap --variant=minbase --include="$gcc,$BUILDROOT_PACKAGES" "$suite" \
			"$tmp/root" "${DMREMAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
			>"$tmp/debootstrap.log" 2>&1; then
			tail -n 20 "$tmp/debootstrap.log" >&2
			rm -rf "$tmp"
			die "debootstrap of the $suite build root failed"
		fi
		printf '%s\n' "$want" >"$tmp/root/.dm-remap-buildroot"
		rm -rf "$dir.old"
		[[ -e $dir ]] && mv "$dir" "$dir.old"
		mv "$tmp/root" "$dir"
		rm -rf "$tmp" "$dir.old"
		log "build root ready: $dir"
	fi
	exec {fd}>&-
	printf '%s\n' "$dir"
}

# buildroot_run ROOT [--bind DIR]... [--] CMD...: run CMD in the build root
# ROOT, in a private mount namespace (nothing stays mounted afterwards) with
# /proc, /dev, the kernel cache and each DIR bound at their own paths, and a
# clean environment. The current directory is kept if it is one of the DIRs.
buildroot_run() {
	local root="$1" binds=("$DMREMAP_CACHE/kernels")
	shift
	[[ -f $root/.dm-remap-buildroot ]] || die "no build root at $root"
	while (($#)); do
		case "$1" in
		--bind)
			binds+=("$(abspath "$2")")
			shift 2
			;;
		--)
			shift
			break
			;;
		*) break ;;
		esac
	done
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		br=$1 n=$2
		shift 2
		mount -t proc proc "$br/proc"
		mount --bind /dev "$br/dev"
		while ((n > 0)); do
			mkdir -p "$br$1"
			mount --bind "$1" "$br$1"
			shift
			n=$((n - 1))
		done
		cwd=/
		[[ -d $br$PWD ]] && cwd=$PWD
		exec chroot "$br" /usr/bin/env -i -C "$cwd" HOME=/root LC_ALL=C.UTF-8 TMPDIR=/tmp 			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
	' buildroot-run "$root" "${#binds[@]}" "${binds[@]}" "$@"
}

# sq STRING: single-quote STRING for POSIX sh (busybox ash and bash alike).
sq() {
	local s="${1//\'/\'\\\'\'}"
	printf "'%s'" "$s"
}

# abspath PATH: absolute path without requiring it to exist.
abspath() {
	realpath -m -- "$1"
}
