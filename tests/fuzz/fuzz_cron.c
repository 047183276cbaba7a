#include "config.h"

/*
 * fuzz_cron.c — libFuzzer target for core/model/schedule.c.
 *
 * Input layout: byte 0 picks a zone, bytes 1-4 a starting time (spread
 * over 2020-2040 so DST changes come up often), the rest is the text,
 * parsed both as a cron expression and as an ISO 8601 time.  Schedules
 * config files hold are short, so inputs are capped at 256 bytes.
 *
 * Beyond "no crash, no sanitizer report", it checks what callers rely on:
 * a failed parse leaves *out NULL with a non-empty message; next times
 * strictly increase; every next time formats and reads back unchanged; and
 * the wall time of a run matches the schedule, unless the run ends a DST
 * gap (then the offset just changed).
 *
 * Build: clang -fsanitize=fuzzer,address,undefined (see the report).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "samspor-plugin.h"
#include "model/schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {
    "Europe/Copenhagen", "UTC",
    "America/New_York",  "Australia/Lord_Howe",
    "Pacific/Apia",      "Asia/Kolkata",
    "Europe/Dublin",     "America/Santiago",
};

/* Abort with a message libFuzzer will show next to the input. */
static void check(int ok, const char *what, const char *text) {
  if (!ok) {
    fprintf(stderr, "fuzz_cron: %s (input '%s')\n", what, text);
    abort();
  }
}

/* The local wall time of t in tz, via the module's own formatter. */
static int wall_of(time_t t, const char *tz, struct tm *tm, char *buf) {
  if (sp_time_format(t, tz, buf, SP_TIME_BUFLEN) != 0)
    return -1;
  memset(tm, 0, sizeof *tm);
  if (sscanf(buf, "%4d-%2d-%2dT%2d:%2d", &tm->tm_year, &tm->tm_mon,
             &tm->tm_mday, &tm->tm_hour, &tm->tm_min) != 5)
    return -1;
  tm->tm_year -= 1900;
  tm->tm_mon -= 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5 || size > 256)
    return 0;
  const char *tz = zones[data[0] % (sizeof zones / sizeof zones[0])];
  uint32_t r = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
               (uint32_t)data[3] << 8 | data[4];
  /* 2020-01-01 plus up to ~20 years, with seconds. */
  time_t start = (time_t)1577836800 + (time_t)(r % (20u * 366u * 86400u));

  char *text = malloc(size - 5 + 1);
  memcpy(text, data + 5, size - 5);
  text[size - 5] = '\0';

  sp_schedule *s = (sp_schedule *)&s;
  char err[256] = "";
  int rc = sp_schedule_parse(text, &s, err, sizeof err);
  if (rc != 0) {
    check(rc == SAMSPOR_EINVAL, "parse returned an odd code", text);
    check(s == NULL, "failed parse left *out set", text);
    check(err[0] != '\0', "failed parse without message", text);
  } else {
    check(s != NULL && sp_schedule_text(s) != NULL, "no schedule text", text);
    /* The canonical text parses to the same schedule text. */
    const char *canon = sp_schedule_text(s);
    if (canon[0] != '@') {
      sp_schedule *s2 = NULL;
      check(sp_schedule_parse(canon, &s2, err, sizeof err) == 0,
            "canonical text does not parse", text);
      check(strcmp(sp_schedule_text(s2), canon) == 0,
            "canonical text not stable", text);
      sp_schedule_free(s2);
    }
    time_t t = start;
    for (int i = 0; i < 4; i++) {
      time_t next;
      rc = sp_schedule_next(s, tz, t, &next);
      if (rc == SAMSPOR_ENOENT)
        break;
      check(rc == 0, "next failed", text);
      check(next > t, "next not after", text);

      char buf[SP_TIME_BUFLEN];
      struct tm tm;
      check(wall_of(next, tz, &tm, buf) == 0, "next does not format", text);
      time_t back;
      check(sp_time_parse(buf, tz, &back) == 0 && back == next,
            "formatted next does not read back", text);
      /* The run's wall time matches, unless the run ends a gap: then the
       * offset a minute earlier differs. */
      if (!sp_schedule_match(s, &tm)) {
        char before[SP_TIME_BUFLEN];
        check(sp_time_format(next - 60, tz, before, sizeof before) == 0 &&
                  strcmp(before + 19, buf + 19) != 0,
              "run at a non-matching wall time", text);
      }
      t = next;
    }
    sp_schedule_free(s);
  }

  /* The same bytes as a --from time. */
  time_t t;
  if (sp_time_parse(text, tz, &t) == 0) {
    char buf[SP_TIME_BUFLEN];
    check(sp_time_format(t, tz, buf, sizeof buf) == 0,
          "parsed time does not format", text);
  }
  (void)sp_tz_valid(text);
  free(text);
  return 0;
}
