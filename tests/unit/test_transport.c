#include "config.h"

/*
 * test_transport.c — unit tests of plugins/common/transport.c: its pure
 * helpers (credentials out of URLs, backoff with full jitter, HTTP status
 * classes, glob matching on a directory listing, newest/all selection,
 * %-decoding), option checking, and local files end to end.  Remote
 * transfers run against real servers in tests/integration/
 * test_transport.sh; the one remote case here is a refused connection on
 * 127.0.0.1, which needs no server.
 *
 * Also plugins/common/loaded.c, the files-loaded state that the file-based
 * plugins share with the transport: its JSON both ways, the \u00XX of
 * names that are not UTF-8, merging and the SPP_LOADED_MAX bound.  How csv
 * and xml use it (skipping, refusing a state they did not write) is tested
 * through each plugin in test_csv.c and test_xml.c.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loaded.h"
#include "transport.h"
#include "plugin_host.h"

/* ---- a test host ------------------------------------------------------ */

/* The host is the shared test host (plugin_host.h), with settings over the
 * transport's rows; headers are given as the settings' list. */
typedef struct conf {
  spp_transport_conf tp;
} conf;
static const samspor_option table[] = {SPP_TRANSPORT_OPTION_ROWS(conf, tp),
                                       {.name = NULL}};

/* spp_transport_open on the settings s, filled as a plugin fills them.
 * The filled strings are the test's own (borrowed by ph_settings). */
static int topen(ph_ctx *ctx, ph_settings *s, spp_transport **t) {
  conf c;
  memset(&c, 0, sizeof c);
  assert_int_equal(ph_host.fill(PH_SETTINGS(s), table, &c), 0);
  return spp_transport_open(&ph_host, PH_CTX(ctx), &c.tp, t);
}

/* ---- pure helpers ----------------------------------------------------- */

static void test_redact(void **state) {
  static const char *const cases[][2] = {
      {"sftp://user:pw@host/x.csv", "sftp://host/x.csv"},
      {"https://u@h:443/p?q=a@b", "https://h:443/p?q=a@b"},
      {"https://u:p@ss@h/p", "https://h/p"},
      {"https://h/p@x", "https://h/p@x"},
      {"/local/path@x.csv", "/local/path@x.csv"},
      {"sftp://h", "sftp://h"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *r = spp_url_redact(cases[i][0]);
    assert_string_equal(r, cases[i][1]);
    free(r);
  }
}

static void test_backoff(void **state) {
  unsigned seed = 42;
  int attempt, i;
  double lo = 1e9, hi = 0;
  (void)state;
  /* each wait lies in [0, min(cap, base * 2^attempt)), attempt counted from
   * 0 as the transport does, with its rand_r jitter */
  for (attempt = 0; attempt < 12; attempt++) {
    double limit = 0.5;
    for (i = 0; i < attempt && limit < 30; i++)
      limit *= 2;
    if (limit > 30)
      limit = 30;
    for (i = 0; i < 200; i++) {
      double d = samspor_backoff_delay(0.5, 30, (unsigned)(attempt) + 1,
                                       spp_jitter01(&seed));
      assert_true(d >= 0 && d < limit);
      if (attempt == 11) {
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
      }
    }
  }
  /* full jitter: spread over the whole range, not bunched at the cap */
  assert_true(lo < 5);
  assert_true(hi > 25);
  /* the state is the caller's: the same seed gives the same waits */
  {
    unsigned a = 7, b = 7;
    assert_true(
        samspor_backoff_delay(1, 30, (unsigned)(3) + 1, spp_jitter01(&a)) ==
        samspor_backoff_delay(1, 30, (unsigned)(3) + 1, spp_jitter01(&b)));
  }
  assert_true(samspor_backoff_delay(0, 30, (unsigned)(5) + 1,
                                    spp_jitter01(&seed)) == 0);
  /* a huge attempt number neither overflows nor passes the cap */
  assert_true(samspor_backoff_delay(1, 30, (unsigned)(1000000) + 1,
                                    spp_jitter01(&seed)) < 30);
}

static void test_http_status(void **state) {
  (void)state;
  assert_true(spp_http_status_temporary(429));
  assert_true(spp_http_status_temporary(500));
  assert_true(spp_http_status_temporary(503));
  assert_false(spp_http_status_temporary(404));
  assert_false(spp_http_status_temporary(401));
  assert_false(spp_http_status_temporary(200));
  assert_string_equal(spp_http_reason(404), "Not Found");
  assert_string_equal(spp_http_reason(299), "");
}

static void test_listing_match(void **state) {
  static const char listing[] = ".\n..\nunge_1.csv\r\nunge_2.csv\n"
                                ".unge_3.csv\nunge_dir\nnote.txt\n"
                                "unge_4.csv";
  char **names;
  size_t n, i;
  (void)state;
  assert_int_equal(
      spp_listing_match(listing, sizeof listing - 1, "unge_*.csv", &names, &n),
      0);
  assert_int_equal(n, 3);
  assert_string_equal(names[0], "unge_1.csv");
  assert_string_equal(names[1], "unge_2.csv");
  assert_string_equal(names[2], "unge_4.csv");
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);

  /* a hidden file only for a pattern that says so; never . or .. */
  assert_int_equal(
      spp_listing_match(listing, sizeof listing - 1, ".*", &names, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], ".unge_3.csv");
  free(names[0]);
  free(names);

  assert_int_equal(spp_listing_match("", 0, "*", &names, &n), 0);
  assert_int_equal(n, 0);
  free(names);

  /* a line with a NUL is no file name */
  assert_int_equal(spp_listing_match("a\0b\nab\n", 8, "a*", &names, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "ab");
  free(names[0]);
  free(names);
}

static void test_listing_is_dir(void **state) {
  static const char listing[] =
      "lrwxrwxrwx    1 root root    5 Nov 26 17:30 link.csv -> x.csv\n"
      "drwxr-xr-x    3 root root 4096 Nov 26 17:30 .\n"
      "-rw-r--r--    1 root root    8 Nov 26 17:30 x.csv\r\n"
      "drwxr-xr-x    2 root root 4096 Nov 26 17:30 sub.csv\n"
      "-rw-r--r--    1 root root    2 Nov 26 17:30 sp ace.csv\n"
      "drwxr-xr-x    2 root root 4096 Nov 26 17:30 a b\n"
      "-rw-r--r--    1 root root    2 Nov 26 17:30 b";
  (void)state;
  assert_true(spp_listing_is_dir(listing, sizeof listing - 1, "sub.csv"));
  assert_false(spp_listing_is_dir(listing, sizeof listing - 1, "x.csv"));
  assert_false(spp_listing_is_dir(listing, sizeof listing - 1, "sp ace.csv"));
  assert_false(spp_listing_is_dir(listing, sizeof listing - 1, "link.csv"));
  assert_false(spp_listing_is_dir(listing, sizeof listing - 1, "nothere"));
  assert_true(spp_listing_is_dir(listing, sizeof listing - 1, "a b"));
  /* "b" ends both the file's line and the dir "a b"'s: not a dir */
  assert_false(spp_listing_is_dir(listing, sizeof listing - 1, "b"));
}

static spp_file mkfile(const char *name, int64_t mtime, long ns) {
  spp_file f = {.name = strdup(name),
                .url = strdup(name),
                .size = 1,
                .mtime = mtime,
                .mtime_ns = ns};
  return f;
}

static void test_files_select(void **state) {
  spp_files f;
  (void)state;
  f.n = 4;
  f.v = malloc(4 * sizeof *f.v);
  f.v[0] = mkfile("c", 100, 0);
  f.v[1] = mkfile("a", 300, 0);
  f.v[2] = mkfile("d", 200, 0);
  f.v[3] = mkfile("b", 300, 0);
  spp_files_select(&f, 1);
  assert_int_equal(f.n, 4);
  assert_string_equal(f.v[0].name, "a");
  assert_string_equal(f.v[3].name, "d");
  /* newest: mtime 300 twice, the later name wins the tie */
  spp_files_select(&f, 0);
  assert_int_equal(f.n, 1);
  assert_string_equal(f.v[0].name, "b");
  spp_files_free(&f);
  assert_int_equal(f.n, 0);

  f.n = 2;
  f.v = malloc(2 * sizeof *f.v);
  f.v[0] = mkfile("z", 300, 5);
  f.v[1] = mkfile("y", 300, 9);
  spp_files_select(&f, 0);
  assert_string_equal(f.v[0].name, "y"); /* nanoseconds decide first */
  spp_files_free(&f);
}

static void test_percent_decode(void **state) {
  char *out;
  (void)state;
  assert_int_equal(spp_percent_decode("a%20b%2fc", 9, &out), 0);
  assert_string_equal(out, "a b/c");
  free(out);
  assert_int_equal(spp_percent_decode("x%2", 3, &out), SAMSPOR_EINVAL);
  assert_int_equal(spp_percent_decode("x%zz", 4, &out), SAMSPOR_EINVAL);
  assert_int_equal(spp_percent_decode("x%00", 4, &out), SAMSPOR_EINVAL);
  assert_int_equal(spp_percent_decode("x%41yz", 4, &out), 0); /* len 4 */
  assert_string_equal(out, "xA");
  free(out);
}

/* ---- options ---------------------------------------------------------- */

static char keyfile[128];

/* Write ph_tmpdir/name with the given mtime (0: leave it). */
static void write_file(const char *name, const char *text, time_t mtime) {
  ph_write_file(name, text, strlen(text), mtime);
}

/* The shared temporary directory, with a key file in it. */
static int setup_dir(void **state) {
  if (ph_setup_dir(state) != 0)
    return -1;
  snprintf(keyfile, sizeof keyfile, "%s/key", ph_tmpdir);
  write_file("key", "not really a key\n", 0);
  return 0;
}

/* spp_transport_open on s; returns its code, error text in ctx. */
static int try_open(ph_settings *s, ph_ctx *ctx) {
  spp_transport *t = NULL;
  int rc;
  memset(ctx, 0, sizeof *ctx);
  rc = topen(ctx, s, &t);
  if (rc == 0)
    assert_non_null(t);
  else
    assert_true(ctx->nerrors > 0);
  spp_transport_close(t);
  return rc;
}

static void test_open_errors(void **state) {
  static const struct {
    const char *url;
    const char *opt, *val; /* one more option, or NULL */
    const char *says;
  } cases[] = {
      {"http://h/x.csv", NULL, NULL, "https://"},
      {"ftp://h/x.csv", NULL, NULL, "scheme"},
      {"sftp://h/x.csv", NULL, NULL, "known_hosts_file"},
      {"sftp://h/d/*/x.csv", NULL, NULL, "last path segment"},
      {"sftp://h", NULL, NULL, "no file path"},
      {"https://h/x", "client_key_file", "KEY", "without client_cert_file"},
      {"https://h/x", "ca_file", "/nonexistent/ca.pem", "ca_file"},
      {"/a/*/b.csv", NULL, NULL, "last path segment"},
      {"file://h/x", NULL, NULL, "absolute path"},
      {"file:///x%zz", NULL, NULL, "escape"},
      {"", NULL, NULL, "url is required"},
      {"/x.csv", "files", "oldest", "files"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    ph_settings s = {.table = table};
    ph_ctx ctx;
    ph_set(&s, "url", cases[i].url);
    if (cases[i].opt)
      ph_set(&s, cases[i].opt,
             strcmp(cases[i].val, "KEY") ? cases[i].val : keyfile);
    if (try_open(&s, &ctx) != SAMSPOR_EINVAL ||
        !strstr(ctx.error, cases[i].says))
      fail_msg("%s: error '%s'", cases[i].url, ctx.error);
  }
}

static void test_open_sftp_needs(void **state) {
  ph_settings s = {.table = table};
  ph_ctx ctx;
  (void)state;
  ph_set(&s, "url", "sftp://127.0.0.1/x.csv");
  ph_set(&s, "known_hosts_file", keyfile);
  assert_int_equal(try_open(&s, &ctx), SAMSPOR_EINVAL);
  assert_non_null(strstr(ctx.error, "username"));
  ph_set(&s, "username", "u");
  assert_int_equal(try_open(&s, &ctx), SAMSPOR_EINVAL);
  assert_non_null(strstr(ctx.error, "private_key_file or password_file"));
  ph_set(&s, "private_key_file", keyfile);
  assert_int_equal(try_open(&s, &ctx), 0);
  /* a user in the URL will do; credentials never show in messages */
  s.n = 0;
  ph_set(&s, "url", "sftp://u:secretpw@127.0.0.1/x/y_*.csv");
  ph_set(&s, "password", "pw");
  assert_int_equal(try_open(&s, &ctx), SAMSPOR_EINVAL);
  assert_null(strstr(ctx.error, "secretpw"));
  assert_non_null(strstr(ctx.error, "sftp://127.0.0.1/x/y_*.csv"));
}

static void test_open_headers(void **state) {
  ph_settings s = {.table = table};
  ph_ctx ctx;
  (void)state;
  ph_set(&s, "url", "https://127.0.0.1/x");
  s.list_name = "headers";
  s.list[0] = "SOAPAction: urn:x";
  s.nlist = 1;
  assert_int_equal(try_open(&s, &ctx), 0);
  s.list[1] = "no colon";
  s.nlist = 2;
  assert_int_equal(try_open(&s, &ctx), SAMSPOR_EINVAL);
  assert_non_null(strstr(ctx.error, "entry 2"));
  s.list[1] = "X: a\r\nInjected: b";
  assert_int_equal(try_open(&s, &ctx), SAMSPOR_EINVAL);
}

/* ---- local files end to end ------------------------------------------- */

typedef struct sink {
  char data[256];
  size_t len;
  int stop; /* return this from the callback */
} sink;

static int collect(void *ud, const char *buf, size_t len) {
  sink *k = ud;
  assert_true(k->len + len < sizeof k->data);
  memcpy(k->data + k->len, buf, len);
  k->len += len;
  k->data[k->len] = '\0';
  return k->stop;
}

static void test_local(void **state) {
  char url[200];
  ph_settings s = {.table = table};
  ph_ctx ctx = {0};
  spp_transport *t;
  spp_files f;
  sink k = {{0}, 0, 0};
  spp_reader *r;
  char buf[4];
  long long n;
  (void)state;
  assert_int_equal(mkdir(strcat(strcpy(url, ph_tmpdir), "/l"), 0700), 0);
  write_file("l/u_1.csv", "one\n", 1700000300);
  write_file("l/u_2.csv", "two\n", 1700000100);
  write_file("l/.u_3.csv", "hidden\n", 1700000900);
  snprintf(url, sizeof url, "%s/l/u_*.csv", ph_tmpdir);
  ph_set(&s, "url", url);
  assert_int_equal(topen(&ctx, &s, &t), 0);
  assert_true(spp_transport_is_local(t));
  assert_string_equal(spp_transport_url(t), url);

  assert_int_equal(spp_transport_list(t, 1, &f), 0);
  assert_int_equal(f.n, 2);
  assert_string_equal(f.v[0].name, "u_1.csv");
  assert_int_equal(f.v[0].size, 4);
  assert_int_equal(f.v[0].mtime, 1700000300);
  assert_int_equal(spp_transport_fetch(t, &f.v[1], collect, &k), 0);
  assert_string_equal(k.data, "two\n");
  /* a callback's stop code comes back unchanged */
  k.stop = -42;
  assert_int_equal(spp_transport_fetch(t, &f.v[0], collect, &k), -42);
  spp_files_free(&f);

  assert_int_equal(spp_transport_list(t, 0, &f), 0);
  assert_int_equal(f.n, 1);
  assert_string_equal(f.v[0].name, "u_1.csv");
  /* pull reading, in small pieces */
  assert_int_equal(spp_transport_read_open(t, &f.v[0], &r), 0);
  k.len = 0;
  k.stop = 0;
  while ((n = spp_reader_read(r, buf, sizeof buf - 1)) > 0)
    collect(&k, buf, (size_t)n);
  assert_int_equal(n, 0);
  assert_string_equal(k.data, "one\n");
  /* one reader at a time */
  {
    spp_reader *r2;
    assert_int_equal(spp_transport_read_open(t, &f.v[0], &r2), SAMSPOR_EINVAL);
  }
  spp_reader_close(r);
  spp_files_free(&f);
  assert_int_equal(spp_transport_check(t), 0);
  spp_transport_close(t);

  /* no match: an empty list, and check says so */
  snprintf(url, sizeof url, "%s/l/none_*.csv", ph_tmpdir);
  s.values[0] = url;
  assert_int_equal(topen(&ctx, &s, &t), 0);
  assert_int_equal(spp_transport_list(t, 1, &f), 0);
  assert_int_equal(f.n, 0);
  spp_files_free(&f);
  assert_int_equal(spp_transport_check(t), SAMSPOR_ENOENT);
  assert_non_null(strstr(ctx.error, "none_*.csv"));
  spp_transport_close(t);

  /* a single missing file */
  snprintf(url, sizeof url, "%s/l/missing.csv", ph_tmpdir);
  assert_int_equal(topen(&ctx, &s, &t), 0);
  assert_int_equal(spp_transport_list(t, 1, &f), SAMSPOR_ENOENT);
  assert_int_equal(f.n, 0);
  spp_transport_close(t);

  /* POST needs https */
  snprintf(url, sizeof url, "%s/l/u_1.csv", ph_tmpdir);
  assert_int_equal(topen(&ctx, &s, &t), 0);
  assert_int_equal(spp_transport_post(t, "x", 1, collect, &k), SAMSPOR_EINVAL);
  spp_transport_close(t);
}

/* Read r to its end; returns the last spp_reader_read result. */
static long long drain(spp_reader *r) {
  char buf[64];
  long long n;
  while ((n = spp_reader_read(r, buf, sizeof buf)) > 0)
    ;
  return n;
}

/* Open url's single file (listed first) and read its first bytes. */
static spp_reader *open_started(spp_transport *t, spp_files *f) {
  spp_reader *r;
  char buf[8];
  assert_int_equal(spp_transport_list(t, 1, f), 0);
  assert_int_equal(f->n, 1);
  assert_int_equal(spp_transport_read_open(t, &f->v[0], &r), 0);
  assert_int_equal(spp_reader_read(r, buf, sizeof buf), 8);
  return r;
}

/* A local file that changes under the reader is never handed out as if
 * whole: the end of the read says SAMSPOR_ETEMP (issue 14, item 2). */
static void test_local_changed(void **state) {
  const char *rows = "id;v\n1;10\n2;20\n3;30\n4;40\n";
  char url[200], path[200], tmp[220];
  ph_settings s = {.table = table};
  ph_ctx ctx = {0};
  spp_transport *t;
  spp_files f;
  spp_reader *r;
  (void)state;
  snprintf(url, sizeof url, "%s/ch_*.csv", ph_tmpdir);
  snprintf(path, sizeof path, "%s/ch_1.csv", ph_tmpdir);
  snprintf(tmp, sizeof tmp, "%s/ch_1.tmp", ph_tmpdir);
  ph_set(&s, "url", url);
  assert_int_equal(topen(&ctx, &s, &t), 0);

  /* unchanged: read to the end */
  write_file("ch_1.csv", rows, 1700000000);
  r = open_started(t, &f);
  assert_int_equal(drain(r), 0);
  spp_reader_close(r);
  spp_files_free(&f);

  /* truncated at a row boundary while read */
  write_file("ch_1.csv", rows, 1700000000);
  r = open_started(t, &f);
  assert_int_equal(truncate(path, 16), 0);
  assert_int_equal(drain(r), SAMSPOR_ETEMP);
  assert_non_null(strstr(ctx.error, "size changed"));
  spp_reader_close(r);
  spp_files_free(&f);

  /* grown while read */
  write_file("ch_1.csv", rows, 1700000000);
  r = open_started(t, &f);
  {
    FILE *a = fopen(path, "a");
    assert_non_null(a);
    fputs("5;50\n", a);
    fclose(a);
  }
  assert_int_equal(drain(r), SAMSPOR_ETEMP);
  spp_reader_close(r);
  spp_files_free(&f);

  /* rewritten in place, same size: the mtime tells */
  write_file("ch_1.csv", rows, 1700000000);
  r = open_started(t, &f);
  write_file("ch_1.csv", rows, 1700000005);
  assert_int_equal(drain(r), SAMSPOR_ETEMP);
  assert_non_null(strstr(ctx.error, "modified"));
  spp_reader_close(r);
  spp_files_free(&f);

  /* its path replaced (rename over it) while read: same size and mtime */
  write_file("ch_1.csv", rows, 1700000000);
  r = open_started(t, &f);
  write_file("ch_1.tmp", rows, 1700000000);
  assert_int_equal(rename(tmp, path), 0);
  assert_int_equal(drain(r), SAMSPOR_ETEMP);
  assert_non_null(strstr(ctx.error, "replaced"));
  spp_reader_close(r);
  spp_files_free(&f);

  /* replaced between the listing and the open */
  write_file("ch_1.csv", rows, 1700000000);
  assert_int_equal(spp_transport_list(t, 1, &f), 0);
  write_file("ch_1.tmp", rows, 1700000000);
  assert_int_equal(rename(tmp, path), 0);
  assert_int_equal(spp_transport_read_open(t, &f.v[0], &r), SAMSPOR_ETEMP);
  assert_non_null(strstr(ctx.error, "between the listing and the open"));
  spp_files_free(&f);

  /* min_age: not read while younger */
  spp_transport_close(t);
  ph_set(&s, "min_age", "2m");
  assert_int_equal(topen(&ctx, &s, &t), 0);
  write_file("ch_1.csv", rows, time(NULL) - 60);
  assert_int_equal(spp_transport_list(t, 1, &f), 0);
  assert_int_equal(spp_transport_read_open(t, &f.v[0], &r), SAMSPOR_ETEMP);
  assert_non_null(strstr(ctx.error, "min_age"));
  spp_files_free(&f);
  write_file("ch_1.csv", rows, time(NULL) - 121);
  r = open_started(t, &f);
  assert_int_equal(drain(r), 0);
  spp_reader_close(r);
  spp_files_free(&f);
  spp_transport_close(t);
}

/* A refused connection is temporary: retried retry_attempts times (here
 * without waiting), then SAMSPOR_ETEMP; check() tries once. */
static void test_refused_is_temporary(void **state) {
  ph_settings s = {.table = table};
  ph_ctx ctx = {0};
  spp_transport *t;
  spp_files f;
  (void)state;
  /* port 1 on loopback: nothing listens there */
  ph_set(&s, "url", "https://127.0.0.1:1/x.csv");
  ph_set(&s, "retry_attempts", "2");
  ph_set(&s, "retry_backoff", "0s");
  ph_set(&s, "connect_timeout", "5s");
  assert_int_equal(topen(&ctx, &s, &t), 0);
  assert_int_equal(spp_transport_list(t, 0, &f), SAMSPOR_ETEMP);
  assert_int_equal(ctx.nwarn, 2);
  assert_non_null(strstr(ctx.warn, "retry 2 of 2"));
  assert_non_null(strstr(ctx.error, "https://127.0.0.1:1/x.csv"));
  assert_non_null(strstr(ctx.error, "cannot connect"));
  assert_non_null(strstr(ctx.error, "after 2 retries"));
  ctx.nwarn = 0;
  assert_int_equal(spp_transport_check(t), SAMSPOR_ETEMP);
  assert_int_equal(ctx.nwarn, 0);
  spp_transport_close(t);
}

/* ---- the files-loaded state (loaded.c) -------------------------------- */

static void test_loaded_roundtrip(void **state) {
  spp_file files[3] = {{.name = "a.xml", .size = 10, .mtime = 100},
                       {.name = "b\xff\"\\.xml", .size = 0, .mtime = 5},
                       {.name = "c\xc3\xa6.xml", .size = -1, .mtime = -1}};
  spp_loaded st, st2;
  char *js, *js2;
  size_t i;
  (void)state;

  js = spp_loaded_json(NULL, files, 3);
  assert_non_null(js);
  assert_string_equal(js,
                      "[{\"name\":\"a.xml\",\"size\":10,\"mtime\":100},"
                      "{\"name\":\"b\\u00ff\\\"\\\\.xml\",\"size\":0,"
                      "\"mtime\":5},{\"name\":\"c\xc3\xa6.xml\",\"size\":-1,"
                      "\"mtime\":-1}]");
  assert_int_equal(spp_loaded_parse(js, &st), 0);
  assert_int_equal(st.n, 3);
  for (i = 0; i < 3; i++)
    assert_string_equal(st.v[i].name, files[i].name);
  assert_true(spp_loaded_has(&st, &files[0]));
  assert_true(spp_loaded_has(&st, &files[1]));
  assert_false(spp_loaded_has(&st, &files[2])); /* mtime unknown */
  files[0].size = 11;
  assert_false(spp_loaded_has(&st, &files[0]));
  /* merged: the old entries not read now, then the files read now */
  js2 = spp_loaded_json(&st, files, 1);
  assert_int_equal(spp_loaded_parse(js2, &st2), 0);
  assert_int_equal(st2.n, 3);
  assert_string_equal(st2.v[2].name, "a.xml");
  assert_int_equal(st2.v[2].size, 11);
  spp_loaded_free(&st2);
  free(js2);
  spp_loaded_free(&st);
  spp_loaded_free(&st); /* twice is harmless */
  free(js);

  assert_int_equal(spp_loaded_parse("[]", &st), 0);
  assert_int_equal(st.n, 0);
  assert_int_equal(spp_loaded_parse(" [ ] \n", &st), 0);
  /* whitespace, any key order, unknown keys and \/ are read */
  assert_int_equal(spp_loaded_parse(" [ { \"size\" : 4 , \"x\":\"y\", "
                                    "\"mtime\": 7, \"z\": 1, "
                                    "\"name\": \"d\\/e\" } ] ",
                                    &st),
                   0);
  assert_int_equal(st.n, 1);
  assert_string_equal(st.v[0].name, "d/e");
  assert_int_equal(st.v[0].size, 4);
  assert_int_equal(st.v[0].mtime, 7);
  spp_loaded_free(&st);
  {
    /* what the plugins did not write: 1, never SAMSPOR_ENOMEM (which
     * would be reported as out of memory) */
    static const char *const bad[] = {"",
                                      "{}",
                                      "{\"cursor\": 1}",
                                      "[",
                                      "[{}]",
                                      "[1]",
                                      "[{\"name\":1}]",
                                      "[{\"name\": 3}]",
                                      "[{\"name\":\"a_1.csv\"",
                                      "[{\"name\":\"a\"}",
                                      "[{\"name\":\"a\"},]",
                                      "[{\"name\":\"a\"}] x",
                                      "[] x",
                                      "[{\"name\":\"a\\u0000\"}]",
                                      "[{\"name\":\"a\\u0100\"}]",
                                      "[{\"name\":\"a\\u00g0\"}]",
                                      "[{\"name\":\"a\\n\"}]",
                                      "[{\"size\":1}]",
                                      "[{\"name\":\"a\",\"size\":}]",
                                      "[{\"name\" \"a\"}]"};
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
      st.n = 99; /* emptied on every return */
      if (spp_loaded_parse(bad[i], &st) != 1)
        fail_msg("state '%s' accepted", bad[i]);
      assert_null(st.v);
      assert_int_equal(st.n, 0);
    }
  }
}

/* Only a name that is UTF-8 as PostgreSQL text takes it is written as it
 * is; any other has its bytes >= 0x80 escaped, and reads back the same. */
static void test_loaded_utf8(void **state) {
  static const struct {
    const char *name, *json; /* the name, and its JSON string */
  } cases[] = {
      {"\xc3\xa6\xe2\x82\xac\xf0\x9f\x98\x80",
       "\"\xc3\xa6\xe2\x82\xac\xf0\x9f\x98\x80\""},
      {"\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""}, /* U+10FFFF */
      {"\xc0\xaf", "\"\\u00c0\\u00af\""},           /* overlong */
      {"\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\""},
      {"\xf0\x80\x80\xaf", "\"\\u00f0\\u0080\\u0080\\u00af\""},
      {"\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\""}, /* surrogate */
      {"\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\""},
      {"\xf5\x80\x80\x80", "\"\\u00f5\\u0080\\u0080\\u0080\""},
      {"a\xc3", "\"a\\u00c3\""}, /* cut short */
      {"\xe2\x82", "\"\\u00e2\\u0082\""},
      {"\x80", "\"\\u0080\""},
      /* one bad byte escapes the good characters too: one text per name */
      {"\xc3\xa6\xff", "\"\\u00c3\\u00a6\\u00ff\""},
      {"\t\x1f\x7f", "\"\\u0009\\u001f\x7f\""},
  };
  char want[128];
  size_t i;
  (void)state;

  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    spp_file f = {.name = (char *)cases[i].name, .size = 1, .mtime = 2};
    spp_loaded st;
    char *js = spp_loaded_json(NULL, &f, 1);
    assert_non_null(js);
    snprintf(want, sizeof want, "[{\"name\":%s,\"size\":1,\"mtime\":2}]",
             cases[i].json);
    if (strcmp(js, want) != 0)
      fail_msg("case %zu: %s, not %s", i, js, want);
    assert_int_equal(spp_loaded_parse(js, &st), 0);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.v[0].name, cases[i].name);
    assert_true(spp_loaded_has(&st, &f));
    spp_loaded_free(&st);
    free(js);
  }
}

/* Of the old entries and the files read now only the last SPP_LOADED_MAX
 * are kept, the oldest dropped first. */
static void test_loaded_bounded(void **state) {
  enum { OLD = SPP_LOADED_MAX, NEW = 3 };
  spp_loaded old = {calloc(OLD, sizeof(spp_loaded_file)), OLD}, st;
  spp_file files[NEW];
  char name[32];
  char *js;
  size_t i;
  (void)state;

  assert_non_null(old.v);
  for (i = 0; i < OLD; i++) {
    snprintf(name, sizeof name, "old_%zu.csv", i);
    old.v[i].name = strdup(name);
    old.v[i].size = 1;
    old.v[i].mtime = (long long)i;
  }
  memset(files, 0, sizeof files);
  /* one of them is old_5.csv again, changed: it moves to the end */
  files[0].name = "old_5.csv";
  files[1].name = "new_1.csv";
  files[2].name = "new_2.csv";
  for (i = 0; i < NEW; i++) {
    files[i].size = 2;
    files[i].mtime = 5000;
  }

  js = spp_loaded_json(&old, files, NEW);
  assert_non_null(js);
  assert_int_equal(spp_loaded_parse(js, &st), 0);
  assert_int_equal(st.n, SPP_LOADED_MAX);
  /* 999 old not read now + 3 read now = 1002: old_0 and old_1 go */
  assert_string_equal(st.v[0].name, "old_2.csv");
  assert_string_equal(st.v[2].name, "old_4.csv");
  assert_string_equal(st.v[3].name, "old_6.csv");
  assert_string_equal(st.v[SPP_LOADED_MAX - 4].name, "old_999.csv");
  assert_string_equal(st.v[SPP_LOADED_MAX - 3].name, "old_5.csv");
  assert_int_equal(st.v[SPP_LOADED_MAX - 3].size, 2);
  assert_string_equal(st.v[SPP_LOADED_MAX - 1].name, "new_2.csv");
  spp_loaded_free(&st);
  free(js);

  /* not in append mode: only the files read now */
  js = spp_loaded_json(NULL, files, NEW);
  assert_int_equal(spp_loaded_parse(js, &st), 0);
  assert_int_equal(st.n, NEW);
  spp_loaded_free(&st);
  free(js);
  js = spp_loaded_json(NULL, NULL, 0);
  assert_string_equal(js, "[]");
  free(js);
  spp_loaded_free(&old);
}

int main(void) {
  const struct CMUnitTest pure[] = {
      cmocka_unit_test(test_redact),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_http_status),
      cmocka_unit_test(test_listing_match),
      cmocka_unit_test(test_listing_is_dir),
      cmocka_unit_test(test_files_select),
      cmocka_unit_test(test_percent_decode),
      cmocka_unit_test(test_loaded_roundtrip),
      cmocka_unit_test(test_loaded_utf8),
      cmocka_unit_test(test_loaded_bounded),
  };
  const struct CMUnitTest io[] = {
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_open_sftp_needs),
      cmocka_unit_test(test_open_headers),
      cmocka_unit_test(test_local),
      cmocka_unit_test(test_local_changed),
      cmocka_unit_test(test_refused_is_temporary),
  };
  int failed =
      cmocka_run_group_tests_name("transport helpers", pure, NULL, NULL);
  failed +=
      cmocka_run_group_tests_name("transport", io, setup_dir, ph_teardown_dir);
  return failed ? 1 : 0;
}
