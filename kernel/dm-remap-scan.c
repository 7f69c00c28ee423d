// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-remap background scan. A delayed work item on its own workqueue reads
 * the main device chunk by chunk, in unit order, from a cursor that the
 * target persists in the superblock. The reads bypass the target (they go to
 * the main device with dm_io), have idle I/O priority where the kernel lets
 * dm_io pass one, and are paced to the configured rate; while foreground I/O
 * is flowing the pace drops to an eighth of it. A chunk that fails, or takes
 * longer than slow_ms, is checked again unit by unit by the target's worker,
 * which retries, remaps weak units proactively and records unreadable ones
 * as pending.
 */
#include <linux/device-mapper.h>
#include <linux/ioprio.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "dm-remap-scan.h"

#define DM_MSG_PREFIX "remap"

#define RM_SCAN_BUSY_FACTOR 8 /* slow-down while foreground I/O flows */
#define RM_SCAN_SAVE_INTERVAL (30 * HZ)

static int scan_read(struct rm_scan *s, sector_t sector, sector_t count)
{
	struct dm_io_region region = {
		.bdev = s->main,
		.sector = sector,
		.count = count,
	};
	struct dm_io_request req = {
		.bi_opf = REQ_OP_READ,
		.mem.type = DM_IO_VMA,
		.mem.ptr.vma = s->buf,
		.client = s->io,
	};
	unsigned long error_bits = 0;
	int r;

	r = rm_dm_io_prio(&req, 1, &region, &error_bits,
			  IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0));
	return r ? r : (error_bits ? -EIO : 0);
}

static bool scan_running(struct rm_scan *s)
{
	return READ_ONCE(s->enabled) && READ_ONCE(s->active) &&
	       READ_ONCE(s->halt) == RM_SCAN_RUN;
}

/* Stops the scan until "scan start" or a resume; the cursor stays. */
static void scan_halt(struct rm_scan *s, enum rm_scan_halt why, u64 unit)
{
	WRITE_ONCE(s->halt, why);
	s->ops->halted(s->ctx, why, unit);
}

/*
 * Persists the cursor when it moved. Caller: the work, or with it stopped.
 * A failed save halts the scan, but leaves the mode alone: the cursor is
 * only a hint, and the other superblock copy still holds a valid one.
 */
static void scan_save(struct rm_scan *s)
{
	const u64 cursor = READ_ONCE(s->cursor);
	const u64 pass = READ_ONCE(s->pass);

	s->saved_at = jiffies;
	if (cursor == s->saved_cursor && pass == s->saved_pass)
		return;
	if (s->ops->save(s->ctx, cursor, pass)) {
		if (READ_ONCE(s->halt) == RM_SCAN_RUN)
			scan_halt(s, RM_SCAN_HALT_SAVE, cursor);
		return;
	}
	s->saved_cursor = cursor;
	s->saved_pass = pass;
}

#define RM_SCAN_PROBE_CHUNKS 16 /* how far scan_probe() looks, each way */

/*
 * A unit that read, to read again before recording a unit of the chunk at
 * `first` as unreadable: the last one the scan read well, or else (a scan
 * that starts in a bad region) the first unit of the nearest chunk that
 * reads now, looking back and then ahead. U64_MAX: none, main seems down.
 */
static u64 scan_probe(struct rm_scan *s, u64 first, u64 n)
{
	const u64 step = max(1u, RM_SCAN_CHUNK_SECTORS >> s->unit_shift);
	u64 i, u;

	if (s->good_unit != U64_MAX)
		return s->good_unit;
	for (i = 1; i <= 2 * RM_SCAN_PROBE_CHUNKS; i++) {
		if (i <= RM_SCAN_PROBE_CHUNKS) {
			if (first < i * step)
				continue;
			u = first - i * step;
		} else {
			u = first + n + (i - RM_SCAN_PROBE_CHUNKS - 1) * step;
			if (u >= s->units)
				break;
		}
		if (!scan_read(s, (sector_t)u << s->unit_shift,
			       min_t(sector_t, step << s->unit_shift,
				     s->main_sectors -
					     ((sector_t)u << s->unit_shift)))) {
			s->good_unit = u;
			return u;
		}
	}
	return U64_MAX;
}

/* Maps a verdict that stops the scan to its reason. */
static enum rm_scan_halt scan_verdict_halt(enum rm_scan_verdict v)
{
	switch (v) {
	case RM_SCAN_FAILED:
		return RM_SCAN_HALT_MODE;
	case RM_SCAN_OUTAGE:
		return RM_SCAN_HALT_UNREACHABLE;
	case RM_SCAN_RESERVE:
		return RM_SCAN_HALT_RESERVE;
	default:
		return RM_SCAN_RUN;
	}
}

/*
 * Checks the units of a chunk one by one, then records the unreadable ones,
 * each after a read of a unit that read before (the probe) and of itself
 * again: when main fails reads wholesale (an outage, a cable, a path
 * switch), nothing is recorded and the scan halts. Returns how many units
 * are done: n, or 0 when the chunk must be checked again (stopped, halted).
 */
static u64 scan_check_units(struct rm_scan *s, u64 first, u64 n,
			    unsigned int slow_ms)
{
	enum rm_scan_verdict v;
	unsigned long i;
	u64 probe;

	bitmap_zero(s->unreadable, RM_SCAN_CHUNK_SECTORS);
	for (i = 0; i < n; i++) {
		if (!scan_running(s))
			return 0;
		v = s->ops->check_unit(s->ctx, first + i, slow_ms);
		switch (v) {
		case RM_SCAN_WEAK:
			WRITE_ONCE(s->found_weak, s->found_weak + 1);
			fallthrough;
		case RM_SCAN_GOOD:
			s->good_unit = first + i;
			break;
		case RM_SCAN_UNREADABLE:
			__set_bit(i, s->unreadable);
			break;
		case RM_SCAN_KNOWN:
		case RM_SCAN_BAD:
			break;
		default:
			scan_halt(s, scan_verdict_halt(v), first + i);
			return 0;
		}
	}
	probe = scan_probe(s, first, n);
	if (probe == U64_MAX && !bitmap_empty(s->unreadable, n)) {
		scan_halt(s, RM_SCAN_HALT_UNREACHABLE, first);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (!test_bit(i, s->unreadable))
			continue;
		if (!scan_running(s))
			return 0;
		if (READ_ONCE(s->found_bad) - s->limit_base >=
		    RM_SCAN_MAX_PENDING) {
			scan_halt(s, RM_SCAN_HALT_LIMIT, first + i);
			return 0;
		}
		v = s->ops->record_bad(s->ctx, first + i, probe);
		switch (v) {
		case RM_SCAN_BAD:
			WRITE_ONCE(s->found_bad, s->found_bad + 1);
			break;
		case RM_SCAN_GOOD:
		case RM_SCAN_KNOWN:
			break;
		default:
			scan_halt(s, scan_verdict_halt(v) ?: RM_SCAN_HALT_MODE,
				  first + i);
			return 0;
		}
	}
	return n;
}

static void scan_work(struct work_struct *ws)
{
	struct rm_scan *s =
		container_of(to_delayed_work(ws), struct rm_scan, work);
	const u64 chunk_units = max(1u, RM_SCAN_CHUNK_SECTORS >> s->unit_shift);
	const unsigned int slow_ms = READ_ONCE(s->slow_ms);
	const unsigned int rate = READ_ONCE(s->rate);
	sector_t start, count;
	ktime_t t0, now;
	u64 u, n, act, act0, ns;
	bool slow;
	int r;

	if (!scan_running(s))
		return;
	u = READ_ONCE(s->cursor);
	if (u >= s->units)
		u = 0;
	n = min(chunk_units, s->units - u);
	start = (sector_t)u << s->unit_shift;
	count = min_t(sector_t, (sector_t)n << s->unit_shift,
		      s->main_sectors - start);

	act0 = s->ops->activity(s->ctx);
	t0 = ktime_get();
	r = scan_read(s, start, count);
	ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	/* A read that shared the disk with foreground I/O is not slow. */
	slow = ns > (u64)slow_ms * NSEC_PER_MSEC &&
	       s->ops->activity(s->ctx) == act0;
	if (r || slow)
		n = scan_check_units(s, u, n, slow_ms);
	else
		s->good_unit = u;

	WRITE_ONCE(s->cursor, u + n);
	if (u + n >= s->units) {
		/* A pass is complete: its findings become the last pass's. */
		WRITE_ONCE(s->last_bad, s->found_bad);
		WRITE_ONCE(s->last_weak, s->found_weak);
		WRITE_ONCE(s->found_bad, 0);
		WRITE_ONCE(s->found_weak, 0);
		s->limit_base = 0;
		WRITE_ONCE(s->cursor, 0);
		WRITE_ONCE(s->pass, s->pass + 1);
	}
	/* Also at the end of a pass: a small device wraps many times a minute. */
	if (time_after(jiffies, s->saved_at + RM_SCAN_SAVE_INTERVAL))
		scan_save(s);

	/* Pace: `count` sectors at `rate` MiB/s, slower under foreground I/O. */
	ns = div64_u64(((u64)count << SECTOR_SHIFT) * NSEC_PER_SEC,
		       (u64)max(rate, 1u) << 20);
	act = s->ops->activity(s->ctx);
	if (act != s->seen_activity)
		ns *= RM_SCAN_BUSY_FACTOR;
	s->seen_activity = act;
	if (ktime_before(s->next_at, t0))
		s->next_at = t0;
	s->next_at = ktime_add_ns(s->next_at, ns);
	now = ktime_get();
	ns = ktime_after(s->next_at, now)
		     ? ktime_to_ns(ktime_sub(s->next_at, now))
		     : 0;
	if (scan_running(s))
		queue_delayed_work(s->wq, &s->work, nsecs_to_jiffies(ns));
}

int rm_scan_init(struct rm_scan *s, const char *name)
{
	mutex_init(&s->lock);
	s->good_unit = U64_MAX;
	INIT_DELAYED_WORK(&s->work, scan_work);
	if (!s->rate)
		s->rate = RM_SCAN_DEFAULT_RATE;
	if (!s->slow_ms)
		s->slow_ms = RM_SCAN_DEFAULT_SLOW_MS;
	s->saved_cursor = s->cursor;
	s->saved_pass = s->pass;
	s->io = dm_io_client_create();
	if (IS_ERR(s->io)) {
		int r = PTR_ERR(s->io);

		s->io = NULL;
		return r;
	}
	s->buf = vmalloc(RM_SCAN_CHUNK_SECTORS << SECTOR_SHIFT);
	s->wq = alloc_workqueue("dm-remap-scan-%s", WQ_UNBOUND | WQ_FREEZABLE,
				1, name);
	if (!s->buf || !s->wq)
		return -ENOMEM;
	return 0;
}

void rm_scan_destroy(struct rm_scan *s)
{
	if (s->wq) {
		cancel_delayed_work_sync(&s->work);
		destroy_workqueue(s->wq);
	}
	vfree(s->buf);
	if (s->io)
		dm_io_client_destroy(s->io);
	s->wq = NULL;
	s->buf = NULL;
	s->io = NULL;
}

void rm_scan_set_active(struct rm_scan *s, bool active)
{
	mutex_lock(&s->lock);
	WRITE_ONCE(s->active, active);
	if (active) {
		/* A resume starts a halted scan again. */
		if (READ_ONCE(s->halt) == RM_SCAN_HALT_LIMIT)
			s->limit_base = READ_ONCE(s->found_bad);
		WRITE_ONCE(s->halt, RM_SCAN_RUN);
		s->saved_cursor = READ_ONCE(s->cursor);
		s->saved_pass = READ_ONCE(s->pass);
		s->saved_at = jiffies;
		s->next_at = ktime_get();
		if (s->enabled)
			queue_delayed_work(s->wq, &s->work, 0);
	} else {
		cancel_delayed_work_sync(&s->work);
		scan_save(s);
	}
	mutex_unlock(&s->lock);
}

void rm_scan_enable(struct rm_scan *s, bool enable, unsigned int rate)
{
	bool was_running;

	mutex_lock(&s->lock);
	if (rate)
		WRITE_ONCE(s->rate, rate);
	was_running = scan_running(s);
	WRITE_ONCE(s->enabled, enable);
	if (!enable) {
		cancel_delayed_work_sync(&s->work);
		if (s->active)
			scan_save(s);
	} else if (s->active) {
		/*
		 * A running scan keeps its pace (its work is queued, or queues
		 * itself again); a new rate applies from its next read.
		 */
		/* Lifting a pending-limit allows as many again. */
		if (READ_ONCE(s->halt) == RM_SCAN_HALT_LIMIT)
			s->limit_base = READ_ONCE(s->found_bad);
		WRITE_ONCE(s->halt, RM_SCAN_RUN);
		if (!was_running) {
			s->next_at = ktime_get();
			mod_delayed_work(s->wq, &s->work, 0);
		}
	}
	mutex_unlock(&s->lock);
}

void rm_scan_save(struct rm_scan *s)
{
	mutex_lock(&s->lock);
	cancel_delayed_work_sync(&s->work);
	scan_save(s);
	if (scan_running(s))
		queue_delayed_work(s->wq, &s->work, 0);
	mutex_unlock(&s->lock);
}

const char *rm_scan_state(struct rm_scan *s)
{
	if (!READ_ONCE(s->enabled))
		return "off";
	if (READ_ONCE(s->halt) != RM_SCAN_RUN)
		return "halted";
	return READ_ONCE(s->active) ? "running" : "paused";
}

const char *rm_scan_halt_reason(struct rm_scan *s)
{
	switch (READ_ONCE(s->halt)) {
	case RM_SCAN_HALT_UNREACHABLE:
		return "main-unreachable";
	case RM_SCAN_HALT_LIMIT:
		return "pending-limit";
	case RM_SCAN_HALT_RESERVE:
		return "table-reserve";
	case RM_SCAN_HALT_MODE:
		return "mode";
	case RM_SCAN_HALT_SAVE:
		return "save-failed";
	default:
		return "none";
	}
}

unsigned int rm_scan_progress(struct rm_scan *s)
{
	u64 cursor = READ_ONCE(s->cursor);

	if (!s->units)
		return 100;
	return div64_u64(min(cursor, s->units) * 100, s->units);
}
