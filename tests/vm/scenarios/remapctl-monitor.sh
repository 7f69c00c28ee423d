#!/bin/bash
# remapctl monitor reports a remap within 1 s of the write that caused it:
# once through dm events alone (--interval 60000, so no status poll in
# between), once with the default 250 ms poll and human output. Then it
# reports the spare pool filling up, the mode change to spare-exhausted, and
# the device's removal, after which it exits 0.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for FILE PATTERN SECONDS: until FILE has a line matching PATTERN.
wait_for() {
	local deadline=$(($(now_ms) + $3 * 1000))
	until grep -qE -- "$2" "$1" 2>/dev/null; do
		(($(now_ms) < deadline)) || die "no '$2' in $1 after $3 s: $(cat "$1")"
		sleep 0.02
	done
}

load_module
base="$(make_nullb rbase 64 memory_backed)"
main="$(bad_disk rmain "$base" 20000:8)" # unit 2500 fails
other="$(make_nullb rother 16 memory_backed)"
# A spare of 8 blocks: metadata and a pool of 2.
spare="$(dm_create rspare "0 64 linear $other 0")"
remapctl format --main "$main" --spare "$spare" --batch --block-size 4096 --json >/tmp/fmt.json
assert_eq 2 "$(jq -r .spare_blocks /tmp/fmt.json)" "pool blocks of the small spare"
dev="$(remapctl create r --main "$main" --spare "$spare")"
_lib_track dm r

remapctl monitor r --json --interval 60000 >/tmp/mon-ev.out 2>/tmp/mon-ev.err &
ev_pid=$!
remapctl monitor r >/tmp/mon-poll.out 2>&1 &
poll_pid=$!
wait_for /tmp/mon-ev.out '"event":"watch"' 20
wait_for /tmp/mon-poll.out 'r: watching: mode ok, 0 remapped' 20
# Let both reach their wait (the event monitor's first look has passed).
sleep 0.5

# A write to the failing unit: remapped, and reported.
dd if=/dev/urandom of=/tmp/unit bs=4096 count=1 status=none
t_start=$(now_ms)
write_at "$dev" $((20000 * 512)) /tmp/unit
t_done=$(now_ms)
wait_for /tmp/mon-ev.out '"event":"remap"' 5
wait_for /tmp/mon-poll.out 'unit 2500 \(sector 20000\) remapped to spare block' 5
# When each monitor printed the line, by its own clock (milliseconds in both formats).
t_ev=$(date -d "$(grep '"event":"remap"' /tmp/mon-ev.out | jq -r .time)" +%s%3N)
t_poll=$(date -d "$(grep 'unit 2500 (sector 20000) remapped' /tmp/mon-poll.out | cut -d' ' -f1,2)" +%s%3N)
log "write took $((t_done - t_start)) ms; reported $((t_ev - t_done)) ms (events only)" \
	"and $((t_poll - t_done)) ms (250 ms poll) after it completed"
(((t_ev - t_done) < 1000)) || die "event monitor reported the remap $((t_ev - t_done)) ms late"
(((t_poll - t_done) < 1000)) || die "polling monitor reported the remap $((t_poll - t_done)) ms late"
line="$(grep '"event":"remap"' /tmp/mon-ev.out)"
assert_eq 2500 "$(jq -r .unit <<<"$line")" "remapped unit"
assert_eq 20000 "$(jq -r .sector <<<"$line")" "remapped sector"
assert_eq r "$(jq -r .device <<<"$line")" "device"
jq -e '.time | test("^[0-9-]+T[0-9:.]+Z$")' <<<"$line" >/dev/null || die "bad time in $line"
grep -q '"event":"io-errors"' /tmp/mon-ev.out || die "no io-errors event"

# Fill the pool (its second and last block), then ask for one more.
remapctl remap r 1 >/dev/null
wait_for /tmp/mon-ev.out '"event":"spare-full"' 5
wait_for /tmp/mon-ev.out '"event":"remap","unit":1,' 5
rc=0
remapctl remap r 2 2>/tmp/err || rc=$?
assert_eq 8 "$rc" "exit code of a remap with no spare block left"
t_done=$(now_ms)
wait_for /tmp/mon-ev.out '"event":"mode","from":"ok","to":"spare-exhausted"' 5
(($(now_ms) - t_done < 1000)) || die "mode change reported late"
wait_for /tmp/mon-poll.out 'mode ok -> spare-exhausted' 5
refuses_mode="$(remapctl remap r 3 2>&1 || true)"
grep -q "mode spare-exhausted" <<<"$refuses_mode" || die "remap in spare-exhausted: $refuses_mode"

# Removal ends both monitors, with status 0.
remapctl remove r >/dev/null
wait_for /tmp/mon-ev.out '"event":"removed"' 5
wait_for /tmp/mon-poll.out 'r: removed' 5
for pid in "$ev_pid" "$poll_pid"; do
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && die "monitor $pid still running after the device went away"
	wait "$pid" || die "monitor $pid exited $?"
done
[[ -s /tmp/mon-ev.err ]] && die "monitor wrote to stderr: $(cat /tmp/mon-ev.err)"
cat /tmp/mon-ev.out /tmp/mon-poll.out >&2

# SIGINT ends a monitor cleanly too.
dev="$(remapctl create r --main "$main" --spare "$spare")"
remapctl monitor r --json >/tmp/mon-int.out &
pid=$!
wait_for /tmp/mon-int.out '"event":"watch"' 20
kill -INT "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && die "monitor ignores SIGINT"
wait "$pid" || die "monitor exited $? on SIGINT"
remapctl remove r >/dev/null
log "remapctl-monitor OK"
