/*
 * schedule.h — cron schedules: parse an expression, compute the next run in
 * an IANA time zone, and read and write the ISO 8601 times `samspor
 * schedule` prints and takes.
 *
 * Semantics (SPEC.md, "Schedules"):
 *
 *   - Five fields, minute hour day-of-month month day-of-week, each a list
 *     of `*`, `n`, `a-b`, `*\/n`, `a-b/n` and `a/n` (= `a-max/n`, as
 *     cronie reads it).  Steps run 1 to the field's width (`*\/90` in the
 *     minute field is refused, not run hourly).  Months may be named
 *     jan-dec, days sun-sat (case-insensitive, three letters); 0 and 7 are
 *     both Sunday, and a range ending in `sun` ends at 7, so `fri-sun`
 *     works.  Ranges do not wrap: `22-2` is refused with a hint.
 *   - Shorthands @hourly @daily @midnight @nightly (= 30 3 * * *) @weekly
 *     @monthly @yearly @annually.
 *   - Day-of-month and day-of-week, when both are restricted, are ORed (a
 *     day matching either runs), as in Vixie cron.  Also as in Vixie cron, a
 *     field whose text starts with `*` (including `*\/2`) counts as
 *     unrestricted for this rule, so "0 0 *\/2 * mon" runs on odd days that
 *     are Mondays.  We copy the quirk rather than fix it because people
 *     bring their crontab lines with them and expect them to mean the same.
 *   - Times are local wall-clock times of the zone.  A local time skipped by
 *     a spring-forward change runs at the first instant after the gap (all
 *     skipped minutes collapse into that one run); a local time repeated by
 *     an autumn change runs once, at its first occurrence.
 *
 * Threads: parsing is pure.  The functions that take a zone switch the
 * process's TZ under a lock (see schedule.c for why), so they are safe
 * against each other, but not against the rest of the process: while one
 * runs, localtime() in another thread sees that zone, and a getenv() in
 * another thread (libpq reads PG* variables) races the setenv().  With
 * glibc the dangerous part is adding or removing TZ, which may move the
 * environment array; replacing an existing value only swaps a pointer.  So
 * a threaded daemon sets TZ once at start-up, before any thread exists
 * (":/etc/localtime" keeps the system zone), and calls these functions
 * only from its loop thread.
 */
#ifndef SAMSPOR_SCHEDULE_H
#define SAMSPOR_SCHEDULE_H

#include <stddef.h>
#include <time.h>

/* The zone used when none is configured. */
#define SP_DEFAULT_TZ "Europe/Copenhagen"

/* Where zone files are looked up; configure may override it. */
#ifndef SP_ZONEINFO_DIR
#define SP_ZONEINFO_DIR "/usr/share/zoneinfo"
#endif

/*
 * How far ahead sp_schedule_next() searches before it gives up.  Eight
 * years, not five, so that "0 0 29 2 *" still finds 2104-02-29 from
 * 2096-03-01 (2100 is not a leap year).
 */
#define SP_SCHEDULE_HORIZON_YEARS 8

/* A buffer this large always holds what sp_time_format() writes. */
#define SP_TIME_BUFLEN 40

typedef struct sp_schedule sp_schedule;

/*
 * Parse a cron expression (five fields or an @shorthand; leading and
 * trailing white space is ignored).  Returns 0 and sets *out to a freshly
 * allocated schedule the caller frees with sp_schedule_free(); or
 * SAMSPOR_EINVAL, leaves *out NULL and writes a one-line message without a
 * trailing period to err (if err is not NULL), e.g.
 * "field 2 (hour): 25 is out of range 0-23".
 */
int sp_schedule_parse(const char *expr, sp_schedule **out, char *err,
                      size_t errlen);

/* Free a schedule from sp_schedule_parse(); NULL is fine. */
void sp_schedule_free(sp_schedule *s);

/*
 * The expression as canonical text for summaries: "@nightly (30 3 * * *)",
 * or the five fields separated by single spaces.  Borrowed: valid as long
 * as s is.
 */
const char *sp_schedule_text(const sp_schedule *s);

/*
 * Nonzero when the local wall-clock minute tm (tm_year, tm_mon, tm_mday,
 * tm_hour, tm_min; tm_wday is ignored and recomputed) matches the
 * schedule's fields.  Knows nothing of zones or DST; for tests and for
 * explaining a schedule.
 */
int sp_schedule_match(const sp_schedule *s, const struct tm *tm);

/*
 * The next run strictly after `after` (unix time) in IANA zone tz (NULL:
 * SP_DEFAULT_TZ).  Returns 0 and sets *next; SAMSPOR_EINVAL for an unknown
 * zone or an `after` outside years 1-9999; SAMSPOR_ENOENT when nothing
 * matches within SP_SCHEDULE_HORIZON_YEARS (e.g. "0 0 30 2 *").
 */
int sp_schedule_next(const sp_schedule *s, const char *tz, time_t after,
                     time_t *next);

/*
 * Write t as ISO 8601 with the zone's offset, "2027-03-28T03:00:00+02:00",
 * into buf (SP_TIME_BUFLEN bytes always suffice; an offset with seconds,
 * which only pre-1900 local mean times have, is written "+00:50:20").
 * tz NULL: SP_DEFAULT_TZ.  Returns 0, or SAMSPOR_EINVAL for an unknown zone,
 * a t outside years 1-9999 or a buffer too small.
 */
int sp_time_format(time_t t, const char *tz, char *buf, size_t len);

/*
 * Parse a time for `schedule --from`: "2027-03-28T01:00:00+01:00",
 * "2027-03-28T00:00:00Z", an offset without colon (+0100) or minutes
 * (+01), or a local time read in zone tz (NULL: SP_DEFAULT_TZ):
 * "2027-03-28T01:00", "2027-03-28 01:00:00", "2027-03-28" (midnight).  A
 * local time that a DST change repeats means its first occurrence; one it
 * skips means the first instant after the gap, as for schedules.  Returns
 * 0 and sets *out, or SAMSPOR_EINVAL (bad syntax, impossible date, unknown
 * zone).
 */
int sp_time_parse(const char *s, const char *tz, time_t *out);

/*
 * 1 if tz names a readable zone file (TZif) under SP_ZONEINFO_DIR, else 0.
 * Refuses names with "..", absolute paths, odd characters, and the right/
 * zones (they count leap seconds, which unix time does not).
 */
int sp_tz_valid(const char *tz);

#endif
