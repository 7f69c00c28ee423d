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

#define RM_SCAN_CHUNK_SECTORS 256u /* 128 KiB per read */
#define RM_SCAN_BUSY_FACTOR 8	   /* slow-down while foreground I/O flows */
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

#ifdef RM_DM_IO_HAS_IOPRIO
	r = dm_io(&req, 1, &region, &error_bits,
		  IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0));
#else
	r = dm_io(&req, 1, &region, &error_bits);
#endif
	return r ? r : (error_bits ? -EIO : 0);
}

static bool scan_running(struct rm_scan *s)
{
	return READ_ONCE(s->enabled) && READ_ONCE(s->active);
}

/* Persists the cursor when it moved. Caller: the work, or with it stopped. */
static void scan_save(struct rm_scan *s)
{
	const u64 cursor = READ_ONCE(s->cursor);
	const u64 pass = READ_ONCE(s->pass);

	s->saved_at = jiffies;
	if (cursor == s->saved_cursor && pass == s->saved_pass)
		return;
	s->ops->save(s->ctx, cursor, pass);
	s->saved_cursor = cursor;
	s->saved_pass = pass;
}

/* Checks the units of a chunk one by one; returns how many were done. */
static u64 scan_check_units(struct rm_scan *s, u64 first, u64 n,
			    unsigned int slow_ms)
{
	u64 i;

	for (i = 0; i < n && scan_running(s); i++) {
		switch (s->ops->check_unit(s->ctx, first + i, slow_ms)) {
		case RM_SCAN_WEAK:
			WRITE_ONCE(s->found_weak, s->found_weak + 1);
			break;
		case RM_SCAN_BAD:
			WRITE_ONCE(s->found_bad, s->found_bad + 1);
			break;
		default:
			break;
		}
	}
	return i;
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
	u64 u, n, act, ns;
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

	t0 = ktime_get();
	r = scan_read(s, start, count);
	ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	if (r || ns > (u64)slow_ms * NSEC_PER_MSEC)
		n = scan_check_units(s, u, n, slow_ms);

	WRITE_ONCE(s->cursor, u + n);
	if (u + n >= s->units) {
		/* A pass is complete: its findings become the last pass's. */
		WRITE_ONCE(s->last_bad, s->found_bad);
		WRITE_ONCE(s->last_weak, s->found_weak);
		WRITE_ONCE(s->found_bad, 0);
		WRITE_ONCE(s->found_weak, 0);
		WRITE_ONCE(s->cursor, 0);
		WRITE_ONCE(s->pass, s->pass + 1);
		scan_save(s);
	} else if (time_after(jiffies, s->saved_at + RM_SCAN_SAVE_INTERVAL)) {
		scan_save(s);
	}

	/* Pace: `count` sectors at `rate` MiB/s, slower under foreground I/O. */
	ns = div_u64(((u64)count << SECTOR_SHIFT) * NSEC_PER_SEC,
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
	mutex_lock(&s->lock);
	if (rate)
		WRITE_ONCE(s->rate, rate);
	WRITE_ONCE(s->enabled, enable);
	if (!enable) {
		cancel_delayed_work_sync(&s->work);
		if (s->active)
			scan_save(s);
	} else if (s->active) {
		s->next_at = ktime_get();
		mod_delayed_work(s->wq, &s->work, 0);
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
	return READ_ONCE(s->active) ? "running" : "paused";
}

unsigned int rm_scan_progress(struct rm_scan *s)
{
	u64 cursor = READ_ONCE(s->cursor);

	if (!s->units)
		return 100;
	return div64_u64(min(cursor, s->units) * 100, s->units);
}
