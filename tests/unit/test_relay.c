/*
 * Unit tests for core/load/relay.c: a plugin's read() on a thread of its
 * own.  A recording sink must see exactly what the plugin sent, in order
 * (records over many batches, fields that are NULL, empty or hold NUL
 * bytes, rejects between records, state, what open() and close() sent);
 * a stop from the sink must reach the plugin and nothing after it may be
 * delivered; and a slow plugin's records must arrive before it finishes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/util.h"
#include "load/relay.h"
#include "model/host.h"

/* Every call, written down the same way by the plugin (as it sends) and
 * by the sink (as it receives). */
static void note_str(sp_buf *b, const char *s, size_t n) {
  if (!s) {
    sp_buf_puts(b, "<null>");
    return;
  }
  sp_buf_printf(b, "%zu:", n);
  sp_buf_append(b, s, n);
}

typedef struct rec_sink {
  samspor_sink sink;
  sp_buf log;
  long long ends;    /* record_end calls */
  long long stop_at; /* record_end number that says stop (0: never) */
  int stop_code;
  atomic_int got_first; /* the first record arrived */
} rec_sink;

static int s_begin(samspor_sink *sk, const char *pos) {
  rec_sink *s = (rec_sink *)sk;
  sp_buf_puts(&s->log, "B");
  note_str(&s->log, pos, pos ? strlen(pos) : 0);
  return 0;
}

static void s_field(samspor_sink *sk, size_t i, const char *v, size_t n) {
  rec_sink *s = (rec_sink *)sk;
  sp_buf_printf(&s->log, "F%zu=", i);
  note_str(&s->log, v, n);
}

static int s_end(samspor_sink *sk) {
  rec_sink *s = (rec_sink *)sk;
  sp_buf_puts(&s->log, "E;");
  s->ends++;
  atomic_store(&s->got_first, 1);
  return s->stop_at && s->ends == s->stop_at ? s->stop_code : 0;
}

static int s_reject(samspor_sink *sk, const char *pos, const char *reason,
                    const char *msg) {
  rec_sink *s = (rec_sink *)sk;
  sp_buf_puts(&s->log, "R");
  note_str(&s->log, pos, pos ? strlen(pos) : 0);
  note_str(&s->log, reason, reason ? strlen(reason) : 0);
  note_str(&s->log, msg, msg ? strlen(msg) : 0);
  sp_buf_puts(&s->log, ";");
  return 0;
}

static void s_state(samspor_sink *sk, const char *state) {
  rec_sink *s = (rec_sink *)sk;
  sp_buf_puts(&s->log, "S");
  note_str(&s->log, state, state ? strlen(state) : 0);
}

static void rec_init(rec_sink *s) {
  memset(s, 0, sizeof *s);
  s->sink.record_begin = s_begin;
  s->sink.field = s_field;
  s->sink.record_end = s_end;
  s->sink.reject = s_reject;
  s->sink.set_state = s_state;
  sp_buf_init(&s->log);
}

/* The plugin: what it sent, written down as the sink would. */
typedef struct plugin {
  samspor_sink *sink; /* the relay's */
  sp_buf sent;
  long long records;
  int slow;        /* pause after record 1, then wait for the sink to see it */
  rec_sink *watch; /* with slow: the sink to wait for */
  int waited_out;  /* with slow: gave up waiting */
  long long calls_after_stop;
} plugin;

static int p_begin(plugin *p, const char *pos) {
  sp_buf_puts(&p->sent, "B");
  note_str(&p->sent, pos, strlen(pos));
  return p->sink->record_begin(p->sink, pos);
}

static void p_field(plugin *p, size_t i, const char *v, size_t n) {
  sp_buf_printf(&p->sent, "F%zu=", i);
  note_str(&p->sent, v, n);
  p->sink->field(p->sink, i, v, n);
}

static int p_end(plugin *p) {
  sp_buf_puts(&p->sent, "E;");
  return p->sink->record_end(p->sink);
}

static int p_reject(plugin *p, const char *pos) {
  sp_buf_puts(&p->sent, "R");
  note_str(&p->sent, pos, strlen(pos));
  note_str(&p->sent, "field_count", 11);
  note_str(&p->sent, NULL, 0);
  sp_buf_puts(&p->sent, ";");
  return p->sink->reject(p->sink, pos, "field_count", NULL);
}

static int plugin_read(void *h) {
  plugin *p = h;
  char pos[64], val[64];
  for (long long k = 0; k < p->records; k++) {
    snprintf(pos, sizeof pos, "file.csv:%lld", k + 2);
    int rc;
    if (k % 97 == 5) {
      if ((rc = p_reject(p, pos)) != 0)
        return rc;
      continue;
    }
    if ((rc = p_begin(p, pos)) != 0)
      return rc;
    int n = snprintf(val, sizeof val, "value %lld", k * 7919);
    p_field(p, 0, val, (size_t)n);
    p_field(p, 1, k % 3 ? "" : NULL, 0); /* empty, or NULL */
    p_field(p, 2, "a\0b\tc\n", 6);       /* NUL and COPY's specials */
    if (k % 11 == 0)
      p_field(p, 0, "again", 5); /* a field sent twice: the last counts */
    if ((rc = p_end(p)) != 0)
      return rc;
    if (p->slow && k == 0) /* the next page is slow to come */
      nanosleep(&(struct timespec){0, 120 * 1000 * 1000}, NULL);
    if (p->slow && k == 1) {
      /* Records must flow while the plugin is still reading. */
      for (int i = 0; i < 500 && !atomic_load(&p->watch->got_first); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
      p->waited_out = !atomic_load(&p->watch->got_first);
    }
  }
  p->sink->set_state(p->sink, "done:1");
  sp_buf_puts(&p->sent, "S");
  note_str(&p->sent, "done:1", 6);
  return 0;
}

/* Many batches: everything arrives, in order, byte for byte. */
static void test_relay_delivers_in_order(void **state) {
  (void)state;
  rec_sink s;
  rec_init(&s);
  sp_relay *r = sp_relay_new(&s.sink);
  assert_non_null(r);
  plugin p = {.sink = sp_relay_sink(r), .records = 60000};
  sp_buf_init(&p.sent);
  /* what open() sends comes first; what close() sends, last */
  p.sink->set_state(p.sink, "from open");
  sp_buf_puts(&p.sent, "S");
  note_str(&p.sent, "from open", 9);
  assert_int_equal(sp_relay_run(r, plugin_read, &p), 0);
  p.sink->set_state(p.sink, NULL);
  sp_buf_puts(&p.sent, "S<null>");
  sp_relay_flush(r);
  assert_true(p.sent.len > 20 * 64 * 1024); /* well over the batch size */
  assert_int_equal(s.log.len, p.sent.len);
  assert_memory_equal(s.log.data, p.sent.data, p.sent.len);
  sp_relay_free(r);
  sp_buf_free(&s.log);
  sp_buf_free(&p.sent);
}

/* The sink says stop at record 1000: the plugin hears it and returns that
 * code, and the sink gets nothing after record 1000's end. */
static void test_relay_stop_reaches_the_plugin(void **state) {
  (void)state;
  rec_sink s;
  rec_init(&s);
  s.stop_at = 1000;
  s.stop_code = -7;
  sp_relay *r = sp_relay_new(&s.sink);
  plugin p = {.sink = sp_relay_sink(r), .records = 1000000};
  sp_buf_init(&p.sent);
  assert_int_equal(sp_relay_run(r, plugin_read, &p), -7);
  sp_relay_flush(r);
  assert_int_equal(s.ends, 1000);
  /* what the sink saw is what was sent up to the stopping record's end */
  assert_true(p.sent.len >= s.log.len);
  assert_memory_equal(s.log.data, p.sent.data, s.log.len);
  assert_true(s.log.len >= 2 &&
              memcmp(s.log.data + s.log.len - 2, "E;", 2) == 0);
  /* and the plugin stopped long before its million records */
  assert_true(p.sent.len < 200 * 1000 * 60);
  sp_relay_free(r);
  sp_buf_free(&s.log);
  sp_buf_free(&p.sent);
}

/* A plugin slower than the loader (a page at a time): its records are
 * handed over while it reads, not all at the end — at its first call
 * after RELAY_LINGER (the relay cannot take a batch from a plugin that is
 * waiting for its source). */
static void test_relay_slow_plugin_records_flow(void **state) {
  (void)state;
  rec_sink s;
  rec_init(&s);
  sp_relay *r = sp_relay_new(&s.sink);
  plugin p = {.sink = sp_relay_sink(r), .records = 3, .slow = 1, .watch = &s};
  sp_buf_init(&p.sent);
  assert_int_equal(sp_relay_run(r, plugin_read, &p), 0);
  assert_false(p.waited_out);
  sp_relay_flush(r);
  assert_int_equal(s.log.len, p.sent.len);
  assert_memory_equal(s.log.data, p.sent.data, p.sent.len);
  sp_relay_free(r);
  sp_buf_free(&s.log);
  sp_buf_free(&p.sent);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relay_delivers_in_order),
      cmocka_unit_test(test_relay_stop_reaches_the_plugin),
      cmocka_unit_test(test_relay_slow_plugin_records_flow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
