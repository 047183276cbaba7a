/*
 * plugin_host.h — the test host that the plugin unit tests (test_csv,
 * test_rest, test_xml, test_transport) share: a samspor_host whose
 * settings are a name/value list over an option table, whose context
 * keeps the errors and log lines, and whose sink writes every record and
 * reject as a line of text, so that a test compares what a plugin
 * delivered with one string.
 *
 * Privacy: every message (error, log line, reject) is checked against
 * the markers set with ph_set_markers(), strings that only field values
 * in the test data carry; a message with one fails the test.
 *
 * The host's objects are the ph_* structs below, handed to the code under
 * test through the opaque samspor_* pointers (PH_SETTINGS, PH_CTX,
 * PH_SINK); ph_host's functions cast them back.  They are not the core's
 * structs, so that a test which uses the core's real host for settings
 * (test_xml) can still take the context, the sink and the temporary
 * directory from here.
 *
 * Include after <cmocka.h>.
 */
#ifndef SAMSPOR_TEST_PLUGIN_HOST_H
#define SAMSPOR_TEST_PLUGIN_HOST_H

#include <stddef.h>
#include <time.h>

#include "samspor-plugin.h"
#include "base/util.h"

/* Settings given by a test, at most this many per group. */
#define PH_MAX_SETTINGS 24

/*
 * A settings group: the options set by the test, and for the rest the
 * defaults of `table`.  Asking for an option that `table` does not
 * declare fails the test, as the core would refuse it.
 */
typedef struct ph_settings {
  const samspor_option *table; /* the declared options; set by the test */
  const char *names[PH_MAX_SETTINGS];
  const char *values[PH_MAX_SETTINGS]; /* borrowed */
  size_t n;
  /* The items of STRLIST option `list_name`; any other list option given
   * by name has one item, its value. */
  const char *list_name;
  const char *list[4];
  size_t nlist;
} ph_settings;

/* The context: what the code under test reported. */
typedef struct ph_ctx {
  char error[1024]; /* last host->error() */
  int nerrors;
  char warn[1024]; /* last WARN log line (retries) */
  int nwarn;
  int keep_log; /* set by the test: keep every log line in `log` */
  sp_buf log;   /* "<level> <message>\n" per line; freed by ph_ctx_free */
} ph_ctx;

/* The sink: records and rejects as text, one line each. */
typedef struct ph_sink {
  sp_buf out;      /* "position |v1 <null> |v3" or "position REJECT ..." */
  size_t nfields;  /* fields requested: each record must have them all */
  int in_record;   /* between record_begin and record_end */
  size_t next;     /* next field index expected */
  char *state;     /* last set_state(); owned */
  long stop_after; /* record_end fails with -42 after this many (0: never) */
  long nrecords;   /* records ended */
  int no_records;  /* set by the test: any record fails it */
} ph_sink;

#define PH_SETTINGS(s) ((samspor_settings *)(s))
#define PH_CTX(c) ((samspor_ctx *)(c))
#define PH_SINK(s) ((samspor_sink *)(s))

/* Every host function, over ph_settings, ph_ctx and ph_sink. */
extern const samspor_host ph_host;

/* The strings (NULL-terminated array, static) no message may contain;
 * NULL: no check. */
void ph_set_markers(const char *const *markers);

/* Fail the test when msg contains a marker. */
void ph_assert_no_values(const char *msg);

/* Add name = value (both borrowed) to s. */
void ph_set(ph_settings *s, const char *name, const char *value);

/* Free what ctx owns (the kept log). */
void ph_ctx_free(ph_ctx *ctx);

/* The sink's record functions, for a test that forwards to them from a
 * sink of its own (test_xml, through the core's host). */
int ph_record_begin(ph_sink *s, const char *position);
void ph_field(ph_sink *s, size_t index, const char *value, size_t len);
int ph_record_end(ph_sink *s);
int ph_reject(ph_sink *s, const char *position, const char *reason,
              const char *message);
void ph_set_state(ph_sink *s, const char *state);

/* Free what s owns. */
void ph_sink_free(ph_sink *s);

/*
 * a->plugin's open with args a, then read and close when open worked:
 * *open_rc, and *read_rc (1 when read was not called).  A refused open
 * must leave no handle and have reported through ctx (the one in a).
 */
void ph_open_read_close(const samspor_plugin *pl, const samspor_open_args *a,
                        const ph_ctx *ctx, int *open_rc, int *read_rc);

/* One run of a plugin through ph_host: settings, host objects, results. */
typedef struct ph_run {
  const samspor_plugin *plugin;
  ph_settings source, stream;
  ph_ctx ctx;
  ph_sink sink;
  char url[300];      /* room for a url the test builds */
  const char *cursor; /* samspor_open_args.cursor */
  const char *state;  /* samspor_open_args.state */
  int full;           /* samspor_open_args.full */
  int open_rc, read_rc;
} ph_run;

/* Start a run of plugin pl, with its tables and nothing set. */
void ph_run_init(ph_run *r, const samspor_plugin *pl);

/* Set a source option. */
void ph_run_set(ph_run *r, const char *name, const char *value);

/* Open, read, close with these fields; results in r. */
void ph_run_plugin(ph_run *r, const char *const *fields, size_t nfields);

/* Free what r owns. */
void ph_run_free(ph_run *r);

/* ---- a temporary directory for the files a plugin reads --------------- */

/* The directory: set by ph_setup_dir, removed by ph_teardown_dir. */
extern char ph_tmpdir[64];

/* cmocka group setup: make a new directory in /tmp. */
int ph_setup_dir(void **state);

/* cmocka group teardown: remove ph_tmpdir and all in it. */
int ph_teardown_dir(void **state);

/* Write ph_tmpdir/name with the given mtime (0: leave it); returns its path
 * in a static buffer that the next call overwrites. */
const char *ph_write_file(const char *name, const char *data, size_t len,
                          time_t mtime);

/* ph_write_file of a string. */
const char *ph_write_text(const char *name, const char *text);

#endif
