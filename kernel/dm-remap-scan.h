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
#define RM_SCAN_CHUNK_SECTORS 256u /* 128 KiB per read */

/* What the target found when it checked one unit. */
enum rm_scan_verdict {
	RM_SCAN_GOOD,	    /* read at the first attempt, in time */
	RM_SCAN_KNOWN,	    /* already remapped or pending */
	RM_SCAN_WEAK,	    /* slow or needed a retry: copied and remapped */
	RM_SCAN_BAD,	    /* unreadable: recorded as pending */
	RM_SCAN_FAILED,	    /* found something but could not record it */
	RM_SCAN_UNREADABLE, /* unreadable, nothing recorded yet */
	RM_SCAN_OUTAGE,	    /* a unit that read before fails now */
	RM_SCAN_RESERVE,    /* the table's reserve for writes is reached */
};

/* Why the scan halted (state "halted") until "scan start" or a resume. */
enum rm_scan_halt {
	RM_SCAN_RUN,		  /* not halted */
	RM_SCAN_HALT_UNREACHABLE, /* main fails reads wholesale */
	RM_SCAN_HALT_LIMIT,	  /* a pass's pending limit is reached */
	RM_SCAN_HALT_RESERVE,	  /* the table's reserve for writes */
	RM_SCAN_HALT_MODE,	  /* the mode forbids recording findings */
	RM_SCAN_HALT_SAVE,	  /* the cursor could not be saved */
};

/* The most pending entries one pass records before it halts. */
#define RM_SCAN_MAX_PENDING 256

struct rm_scan_ops {
	/*
	 * Checks unit u on the worker; `slow_ms` is the threshold. Records a
	 * weak unit; an unreadable one only returns RM_SCAN_UNREADABLE.
	 */
	enum rm_scan_verdict (*check_unit)(void *ctx, u64 u,
					   unsigned int slow_ms);
	/*
	 * Records unreadable unit u as pending after reading u once more and
	 * then unit `probe`, which read before: RM_SCAN_GOOD when u reads
	 * now, RM_SCAN_OUTAGE when the probe fails.
	 */
	enum rm_scan_verdict (*record_bad)(void *ctx, u64 u, u64 probe);
	/* Persists the cursor (a superblock write on the worker); 0 or -errno. */
	int (*save)(void *ctx, u64 cursor, u64 pass);
	/* Foreground bios mapped so far: a change means I/O is flowing. */
	u64 (*activity)(void *ctx);
	/* The scan halted: log it and raise a dm event. */
	void (*halted)(void *ctx, enum rm_scan_halt why, u64 unit);
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
	enum rm_scan_halt halt; /* set by the work, cleared by start/resume */

	/* Progress; written by the scan work, read by status. */
	u64 cursor;
	u64 pass;
	u64 found_bad;	/* this pass */
	u64 found_weak; /* this pass */
	u64 limit_base; /* found_bad when "scan start" lifted a pending-limit */
	u64 last_bad;	/* the last complete pass */
	u64 last_weak;
	u64 saved_cursor;
	u64 saved_pass;
	u64 seen_activity;
	u64 good_unit; /* a unit that read (U64_MAX: none yet) */
	DECLARE_BITMAP(unreadable, RM_SCAN_CHUNK_SECTORS); /* in this chunk */
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
/*
 * "off", "running", "paused" (enabled while the device is suspended) or
 * "halted" (rm_scan_halt_reason() says why).
 */
const char *rm_scan_state(struct rm_scan *s);
const char *rm_scan_halt_reason(struct rm_scan *s);
unsigned int rm_scan_progress(struct rm_scan *s); /* percent of this pass */

#endif /* DM_REMAP_SCAN_H */
