/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-remap background scan: reads the main device in unit order at a
 * bounded rate, as idle-priority I/O, and hands the units of a read that
 * failed or was slow to the target, which checks them one by one and
 * records them (docs/dm-remap.rst, "Background scan").
 */
#ifndef DM_REMAP_SCAN_H
#define DM_REMAP_SCAN_H

#include <linux/blkdev.h>
#include <linux/dm-io.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#define RM_SCAN_DEFAULT_RATE 4 /* MiB/s */
#define RM_SCAN_MAX_RATE 4096
#define RM_SCAN_DEFAULT_SLOW_MS 1000
#define RM_SCAN_MAX_SLOW_MS 600000

/* What the target found when it checked one unit. */
enum rm_scan_verdict {
	RM_SCAN_GOOD,	/* read at the first attempt, in time */
	RM_SCAN_KNOWN,	/* already remapped or pending */
	RM_SCAN_WEAK,	/* slow or needed a retry: copied and remapped */
	RM_SCAN_BAD,	/* unreadable: recorded as pending */
	RM_SCAN_FAILED, /* found something but could not record it */
};

struct rm_scan_ops {
	/* Checks unit u on the worker; `slow_ms` is the threshold. */
	enum rm_scan_verdict (*check_unit)(void *ctx, u64 u,
					   unsigned int slow_ms);
	/* Persists the cursor (a superblock write on the worker). */
	void (*save)(void *ctx, u64 cursor, u64 pass);
	/* Foreground bios mapped so far: a change means I/O is flowing. */
	u64 (*activity)(void *ctx);
};

struct rm_scan {
	const struct rm_scan_ops *ops;
	void *ctx;
	struct block_device *main;
	sector_t main_sectors;
	unsigned int unit_shift;
	u64 units;

	struct dm_io_client *io;
	struct workqueue_struct *wq;
	struct delayed_work work;
	void *buf;

	struct mutex lock; /* enabled, active and the rate settings */
	bool enabled;	   /* started by feature or message */
	bool active;	   /* the device is resumed */
	unsigned int rate; /* MiB/s */
	unsigned int slow_ms;

	/* Progress; written by the scan work, read by status. */
	u64 cursor;
	u64 pass;
	u64 found_bad;	/* this pass */
	u64 found_weak; /* this pass */
	u64 last_bad;	/* the last complete pass */
	u64 last_weak;
	u64 saved_cursor;
	u64 saved_pass;
	u64 seen_activity;
	unsigned long saved_at; /* jiffies of the last save */
	ktime_t next_at;	/* earliest start of the next read */
};

int rm_scan_init(struct rm_scan *s, const char *name);
void rm_scan_destroy(struct rm_scan *s);
/* The device resumed (active) or is about to suspend (inactive). */
void rm_scan_set_active(struct rm_scan *s, bool active);
/* Starts (rate > 0 sets it) or stops the scan; stopping saves the cursor. */
void rm_scan_enable(struct rm_scan *s, bool enable, unsigned int rate);
/* Saves the cursor now when it moved since the last save. */
void rm_scan_save(struct rm_scan *s);
/* "off", "running" or "paused" (enabled while the device is suspended). */
const char *rm_scan_state(struct rm_scan *s);
unsigned int rm_scan_progress(struct rm_scan *s); /* percent of this pass */

#endif /* DM_REMAP_SCAN_H */
