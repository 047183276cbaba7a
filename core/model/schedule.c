#include "config.h"

/*
 * schedule.c — cron expressions, next run times in an IANA zone, and the
 * ISO 8601 times around them.  The semantics are in schedule.h.
 *
 * How a next time is found.  We walk *local wall-clock* minutes forward from
 * the local time of `after`, skipping whole months, days and hours whose
 * field does not match (so even "0 0 30 2 *" costs a few hundred cheap
 * iterations, never a minute-by-minute scan).  Each matching local minute is
 * then turned into an instant: the earliest instant that shows that wall
 * time (first occurrence of a repeated time), or, when no instant shows it
 * (a spring-forward gap), the first instant after the gap.  That mapping
 * never goes backwards as the wall time grows, so the first candidate whose
 * instant is strictly after `after` is the answer; gap minutes and the
 * minute at the gap's end all map to the same instant and so collapse into
 * one run, and the second occurrence of a repeated time is never produced.
 *
 * How a zone is consulted.  glibc has no per-zone conversion API, only the
 * process's zone, which it reads from TZ.  So the functions that need a
 * zone take a lock, point TZ at the zone file, call tzset(), use
 * localtime_r(), and put TZ back.  A hand-written TZif and POSIX-TZ-rule
 * reader would avoid the global, but it is several hundred lines to get
 * right against a lock that is held for microseconds.  The price is written
 * in schedule.h: other threads may glimpse the zone or race the setenv().
 */

#include "model/schedule.h"

#include "samspor-plugin.h"
#include "base/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Unix times of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years
 * four-digit ISO 8601 can write, and far inside what localtime_r handles. */
#define SP_TIME_MIN INT64_C(-62135596800)
#define SP_TIME_MAX INT64_C(253402300799)

struct sp_schedule {
  uint64_t minute; /* bit m set: runs at minute m (0-59) */
  uint32_t hour;   /* bit h: hour h (0-23) */
  uint32_t dom;    /* bit d: day of month d (1-31) */
  uint16_t month;  /* bit m: month m (1-12) */
  uint8_t dow;     /* bit d: day of week d (0-6, 0 = Sunday; 7 folded in) */
  bool dom_star;   /* day-of-month text starts with '*' (Vixie DOM_STAR) */
  bool dow_star;   /* day-of-week text starts with '*' (Vixie DOW_STAR) */
  char *text;      /* canonical text for summaries; owned */
};

/* ---- messages ----------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...) SP_PRINTF(3, 4);

/* Write a message to err (if any) and return SAMSPOR_EINVAL. */
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return SAMSPOR_EINVAL;
}

/*
 * Quote n bytes of user text for a message: between single quotes, bytes
 * outside printable ASCII as \xNN, cut after 24 bytes with "...".  Config
 * values end up in logs and terminals, so control bytes must not pass.
 */
static void quote(char *dst, size_t dstlen, const char *s, size_t n) {
  sp_buf b;
  sp_buf_init(&b);
  sp_buf_putc(&b, '\'');
  for (size_t i = 0; i < n && i < 24; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
      sp_buf_putc(&b, (char)c);
    else
      sp_buf_printf(&b, "\\x%02x", c);
  }
  if (n > 24)
    sp_buf_puts(&b, "...");
  sp_buf_putc(&b, '\'');
  snprintf(dst, dstlen, "%s", b.data);
  sp_buf_free(&b);
}

/* ---- calendar arithmetic (proleptic Gregorian, no zones) ---------------- */

/* Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Day of week of a day number from days_from_civil(); 0 = Sunday. */
static int weekday(int64_t days) {
  int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
  return (int)(w < 0 ? w + 7 : w);
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* ---- parsing ------------------------------------------------------------ */

static const char *const month_names[] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed",
                                        "thu", "fri", "sat"};

typedef struct field_desc {
  const char *name;         /* for messages: "field 2 (hour)" */
  int min, max;             /* accepted values; day-of-week allows 7 */
  const char *const *names; /* three-letter names, or NULL */
  int nnames;               /* entries in names */
  int name_base;            /* value of names[0] */
  const char *names_hint;   /* "jan-dec" for messages */
} field_desc;

static const field_desc fields[5] = {
    {"minute", 0, 59, NULL, 0, 0, NULL},
    {"hour", 0, 23, NULL, 0, 0, NULL},
    {"day-of-month", 1, 31, NULL, 0, 0, NULL},
    {"month", 1, 12, month_names, 12, 1, "jan-dec"},
    {"day-of-week", 0, 7, day_names, 7, 0, "sun-sat"},
};

static const struct {
  const char *name; /* without the '@' */
  const char *expr; /* what it stands for */
} shorthands[] = {
    {"hourly", "0 * * * *"},   {"daily", "0 0 * * *"},
    {"midnight", "0 0 * * *"}, {"nightly", "30 3 * * *"},
    {"weekly", "0 0 * * 0"},   {"monthly", "0 0 1 * *"},
    {"yearly", "0 0 1 1 *"},   {"annually", "0 0 1 1 *"},
};

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of n bytes of s with NUL-terminated word. */
static bool word_eq(const char *s, size_t n, const char *word) {
  size_t i = 0;
  for (; i < n && word[i]; i++)
    if (lower(s[i]) != word[i])
      return false;
  return i == n && word[i] == '\0';
}

/* One field being parsed: its text and where to report errors. */
typedef struct field_ctx {
  int index;            /* 0-4 */
  const field_desc *fd; /* fields[index] */
  const char *end;      /* one past the field's last byte */
  char *err;            /* message buffer (may be NULL) */
  size_t errlen;
} field_ctx;

/* Length of the rest of the current list item, for "found '...'". */
static size_t item_len(const field_ctx *fc, const char *p) {
  const char *q = p;
  while (q < fc->end && *q != ',')
    q++;
  return (size_t)(q - p);
}

static int field_fail(const field_ctx *fc, const char *fmt, ...)
    SP_PRINTF(2, 3);

/* "field N (name): <message>", returning SAMSPOR_EINVAL. */
static int field_fail(const field_ctx *fc, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fail(fc->err, fc->errlen, "field %d (%s): %s", fc->index + 1,
              fc->fd->name, msg);
}

/* Complain that a value was expected at p; `after` says where. */
static int expected_value(const field_ctx *fc, const char *p,
                          const char *after) {
  const char *what = fc->fd->names ? "a number or name" : "a number";
  size_t n = item_len(fc, p);
  if (n == 0)
    return field_fail(fc, "expected %s%s, found nothing", what, after);
  char q[128];
  quote(q, sizeof q, p, n);
  return field_fail(fc, "expected %s%s, found %s", what, after, q);
}

/*
 * Read a number or (month and day-of-week fields) a name at *pp, check it
 * against the field's range and advance *pp.  `after` finishes the phrase
 * "expected a number" in messages.
 */
static int parse_value(const field_ctx *fc, const char **pp, int *val,
                       const char *after) {
  const char *p = *pp;
  const field_desc *fd = fc->fd;
  if (p < fc->end && is_digit(*p)) {
    const char *start = p;
    long v = 0;
    /* Stop accumulating at 9 digits; the range check below refuses it. */
    while (p < fc->end && is_digit(*p)) {
      if (p - start < 9)
        v = v * 10 + (*p - '0');
      p++;
    }
    if (p - start > 9 || v < fd->min || v > fd->max) {
      char q[128];
      quote(q, sizeof q, start, (size_t)(p - start));
      /* The number itself without quotes reads better when it is short. */
      if (p - start <= 9)
        return field_fail(fc, "%ld is out of range %d-%d", v, fd->min, fd->max);
      return field_fail(fc, "%s is out of range %d-%d", q, fd->min, fd->max);
    }
    *val = (int)v;
    *pp = p;
    return 0;
  }
  if (p < fc->end && is_alpha(*p) && fd->names) {
    const char *start = p;
    while (p < fc->end && is_alpha(*p))
      p++;
    size_t n = (size_t)(p - start);
    for (int i = 0; i < fd->nnames; i++) {
      if (word_eq(start, n, fd->names[i])) {
        *val = fd->name_base + i;
        *pp = p;
        return 0;
      }
    }
    char q[128];
    quote(q, sizeof q, start, n);
    return field_fail(fc, "unknown %s name %s (use %s)",
                      fd->names == day_names ? "day" : "month", q,
                      fd->names_hint);
  }
  return expected_value(fc, p, after);
}

/*
 * Parse one field (a comma-separated list) from [p, fc->end) into *bits.
 */
static int parse_field(const field_ctx *fc, const char *p, uint64_t *bits) {
  const field_desc *fd = fc->fd;
  *bits = 0;
  for (;;) {
    int lo, hi, step = 1;
    int rc;
    if (p < fc->end && *p == '*') {
      lo = fd->min;
      hi = fd->max;
      p++;
    } else {
      if ((rc = parse_value(fc, &p, &lo, "")) < 0)
        return rc;
      hi = lo;
      if (p < fc->end && *p == '-') {
        p++;
        if ((rc = parse_value(fc, &p, &hi, " after '-'")) < 0)
          return rc;
        /* Sunday is 7 as well as 0, so "fri-sun" (5-0) means 5-7. */
        if (fd->names == day_names && hi == 0 && lo > 0)
          hi = 7;
        if (hi < lo) {
          /* Some crons wrap such ranges around; Vixie refuses them, and so
           * do we, but say what to write instead. */
          return field_fail(fc, "range %d-%d is reversed; write %d-%d,%d-%d",
                            lo, hi, lo, fd->max, fd->min, hi);
        }
      } else if (p < fc->end && *p == '/') {
        hi = fd->max; /* "a/n" means "a-max/n", as in cronie */
      }
    }
    if (p < fc->end && *p == '/') {
      p++;
      const char *start = p;
      long v = 0;
      while (p < fc->end && is_digit(*p)) {
        if (p - start < 9)
          v = v * 10 + (*p - '0');
        p++;
      }
      if (p == start)
        return expected_value(fc, p, " after '/'");
      /* A step wider than the field only ever hits its start: "*\/90" in
       * the minute field is somebody hoping for "every 90 minutes". */
      int smax = fd->max - fd->min;
      if (fd->names == day_names)
        smax = 6;
      if (p - start > 9 || v < 1 || v > smax) {
        if (p - start > 9)
          return field_fail(fc, "step is out of range 1-%d", smax);
        return field_fail(fc, "step %ld is out of range 1-%d", v, smax);
      }
      step = (int)v;
    }
    for (int v = lo; v <= hi; v += step)
      *bits |= UINT64_C(1) << v;
    if (p == fc->end)
      return 0;
    if (*p != ',') {
      char q[128];
      quote(q, sizeof q, p, item_len(fc, p));
      return field_fail(fc, "unexpected %s", q);
    }
    p++;
    if (p == fc->end || *p == ',')
      return field_fail(fc, "empty element in list");
  }
}

/* Parse exactly five fields from text into s (text and star flags). */
static int parse_fields(const char *text, sp_schedule *s, char *err,
                        size_t errlen) {
  const char *start[5], *end[5];
  int n = 0;
  const char *p = text;
  for (;;) {
    while (*p && is_space(*p))
      p++;
    if (!*p)
      break;
    const char *b = p;
    while (*p && !is_space(*p))
      p++;
    if (n < 5) {
      start[n] = b;
      end[n] = p;
    }
    n++;
  }
  if (n == 0)
    return fail(err, errlen, "empty schedule");
  if (n != 5)
    return fail(err, errlen, "expected 5 fields, found %d", n);

  uint64_t bits[5];
  for (int i = 0; i < 5; i++) {
    field_ctx fc = {i, &fields[i], end[i], err, errlen};
    int rc = parse_field(&fc, start[i], &bits[i]);
    if (rc < 0)
      return rc;
  }
  s->minute = bits[0];
  s->hour = (uint32_t)bits[1];
  s->dom = (uint32_t)bits[2];
  s->month = (uint16_t)bits[3];
  /* 7 is another name for Sunday. */
  s->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);
  s->dom_star = *start[2] == '*';
  s->dow_star = *start[4] == '*';
  return 0;
}

int sp_schedule_parse(const char *expr, sp_schedule **out, char *err,
                      size_t errlen) {
  if (err && errlen)
    err[0] = '\0';
  if (!out)
    return fail(err, errlen, "no place to store the schedule");
  *out = NULL;
  if (!expr)
    return fail(err, errlen, "empty schedule");

  const char *p = expr;
  while (*p && is_space(*p))
    p++;
  size_t n = strlen(p);
  while (n > 0 && is_space(p[n - 1]))
    n--;

  sp_schedule *s = sp_xcalloc(1, sizeof *s);
  int rc;
  if (n > 0 && *p == '@') {
    size_t w = 1;
    while (w < n && !is_space(p[w]))
      w++;
    char q[128];
    quote(q, sizeof q, p, w);
    size_t i = 0;
    while (i < SP_ARRAY_LEN(shorthands) &&
           !word_eq(p + 1, w - 1, shorthands[i].name))
      i++;
    if (w < n) {
      size_t r = w;
      while (is_space(p[r]))
        r++;
      char q2[128];
      quote(q2, sizeof q2, p + r, n - r);
      rc = fail(err, errlen, "unexpected %s after %s", q2, q);
    } else if (word_eq(p + 1, w - 1, "reboot")) {
      rc = fail(err, errlen,
                "'@reboot' is not supported: samspor runs "
                "schedules by the clock, not at start-up");
    } else if (i == SP_ARRAY_LEN(shorthands)) {
      rc = fail(err, errlen,
                "unknown shorthand %s (valid: @hourly @daily @midnight "
                "@nightly @weekly @monthly @yearly @annually)",
                q);
    } else {
      rc = parse_fields(shorthands[i].expr, s, err, errlen);
      if (rc == 0)
        s->text =
            sp_xasprintf("@%s (%s)", shorthands[i].name, shorthands[i].expr);
    }
  } else {
    rc = parse_fields(p, s, err, errlen);
    if (rc == 0) {
      /* Canonical text: the fields as written, one space apart. */
      sp_buf b;
      sp_buf_init(&b);
      const char *q = p, *end = p + n;
      while (q < end) {
        while (q < end && is_space(*q))
          q++;
        const char *f = q;
        while (q < end && !is_space(*q))
          q++;
        if (b.len)
          sp_buf_putc(&b, ' ');
        sp_buf_append(&b, f, (size_t)(q - f));
      }
      s->text = b.data;
    }
  }
  if (rc < 0) {
    sp_schedule_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void sp_schedule_free(sp_schedule *s) {
  if (!s)
    return;
  free(s->text);
  free(s);
}

const char *sp_schedule_text(const sp_schedule *s) {
  return s ? s->text : NULL;
}

/* Whether the calendar day y-m-d matches the day fields (Vixie's rule). */
static bool day_matches(const sp_schedule *s, int64_t y, int m, int d) {
  bool dom = (s->dom >> d) & 1;
  bool dow = (s->dow >> weekday(days_from_civil(y, m, d))) & 1;
  if (s->dom_star || s->dow_star)
    return dom && dow;
  return dom || dow;
}

int sp_schedule_match(const sp_schedule *s, const struct tm *tm) {
  if (!s || !tm)
    return 0;
  int64_t y = (int64_t)tm->tm_year + 1900;
  int m = tm->tm_mon + 1;
  if (m < 1 || m > 12 || tm->tm_mday < 1 || tm->tm_mday > days_in_month(y, m) ||
      tm->tm_hour < 0 || tm->tm_hour > 23 || tm->tm_min < 0 || tm->tm_min > 59)
    return 0;
  return ((s->month >> m) & 1) && ((s->hour >> tm->tm_hour) & 1) &&
         ((s->minute >> tm->tm_min) & 1) && day_matches(s, y, m, tm->tm_mday);
}

/* ---- zones -------------------------------------------------------------- */

int sp_tz_valid(const char *tz) {
  if (!tz || !*tz || tz[0] == '/' || strlen(tz) > 200)
    return 0;
  /* Zone names are ASCII letters, digits, '_', '-', '+' and '/'. */
  for (const char *p = tz; *p; p++)
    if (!is_alpha(*p) && !is_digit(*p) && !strchr("_-+/", *p))
      return 0;
  if (strstr(tz, "..") || strstr(tz, "//") || strncmp(tz, "right/", 6) == 0)
    return 0;
  char path[sizeof SP_ZONEINFO_DIR + 256];
  snprintf(path, sizeof path, "%s/%s", SP_ZONEINFO_DIR, tz);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  /* A regular file that starts like a zone file; zone.tab, tzdata.zi and
   * the directories are not zones. */
  struct stat st;
  char magic[4];
  int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
           read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
  close(fd);
  return ok;
}

/*
 * The lock around TZ.  File-scope because TZ itself is process-wide: the
 * lock must be too.  Never held across anything but tzset/localtime_r.
 */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* What tz_enter() replaced, for tz_leave(). */
typedef struct tz_saved {
  char *value; /* previous TZ (owned copy), or NULL when it was unset */
} tz_saved;

/*
 * Lock and make tz (already validated) the process's zone.  The full path
 * keeps glibc on the very file sp_tz_valid() checked, whatever TZDIR says.
 */
static void tz_enter(const char *tz, tz_saved *saved) {
  char value[sizeof SP_ZONEINFO_DIR + 256];
  snprintf(value, sizeof value, ":%s/%s", SP_ZONEINFO_DIR, tz);
  pthread_mutex_lock(&tz_lock);
  const char *old = getenv("TZ");
  saved->value = old ? sp_xstrdup(old) : NULL;
  if (!old || strcmp(old, value) != 0)
    setenv("TZ", value, 1);
  tzset();
}

/* Put TZ back as tz_enter() found it, and unlock. */
static void tz_leave(tz_saved *saved) {
  const char *now = getenv("TZ");
  if (!saved->value)
    unsetenv("TZ");
  else if (!now || strcmp(now, saved->value) != 0)
    setenv("TZ", saved->value, 1);
  tzset();
  pthread_mutex_unlock(&tz_lock);
  free(saved->value);
  saved->value = NULL;
}

/* UTC offset in seconds at instant t in the current zone. */
static bool offset_at(int64_t t, long *off) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (!localtime_r(&tt, &tm))
    return false;
  *off = tm.tm_gmtoff;
  return true;
}

/*
 * The instant for local wall time `wall` (seconds since 1970-01-01T00:00 on
 * the local calendar) in the current zone: the earliest instant showing
 * that wall time, or, inside a gap, the first instant after it.  False only
 * if localtime_r fails or the zone's offsets are not as expected.
 */
static bool local_to_instant(int64_t wall, int64_t *out) {
  /* The offsets in force around `wall`.  One day either side spans any
   * transition that could involve it: no zone shifts more than a day. */
  long cand[3];
  if (!offset_at(wall - 86400, &cand[0]) || !offset_at(wall, &cand[1]) ||
      !offset_at(wall + 86400, &cand[2]))
    return false;
  bool found = false;
  int64_t best = 0;
  for (int i = 0; i < 3; i++) {
    long off;
    int64_t t = wall - cand[i];
    if (offset_at(t, &off) && off == cand[i] && (!found || t < best)) {
      best = t;
      found = true;
    }
  }
  if (found) {
    *out = best;
    return true;
  }
  /* A gap: the wall time reads below `wall` before the transition and above
   * it after.  Binary search for the first instant reading above it. */
  long omin = cand[0], omax = cand[0];
  for (int i = 1; i < 3; i++) {
    omin = cand[i] < omin ? cand[i] : omin;
    omax = cand[i] > omax ? cand[i] : omax;
  }
  int64_t lo = wall - omax, hi = wall - omin;
  long off;
  if (!offset_at(lo, &off) || lo + off > wall || !offset_at(hi, &off) ||
      hi + off <= wall)
    return false;
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (!offset_at(mid, &off))
      return false;
    if (mid + off > wall)
      hi = mid;
    else
      lo = mid;
  }
  *out = hi;
  return true;
}

/* First set bit of mask at or above `from`, or -1. */
static int next_bit(uint64_t mask, int from) {
  if (from > 63)
    return -1;
  mask &= ~UINT64_C(0) << from;
  return mask ? __builtin_ctzll(mask) : -1;
}

/* The search itself; called with the zone entered. */
static int next_locked(const sp_schedule *s, int64_t after, int64_t *next) {
  time_t ta = (time_t)after;
  struct tm tm;
  if (!localtime_r(&ta, &tm))
    return SAMSPOR_EINVAL;
  int64_t y = (int64_t)tm.tm_year + 1900;
  int mon = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour, mi = tm.tm_min;
  int64_t limit = y + SP_SCHEDULE_HORIZON_YEARS;
  if (limit > 9999)
    limit = 9999;

  /* Start at the minute of `after` itself: a candidate at or before
   * `after` is simply passed over by the comparison below. */
  for (;;) {
    if (y > limit)
      return SAMSPOR_ENOENT;
    if (!((s->month >> mon) & 1) || d > days_in_month(y, mon)) {
      int nm = next_bit(s->month, mon + 1);
      if (nm < 0 || nm > 12) {
        y++;
        nm = next_bit(s->month, 1);
      }
      mon = nm;
      d = 1;
      h = mi = 0;
      continue;
    }
    if (!day_matches(s, y, mon, d)) {
      d++;
      h = mi = 0;
      continue;
    }
    int nh = next_bit(s->hour, h);
    if (nh < 0) {
      d++;
      h = mi = 0;
      continue;
    }
    if (nh != h) {
      h = nh;
      mi = 0;
    }
    int nmi = next_bit(s->minute, mi);
    if (nmi < 0 || nmi > 59) {
      mi = 0;
      if (++h > 23) {
        h = 0;
        d++;
      }
      continue;
    }
    mi = nmi;
    int64_t wall = days_from_civil(y, mon, d) * 86400 + h * 3600 + mi * 60;
    int64_t t;
    if (local_to_instant(wall, &t) && t > after) {
      /* Keep within what sp_time_format() can write. */
      if (t > SP_TIME_MAX)
        return SAMSPOR_ENOENT;
      *next = t;
      return 0;
    }
    if (++mi > 59) {
      mi = 0;
      if (++h > 23) {
        h = 0;
        d++;
      }
    }
  }
}

int sp_schedule_next(const sp_schedule *s, const char *tz, time_t after,
                     time_t *next) {
  if (!s || !next)
    return SAMSPOR_EINVAL;
  if (!tz)
    tz = SP_DEFAULT_TZ;
  if (!sp_tz_valid(tz) || (int64_t)after < SP_TIME_MIN ||
      (int64_t)after > SP_TIME_MAX)
    return SAMSPOR_EINVAL;
  /* A parsed schedule always has at least one bit in every field. */
  tz_saved saved;
  int64_t t = 0;
  tz_enter(tz, &saved);
  int rc = next_locked(s, (int64_t)after, &t);
  tz_leave(&saved);
  if (rc == 0)
    *next = (time_t)t;
  return rc;
}

/* ---- ISO 8601 ----------------------------------------------------------- */

int sp_time_format(time_t t, const char *tz, char *buf, size_t len) {
  if (!buf || len == 0)
    return SAMSPOR_EINVAL;
  buf[0] = '\0';
  if (!tz)
    tz = SP_DEFAULT_TZ;
  if (!sp_tz_valid(tz) || (int64_t)t < SP_TIME_MIN || (int64_t)t > SP_TIME_MAX)
    return SAMSPOR_EINVAL;
  tz_saved saved;
  struct tm tm;
  tz_enter(tz, &saved);
  bool ok = localtime_r(&t, &tm) != NULL;
  tz_leave(&saved);
  if (!ok)
    return SAMSPOR_EINVAL;

  long off = tm.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  long a = off < 0 ? -off : off;
  char secs[8] = "";
  if (a % 60)
    snprintf(secs, sizeof secs, ":%02ld", a % 60);
  int n = snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld%s",
                   (long long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, sign, a / 3600,
                   a / 60 % 60, secs);
  if (n < 0 || (size_t)n >= len) {
    buf[0] = '\0';
    return SAMSPOR_EINVAL;
  }
  return 0;
}

/* Skip the character c at *pp; false (and *pp unmoved) if it is not there. */
static bool skip(const char **pp, char c) {
  if (**pp != c)
    return false;
  (*pp)++;
  return true;
}

/* Read exactly n digits at *pp into *v and advance; false if not digits. */
static bool digits(const char **pp, int n, int *v) {
  const char *p = *pp;
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(p[i]))
      return false;
    x = x * 10 + (p[i] - '0');
  }
  *v = x;
  *pp = p + n;
  return true;
}

int sp_time_parse(const char *s, const char *tz, time_t *out) {
  if (!s || !out)
    return SAMSPOR_EINVAL;
  if (!tz)
    tz = SP_DEFAULT_TZ;
  /* Checked even when s carries its own offset, so a bad --tz is reported
   * whatever --from looks like. */
  if (!sp_tz_valid(tz))
    return SAMSPOR_EINVAL;

  const char *p = s;
  int y, mon, d, h = 0, mi = 0, sec = 0;
  if (!digits(&p, 4, &y) || !skip(&p, '-') || !digits(&p, 2, &mon) ||
      !skip(&p, '-') || !digits(&p, 2, &d))
    return SAMSPOR_EINVAL;
  if (y < 1 || mon < 1 || mon > 12 || d < 1 || d > days_in_month(y, mon))
    return SAMSPOR_EINVAL;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (!digits(&p, 2, &h) || !skip(&p, ':') || !digits(&p, 2, &mi))
      return SAMSPOR_EINVAL;
    if (*p == ':') {
      p++;
      if (!digits(&p, 2, &sec))
        return SAMSPOR_EINVAL;
    }
    /* No leap seconds: unix time has none to give them. */
    if (h > 23 || mi > 59 || sec > 59)
      return SAMSPOR_EINVAL;
  }
  int64_t wall = days_from_civil(y, mon, d) * 86400 + h * 3600 + mi * 60 + sec;

  int64_t t;
  if (*p == '\0') {
    tz_saved saved;
    tz_enter(tz, &saved);
    bool ok = local_to_instant(wall, &t);
    tz_leave(&saved);
    if (!ok)
      return SAMSPOR_EINVAL;
  } else if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
    t = wall;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    int oh, om = 0, os = 0;
    if (!digits(&p, 2, &oh))
      return SAMSPOR_EINVAL;
    if (*p == ':') {
      p++;
      if (!digits(&p, 2, &om))
        return SAMSPOR_EINVAL;
      /* Seconds, as sp_time_format() writes for local mean time. */
      if (*p == ':') {
        p++;
        if (!digits(&p, 2, &os))
          return SAMSPOR_EINVAL;
      }
    } else if (is_digit(*p) && !digits(&p, 2, &om)) {
      return SAMSPOR_EINVAL;
    }
    if (*p != '\0' || oh > 23 || om > 59 || os > 59)
      return SAMSPOR_EINVAL;
    t = wall - sign * (oh * 3600 + om * 60 + os);
  } else {
    return SAMSPOR_EINVAL;
  }
  if (t < SP_TIME_MIN || t > SP_TIME_MAX)
    return SAMSPOR_EINVAL;
  *out = (time_t)t;
  return 0;
}
