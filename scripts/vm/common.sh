# shellcheck shell=bash
# Shared helpers for the host side of the dm-remap VM bench.
# Sourced by scripts/vm/{kernels,run,setup} and scripts/build-module.

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DMREMAP_ROOT="$(cd "$VM_DIR/../.." && pwd)"
export DMREMAP_ROOT
DMREMAP_CACHE="${DMREMAP_CACHE:-${HOME:-/root}/.cache/dm-remap}"

# Kernel series the bench knows about, and the apt target release each one
# comes from (empty = the default candidate of the host's own suite).
VM_KERNELS=(6.1 6.12)

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
	for k in "${VM_KERNELS[@]}"; do
		[[ $1 == "$k" ]] && return 0
	done
	die "unknown kernel '$1' (expected one of: ${VM_KERNELS[*]})"
}

# apt_target SERIES: prints the apt -t argument for a kernel series.
apt_target() {
	case "$1" in
	6.1) printf '\n' ;;
	6.12) printf '%s-backports\n' "$(host_codename)" ;;
	*) die "unknown kernel '$1'" ;;
	esac
}

APT_UPDATE_STAMP="$DMREMAP_CACHE/apt-update.stamp"

# apt_update [force]: apt-get update, at most once per
# DMREMAP_APT_MAX_AGE seconds (default 3600) unless forced.
# Returns non-zero (after a warning) if the mirror could not be reached.
apt_update() {
	local force="${1:-}" max_age="${DMREMAP_APT_MAX_AGE:-3600}" now age
	now="$(date +%s)"
	if [[ -z $force && -f $APT_UPDATE_STAMP ]]; then
		age=$((now - $(stat -c %Y "$APT_UPDATE_STAMP")))
		((age < max_age)) && return 0
	fi
	mkdir -p "$DMREMAP_CACHE"
	local out
	if out="$(apt-get update -q 2>&1)" && ! grep -qE '^(W: Failed to fetch|E: )' <<<"$out"; then
		touch "$APT_UPDATE_STAMP"
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

# sq STRING: single-quote STRING for POSIX sh (busybox ash and bash alike).
sq() {
	local s="${1//\'/\'\\\'\'}"
	printf "'%s'" "$s"
}

# abspath PATH: absolute path without requiring it to exist.
abspath() {
	realpath -m -- "$1"
}
