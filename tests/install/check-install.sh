#!/usr/bin/env bash
# Installs the build into a staging directory, as a distribution package
# build does, and checks the tree:
#
#   tests/install/check-install.sh BUILD_DIR LIBDIR INCLUDEDIR MANDIR DATADIR SBINDIR VERSION GENERATORDIR
#
# (the GNUInstallDirs values, relative to the prefix, the project version, and
# the systemd generator directory: relative to the prefix or absolute).
# Runs `DESTDIR=<stage> cmake --install BUILD_DIR --prefix /usr`, then checks
# every expected file, the soname symlink chain, the pkg-config file, that a
# small consumer compiles, links and runs against the staged headers and
# library, and that man pages are all compressed or all not.
set -euo pipefail

[[ $# -eq 8 ]] || {
	echo "usage: $0 BUILD_DIR LIBDIR INCLUDEDIR MANDIR DATADIR SBINDIR VERSION GENERATORDIR" >&2
	exit 2
}
build=$1 libdir=$2 includedir=$3 mandir=$4 datadir=$5 sbindir=$6 version=$7 generatordir=$8
major=${version%%.*}

stage=$(mktemp -d /tmp/dmremap-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

DESTDIR=$stage cmake --install "$build" --prefix /usr >"$stage.log" 2>&1 || {
	cat "$stage.log" >&2; rm -f "$stage.log"; exit 1
}
rm -f "$stage.log"
root=$stage/usr

# Every expected file.
expect=(
	"$sbindir/remapctl" "$sbindir/remap-check" "$sbindir/remap-dump" "$sbindir/remap-repair"
	"$libdir/libremapmeta.so.$version" "$libdir/pkgconfig/remapmeta.pc"
	"$includedir/remapmeta/rm_format.h"
	"$datadir/bash-completion/completions/remapctl"
	"$datadir/zsh/vendor-completions/_remapctl"
	"$datadir/fish/vendor_completions.d/remapctl.fish"
)
for h in "${BASH_SOURCE[0]%/*}"/../../libremapmeta/include/remapmeta/*.hpp; do
	expect+=("$includedir/remapmeta/${h##*/}")
done
for m in "${BASH_SOURCE[0]%/*}"/../../man/*.[0-9]; do
	sec=${m##*.}
	expect+=("$mandir/man$sec/${m##*/}")
done
for f in "${expect[@]}"; do
	[[ -f $root/$f ]] || bad "missing /usr/$f"
done
# The systemd generator of /etc/remaptab, where systemd runs generators.
[[ $generatordir == /* ]] || generatordir=/usr/$generatordir
[[ -x $stage$generatordir/dm-remap-generator ]] || bad "missing $generatordir/dm-remap-generator"
if readelf -d "$stage$generatordir/dm-remap-generator" 2>/dev/null | grep -qE 'R(UN)?PATH'; then
	bad "$generatordir/dm-remap-generator keeps an RPATH into the build tree"
fi
for t in remapctl remap-check remap-dump remap-repair; do
	[[ -x $root/$sbindir/$t ]] || bad "/usr/$sbindir/$t is not executable"
	if readelf -d "$root/$sbindir/$t" 2>/dev/null | grep -qE 'R(UN)?PATH'; then
		bad "/usr/$sbindir/$t keeps an RPATH into the build tree"
	fi
done

# Soname chain: libremapmeta.so -> libremapmeta.so.MAJOR -> libremapmeta.so.VERSION.
lib=$root/$libdir
[[ -L $lib/libremapmeta.so && $(readlink "$lib/libremapmeta.so") == "libremapmeta.so.$major" ]] ||
	bad "libremapmeta.so is not a symlink to libremapmeta.so.$major"
[[ -L $lib/libremapmeta.so.$major && $(readlink "$lib/libremapmeta.so.$major") == "libremapmeta.so.$version" ]] ||
	bad "libremapmeta.so.$major is not a symlink to libremapmeta.so.$version"
soname=$(readelf -d "$lib/libremapmeta.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "libremapmeta.so.$major" ]] || bad "SONAME is '$soname', want libremapmeta.so.$major"

# Man pages: all compressed or none.
plain=$(find "$root/$mandir" -type f ! -name '*.gz' | wc -l)
gz=$(find "$root/$mandir" -type f -name '*.gz' | wc -l)
((plain == 0 || gz == 0)) || bad "man pages mixed: $plain plain, $gz compressed"

# pkg-config against the staged .pc, as a cross or package build sees it.
export PKG_CONFIG_PATH=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
pc_version=$(pkg-config --modversion remapmeta) || bad "pkg-config cannot read remapmeta.pc"
[[ ${pc_version:-} == "$version" ]] || bad "remapmeta.pc version '${pc_version:-}', want $version"
if ! flags=$(pkg-config --cflags --libs remapmeta); then
	bad "pkg-config --cflags --libs remapmeta failed"
	flags=
fi
grep -q -- "-I$stage/usr/$includedir" <<<"$flags" || bad "cflags '$flags' lack -I$stage/usr/$includedir"
grep -q -- "-L$stage/usr/$libdir" <<<"$flags" || bad "libs '$flags' lack -L$stage/usr/$libdir"

# A consumer: staged headers (including the C format header) and library only.
cat >"$stage/consumer.cpp" <<'CPP'
#include <remapmeta/format.hpp>
#include <remapmeta/errors.hpp>
#include <cstdio>

int main() {
	static_assert(remapmeta::block_size == 4096);
	remapmeta::Uuid u = remapmeta::parse_uuid("00112233-4455-6677-8899-aabbccddeeff");
	std::string back = remapmeta::uuid_to_string(u.data());
	std::printf("%s %s\n", back.c_str(), std::string(remapmeta::state_name(0)).c_str());
	return back == "00112233-4455-6677-8899-aabbccddeeff" ? 0 : 1;
}
CPP
# shellcheck disable=SC2086 # pkg-config output is a word list
if c++ -std=c++20 -Wall -Werror -o "$stage/consumer" "$stage/consumer.cpp" $flags 2>"$stage/cc.log"; then
	LD_LIBRARY_PATH=$lib "$stage/consumer" >/dev/null || bad "the consumer program ran but failed"
	if readelf -d "$stage/consumer" | grep -q "NEEDED.*libremapmeta.so.$major"; then :; else
		bad "the consumer does not need libremapmeta.so.$major"
	fi
else
	cat "$stage/cc.log" >&2
	bad "a consumer program does not compile and link against the staged headers and library"
fi

if ((fail)); then
	echo "staged tree:" >&2
	(cd "$stage" && find . -path ./consumer.cpp -prune -o -print | sort) >&2
	exit 1
fi
echo "install tree OK: $(cd "$stage" && find usr \( -type f -o -type l \) | wc -l) files under $stage/usr"
