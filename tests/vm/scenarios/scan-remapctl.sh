#!/bin/bash
# remapctl and the background scan: create --scan-rate/--slow-ms, scan
# status/stop/start, monitor reporting the scan's findings, status and
# Prometheus with the scan and health metrics, and health online (NAME) and
# offline (--spare) with its exit code. Bad arguments are refused (exit 16).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$DMREMAP_SRC/tests/vm/lib.sh"

load_module
base="$(make_nullb hbase 32 memory_backed)"
main="$(bad_disk hmain "$base" 4000:8 40000:16)" # units 500, 5000 and 5001 fail
spare="$(make_loop 8)"
remapctl format --main "$main" --spare "$spare" --batch --block-size 4096 >/dev/null
dev="$(remapctl create h --main "$main" --spare "$spare" --scan-rate 8 --slow-ms 800)"
_lib_track dm h
[[ $(dmsetup table h) == *" 4 scan_rate 8 slow_ms 800" ]] || die "table line: $(dmsetup table h)"

remapctl monitor h --json >/tmp/mon.out 2>/tmp/mon.err &
mon=$!
for _ in $(seq 600); do
	(($(remap_status h scan_pass) >= 1)) && break
	sleep 0.1
done
(($(remap_status h scan_pass) >= 1)) || die "the scan did not finish a pass: $(dmsetup status h)"
remapctl scan stop h --json >/tmp/scan.json
assert_eq off "$(jq -r .state /tmp/scan.json)" "scan state after remapctl scan stop"
assert_eq 3 "$(jq -r .last_bad /tmp/scan.json)" "bad units of the finished pass"
remapctl scan start h --rate 16 >/tmp/scan.txt
grep -q "state=running .*rate=16 " /tmp/scan.txt || die "scan start --rate 16: $(cat /tmp/scan.txt)"
remapctl scan stop h >/dev/null
sleep 0.5 # the monitor's next look
kill "$mon"
wait "$mon" 2>/dev/null || true
grep -q '"event":"scan-found"' /tmp/mon.out || die "monitor did not report the scan's findings: $(cat /tmp/mon.out)"
grep -q '"event":"scan-pass"' /tmp/mon.out || die "monitor did not report the finished pass"
grep -q '"event":"pending"' /tmp/mon.out || die "monitor did not report the pending units"

remapctl status h --json >/tmp/st.json
assert_eq off "$(jq -r .scan.state /tmp/st.json)" "status --json scan state"
assert_eq 800 "$(jq -r .scan.slow_ms /tmp/st.json)" "status --json slow_ms"
remapctl status h | grep -q '^  scan: *off, 16 MiB/s, pass ' || die "human status has no scan line: $(remapctl status h)"
remapctl status h --format prometheus >/tmp/prom.txt
grep -q '^dm_remap_scan_passes_total{device="h"} [1-9]' /tmp/prom.txt || die "prometheus: no scan passes"
grep -q '^dm_remap_health_grade{device="h"} 2$' /tmp/prom.txt || die "prometheus: health grade not critical"

# Online: 3 pending units are critical (exit 2), with the reason.
set +e
remapctl health h >/tmp/health.txt
rc=$?
set -e
cat /tmp/health.txt >&2
assert_eq 2 "$rc" "exit code of health with pending units"
grep -q '^h: CRITICAL: 3 pending units' /tmp/health.txt || die "health reason"
grep -q 'method: ' /tmp/health.txt || die "health does not state its method"
set +e
remapctl health h --json >/tmp/health.json
set -e
assert_eq "critical 3 online" "$(jq -r '"\(.grade) \(.pending) \(.source)"' /tmp/health.json)" "health --json"
assert_eq 30 "$(jq '.per_day | length' /tmp/health.json)" "days of history"
assert_eq 3 "$(jq '.per_day[-1]' /tmp/health.json)" "events today"
jq -e '.projection.method and .projection.confidence' /tmp/health.json >/dev/null || die "projection without method or confidence"

# Bad arguments.
for args in "scan start h --rate 0" "scan stop h --rate 4" "scan bogus h" "health" \
	"health h --spare $spare" "create x --main $main --spare $spare --slow-ms 0"; do
	set +e
	# shellcheck disable=SC2086
	remapctl $args >/dev/null 2>/tmp/err.txt
	rc=$?
	set -e
	assert_eq 16 "$rc" "exit code of 'remapctl $args' ($(cat /tmp/err.txt))"
done

# Offline, from the metadata alone: the same grade and counts.
remapctl remove h >/dev/null
set +e
remapctl health --spare "$spare" --json >/tmp/off.json
rc=$?
set -e
assert_eq 2 "$rc" "exit code of health --spare"
assert_eq "critical 3 offline" "$(jq -r '"\(.grade) \(.pending) \(.source)"' /tmp/off.json)" "health --spare --json"
# Healed and rewritten: the pending units are gone, the grade is ok.
set_bad hmain "$base"
dev="$(remapctl create h --main "$main" --spare "$spare")"
for u in 500 5000 5001; do
	dd if=/dev/zero of="$dev" bs=4096 seek="$u" count=1 oflag=direct status=none
done
remapctl health h >/tmp/health.txt || die "health after the rewrite: exit $? ($(cat /tmp/health.txt))"
grep -q '^h: OK: ' /tmp/health.txt || die "health after the rewrite: $(cat /tmp/health.txt)"
remapctl remove h >/dev/null
log "scan-remapctl OK"
