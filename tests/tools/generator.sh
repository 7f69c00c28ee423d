#!/usr/bin/env bash
# dm-remap-generator, run as systemd runs it, into a temporary directory over
# a test remaptab: the units, their ordering and device dependencies, the
# escaping of names, the .requires/.wants links (none for noauto), the
# device timeout drop-ins, `systemd-analyze verify` on the units when it is
# there, a bad remaptab (a file:line message, exit 1, no units) and a missing
# one (no units, exit 0).
#   generator.sh GENERATOR REMAPCTL
set -euo pipefail

generator=${1:?usage: generator.sh GENERATOR REMAPCTL}
remapctl=${2:?usage: generator.sh GENERATOR REMAPCTL}
tmp=$(mktemp -d /tmp/dmremap-generator.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() {
	echo "FAIL: $*" >&2
	fail=1
}
# has FILE LINE: FILE holds the line LINE exactly.
has() {
	grep -qxF -- "$2" "$1" || bad "${1#"$tmp"/}: no line '$2'"
}
hasnt() {
	if grep -qxF -- "$2" "$1"; then bad "${1#"$tmp"/}: unexpected line '$2'"; fi
}

cat >"$tmp/remaptab" <<'TAB'
# name main spare options
data	/dev/disk/by-id/wwn-0x5000c500a1b2c3d4	UUID=0F1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0
logs PARTUUID=1234abcd-01 /dev/vdc retries=5,nofail,x-systemd.device-timeout=10
cold /dev/vdd /dev/vde noauto
my-d%x /dev/vdf /dev/vdg
TAB
out=$tmp/out
mkdir "$out" "$tmp/early" "$tmp/late"
DMREMAP_REMAPTAB=$tmp/remaptab DMREMAP_GENERATOR_REMAPCTL=$remapctl \
	"$generator" "$out" "$tmp/early" "$tmp/late" || bad "the generator failed (exit $?)"

u=$out/dm-remap@data.service
[[ -f $u ]] || { bad "no dm-remap@data.service" && exit 1; }
has "$u" "DefaultDependencies=no"
has "$u" "Before=local-fs-pre.target"
has "$u" "Before=umount.target"
has "$u" "Conflicts=umount.target"
has "$u" 'BindsTo=dev-disk-by\x2did-wwn\x2d0x5000c500a1b2c3d4.device'
has "$u" 'After=dev-disk-by\x2did-wwn\x2d0x5000c500a1b2c3d4.device'
has "$u" "Wants=blockdev@dev-mapper-data.target"
has "$u" "Before=blockdev@dev-mapper-data.target"
has "$u" "Type=oneshot"
has "$u" "RemainAfterExit=yes"
has "$u" "ExecStart=\"$remapctl\" activate --remaptab \"$tmp/remaptab\" --wait 90 -- \"data\""
has "$u" "ExecStop=\"$remapctl\" deactivate --remaptab \"$tmp/remaptab\" -- \"data\""
# The spare by format UUID has no device unit: only the main's.
[[ $(grep -c '^BindsTo=' "$u") -eq 1 ]] || bad "dm-remap@data.service binds to $(grep -c '^BindsTo=' "$u") devices, want 1"

u=$out/dm-remap@logs.service
has "$u" 'BindsTo=dev-disk-by\x2dpartuuid-1234abcd\x2d01.device'
has "$u" "BindsTo=dev-vdc.device"
has "$u" "After=dev-vdc.device"
hasnt "$u" "Before=local-fs-pre.target" # nofail: the boot does not wait for it
has "$u" "ExecStart=\"$remapctl\" activate --remaptab \"$tmp/remaptab\" --wait 10 -- \"logs\""
has "$out/dev-vdc.device.d/40-dm-remap-device-timeout.conf" "JobRunningTimeoutSec=10"
has "$out/dev-disk-by\\x2did-wwn\\x2d0x5000c500a1b2c3d4.device.d/40-dm-remap-device-timeout.conf" \
	"JobRunningTimeoutSec=90"

# A name with '-' and '%': escaped in the unit name, '%' doubled in values.
u=$out/'dm-remap@my\x2dd\x25x.service'
[[ -f $u ]] || bad "no 'dm-remap@my\\x2dd\\x25x.service' (the escaped name)"
[[ -f $u ]] && has "$u" 'Wants=blockdev@dev-mapper-my\x2dd\x25x.target'
[[ -f $u ]] && has "$u" "ExecStop=\"$remapctl\" deactivate --remaptab \"$tmp/remaptab\" -- \"my-d%%x\""

# Links: required without nofail, wanted with it, none for noauto.
link() { [[ -L $out/$1 && $(readlink "$out/$1") == "../${1##*/}" ]] || bad "no link $1 -> ../${1##*/}"; }
link local-fs-pre.target.requires/dm-remap@data.service
link local-fs-pre.target.wants/dm-remap@logs.service
link 'local-fs-pre.target.requires/dm-remap@my\x2dd\x25x.service'
[[ -f $out/dm-remap@cold.service ]] || bad "no unit for the noauto entry (systemctl start needs one)"
if compgen -G "$out/local-fs-pre.target.*/dm-remap@cold.service" >/dev/null; then
	bad "the noauto entry is pulled in by local-fs-pre.target"
fi
[[ -z $(find "$tmp/early" "$tmp/late" -mindepth 1) ]] || bad "the generator wrote into the early or late directory"

if command -v systemd-analyze >/dev/null; then
	if ! systemd-analyze verify --man=no "$out"/*.service >"$tmp/verify.log" 2>&1; then
		cat "$tmp/verify.log" >&2
		bad "systemd-analyze verify rejects the units"
	fi
else
	echo "generator.sh: no systemd-analyze, the units are not verified" >&2
fi

# A bad line: nothing generated, exit 1, file:line on stderr.
printf 'ok /dev/vdb /dev/vdc\nbroken /dev/vdb\n' >"$tmp/bad"
mkdir "$tmp/out2"
if DMREMAP_REMAPTAB=$tmp/bad "$generator" "$tmp/out2" 2>"$tmp/err"; then
	bad "a bad remaptab: the generator exited 0"
fi
grep -qF "$tmp/bad:2: 2 fields" "$tmp/err" || bad "a bad remaptab: message '$(cat "$tmp/err")'"
[[ -z $(ls -A "$tmp/out2") ]] || bad "a bad remaptab: units were written"

# No remaptab: no units, success.
mkdir "$tmp/out3"
DMREMAP_REMAPTAB=$tmp/none "$generator" "$tmp/out3" || bad "no remaptab: the generator failed"
[[ -z $(ls -A "$tmp/out3") ]] || bad "no remaptab: units were written"

((fail == 0)) || exit 1
echo "generator OK: $(find "$out" -name '*.service' -type f | wc -l) units"
