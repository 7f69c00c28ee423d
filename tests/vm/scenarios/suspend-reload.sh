#!/bin/bash
# Suspend/resume and table reloads under continuous I/O while remaps happen.
# Four writer threads (O_DIRECT; full units, multi-unit bios and sub-unit
# writes, sweeping their region and hammering a hot window of 32 units)
# each own a quarter of the device and read back every write; an expected
# image follows each acknowledged write. Meanwhile, round after round, new
# sectors fail writes on main, units are remapped proactively (some in the
# hot windows, so that writes land on main while their unit is copied),
# and the target is suspended and resumed, reloaded with the same table or
# with other features, or suspended while the faults change. At the end
# every byte matches the expected image, the remaps are those the faults
# and messages explain, and they survive recreating the device.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

U=4096          # unit bytes; 8 sectors
ROUNDS=${ROUNDS:-8} # each of the four kinds of rounds twice
MB=32
load_module
base="$(make_nullb rbase $MB memory_backed)"
total=$(sectors "$base")
main="$(fault_disk rmain "$base")"
spare="$(make_loop 16)"
format_spare "$main" "$spare" $U
table="0 $total remap $main $spare"
dev="$(dm_create r "$table")"
truncate -s ${MB}M /tmp/expected # the memory-backed null_blk starts zeroed
: >/tmp/faulted                 # units that had a failing sector, one a line
: >/tmp/proactive               # units remapped by message

# The writers run until /tmp/stop exists; they print a summary and exit 1
# on any failed I/O or mismatch.
cat >/tmp/writers.py <<'PY'
import mmap, os, random, sys, threading, time

dev, exp_path, stop, nthreads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
U = 4096
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
size = os.lseek(fd, 0, os.SEEK_END)
ef = open(exp_path, "r+b")
exp = mmap.mmap(ef.fileno(), size)
region = size // nthreads
lock = threading.Lock()
errors, stats = [], {"writes": 0, "reads": 0, "bytes": 0, "partial": 0}


def fail(msg):
    with lock:
        errors.append(msg)
        if len(errors) <= 20:
            print("writer:", msg, file=sys.stderr, flush=True)


def check(rbuf, off, ln, what):
    got = rbuf[:ln]
    want = exp[off:off + ln]
    if got != want:
        i = next(i for i in range(ln) if got[i] != want[i])
        fail(f"{what}: mismatch at byte {off + i} (unit {(off + i) // U}) in {off}+{ln}")


def writer(t):
    rng = random.Random(1000 + t)
    lo, hi = t * region, (t + 1) * region
    wbuf, rbuf = mmap.mmap(-1, 1 << 20), mmap.mmap(-1, 1 << 20)
    pos, n = lo + 32 * U, {"writes": 0, "reads": 0, "bytes": 0, "partial": 0}
    while not os.path.exists(stop):
        k = rng.random()
        if k < 0.3:  # anywhere in the hot window: the region's first 32 units
            o = 512 * rng.randrange(0, 32 * 8)
            off, ln = lo + o, min(512 * rng.randrange(1, 17), 32 * U - o)
        elif k < 0.6:  # one to four whole units
            off, ln = pos, U * rng.choice((1, 1, 2, 4))
        elif k < 0.8:  # a multi-unit bio, not always unit-aligned
            off, ln = pos + 512 * rng.choice((0, 0, 3)), rng.choice((64, 128, 256)) * 1024
        else:  # part of a unit
            s = rng.randrange(0, 8)
            off, ln = pos + 512 * s, 512 * rng.randrange(1, 9 - s)
            n["partial"] += 1
        ln = min(ln, hi - off)
        data = os.urandom(ln)
        wbuf[:ln] = data
        try:
            w = os.pwritev(fd, [memoryview(wbuf)[:ln]], off)
            if w != ln:
                fail(f"short write {w} of {off}+{ln}")
                continue
        except OSError as e:
            fail(f"write {off}+{ln}: {e}")
            continue
        exp[off:off + ln] = data
        n["writes"] += 1
        n["bytes"] += ln
        # Read back the units the write touched, and some other units.
        ro = off // U * U
        rl = (off + ln + U - 1) // U * U - ro
        for o, l in ((ro, rl), (lo + U * rng.randrange(0, (hi - lo) // U - 16), U * rng.choice((1, 16)))):
            try:
                os.preadv(fd, [memoryview(rbuf)[:l]], o)
            except OSError as e:
                fail(f"read {o}+{l}: {e}")
                continue
            n["reads"] += 1
            check(rbuf, o, l, "read")
        if k >= 0.3:
            pos = (off + ln + U - 1) // U * U
            if pos >= hi:
                pos = lo + 32 * U
        time.sleep(0.005)  # leave the (emulated) CPUs to the control commands
    with lock:
        for key in stats:
            stats[key] += n[key]


threads = [threading.Thread(target=writer, args=(t,)) for t in range(nthreads)]
for th in threads:
    th.start()
for th in threads:
    th.join()
exp.flush()
print(f"writers: {stats['writes']} writes ({stats['partial']} sub-unit, "
      f"{stats['bytes'] >> 20} MiB), {stats['reads']} verified reads, {len(errors)} errors")
sys.exit(1 if errors else 0)
PY
rm -f /tmp/stop
python3 /tmp/writers.py "$dev" /tmp/expected /tmp/stop 4 &
writers=$!
stop_writers() { touch /tmp/stop; }
# On any exit, stop the writers first (they hold the device open), after
# resuming what a failure may have left suspended under them.
trap 'dmsetup resume --noudevsync rmain; dmsetup resume --noudevsync r
	stop_writers; wait; _lib_cleanup' EXIT

# new_faults: FAULTS becomes three random ranges of 1..16 sectors, one per
# third of the device (so they never overlap), that fail writes.
RANDOM=42
FAULTS=()
new_faults() {
	local i s l
	FAULTS=()
	for i in 0 1 2; do
		s=$((i * total / 3 + RANDOM % (total / 3 - 16)))
		l=$((1 + RANDOM % 16))
		FAULTS+=("$s:$l:w")
		seq $((s / 8)) $(((s + l - 1) / 8)) >>/tmp/faulted
	done
}
cycle() { # suspend and resume r
	dmsetup suspend --noudevsync r
	sleep 0.2
	dmsetup resume --noudevsync r
}
grew=0
for round in $(seq 1 "$ROUNDS"); do
	before=$(remap_status r entries)
	new_faults
	set_faults rmain "$base" "${FAULTS[@]}"
	sleep 0.3
	# Proactive remaps: a unit anywhere, and one of a writer's hot window,
	# likely with writes in flight on main while it is copied.
	for u in $((RANDOM % (total / 8))) $((round % 4 * total / 8 / 4 + RANDOM % 32)); do
		out="$(dmsetup message r 0 remap $u)" || die "remap message for unit $u failed"
		case "$out" in
		"remapped $u "* | "already-remapped $u") echo $u >>/tmp/proactive ;;
		*) die "remap message for unit $u answered '$out'" ;;
		esac
	done
	case $((round % 4)) in
	0) cycle ;;
	1)
		dmsetup load r --table "$table"
		cycle
		;;
	2)
		dmsetup load r --table "$table 2 retries $((1 + round % 3))"
		cycle
		;;
	3)
		# suspended while main's faults change
		dmsetup suspend --noudevsync r
		new_faults
		set_faults rmain "$base" "${FAULTS[@]}"
		dmsetup resume --noudevsync r
		;;
	esac
	kill -0 $writers 2>/dev/null || die "the writers stopped early"
	after=$(remap_status r entries)
	((after > before)) && grew=$((grew + 1))
	log "round $round: $(dmsetup table r | cut -d' ' -f6-) entries $before -> $after"
done
sleep 0.5
stop_writers
wait $writers || die "the writers saw errors (see above)"
trap _lib_cleanup EXIT
log "$grew of $ROUNDS rounds added remaps"
dmsetup status r

# Every byte, through the target.
assert_dev_matches "$dev" 0 /tmp/expected
assert_eq ok "$(remap_status r mode)" "mode"
assert_eq 0 "$(remap_status r pending)" "pending (faults fail writes only)"
dmsetup message r 0 list >/tmp/list
remapped=$(awk '$3 == "remapped" {print $1}' /tmp/list)
assert_eq "$(wc -l </tmp/list)" "$(echo "$remapped" | wc -l)" "every entry is a remap"
# Each remap is explained by a fault or a message, and faults caused some.
sort -u /tmp/faulted >/tmp/faulted.s
sort -u /tmp/proactive >/tmp/proactive.s
echo "$remapped" | sort >/tmp/remapped.s
unexplained="$(comm -23 /tmp/remapped.s /tmp/faulted.s | comm -23 - /tmp/proactive.s | xargs)"
[[ -z $unexplained ]] || die "units remapped with neither a fault nor a remap message: $unexplained"
by_fault=$(comm -12 /tmp/remapped.s /tmp/faulted.s | wc -l)
log "$(echo "$remapped" | wc -w) remaps, $by_fault of them after write faults"
((by_fault >= ROUNDS / 2)) || die "only $by_fault remaps came from write faults"
((grew >= ROUNDS / 2)) || die "remaps grew in only $grew of $ROUNDS rounds"

# The remaps and the data survive recreating the device.
dm_remove r
dev="$(dm_create r "$table")"
dmsetup message r 0 list | cmp - /tmp/list || die "remap list changed after recreate"
assert_dev_matches "$dev" 0 /tmp/expected
dm_remove r
log "suspend-reload OK"
