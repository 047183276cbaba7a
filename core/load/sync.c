#include "config.h"

#include "load/sync.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/access.h"
#include "base/exitcode.h"
#include "load/relay.h"
#include "model/host.h"
#include "partner/indicators.h"
#include "base/log.h"
#include "model/pseudonym.h"
#include "model/rules.h"
#include "model/runrecord.h"
#include "model/schedule.h"
#include "store/schema.h"
#include "store/warehouse.h"

/* COPY data is handed to libpq in chunks well below the kernel's socket
 * buffer (about 208 KiB for a Unix socket).  libpq blocks until a chunk is
 * in the socket; a chunk larger than the buffer makes samspor wait for the
 * server to drain it, and the two processes then take turns instead of
 * running side by side on two cores.  Measured on 1M rows (full_refresh):
 * 256 KiB chunks 3.7 s, 128 KiB 2.6 s, 64 KiB 1.60 s, 16 KiB 1.46 s,
 * 8 KiB 1.50 s. */
#define COPY_CHUNK (16 * 1024)

/* ---- forgotten people ------------------------------------------------- */

/* Sorted array of (kind, pseudonym) for binary search: the set is small
 * (people who asked to be erased) and read once per stream. */
typedef struct forgotten_set {
  unsigned char *pn; /* 16 bytes per entry */
  size_t n;
  /* During rekey: those forgotten under the retiring key, and the COPY
   * lines (kind, old, new) for samspor_carried of those found again. */
  unsigned char *pn_old;
  size_t n_old;
  sp_buf carried;
} forgotten_set;

static int forgotten_cmp(const void *a, const void *b) {
  return memcmp(a, b, 16);
}

static int is_forgotten(void *ud, const char *kind,
                        const unsigned char pseudonym[16]) {
  const forgotten_set *f = ud;
  (void)kind; /* pseudonyms of different kinds never collide in practice;
                 the set holds only the kinds this stream uses */
  return f->n && bsearch(pseudonym, f->pn, f->n, 16, forgotten_cmp) != NULL;
}

static int was_forgotten(void *ud, const char *kind,
                         const unsigned char old[16],
                         const unsigned char pseudonym[16]) {
  forgotten_set *f = ud;
  if (!f->n_old || !bsearch(old, f->pn_old, f->n_old, 16, forgotten_cmp))
    return 0;
  char o[37], n[37];
  sp_uuid_format(old, o);
  sp_uuid_format(pseudonym, n);
  sp_buf_printf(&f->carried, "%s\t%s\t%s\n", kind, o, n);
  return 1;
}

/* The pseudonyms in samspor.forgotten of the kinds in `kinds` (an array
 * literal), of generation key_id or of every generation when NULL, sorted
 * into *pn. */
static int load_set(PGconn *conn, const char *kinds, const char *key_id,
                    unsigned char **pn, size_t *n, char *err, size_t errlen) {
  const char *p[] = {kinds, key_id};
  PGresult *res;
  int rc = sp_pg_execp(conn,
                       "SELECT decode(replace(pseudonym::text, '-', ''), "
                       "'hex') FROM samspor.forgotten WHERE kind = ANY($1) "
                       "AND ($2::text IS NULL OR key_id = $2) ORDER BY 1",
                       2, p, PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  *n = (size_t)PQntuples(res);
  *pn = sp_xmalloc(*n * 16 + 1);
  for (size_t i = 0; i < *n; i++) {
    size_t len;
    unsigned char *b = PQunescapeBytea(
        (const unsigned char *)PQgetvalue(res, (int)i, 0), &len);
    if (b && len == 16)
      memcpy(*pn + i * 16, b, 16);
    PQfreemem(b);
  }
  qsort(*pn, *n, 16, forgotten_cmp);
  PQclear(res);
  return 0;
}

static int load_forgotten(PGconn *conn, const sp_stream *st,
                          const sp_key *old_key, forgotten_set *f, char *err,
                          size_t errlen) {
  memset(f, 0, sizeof *f);
  sp_buf_init(&f->carried);
  sp_buf kinds;
  sp_buf_init(&kinds);
  sp_buf_puts(&kinds, "{");
  int any = 0;
  for (size_t i = 0; i < st->ncolumns; i++)
    if (st->columns[i].rule == SP_RULE_PSEUDONYM) {
      char *lit =
          sp_xasprintf("\"%s\"", sp_get_string(st->columns[i].s, "kind"));
      sp_buf_printf(&kinds, "%s%s", any ? "," : "", lit);
      free(lit);
      any = 1;
    }
  sp_buf_puts(&kinds, "}");
  int rc = 0;
  if (any)
    rc = load_set(conn, kinds.data, NULL, &f->pn, &f->n, err, errlen);
  if (any && !rc && old_key)
    rc = load_set(conn, kinds.data, sp_key_id(old_key), &f->pn_old, &f->n_old,
                  err, errlen);
  sp_buf_free(&kinds);
  return rc;
}

/* ---- digests of the rows in the table ---------------------------------- */

/*
 * The _digest of every row of a keyed incremental_dedup or full_refresh
 * table, fetched at the start of a load: an incoming row whose digest is
 * here is already in the table, unchanged, and is not sent.  Open
 * addressing over 16-byte digests (random, so their first 8 bytes are the
 * hash), filled to at most 0.8: about 21 bytes per row of the table with
 * the seen bitmap, the one part of a load's memory that grows with the
 * table.
 */
typedef struct digest_set {
  unsigned char *slot; /* 16 bytes each; all zero: empty */
  unsigned char *seen; /* a bit per slot: met in this load */
  size_t cap, n;
  long long nulls; /* rows of the table without a digest */
  /* digests on their way in (digest_add_soon): their slots are fetched
   * from memory while the ones before them are stored */
  unsigned char soon[8][16];
  unsigned nsoon;
} digest_set;

static const unsigned char zero16[16];

static size_t digest_home(const digest_set *ds, const unsigned char d[16]) {
  uint64_t h;
  memcpy(&h, d, sizeof h);
  return (size_t)(((unsigned __int128)h * ds->cap) >> 64);
}

static void digest_init(digest_set *ds, size_t expect) {
  ds->cap = expect + expect / 4 + 1024; /* filled to 0.8 at most */
  ds->n = 0;
  ds->slot = sp_xcalloc(ds->cap, 16);
  ds->seen = sp_xcalloc(ds->cap / 8 + 1, 1);
}

static void digest_add(digest_set *ds, const unsigned char d[16]);

static void digest_grow(digest_set *ds) {
  digest_set old = *ds;
  digest_init(ds, old.cap * 2);
  for (size_t i = 0; i < old.cap; i++)
    if (memcmp(old.slot + 16 * i, zero16, 16) != 0)
      digest_add(ds, old.slot + 16 * i);
  free(old.slot);
  free(old.seen);
}

static void digest_add(digest_set *ds, const unsigned char d[16]) {
  if (memcmp(d, zero16, 16) == 0)
    return; /* cannot be stored; such a row is sent, as if changed */
  if ((ds->n + 1) * 5 > ds->cap * 4)
    digest_grow(ds);
  size_t i = digest_home(ds, d);
  while (memcmp(ds->slot + 16 * i, zero16, 16) != 0) {
    if (memcmp(ds->slot + 16 * i, d, 16) == 0)
      return;
    i = i + 1 == ds->cap ? 0 : i + 1;
  }
  memcpy(ds->slot + 16 * i, d, 16);
  ds->n++;
}

/* digest_add, a few digests later: a table of a million rows is far
 * larger than the cache, and each store would otherwise wait for its
 * slot to come from memory before the next could start. */
static void digest_add_soon(digest_set *ds, const unsigned char d[16]) {
  unsigned k = ds->nsoon % SP_ARRAY_LEN(ds->soon);
  if (ds->nsoon >= SP_ARRAY_LEN(ds->soon))
    digest_add(ds, ds->soon[k]);
  memcpy(ds->soon[k], d, 16);
  if (ds->cap)
    __builtin_prefetch(ds->slot + 16 * digest_home(ds, d), 1);
  ds->nsoon++;
}

/* The digests digest_add_soon still holds, stored. */
static void digest_add_flush(digest_set *ds) {
  size_t n = SP_ARRAY_LEN(ds->soon);
  size_t first = ds->nsoon > n ? ds->nsoon - n : 0;
  for (size_t j = first; j < ds->nsoon; j++)
    digest_add(ds, ds->soon[j % n]);
  ds->nsoon = 0;
}

/* 0: not in the table; 1: in it, met for the first time; 2: met again. */
static int digest_meet(digest_set *ds, const unsigned char d[16]) {
  if (!ds->cap)
    return 0;
  size_t i = digest_home(ds, d);
  /* the seen bit's byte, fetched while the slot is */
  __builtin_prefetch(ds->seen + i / 8, 1);
  while (memcmp(ds->slot + 16 * i, zero16, 16) != 0) {
    if (memcmp(ds->slot + 16 * i, d, 16) == 0) {
      unsigned char bit = (unsigned char)(1u << (i % 8));
      int again = (ds->seen[i / 8] & bit) != 0;
      ds->seen[i / 8] |= bit;
      return again ? 2 : 1;
    }
    i = i + 1 == ds->cap ? 0 : i + 1;
  }
  return 0;
}

/* Whether d is in the table and was met in this load. */
static int digest_was_met(const digest_set *ds, const unsigned char d[16]) {
  if (!ds->cap)
    return 0;
  size_t i = digest_home(ds, d);
  while (memcmp(ds->slot + 16 * i, zero16, 16) != 0) {
    if (memcmp(ds->slot + 16 * i, d, 16) == 0)
      return (ds->seen[i / 8] >> (i % 8)) & 1;
    i = i + 1 == ds->cap ? 0 : i + 1;
  }
  return 0;
}

static void digest_free(digest_set *ds) {
  free(ds->slot);
  free(ds->seen);
  memset(ds, 0, sizeof *ds);
}

/* A uuid's text as PostgreSQL's uuid_out writes it (8-4-4-4-12 lowercase
 * hex) to its 16 bytes; -1 for anything else (\N).  Arithmetic, not
 * branches: it may run once a row of the stage. */
static int uuid_parse(const char *s, size_t len, unsigned char out[16]) {
  static const unsigned char at[16] = {0,  2,  4,  6,  9,  11, 14, 16,
                                       19, 21, 24, 26, 28, 30, 32, 34};
  if (len == 37 && s[36] == '\n') /* a line of COPY TO */
    len--;
  if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
    return -1;
  for (int i = 0; i < 16; i++) {
    unsigned hi = (unsigned char)s[at[i]], lo = (unsigned char)s[at[i] + 1];
    /* '0'-'9' are 0x30-0x39, 'a'-'f' 0x61-0x66 */
    hi = (hi & 0xf) + 9 * (hi >> 6);
    lo = (lo & 0xf) + 9 * (lo >> 6);
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

/*
 * COPY ... (FORMAT binary) of one uuid column, as it arrives: a header
 * (signature, flags, extension), then per row a field count of 1 and the
 * field (length 16, or -1 for NULL), then a field count of -1.  The
 * protocol sends each row in a CopyData message of its own (the header
 * with the first, the trailer alone), so a message holds whole items.
 * Returns the bytes consumed, or -1 for anything else.
 */
static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static long long digests_take(digest_set *ds, const unsigned char *p, size_t n,
                              int *state) {
  size_t at = 0;
  for (;;) {
    const unsigned char *q = p + at;
    size_t left = n - at;
    if (*state == 0) { /* the header */
      if (left < 19)
        return (long long)at;
      /* the signature (the header's first 11 bytes), then the flags: the
       * low 16 bits are format-critical, bit 16 is OIDs */
      if (memcmp(q, SP_COPY_BIN_HEADER, 11) != 0 ||
          (be32(q + 11) & 0x1ffffu) != 0)
        return -1;
      uint32_t ext = be32(q + 15);
      if (ext > 1u << 20)
        return -1;
      if (left < 19 + (size_t)ext)
        return (long long)at;
      at += 19 + ext;
      *state = 1;
    } else if (*state == 1) { /* a row, or the trailer */
      if (left < 2)
        return (long long)at;
      int nf = (int16_t)(q[0] << 8 | q[1]);
      if (nf == -1) {
        at += 2;
        *state = 2;
      } else if (nf != 1) {
        return -1;
      } else if (left < 6) {
        return (long long)at;
      } else if (be32(q + 2) == 0xffffffffu) {
        ds->nulls++;
        at += 6;
      } else if (be32(q + 2) != 16) {
        return -1;
      } else if (left < 22) {
        return (long long)at;
      } else {
        digest_add_soon(ds, q + 6);
        at += 22;
      }
    } else {
      return left ? -1 : (long long)at;
    }
  }
}

/* Every _digest of table qt into ds, with one binary COPY (a uuid's 16
 * bytes, not its 36 characters: less for the server to format and send;
 * NULL for a row loaded before digests were kept: such a row never
 * matches, so it is sent and compared by the server as before). */
static int fetch_digests(PGconn *conn, const char *qt, digest_set *ds,
                         char *err, size_t errlen) {
  char *q = sp_xasprintf("SELECT greatest(reltuples, 0)::bigint FROM pg_class "
                         "WHERE oid = '%s'::regclass",
                         qt);
  PGresult *res;
  int rc = sp_pg_exec(conn, q, PGRES_TUPLES_OK, &res, err, errlen);
  free(q);
  if (rc)
    return rc;
  long long est = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
  PQclear(res);
  digest_init(ds, (size_t)(est > 0 ? est + est / 16 : 0));
  q = sp_xasprintf("COPY (SELECT _digest FROM %s) TO STDOUT (FORMAT binary)",
                   qt);
  res = PQexec(conn, q);
  free(q);
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    rc = sp_pg_classify(conn, res);
    snprintf(err, errlen, "cannot read the table's digests: %s",
             PQerrorMessage(conn));
    PQclear(res);
    return rc;
  }
  PQclear(res);
  int state = 0;
  char *msg;
  int len;
  while ((len = PQgetCopyData(conn, &msg, 0)) > 0) {
    /* after an error, the rest is read and dropped */
    if (!rc && digests_take(ds, (const unsigned char *)msg, (size_t)len,
                            &state) != len) {
      rc = SAMSPOR_EIO;
      snprintf(err, errlen,
               "cannot read the table's digests: unexpected COPY data");
    }
    PQfreemem(msg);
  }
  digest_add_flush(ds);
  if (!rc && len == -1 && state != 2) {
    rc = SAMSPOR_EIO;
    snprintf(err, errlen,
             "cannot read the table's digests: the COPY data ended early");
  }
  while ((res = PQgetResult(conn)) != NULL) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
      rc = sp_pg_classify(conn, res);
      snprintf(err, errlen, "cannot read the table's digests: %s",
               PQerrorMessage(conn));
    }
    PQclear(res);
  }
  if (!rc && len == -2) {
    rc = SAMSPOR_ETEMP;
    snprintf(err, errlen, "cannot read the table's digests: %s",
             PQerrorMessage(conn));
  }
  return rc;
}

/* ---- the loading sink ------------------------------------------------- */

/* A row not sent, spooled as it is (text only if it must be staged). */
typedef struct unchanged_row {
  long long ord; /* its ordinal among the load's rows */
  unsigned char digest[16];
} unchanged_row;

typedef struct loader {
  samspor_sink sink; /* must be first: the host casts to it */
  PGconn *conn;
  const sp_stream *st;
  sp_rules *rules;
  long long run_id;
  char run_suffix[32]; /* "\t<run_id>\n": appended to each COPY line */
  int binary;          /* the COPY is in binary format (sp_rules_binary) */

  sp_buf rec;  /* the current record's field values */
  size_t *off; /* per field: offset into rec, SIZE_MAX: NULL */
  size_t *len;
  sp_field *fields;   /* built at record_end */
  char position[256]; /* where the current record came from */

  sp_buf copy;   /* pending COPY data */
  FILE *rejects; /* spooled reject rows (COPY text) */
  const char *connector;

  const char *stored_cursor; /* from sync_state, or NULL */
  char *max_cursor;          /* largest cursor value seen (owned) */
  char *plugin_state;        /* set_state() (owned) */

  long long read, rows, rejected, skipped;
  long long stored;     /* rejects written to the spool */
  long long dups;       /* rows removed as duplicates of the key */
  long long max_stored; /* max_rejects_stored */
  double max_ratio;     /* max_reject_ratio */
  FILE *positions;      /* keyed streams: the position of each COPY row, a line
                           each, to name both rows of a duplicate key */
  int digest;           /* rows carry their _digest */
  unsigned char *dkey;  /* with digest: the row hash's key, made from the
                           stream's fingerprint (wiped memory: it is
                           key-equivalent) */
  sp_buf drow;          /* a row's fields, serialised for the row hash */
  digest_set *known;    /* the table's digests: rows found there are not
                           sent (NULL: every row is sent) */
  FILE *unchanged;      /* with known: an unchanged_row for each row not
                           sent, for the rare load that must stage them */
  long long nunchanged; /* rows not sent: already in the table */
  int met_again;        /* a row not sent came twice */
  int rc;               /* first failure, 0 while all is well */
  char err[1024];
  size_t nreasons; /* rejected rows per reason, for the run record */
  sp_runrec_reason reasons[SP_RUNREC_MAX_REASONS];

  /* Progress of a long load: a record to the daemon every rec_every
   * seconds, a log line every log_every seconds. */
  int recfd; /* the daemon's channel, or -1 */
  double t0; /* monotonic start of the stream */
  double next_rec, next_log;
  double rec_every, log_every;
  double last_log_t;       /* when the last progress line was written */
  long long last_log_read; /* rows read then */
} loader;

/* "cpr_bad_date 12, field_count 3": a result's rejects per reason, for
 * the summary line and the log. */
void sp_stream_reasons(const sp_stream_result *r, char *buf, size_t n) {
  buf[0] = '\0';
  for (size_t i = 0, at = 0; i < r->nreasons && at < n; i++)
    at += (size_t)snprintf(buf + at, n - at, "%s%s %lld", i ? ", " : "",
                           r->reasons[i].reason, r->reasons[i].rows);
}

static void spool_reject(loader *l, const char *position, const char *column,
                         const char *reason, const char *message) {
  /* Counted always (sync_run has the true number), stored up to a bound:
   * a source of nothing but bad rows must not fill the warehouse. */
  l->rejected++;
  sp_runrec_add_reason(l->reasons, &l->nreasons, reason, 1);
  if (l->stored >= l->max_stored)
    return;
  l->stored++;
  sp_buf b;
  sp_buf_init(&b);
  sp_buf_printf(&b, "%lld\t", l->run_id);
  sp_copy_escape(&b, l->connector, strlen(l->connector));
  sp_buf_putc(&b, '\t');
  sp_copy_escape(&b, l->st->table, strlen(l->st->table));
  sp_buf_putc(&b, '\t');
  if (position)
    sp_copy_escape(&b, position, strlen(position));
  else
    sp_buf_puts(&b, "\\N");
  sp_buf_putc(&b, '\t');
  if (column)
    sp_copy_escape(&b, column, strlen(column));
  else
    sp_buf_puts(&b, "\\N");
  sp_buf_putc(&b, '\t');
  sp_copy_escape(&b, reason, strlen(reason));
  sp_buf_putc(&b, '\t');
  if (message)
    sp_copy_escape(&b, message, strlen(message));
  else
    sp_buf_puts(&b, "\\N");
  sp_buf_putc(&b, '\n');
  if (fwrite(b.data, 1, b.len, l->rejects) != b.len && !l->rc) {
    l->rc = SAMSPOR_EIO;
    snprintf(l->err, sizeof l->err, "cannot spool rejects: %s",
             strerror(errno));
  }
  sp_buf_free(&b);
}

/*
 * Stop reading once the stored rejects are full and the share of rejects
 * so far is above max_reject_ratio.  With the default ratio 0 the load
 * could not succeed anyway; with a higher one the rest of the source is
 * unknown, and a source this bad is failed rather than read to its end.
 */
static int reject_limit(loader *l, const char *position) {
  if (!l->rc && l->rejected > l->max_stored &&
      (double)l->rejected > l->max_ratio * (double)l->read) {
    l->rc = SAMSPOR_EDATA;
    snprintf(l->err, sizeof l->err,
             "%lld of the first %lld rows rejected (%.4g%%), more than "
             "max_reject_ratio %.4g%%, and more than max_rejects_stored "
             "(%lld): reading stopped at %s; nothing was loaded (see "
             "samspor.rejects for run %lld)",
             l->rejected, l->read,
             100.0 * (double)l->rejected / (double)l->read, l->max_ratio * 100,
             l->max_stored, position && *position ? position : "?", l->run_id);
  }
  return l->rc;
}

static int flush_copy(loader *l) {
  if (l->copy.len == 0)
    return 0;
  if (PQputCopyData(l->conn, l->copy.data, (int)l->copy.len) != 1) {
    l->rc = SAMSPOR_ETEMP;
    snprintf(l->err, sizeof l->err, "COPY to the warehouse failed: %s",
             PQerrorMessage(l->conn));
    return l->rc;
  }
  sp_buf_reset(&l->copy);
  return 0;
}

/* How often a long load says how far it got, in seconds. */
#define PROGRESS_LOG_EVERY 30.0
/* How often the daemon hears of it (status, metrics file). */
#define PROGRESS_RECORD_EVERY 5.0
/* Overrides PROGRESS_LOG_EVERY (and, when shorter, the record interval),
 * so that tests need not load for 30 s. */
#define PROGRESS_ENV "SAMSPOR_PROGRESS_INTERVAL"

static void progress_setup(loader *l, int recfd) {
  l->recfd = recfd;
  l->log_every = PROGRESS_LOG_EVERY;
  const char *v = getenv(PROGRESS_ENV);
  if (v && *v) {
    char *end;
    double x = strtod(v, &end);
    if (*end == '\0' && x > 0)
      l->log_every = x;
  }
  l->rec_every = l->log_every < PROGRESS_RECORD_EVERY ? l->log_every
                                                      : PROGRESS_RECORD_EVERY;
  l->t0 = l->last_log_t = sp_now_mono();
  l->next_rec = l->t0 + l->rec_every;
  l->next_log = l->t0 + l->log_every;
}

/* Called after each record: tell the daemon and the log how far the load
 * got, when it is time.  A clock read per record costs tens of
 * nanoseconds (vDSO), nothing beside a row's COPY encoding. */
static void progress(loader *l) {
  double now = sp_now_mono();
  if (now < l->next_rec && now < l->next_log)
    return;
  if (now >= l->next_rec) {
    l->next_rec = now + l->rec_every;
    if (l->recfd >= 0) {
      sp_runrec p;
      memset(&p, 0, sizeof p);
      p.type = SP_RUNREC_PROGRESS;
      snprintf(p.connector, sizeof p.connector, "%s", l->connector);
      snprintf(p.stream, sizeof p.stream, "%s", l->st->table);
      p.run_id = l->run_id;
      p.read = l->read;
      p.loaded = l->rows;
      p.rejected = l->rejected;
      p.seconds = now - l->t0;
      /* A daemon that stopped listening does not stop the load. */
      if (sp_runrec_write(l->recfd, &p) != 0)
        l->recfd = -1;
    }
  }
  if (now >= l->next_log) {
    l->next_log = now + l->log_every;
    double dt = now - l->last_log_t;
    double rate = dt > 0 ? (double)(l->read - l->last_log_read) / dt : 0;
    sp_logcounts n = {l->read, l->rows, l->rejected};
    sp_logctx lc = {l->connector, l->st->table, l->run_id};
    sp_log_rows(SP_LOG_INFO, &lc, &n,
                "progress: read %lld, sent %lld to the warehouse (committed at "
                "the end), rejected %lld in %.0f s; %.0f rows/s",
                l->read, l->rows, l->rejected, now - l->t0, rate);
    l->last_log_t = now;
    l->last_log_read = l->read;
  }
}

static int l_record_begin(samspor_sink *sink, const char *position) {
  loader *l = (loader *)sink;
  sp_buf_reset(&l->rec);
  for (size_t i = 0; i < l->st->nfields; i++)
    l->off[i] = SIZE_MAX;
  /* as snprintf "%s" would, without its format parsing on every row */
  size_t n = position ? strnlen(position, sizeof l->position - 1) : 0;
  if (n)
    memcpy(l->position, position, n);
  l->position[n] = '\0';
  return l->rc;
}

static void l_field(samspor_sink *sink, size_t index, const char *value,
                    size_t len) {
  loader *l = (loader *)sink;
  if (index >= l->st->nfields || !value)
    return;
  l->off[index] = l->rec.len;
  l->len[index] = len;
  sp_buf_append(&l->rec, value, len);
}

/* The position of the row just counted, a line of l->positions. */
static int spool_position(loader *l) {
  /* a stretch at a time: fwrite locks the stream once, putc per byte */
  for (const char *p = l->position;;) {
    size_t n = strcspn(p, "\n");
    fwrite(p, 1, n, l->positions);
    if (!p[n])
      break;
    putc(' ', l->positions);
    p += n + 1;
  }
  if (putc('\n', l->positions) == EOF && !l->rc) {
    l->rc = SAMSPOR_EIO;
    snprintf(l->err, sizeof l->err, "cannot spool positions: %s",
             strerror(errno));
  }
  return l->rc;
}

static void absorb_hash(void *ud, const void *p, size_t n) {
  crypto_generichash_update(ud, p, n);
}

/*
 * A row's digest: of the source values it is made from (the fields the
 * stream reads, as the plugin delivered them), each with its length as a
 * LEB128 prefix (0: absent, else length + 1), so that no two rows feed the
 * same bytes; hashed with SipHash-2-4's 128-bit variant under a key made
 * from the stream's fingerprint (fingerprint).  A keyed PRF is all change
 * detection needs, and it costs a sixth of BLAKE2b on a row this short:
 * it runs on every row the source delivers.  Equal digests mean the same
 * table row, so a row found in the table needs none of the rules' work
 * (most of a sync's CPU: the pseudonyms' HMAC above all).
 */
static void row_digest(loader *l, unsigned char d[16]) {
  size_t need = 0;
  for (size_t i = 0; i < l->st->nfields; i++)
    need += l->fields[i].len + 10;
  sp_buf_reset(&l->drow);
  sp_buf_reserve(&l->drow, need);
  unsigned char *o = (unsigned char *)l->drow.data;
  for (size_t i = 0; i < l->st->nfields; i++) {
    uint64_t n = l->fields[i].ptr ? (uint64_t)l->fields[i].len + 1 : 0;
    do {
      *o++ = (unsigned char)((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>= 7;
    } while (n);
    if (l->fields[i].ptr && l->fields[i].len) {
      memcpy(o, l->fields[i].ptr, l->fields[i].len);
      o += l->fields[i].len;
    }
  }
  crypto_shorthash_siphashx24(
      d, (const unsigned char *)l->drow.data,
      (unsigned long long)(o - (unsigned char *)l->drow.data), l->dkey);
}

/* A row found in the table as it is: not sent, its ordinal and digest
 * spooled for the rare load that must stage it after all. */
static int keep_unchanged(loader *l, const unsigned char d[16], int met) {
  l->nunchanged++;
  l->met_again |= met == 2;
  unchanged_row u;
  u.ord = l->rows;
  memcpy(u.digest, d, sizeof u.digest);
  if (fwrite(&u, sizeof u, 1, l->unchanged) != 1 && !l->rc) {
    l->rc = SAMSPOR_EIO;
    snprintf(l->err, sizeof l->err, "cannot spool digests: %s",
             strerror(errno));
  }
  return l->rc;
}

static int l_record_end(samspor_sink *sink) {
  loader *l = (loader *)sink;
  if (l->rc)
    return l->rc;
  l->read++;
  progress(l);
  for (size_t i = 0; i < l->st->nfields; i++) {
    l->fields[i].ptr = l->off[i] == SIZE_MAX ? NULL : l->rec.data + l->off[i];
    l->fields[i].len = l->off[i] == SIZE_MAX ? 0 : l->len[i];
  }
  unsigned char d[16];
  if (l->digest) {
    row_digest(l, d);
    /* With a cursor the rules run on every row: they move the cursor. */
    int met =
        l->known && l->st->cursor_column < 0 ? digest_meet(l->known, d) : 0;
    if (met) {
      l->rows++;
      if (keep_unchanged(l, d, met))
        return l->rc;
      return l->positions ? spool_position(l) : 0;
    }
  }
  size_t mark = l->copy.len;
  sp_reject_info rej = {-1, NULL, NULL};
  int r = sp_rules_apply(l->rules, l->fields, &l->copy, &rej);
  if (r == SP_ROW_REJECT) {
    spool_reject(l, l->position,
                 rej.column >= 0 ? l->st->columns[rej.column].name : NULL,
                 rej.reason ? rej.reason : "invalid", rej.message);
    return reject_limit(l, l->position);
  }
  if (r == SP_ROW_SKIP) {
    l->skipped++;
    return l->rc;
  }
  if (l->st->cursor_column >= 0) {
    size_t cl;
    const char *v = sp_rules_value(l->rules, (size_t)l->st->cursor_column, &cl);
    if (v && l->stored_cursor &&
        sp_rules_compare(l->rules, (size_t)l->st->cursor_column, v,
                         l->stored_cursor) < 0) {
      /* Older than what an earlier run loaded: already in the warehouse. */
      l->copy.len = mark;
      l->copy.data[mark] = '\0';
      l->skipped++;
      return 0;
    }
    if (v && (!l->max_cursor ||
              sp_rules_compare(l->rules, (size_t)l->st->cursor_column, v,
                               l->max_cursor) > 0)) {
      free(l->max_cursor);
      l->max_cursor = sp_xstrndup(v, cl);
    }
  }
  /* The rules wrote the row's values; the digest of the values, the run
   * id and, when rows are compared with the table's, the row's ordinal
   * (the order of the source, for on_duplicate) follow, and the line end. */
  l->rows++;
  int sent = 1;
  if (l->digest) {
    /* A cursor stream's rows meet the table's here, after the rules. */
    int met =
        l->known && l->st->cursor_column >= 0 ? digest_meet(l->known, d) : 0;
    if (met) {
      l->copy.len = mark;
      l->copy.data[mark] = '\0';
      sent = 0;
      if (keep_unchanged(l, d, met))
        return l->rc;
    } else if (l->binary) {
      sp_copy_bin_bytes(&l->copy, d, 16);
    } else {
      char u[37];
      sp_uuid_format(d, u);
      sp_buf_putc(&l->copy, '\t');
      sp_buf_append(&l->copy, u, 36);
    }
  }
  if (sent && l->binary) {
    sp_copy_bin_int8(&l->copy, l->run_id);
    if (l->known)
      sp_copy_bin_int8(&l->copy, l->rows);
  } else if (sent && l->known) {
    sp_buf_printf(&l->copy, "\t%lld\t%lld\n", l->run_id, l->rows);
  } else if (sent) {
    sp_buf_puts(&l->copy, l->run_suffix);
  }
  if (l->positions && spool_position(l))
    return l->rc;
  if (l->copy.len >= COPY_CHUNK)
    return flush_copy(l);
  return 0;
}

static int l_reject(samspor_sink *sink, const char *position,
                    const char *reason, const char *message) {
  loader *l = (loader *)sink;
  l->read++;
  progress(l);
  spool_reject(l, position, NULL, reason ? reason : "invalid", message);
  return reject_limit(l, position);
}

static void l_set_state(samspor_sink *sink, const char *state) {
  loader *l = (loader *)sink;
  free(l->plugin_state);
  l->plugin_state = state ? sp_xstrdup(state) : NULL;
}

/* ---- one stream ------------------------------------------------------- */

/* "6y" -> "6 years": retention as a calendar interval, not 365-day years. */
static char *duration_interval(const char *text) {
  sp_buf b;
  sp_buf_init(&b);
  const char *p = text;
  while (*p) {
    char *end;
    long long n = strtoll(p, &end, 10);
    const char *unit = *end == 'y'   ? "years"
                       : *end == 'w' ? "weeks"
                       : *end == 'd' ? "days"
                       : *end == 'h' ? "hours"
                       : *end == 'm' ? "minutes"
                                     : "seconds";
    sp_buf_printf(&b, "%s%lld %s", b.len ? " " : "", n, unit);
    if (!*end)
      break;
    p = end + 1;
  }
  return b.data ? b.data : sp_xstrdup("0 days");
}

static char *column_list(PGconn *conn, const sp_stream *st) {
  sp_buf b;
  sp_buf_init(&b);
  for (size_t i = 0; i < st->ncolumns; i++) {
    char *q = PQescapeIdentifier(conn, st->columns[i].name,
                                 strlen(st->columns[i].name));
    sp_buf_printf(&b, "%s%s", i ? ", " : "", q);
    PQfreemem(q);
  }
  return b.data;
}

/* End the COPY and collect its result. */
static int finish_copy(loader *l) {
  if (!l->rc && l->binary)
    sp_buf_append(&l->copy, SP_COPY_BIN_TRAILER, 2);
  int rc = l->rc ? l->rc : flush_copy(l);
  if (PQputCopyEnd(l->conn, rc ? "samspor: load abandoned" : NULL) != 1 &&
      !rc) {
    rc = SAMSPOR_ETEMP;
    snprintf(l->err, sizeof l->err, "COPY to the warehouse failed: %s",
             PQerrorMessage(l->conn));
  }
  PGresult *res;
  while ((res = PQgetResult(l->conn)) != NULL) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
      rc = sp_pg_classify(l->conn, res);
      char m[768];
      sp_pg_error(l->conn, res, m, sizeof m);
      snprintf(l->err, sizeof l->err, "the warehouse refused the rows: %s", m);
    }
    PQclear(res);
  }
  return rc;
}

/* Load the spooled rejects with COPY, in the current transaction. */
static int load_rejects(PGconn *conn, FILE *spool, char *err, size_t errlen) {
  if (!spool || ftell(spool) == 0)
    return 0;
  rewind(spool);
  int rc = sp_pg_copy_in(conn,
                         "COPY samspor.rejects (run_id, connector, stream, "
                         "position, column_name, reason, message) FROM STDIN",
                         spool, err, errlen);
  if (rc) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "cannot record rejects: %s", err);
    snprintf(err, errlen, "%s", tmp);
  }
  return rc;
}

static int record_run(sp_syncer *s, const sp_connector *cc, const sp_stream *st,
                      const sp_stream_result *r, const char *started,
                      const char *status, char *err, size_t errlen) {
  char run[32], rd[32], ld[32], rj[32], dl[32], sk[32], pid[16];
  snprintf(run, sizeof run, "%lld", r->run_id);
  snprintf(rd, sizeof rd, "%lld", r->read);
  snprintf(ld, sizeof ld, "%lld", r->loaded);
  snprintf(rj, sizeof rj, "%lld", r->rejected);
  snprintf(dl, sizeof dl, "%lld", r->deleted);
  snprintf(sk, sizeof sk, "%lld", r->skipped);
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  const char *p[] = {run,
                     cc->name,
                     st->table,
                     started,
                     status,
                     s->opts.full ? "t" : "f",
                     rd,
                     ld,
                     rj,
                     dl,
                     sk,
                     sp_key_id(s->key),
                     r->rc ? r->error : NULL,
                     s->host,
                     pid};
  return sp_pg_execp(
      s->conn,
      "INSERT INTO samspor.sync_run (run_id, connector, stream, started_at, "
      "finished_at, status, full_sync, rows_read, rows_loaded, "
      "rows_rejected, rows_deleted, rows_skipped, key_id, error, host, pid) "
      "VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6, $7, $8, $9, $10, "
      "$11, $12, $13, $14, $15)",
      15, p, PGRES_COMMAND_OK, NULL, err, errlen);
}

static void run_date(const sp_config *c, int *y, int *m, int *d) {
  char buf[SP_TIME_BUFLEN];
  if (sp_time_format(time(NULL), sp_config_timezone(c), buf, sizeof buf) == 0 &&
      sscanf(buf, "%d-%d-%d", y, m, d) == 3)
    return;
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  *y = tm.tm_year + 1900;
  *m = tm.tm_mon + 1;
  *d = tm.tm_mday;
}

/* "a, b" of quoted identifiers, with an optional prefix ("s.a, s.b"). */
static char *ident_list(PGconn *conn, const char *const *names, size_t n,
                        const char *prefix) {
  sp_buf b;
  sp_buf_init(&b);
  for (size_t i = 0; i < n; i++) {
    char *q = PQescapeIdentifier(conn, names[i], strlen(names[i]));
    sp_buf_printf(&b, "%s%s%s", i ? ", " : "", prefix ? prefix : "", q);
    PQfreemem(q);
  }
  return b.data ? b.data : sp_xstrdup("");
}

static const char **column_names(const sp_stream *st) {
  const char **names = sp_xcalloc(st->ncolumns + 1, sizeof(char *));
  for (size_t i = 0; i < st->ncolumns; i++)
    names[i] = st->columns[i].name;
  return names;
}

/* ---- duplicates of the key within one load ---------------------------- */

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

/* The positions of COPY rows by ordinal (want: sorted, 1-based), from the
 * position spool in one pass; only the wanted lines are kept. */
static char **positions_of(FILE *f, const long long *want, size_t n) {
  char **out = sp_xcalloc(n + 1, sizeof(char *));
  if (!f || n == 0)
    return out;
  rewind(f);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long long o = 0;
  size_t i = 0;
  while (i < n && (len = getline(&line, &cap, f)) >= 0) {
    o++;
    if (len && line[len - 1] == '\n')
      line[len - 1] = '\0';
    for (; i < n && want[i] == o; i++)
      out[i] = sp_xstrdup(line);
  }
  free(line);
  fseek(f, 0, SEEK_END);
  return out;
}

/*
 * Remove from rel (the stage, or the table whose primary key is dropped)
 * every row whose key an earlier (on_duplicate = reject or first) or later
 * (last) row of this load has.  The server does it, so memory stays flat:
 * COPY order is ctid order, since rel was empty or new when this
 * transaction's COPY filled it.  With reject, each removed row becomes a
 * duplicate_key reject naming its position and the kept row's (the first
 * max_rejects_stored of them; all are counted).
 */
static int drop_duplicates(loader *l, const char *rel, char *err,
                           size_t errlen) {
  PGconn *conn = l->conn;
  const sp_stream *st = l->st;
  const char *const *key;
  size_t nkey = sp_get_list(st->s, "key", &key);
  char *keys = ident_list(conn, key, nkey, NULL);
  const char *policy = sp_get_string(st->s, "on_duplicate");
  int reject = sp_streq(policy, "reject");
  sp_buf sql;
  sp_buf_init(&sql);
  sp_buf_printf(
      &sql,
      "CREATE TEMP TABLE samspor_dup ON COMMIT DROP AS "
      "SELECT c, o, k FROM (SELECT c, o, count(*) OVER w AS n, %s(o) OVER w "
      "AS k FROM (SELECT ctid AS c, %s AS o, "
      "%s FROM %s) x WINDOW w AS (PARTITION BY %s ORDER BY o ROWS BETWEEN "
      "UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) y WHERE n > 1 AND o <> "
      "k; DELETE FROM %s t USING samspor_dup d WHERE t.ctid = d.c",
      sp_streq(policy, "last") ? "last_value" : "first_value",
      /* A stage compared with the table holds the rows' ordinals: not all
       * came in COPY order. */
      l->known && strcmp(rel, "samspor_stage") == 0
          ? "_ord"
          : "row_number() OVER (ORDER BY ctid)",
      keys, rel, keys, rel);
  free(keys);
  PGresult *res = NULL;
  int rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, &res, err, errlen);
  long long n = rc ? 0 : atoll(PQcmdTuples(res));
  PQclear(res);
  res = NULL;
  if (!rc) {
    l->rows -= n;
    l->dups += n;
    if (!reject)
      l->skipped += n;
  }
  if (!rc && reject && n > 0) {
    long long room = l->max_stored > l->stored ? l->max_stored - l->stored : 0;
    char lim[32];
    snprintf(lim, sizeof lim, "%lld", room);
    const char *p[] = {lim};
    rc = sp_pg_execp(conn, "SELECT o, k FROM samspor_dup ORDER BY o LIMIT $1",
                     1, p, PGRES_TUPLES_OK, &res, err, errlen);
  }
  if (!rc && res) {
    size_t m = (size_t)PQntuples(res);
    long long *want = sp_xcalloc(2 * m + 1, sizeof(long long));
    for (size_t i = 0; i < m; i++) {
      want[2 * i] = atoll(PQgetvalue(res, (int)i, 0));
      want[2 * i + 1] = atoll(PQgetvalue(res, (int)i, 1));
    }
    qsort(want, 2 * m, sizeof *want, cmp_ll);
    char **pos = positions_of(l->positions, want, 2 * m);
    sp_buf names;
    sp_buf_init(&names);
    for (size_t i = 0; i < nkey; i++)
      sp_buf_printf(&names, "%s%s", i ? ", " : "", key[i]);
    for (size_t i = 0; i < m; i++) {
      long long o = atoll(PQgetvalue(res, (int)i, 0));
      long long k = atoll(PQgetvalue(res, (int)i, 1));
      const long long *po = bsearch(&o, want, 2 * m, sizeof *want, cmp_ll);
      const long long *pk = bsearch(&k, want, 2 * m, sizeof *want, cmp_ll);
      const char *so = po ? pos[po - want] : NULL;
      const char *sk = pk ? pos[pk - want] : NULL;
      char *msg = sp_xasprintf("same key (%s) as the row at %s, which was "
                               "loaded",
                               names.data, sk ? sk : "?");
      spool_reject(l, so, NULL, "duplicate_key", msg);
      free(msg);
    }
    /* Those beyond max_rejects_stored are counted, not stored. */
    l->rejected += n - (long long)m;
    if (n > (long long)m)
      sp_runrec_add_reason(l->reasons, &l->nreasons, "duplicate_key",
                           n - (long long)m);
    for (size_t i = 0; i < 2 * m; i++)
      free(pos[i]);
    free(pos);
    free(want);
    sp_buf_free(&names);
  }
  PQclear(res);
  if (!rc)
    rc = sp_pg_exec(conn, "DROP TABLE samspor_dup", PGRES_COMMAND_OK, NULL, err,
                    errlen);
  sp_buf_free(&sql);
  return rc ? rc : l->rc;
}

/* Duplicates in rel, which has no unique index: one hash aggregate. */
static int dedupe_rel(loader *l, const char *rel, char *err, size_t errlen) {
  const char *const *key;
  size_t nkey = sp_get_list(l->st->s, "key", &key);
  char *keys = ident_list(l->conn, key, nkey, NULL);
  char *q = sp_xasprintf(
      "SELECT 1 FROM %s GROUP BY %s HAVING count(*) > 1 LIMIT 1", rel, keys);
  PGresult *res;
  int rc = sp_pg_exec(l->conn, q, PGRES_TUPLES_OK, &res, err, errlen);
  free(q);
  free(keys);
  if (rc)
    return rc;
  int any = PQntuples(res) > 0;
  PQclear(res);
  return any ? drop_duplicates(l, rel, err, errlen) : 0;
}

/*
 * The table was loaded without its primary key (full_refresh, or the
 * first load of incremental_dedup): add it back (one sort).  Should the
 * load hold a key twice, handle the duplicates by on_duplicate and try
 * again.
 */
static int rebuild_key(loader *l, const char *qt, const char *pkname, char *err,
                       size_t errlen) {
  PGconn *conn = l->conn;
  const sp_stream *st = l->st;
  const char *const *key;
  size_t nkey = sp_get_list(st->s, "key", &key);
  char *keys = ident_list(conn, key, nkey, NULL);
  char *qp = PQescapeIdentifier(conn, pkname, strlen(pkname));
  sp_buf sql;
  sp_buf_init(&sql);
  sp_buf_printf(&sql,
                "SAVEPOINT samspor_pk; ALTER TABLE %s ADD CONSTRAINT %s "
                "PRIMARY KEY (%s)",
                qt, qp, keys);
  PGresult *res = PQexec(conn, sql.data);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state || strcmp(state, "23505") != 0) {
      rc = sp_pg_classify(conn, res);
      snprintf(err, errlen, "cannot restore the primary key of %s: %s", qt,
               PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                   ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                   : PQerrorMessage(conn));
    } else {
      rc = sp_pg_exec(conn, "ROLLBACK TO SAVEPOINT samspor_pk",
                      PGRES_COMMAND_OK, NULL, err, errlen);
      if (!rc)
        rc = drop_duplicates(l, qt, err, errlen);
      if (!rc) {
        sp_buf_reset(&sql);
        sp_buf_printf(&sql, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s)",
                      qt, qp, keys);
        rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, NULL, err, errlen);
      }
    }
  }
  PQclear(res);
  if (!rc)
    PQclear(PQexec(conn, "RELEASE SAVEPOINT samspor_pk"));
  sp_buf_free(&sql);
  free(keys);
  PQfreemem(qp);
  return rc;
}

/*
 * Merge the staging table into the stream's table.  *loaded is the number
 * of rows inserted or changed.
 *
 * incremental_dedup: a hash anti-join first finds the staged rows that
 * differ from the warehouse (new keys or changed values); only the keys
 * they touch go through INSERT ... ON CONFLICT, with the last staged row of
 * each such key winning.  A night on which little changed therefore costs
 * one hash join, not a million index probes, and an unchanged row is never
 * rewritten (its _run_id stays that of the load that wrote it).
 *
 * append with a cursor: rows at the stored cursor value may have been
 * loaded by the last run; add only those not already there (as a
 * multiset), so boundary rows are neither lost nor doubled.
 */
static int merge_stage(PGconn *conn, const sp_stream *st, const char *qt,
                       const char *cols, const char *stored_cursor,
                       long long run_id, long long *loaded, char *err,
                       size_t errlen) {
  sp_buf sql;
  sp_buf_init(&sql);
  PGresult *res = NULL;
  /* Statistics, so the planner picks the hash joins below. */
  int rc = sp_pg_exec(conn, "ANALYZE samspor_stage", PGRES_COMMAND_OK, NULL,
                      err, errlen);
  if (rc)
    goto out;
  if (st->mode == SP_MODE_INCREMENTAL_DEDUP) {
    const char *const *key;
    size_t nkey = sp_get_list(st->s, "key", &key);
    const char **names = column_names(st);
    char *keys = ident_list(conn, key, nkey, NULL);
    char *s_cols = ident_list(conn, names, st->ncolumns, "s.");
    char *t_cols = ident_list(conn, names, st->ncolumns, "t.");
    char *x_cols = ident_list(conn, names, st->ncolumns, "x.");
    char *e_cols = ident_list(conn, names, st->ncolumns, "EXCLUDED.");
    sp_buf join, set;
    sp_buf_init(&join);
    sp_buf_init(&set);
    for (size_t i = 0; i < nkey; i++) {
      char *q = PQescapeIdentifier(conn, key[i], strlen(key[i]));
      sp_buf_printf(&join, "%sx.%s = s.%s", i ? " AND " : "", q, q);
      PQfreemem(q);
    }
    for (size_t i = 0; i < st->ncolumns; i++) {
      char *q = PQescapeIdentifier(conn, names[i], strlen(names[i]));
      sp_buf_printf(&set, "%s = EXCLUDED.%s, ", q, q);
      PQfreemem(q);
    }
    /* A row whose values are unchanged but whose _digest is missing (loaded
     * before digests were kept) gets its digest, and keeps its _run_id. */
    sp_buf_printf(
        &sql,
        "WITH changed AS (SELECT DISTINCT %s FROM samspor_stage s WHERE NOT "
        "EXISTS (SELECT 1 FROM %s x WHERE %s AND (%s, x._digest) IS NOT "
        "DISTINCT FROM (%s, s._digest))), "
        "latest AS (SELECT DISTINCT ON (%s) %s, s._digest, s._run_id FROM "
        "samspor_stage s JOIN changed USING (%s) ORDER BY %s, s.ctid DESC) "
        "INSERT INTO %s AS t (%s, _digest, _run_id) SELECT %s, _digest, "
        "_run_id FROM latest ON CONFLICT (%s) DO UPDATE SET %s_digest = "
        "EXCLUDED._digest, _run_id = CASE WHEN (%s) IS DISTINCT FROM (%s) "
        "THEN EXCLUDED._run_id ELSE t._run_id END, _loaded_at = CASE WHEN "
        "(%s) IS DISTINCT FROM (%s) THEN EXCLUDED._loaded_at ELSE "
        "t._loaded_at END WHERE (%s, t._digest) IS DISTINCT FROM (%s, "
        "EXCLUDED._digest)",
        keys, qt, join.data, x_cols, s_cols, keys, s_cols, keys, keys, qt, cols,
        cols, keys, set.data, t_cols, e_cols, t_cols, e_cols, t_cols, e_cols);
    sp_buf_free(&join);
    sp_buf_free(&set);
    free(keys);
    free(s_cols);
    free(t_cols);
    free(x_cols);
    free(e_cols);
    free(names);
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, &res, err, errlen);
  } else if (!stored_cursor) {
    /* append of a keyed stream: staged only to remove duplicates. */
    sp_buf_printf(&sql,
                  "INSERT INTO %s (%s, _run_id) SELECT %s, _run_id FROM "
                  "samspor_stage",
                  qt, cols, cols);
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, &res, err, errlen);
  } else {
    const sp_column *cc = &st->columns[st->cursor_column];
    char *q = PQescapeIdentifier(conn, cc->name, strlen(cc->name));
    sp_buf_printf(&sql,
                  "INSERT INTO %s (%s, _run_id) "
                  "SELECT %s, _run_id FROM samspor_stage WHERE %s > $1::%s "
                  "UNION ALL SELECT *, %lld FROM ("
                  "SELECT %s FROM samspor_stage WHERE %s = $1::%s "
                  "EXCEPT ALL SELECT %s FROM %s WHERE %s = $1::%s) b",
                  qt, cols, cols, q, cc->sql_type, run_id, cols, q,
                  cc->sql_type, cols, qt, q, cc->sql_type);
    PQfreemem(q);
    const char *p[] = {stored_cursor};
    rc = sp_pg_execp(conn, sql.data, 1, p, PGRES_COMMAND_OK, &res, err, errlen);
  }
  if (!rc)
    *loaded = atoll(PQcmdTuples(res));
out:
  PQclear(res);
  sp_buf_free(&sql);
  return rc;
}

/*
 * After a load compared with the table: must the rows not sent (already in
 * the table) be staged after all?  Only when one of them shares its key
 * with another row of this load: then on_duplicate decides between them by
 * their order in the source, as it does when every row is staged.
 */
static int must_restage(loader *l, const char *qt, int *need, char *err,
                        size_t errlen) {
  *need = l->met_again;
  if (*need || l->nunchanged == 0)
    return 0;
  /* Statistics: a small stage is joined by index probes, not by reading
   * the whole table (1M rows: 20 ms instead of a second). The table's
   * pages are in memory, just read for its digests. */
  int rc0 = sp_pg_exec(l->conn,
                       "ANALYZE samspor_stage; SET LOCAL random_page_cost = "
                       "1.1",
                       PGRES_COMMAND_OK, NULL, err, errlen);
  if (rc0)
    return rc0;
  const char *const *key;
  size_t nkey = sp_get_list(l->st->s, "key", &key);
  char *keys = ident_list(l->conn, key, nkey, NULL);
  char *q = sp_xasprintf("COPY (SELECT t._digest FROM samspor_stage s JOIN %s "
                         "t USING (%s) WHERE t._digest IS NOT NULL) TO STDOUT",
                         qt, keys);
  free(keys);
  PGresult *res = PQexec(l->conn, q);
  free(q);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    rc = sp_pg_classify(l->conn, res);
    snprintf(err, errlen, "cannot compare keys: %s", PQerrorMessage(l->conn));
    PQclear(res);
    return rc;
  }
  PQclear(res);
  char *line;
  int len;
  while ((len = PQgetCopyData(l->conn, &line, 0)) > 0) {
    unsigned char d[16];
    if (uuid_parse(line, (size_t)len, d) == 0 && digest_was_met(l->known, d))
      *need = 1;
    PQfreemem(line);
  }
  while ((res = PQgetResult(l->conn)) != NULL) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
      rc = sp_pg_classify(l->conn, res);
      snprintf(err, errlen, "cannot compare keys: %s", PQerrorMessage(l->conn));
    }
    PQclear(res);
  }
  return rc;
}

/* Stage the rows not sent, from the table (their digests identify them),
 * with their ordinals in the source. */
static int restage(loader *l, const char *qt, const char *dcols, char *err,
                   size_t errlen) {
  int rc = sp_pg_exec(l->conn,
                      "CREATE TEMP TABLE samspor_unchanged (o bigint, d uuid) "
                      "ON COMMIT DROP",
                      PGRES_COMMAND_OK, NULL, err, errlen);
  if (rc)
    return rc;
  FILE *text = tmpfile();
  if (!text) {
    snprintf(err, errlen, "cannot create a temporary file: %s",
             strerror(errno));
    return SAMSPOR_EIO;
  }
  rewind(l->unchanged);
  unchanged_row u;
  while (fread(&u, sizeof u, 1, l->unchanged) == 1) {
    char d[37];
    sp_uuid_format(u.digest, d);
    fprintf(text, "%lld\t%s\n", u.ord, d);
  }
  if (ferror(l->unchanged) || fflush(text) != 0) {
    snprintf(err, errlen, "cannot read spooled digests: %s", strerror(errno));
    fclose(text);
    return SAMSPOR_EIO;
  }
  rewind(text);
  rc = sp_pg_copy_in(l->conn, "COPY samspor_unchanged FROM STDIN", text, err,
                     errlen);
  fclose(text);
  if (rc)
    return rc;
  const char **names = column_names(l->st);
  char *t = ident_list(l->conn, names, l->st->ncolumns, "t.");
  char *tcols = sp_xasprintf("%s, t._digest", t);
  free(t);
  free(names);
  char *q = sp_xasprintf(
      "INSERT INTO samspor_stage (%s, _run_id, _ord) SELECT %s, %lld, u.o "
      "FROM samspor_unchanged u JOIN %s t ON t._digest = u.d",
      dcols, tcols, l->run_id, qt);
  rc = sp_pg_exec(l->conn, q, PGRES_COMMAND_OK, NULL, err, errlen);
  free(q);
  free(tcols);
  return rc;
}

/*
 * full_refresh compared with the table: delete the rows this export no
 * longer holds as they are (vanished or changed: their digests were not
 * met), then add the staged ones (new or changed).  When the rows not sent
 * were staged after all, the stage holds the whole export: replace all.
 */
static int replace_changed(loader *l, const char *qt, const char *dcols,
                           int restaged, char *err, size_t errlen) {
  PGconn *conn = l->conn;
  int rc = 0;
  char *q;
  if (restaged) {
    q = sp_xasprintf("DELETE FROM %s", qt);
    rc = sp_pg_exec(conn, q, PGRES_COMMAND_OK, NULL, err, errlen);
    free(q);
  } else {
    rc = sp_pg_exec(conn,
                    "CREATE TEMP TABLE samspor_gone (d uuid) ON COMMIT DROP",
                    PGRES_COMMAND_OK, NULL, err, errlen);
    FILE *f = rc ? NULL : tmpfile();
    if (!rc && !f) {
      rc = SAMSPOR_EIO;
      snprintf(err, errlen, "cannot create a temporary file: %s",
               strerror(errno));
    }
    const digest_set *ds = l->known;
    long long gone = ds->nulls;
    for (size_t i = 0; !rc && i < ds->cap; i++) {
      const unsigned char *d = ds->slot + 16 * i;
      if (memcmp(d, zero16, 16) == 0 || (ds->seen[i / 8] >> (i % 8)) & 1)
        continue;
      char u[37];
      sp_uuid_format(d, u);
      u[36] = '\n';
      gone++;
      if (fwrite(u, 1, 37, f) != 37) {
        rc = SAMSPOR_EIO;
        snprintf(err, errlen, "cannot spool digests: %s", strerror(errno));
      }
    }
    if (!rc && gone) {
      rewind(f);
      rc = sp_pg_copy_in(conn, "COPY samspor_gone FROM STDIN", f, err, errlen);
    }
    if (f)
      fclose(f);
    if (!rc && gone) {
      q = sp_xasprintf("ANALYZE samspor_gone; DELETE FROM %s WHERE _digest "
                       "IS NULL OR _digest IN (SELECT d FROM samspor_gone)",
                       qt);
      rc = sp_pg_exec(conn, q, PGRES_COMMAND_OK, NULL, err, errlen);
      free(q);
    }
  }
  if (!rc) {
    q = sp_xasprintf("INSERT INTO %s (%s, _run_id) SELECT %s, _run_id FROM "
                     "samspor_stage",
                     qt, dcols, dcols);
    rc = sp_pg_exec(conn, q, PGRES_COMMAND_OK, NULL, err, errlen);
    free(q);
  }
  return rc;
}

/* What the steps of one stream's transaction (stream_tx) share. */
typedef struct stream_txn {
  sp_syncer *s;
  const sp_connector *cc;
  const sp_stream *st;
  loader *l;
  sp_stream_result *r;
  PGconn *conn;
  char *err;
  size_t errlen;
  char *qt, *cols;
  char *dcols; /* the columns COPY fills, but for _run_id (and a stage's
                  _ord) */
  digest_set known;
  int aware; /* rows are compared with the table's before sending */
  int restaged;
  char *stored_cursor, *stored_state;
  int initial;  /* first load of an incremental_dedup table */
  char *pkname; /* the table's primary key constraint */
  int keyed;    /* the stream has a key */
  int staged;   /* the COPY goes to samspor_stage */
  int freeze;   /* the table is emptied: COPY ... WITH (FREEZE) */
  int rebuild;  /* the primary key is dropped and added back at the end */
  sp_buf sql;
  forgotten_set forgotten;
  samspor_ctx ctx;
} stream_txn;

/* The stored cursor and plugin state, the row locked until commit. */
static int tx_read_state(stream_txn *t) {
  PGresult *res = NULL;
  const char *kp[] = {t->cc->name, t->st->table};
  int rc =
      sp_pg_execp(t->conn,
                  "SELECT cursor_value, plugin_state FROM samspor.sync_state "
                  "WHERE connector = $1 AND stream = $2 FOR UPDATE",
                  2, kp, PGRES_TUPLES_OK, &res, t->err, t->errlen);
  if (rc) {
    PQclear(res);
    return rc;
  }
  if (PQntuples(res) == 1 && !t->s->opts.full) {
    if (!PQgetisnull(res, 0, 0))
      t->stored_cursor = sp_xstrdup(PQgetvalue(res, 0, 0));
    if (!PQgetisnull(res, 0, 1))
      t->stored_state = sp_xstrdup(PQgetvalue(res, 0, 1));
  }
  PQclear(res);
  if (t->st->cursor_column < 0) {
    free(t->stored_cursor);
    t->stored_cursor = NULL;
  }
  return 0;
}

/*
 * The key of every row digest: BLAKE2b keyed with a subkey of the pseudonym
 * key (so a digest of source values that hold a CPR number cannot be
 * tested against guesses, and a new key starts afresh), fed what the rules
 * make of a row besides the row itself: samspor's version, the stream's
 * settings that shape a value, its maps' contents and, for an age at the
 * run date, that date.  Change any of them and no row is found unchanged:
 * the next load writes every row once.
 */
static int fingerprint(loader *l, const sp_key *key) {
  l->dkey = sodium_malloc(crypto_shorthash_siphashx24_KEYBYTES);
  crypto_generichash_state *h = sodium_malloc(sizeof *h);
  if (!l->dkey || !h) {
    if (h)
      sodium_free(h);
    return SAMSPOR_ENOMEM;
  }
  unsigned char sub[32];
  sp_key_derive(key, 1, "rowdgst1", sub);
  crypto_generichash_init(h, sub, sizeof sub,
                          crypto_shorthash_siphashx24_KEYBYTES);
  sodium_memzero(sub, sizeof sub);
  static const char v[] = "samspor row digest 2 " PACKAGE_VERSION;
  crypto_generichash_update(h, (const unsigned char *)v, sizeof v);
  sp_settings_absorb(l->st->s, absorb_hash, h);
  sp_rules_absorb(l->rules, absorb_hash, h);
  crypto_generichash_final(h, l->dkey, crypto_shorthash_siphashx24_KEYBYTES);
  sodium_free(h); /* zeroes it */
  return 0;
}

/* The forgotten people and the column rules of the loader. */
static int tx_rules(stream_txn *t) {
  sp_syncer *s = t->s;
  int rc = load_forgotten(t->conn, t->st, s->opts.old_key, &t->forgotten,
                          t->err, t->errlen);
  if (rc)
    return rc;
  sp_rules_env env = {.config = s->config,
                      .key = s->key,
                      .is_forgotten = is_forgotten,
                      .ud = &t->forgotten,
                      .old_key = s->opts.old_key,
                      .was_forgotten = was_forgotten};
  run_date(s->config, &env.run_year, &env.run_month, &env.run_day);
  rc = sp_rules_new(t->st, &env, &t->l->rules, t->err, t->errlen);
  if (rc)
    return rc == SAMSPOR_ENOMEM ? rc : SAMSPOR_ECONFIG;
  t->l->stored_cursor = t->stored_cursor;
  if (sp_schema_digested(t->st))
    return fingerprint(t->l, s->key);
  return 0;
}

/* What the table holds (empty? its primary key) and, when rows are
 * compared with it, their digests. */
static int tx_inspect(stream_txn *t) {
  const sp_stream *st = t->st;
  const char *qt = t->qt;
  loader *l = t->l;
  int rc = 0;
  if (t->keyed) {
    PGresult *res = NULL;
    sp_buf_reset(&t->sql);
    sp_buf_printf(&t->sql,
                  "SELECT NOT EXISTS (SELECT 1 FROM %s), (SELECT conname "
                  "FROM pg_constraint WHERE conrelid = '%s'::regclass AND "
                  "contype = 'p')",
                  qt, qt);
    rc = sp_pg_exec(t->conn, t->sql.data, PGRES_TUPLES_OK, &res, t->err,
                    t->errlen);
    if (rc) {
      PQclear(res);
      return rc;
    }
    if (!PQgetisnull(res, 0, 1))
      t->pkname = sp_xstrdup(PQgetvalue(res, 0, 1));
    t->initial =
        st->mode == SP_MODE_INCREMENTAL_DEDUP &&
        (t->s->opts.rebuild || strcmp(PQgetvalue(res, 0, 0), "t") == 0) &&
        t->pkname;
    /* A table with rows to compare against: send only what changed. */
    t->aware = sp_schema_digested(st) && !t->s->opts.rebuild && t->pkname &&
               strcmp(PQgetvalue(res, 0, 0), "f") == 0;
    PQclear(res);
  }
  l->digest = sp_schema_digested(st);
  if (t->aware) {
    /* Other writers (forget) wait for this load; readers do not. */
    sp_buf_reset(&t->sql);
    sp_buf_printf(&t->sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", qt);
    rc = sp_pg_exec(t->conn, t->sql.data, PGRES_COMMAND_OK, NULL, t->err,
                    t->errlen);
    if (!rc)
      rc = fetch_digests(t->conn, qt, &t->known, t->err, t->errlen);
    if (rc)
      return rc;
    l->known = &t->known;
    l->unchanged = tmpfile();
    if (!l->unchanged) {
      snprintf(t->err, t->errlen, "cannot create a temporary file: %s",
               strerror(errno));
      return SAMSPOR_EIO;
    }
  }
  return 0;
}

/* Where the COPY goes:
 *  - full_refresh: the table itself, emptied in this transaction
 *    (readers wait, then see the new rows; dependent views keep working);
 *  - incremental_dedup into an empty table (the first load): the table
 *    itself with its primary key dropped, rebuilt once by sorting at the
 *    end, which is far cheaper than a million index probes;
 *  - append without a stored cursor: the table itself;
 *  - otherwise a staging table, merged at the end.
 * Makes it ready and starts the COPY. */
static int tx_open_copy(stream_txn *t) {
  const sp_stream *st = t->st;
  PGconn *conn = t->conn;
  const char *qt = t->qt;
  int rc;
  /* A keyed append is staged so that duplicates within the load are
   * handled before they meet the primary key; a table refilled from empty
   * (full_refresh, a first incremental_dedup) loads without its primary
   * key, which is added back at the end. */
  t->staged = (st->mode == SP_MODE_INCREMENTAL_DEDUP && !t->initial) ||
              (st->mode == SP_MODE_APPEND && (t->stored_cursor || t->keyed));
  /* A rebuild (rekey) empties every table first: a first load, unstaged. */
  t->freeze =
      st->mode == SP_MODE_FULL_REFRESH || t->initial || t->s->opts.rebuild;
  if (t->s->opts.rebuild)
    t->staged = 0;
  if (t->aware) {
    t->staged = 1;
    t->freeze = 0;
  }
  t->rebuild = t->pkname && t->freeze;
  sp_buf_reset(&t->sql);
  if (t->rebuild) {
    char *qp = PQescapeIdentifier(conn, t->pkname, strlen(t->pkname));
    sp_buf_printf(&t->sql, "ALTER TABLE %s DROP CONSTRAINT %s;", qt, qp);
    PQfreemem(qp);
  }
  if (t->freeze) {
    /* Emptied (or found empty) in this transaction, so COPY may FREEZE:
     * no later vacuum pass has to rewrite every page. */
    sp_buf_printf(&t->sql, "TRUNCATE %s", qt);
  }
  if (t->staged) {
    /* A temporary table: no WAL, gone at commit or rollback. */
    sp_buf_printf(&t->sql,
                  "CREATE TEMP TABLE samspor_stage ON COMMIT DROP AS "
                  "SELECT %s, _run_id%s FROM %s WITH NO DATA",
                  t->dcols, t->aware ? ", 0::bigint AS _ord" : "", qt);
  }
  if (t->sql.len) {
    rc = sp_pg_exec(conn, t->sql.data, PGRES_COMMAND_OK, NULL, t->err,
                    t->errlen);
    if (rc)
      return rc;
  }
  /* Binary rows, where every column has an exact binary form: the
   * server's text parsing (dates and numbers above all) took two thirds
   * of its time in a typed load.  The extra fields: _digest, _run_id and
   * a stage's _ord. */
  loader *l = t->l;
  l->binary = sp_rules_binary(l->rules, (l->digest ? 1 : 0) + 1 +
                                            (t->aware ? 1 : 0)) == 0;
  const char *with = l->binary && t->freeze ? " WITH (FORMAT binary, FREEZE)"
                     : l->binary            ? " WITH (FORMAT binary)"
                     : t->freeze            ? " WITH (FREEZE)"
                                            : "";
  sp_buf_reset(&t->sql);
  sp_buf_printf(&t->sql, "COPY %s (%s, _run_id%s) FROM STDIN%s",
                t->staged ? "samspor_stage" : qt, t->dcols,
                t->aware ? ", _ord" : "", with);
  PGresult *res = PQexec(conn, t->sql.data);
  rc = 0;
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    rc = sp_pg_classify(conn, res);
    snprintf(t->err, t->errlen, "cannot start COPY: %s", PQerrorMessage(conn));
  } else if (l->binary) {
    sp_buf_append(&l->copy, SP_COPY_BIN_HEADER, SP_COPY_BIN_HEADER_LEN);
  }
  PQclear(res);
  return rc;
}

/* The plugin runs while the COPY is open: rows stream straight from
 * the source to the warehouse, memory stays flat.  Then the COPY ends and
 * the key is rebuilt or the rows deduplicated; the counts go into r. */
static int tx_copy_records(stream_txn *t) {
  const sp_connector *cc = t->cc;
  const sp_stream *st = t->st;
  loader *l = t->l;
  sp_stream_result *r = t->r;
  void *handle = NULL;
  int rc;
  const samspor_plugin *d = cc->plugin->desc;
  /* The plugin reads on a thread of its own (relay.h): parsing the source
   * and making rows each take a core. */
  sp_relay *relay = sp_relay_new(&l->sink);
  if (!relay) {
    snprintf(t->err, t->errlen, "out of memory");
    return SAMSPOR_ENOMEM;
  }
  samspor_open_args oa = {.struct_size = sizeof oa,
                          .host = sp_host(),
                          .ctx = &t->ctx,
                          .sink = sp_relay_sink(relay),
                          .source = cc->source,
                          .stream = st->s,
                          .fields = st->fields,
                          .nfields = st->nfields,
                          .cursor = t->stored_cursor,
                          .cursor_field =
                              st->cursor_column >= 0
                                  ? (int)st->columns[st->cursor_column].field
                                  : -1,
                          .state = t->stored_state,
                          .full = t->s->opts.full};
  int prc = d->open(&oa, &handle);
  if (prc == 0) {
    prc = sp_relay_run(relay, d->read, handle);
    d->close(handle);
  }
  sp_relay_flush(relay);
  sp_relay_free(relay);
  if (prc != 0 && !l->rc) {
    l->rc = prc;
    snprintf(l->err, sizeof l->err, "%s",
             sp_ctx_error(&t->ctx, samspor_strerror(prc)));
  }
  rc = finish_copy(l);
  if (rc)
    snprintf(t->err, t->errlen, "%s", l->err);
  else if (t->rebuild)
    rc = rebuild_key(l, t->qt, t->pkname, t->err, t->errlen);
  else if (t->keyed) {
    if (t->aware)
      rc = must_restage(l, t->qt, &t->restaged, t->err, t->errlen);
    if (!rc && t->restaged)
      rc = restage(l, t->qt, t->dcols, t->err, t->errlen);
    if (!rc)
      rc =
          dedupe_rel(l, t->staged ? "samspor_stage" : t->qt, t->err, t->errlen);
  }
  r->read = l->read;
  r->rejected = l->rejected;
  r->nreasons = l->nreasons;
  memcpy(r->reasons, l->reasons, sizeof r->reasons);
  r->skipped = l->skipped;
  r->duplicates = l->dups;
  return rc;
}

/* The carried pseudonyms, the reject ratio, and the rows into the table
 * (replace or merge). */
static int tx_merge(stream_txn *t) {
  loader *l = t->l;
  sp_stream_result *r = t->r;
  char *err = t->err;
  size_t errlen = t->errlen;
  int rc = 0;
  if (t->forgotten.carried.len) {
    FILE *f =
        fmemopen(t->forgotten.carried.data, t->forgotten.carried.len, "r");
    rc = f ? sp_pg_copy_in(t->conn, "COPY samspor_carried FROM STDIN", f, err,
                           errlen)
           : SAMSPOR_ENOMEM;
    if (f)
      fclose(f);
    if (rc)
      return rc;
  }
  /* Reject ratio over everything the source delivered. */
  double ratio = l->read ? (double)l->rejected / (double)l->read : 0;
  double max = l->max_ratio;
  if (ratio > max) {
    snprintf(err, errlen,
             "%lld of %lld rows rejected (%.4g%%), more than "
             "max_reject_ratio %.4g%%; nothing was loaded (see "
             "samspor.rejects for run %lld)",
             l->rejected, l->read, ratio * 100, max * 100, r->run_id);
    return SAMSPOR_EDATA;
  }

  r->loaded = l->rows;
  if (t->aware && t->st->mode == SP_MODE_FULL_REFRESH) {
    rc = replace_changed(l, t->qt, t->dcols, t->restaged, err, errlen);
  } else if (t->staged) {
    rc = merge_stage(t->conn, t->st, t->qt, t->cols, t->stored_cursor,
                     r->run_id, &r->loaded, err, errlen);
    if (!rc)
      r->skipped += l->rows - r->loaded;
  }
  return rc;
}

/* Rows older than the stream's retention, deleted. */
static int tx_retention(stream_txn *t) {
  const sp_stream *st = t->st;
  if (!sp_is_set(st->s, "retention"))
    return 0;
  PGresult *res = NULL;
  char *iv = duration_interval(sp_settings_value(st->s, "retention")->str);
  const char *rcol = sp_get_string(st->s, "retention_column");
  char *q = PQescapeIdentifier(t->conn, rcol, strlen(rcol));
  sp_buf_reset(&t->sql);
  sp_buf_printf(&t->sql, "DELETE FROM %s WHERE %s < now() - $1::interval",
                t->qt, q);
  const char *rp[] = {iv};
  int rc = sp_pg_execp(t->conn, t->sql.data, 1, rp, PGRES_COMMAND_OK, &res,
                       t->err, t->errlen);
  free(iv);
  PQfreemem(q);
  if (!rc)
    t->r->deleted = atoll(PQcmdTuples(res));
  PQclear(res);
  return rc;
}

/* The new cursor and plugin state. */
static int tx_save_state(stream_txn *t) {
  loader *l = t->l;
  /* The cursor only moves forward. */
  const char *new_cursor = l->max_cursor;
  if (t->stored_cursor &&
      (!new_cursor || sp_rules_compare(l->rules, (size_t)t->st->cursor_column,
                                       t->stored_cursor, new_cursor) > 0))
    new_cursor = t->stored_cursor;
  char run[32];
  snprintf(run, sizeof run, "%lld", t->r->run_id);
  const char *sp[] = {t->cc->name, t->st->table, new_cursor,
                      l->plugin_state ? l->plugin_state : t->stored_state, run};
  return sp_pg_execp(
      t->conn,
      "INSERT INTO samspor.sync_state (connector, stream, "
      "cursor_value, plugin_state, run_id, updated_at) VALUES "
      "($1, $2, $3, $4, $5, now()) ON CONFLICT (connector, "
      "stream) DO UPDATE SET cursor_value = EXCLUDED.cursor_value, "
      "plugin_state = EXCLUDED.plugin_state, run_id = "
      "EXCLUDED.run_id, updated_at = EXCLUDED.updated_at",
      5, sp, PGRES_COMMAND_OK, NULL, t->err, t->errlen);
}

/*
 * The body of one stream's transaction, after BEGIN: table, state, the
 * plugin's records through COPY, merge, retention, state, run row.
 */
static int stream_tx(sp_syncer *s, const sp_connector *cc, const sp_stream *st,
                     loader *l, sp_stream_result *r, const char *started) {
  stream_txn t;
  memset(&t, 0, sizeof t);
  t.s = s;
  t.cc = cc;
  t.st = st;
  t.l = l;
  t.r = r;
  t.conn = s->conn;
  t.err = r->error;
  t.errlen = sizeof r->error;
  int rc;
  t.qt = sp_schema_qualified(t.conn, sp_config_schema(s->config), st->table);
  t.cols = column_list(t.conn, st);
  t.dcols = sp_schema_digested(st) ? sp_xasprintf("%s, _digest", t.cols)
                                   : sp_xstrdup(t.cols);
  const char *const *keycols;
  t.keyed = sp_get_list(st->s, "key", &keycols) > 0;
  sp_buf_init(&t.sql);
  sp_ctx_init(&t.ctx, cc->name, st->table, r->run_id);

  /* Otherwise sp_schema_prepare did it before the load's transaction. */
  rc = s->opts.rebuild
           ? sp_schema_ensure_table(t.conn, s->config, cc, st, t.err, t.errlen)
           : 0;
  if (!rc)
    rc = tx_read_state(&t);
  if (!rc)
    rc = tx_rules(&t);
  if (!rc)
    rc = tx_inspect(&t);
  if (!rc)
    rc = tx_open_copy(&t);
  if (!rc)
    rc = tx_copy_records(&t);
  if (!rc)
    rc = tx_merge(&t);
  if (!rc)
    rc = tx_retention(&t);
  if (!rc)
    rc = tx_save_state(&t);
  if (!rc)
    rc = load_rejects(t.conn, l->rejects, t.err, t.errlen);
  if (!rc)
    rc = record_run(s, cc, st, r, started, "succeeded", t.err, t.errlen);

  sp_ctx_free(&t.ctx);
  sp_buf_free(&t.sql);
  free(t.qt);
  free(t.cols);
  free(t.dcols);
  digest_free(&t.known);
  l->known = NULL;
  if (l->unchanged)
    fclose(l->unchanged);
  l->unchanged = NULL;
  free(t.stored_cursor);
  free(t.stored_state);
  free(t.pkname);
  free(t.forgotten.pn);
  free(t.forgotten.pn_old);
  sp_buf_free(&t.forgotten.carried);
  l->stored_cursor = NULL;
  return rc;
}

static int sync_stream(sp_syncer *s, const sp_connector *cc,
                       const sp_stream *st, sp_stream_result *r) {
  PGconn *conn = s->conn;
  double t0 = sp_now_mono();
  memset(r, 0, sizeof *r);
  loader l;
  memset(&l, 0, sizeof l);
  l.sink.record_begin = l_record_begin;
  l.sink.field = l_field;
  l.sink.record_end = l_record_end;
  l.sink.reject = l_reject;
  l.sink.set_state = l_set_state;
  l.conn = conn;
  l.st = st;
  l.connector = cc->name;
  sp_buf_init(&l.rec);
  sp_buf_init(&l.copy);
  sp_buf_init(&l.drow);
  l.off = sp_xcalloc(st->nfields + 1, sizeof(size_t));
  l.len = sp_xcalloc(st->nfields + 1, sizeof(size_t));
  l.fields = sp_xcalloc(st->nfields + 1, sizeof(sp_field));
  l.rejects = tmpfile();
  l.max_stored = sp_get_int(st->s, "max_rejects_stored");
  l.max_ratio = sp_get_float(st->s, "max_reject_ratio");
  progress_setup(&l, s->recfd);
  const char *const *keycols;
  int keyed = sp_get_list(st->s, "key", &keycols) > 0;
  if (keyed)
    l.positions = tmpfile();
  sp_logctx lc = {cc->name, st->table, 0};
  char started[64] = "now";

  PGresult *res = NULL;
  int rc = sp_pg_exec(conn,
                      "SELECT nextval('samspor.sync_run_id_seq'), "
                      "clock_timestamp()",
                      PGRES_TUPLES_OK, &res, r->error, sizeof r->error);
  if (!rc) {
    r->run_id = atoll(PQgetvalue(res, 0, 0));
    snprintf(started, sizeof started, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
  }
  lc.run = r->run_id;
  l.run_id = r->run_id;
  snprintf(l.run_suffix, sizeof l.run_suffix, "\t%lld\n", r->run_id);
  if ((!l.rejects || (keyed && !l.positions)) && !rc) {
    rc = SAMSPOR_EIO;
    snprintf(r->error, sizeof r->error, "cannot create a temporary file: %s",
             strerror(errno));
  }
  /* A rebuild runs inside the caller's one transaction: no commit per
   * stream, and a failure rolls back every stream (rekey.c). */
  int own_tx = !s->opts.rebuild;
  int dry = s->opts.dry_run && own_tx;
  if (!rc) {
    sp_info(&lc, "sync started%s%s",
            s->opts.rebuild ? " (rekey rebuild)"
            : s->opts.full  ? " (full)"
                            : "",
            dry ? " (dry run: rolled back at the end)" : "");
    /* Set-up in a short transaction of its own, only when something is
     * missing: inside the load's it held catalog rows for the whole load,
     * and a second connector loading at once failed on them.  A dry run
     * keeps nothing, a new table neither: its set-up is inside the load's
     * transaction. */
    if (own_tx && !dry)
      rc =
          sp_schema_prepare(conn, s->config, cc, st, r->error, sizeof r->error);
    if (own_tx && !rc)
      rc = sp_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, NULL, r->error,
                      sizeof r->error);
    if (own_tx && dry && !rc)
      rc = sp_schema_ensure_table(conn, s->config, cc, st, r->error,
                                  sizeof r->error);
  }
  if (!rc)
    rc = stream_tx(s, cc, st, &l, r, started);
  if (!rc && own_tx)
    rc = sp_pg_exec(conn, dry ? "ROLLBACK" : "COMMIT", PGRES_COMMAND_OK, NULL,
                    r->error, sizeof r->error);
  if (rc && own_tx && dry && PQstatus(conn) == CONNECTION_OK) {
    PQclear(PQexec(conn, "ROLLBACK"));
  } else if (rc && own_tx && PQstatus(conn) == CONNECTION_OK) {
    PQclear(PQexec(conn, "ROLLBACK"));
    /* The failure is recorded after the rollback, in its own transaction,
     * with the rejects that explain it. */
    char err2[512];
    sp_stream_result fr = *r;
    fr.rc = rc;
    fr.loaded = 0;
    fr.deleted = 0;
    const char *status = rc == SAMSPOR_ESKIP ? "skipped" : "failed";
    if (!sp_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, NULL, err2, sizeof err2) &&
        !record_run(s, cc, st, &fr, started, status, err2, sizeof err2) &&
        !load_rejects(conn, l.rejects, err2, sizeof err2))
      PQclear(PQexec(conn, "COMMIT"));
    else
      PQclear(PQexec(conn, "ROLLBACK"));
  }
  r->rc = rc;
  if (rc) {
    r->loaded = 0;
    r->deleted = 0;
  }
  r->seconds = sp_now_mono() - t0;
  if (rc == SAMSPOR_ESKIP)
    sp_info(&lc, "sync skipped: %s", r->error);
  else if (rc)
    sp_error(&lc, "sync failed: %s", r->error);
  else {
    char why[512];
    sp_stream_reasons(r, why, sizeof why);
    sp_logcounts n = {r->read, r->loaded, r->rejected};
    sp_log_rows(SP_LOG_INFO, &lc, &n,
                "%s: read %lld, loaded %lld, rejected %lld%s%s%s, skipped "
                "%lld, deleted %lld in %.2f s; duplicate keys %lld (%s)",
                dry ? "dry run done, rolled back" : "sync done", r->read,
                r->loaded, r->rejected, why[0] ? " (" : "", why,
                why[0] ? ")" : "", r->skipped, r->deleted, r->seconds,
                r->duplicates, sp_get_string(st->s, "on_duplicate"));
  }
  sp_rules_free(l.rules);
  if (l.dkey)
    sodium_free(l.dkey); /* zeroes it */
  sp_wipe(l.drow.data, l.drow.cap);
  sp_buf_free(&l.drow);
  sp_buf_free(&l.rec);
  sp_buf_free(&l.copy);
  free(l.off);
  free(l.len);
  free(l.fields);
  free(l.max_cursor);
  free(l.plugin_state);
  if (l.rejects)
    fclose(l.rejects);
  if (l.positions)
    fclose(l.positions);
  return rc;
}

/* ---- connectors, locks, the key --------------------------------------- */

/* A 64-bit advisory lock key per connector name. */
static long long lock_key(const char *connector) {
  unsigned char h[8];
  char *msg = sp_xasprintf("samspor connector %s", connector);
  crypto_generichash(h, sizeof h, (const unsigned char *)msg, strlen(msg), NULL,
                     0);
  free(msg);
  long long k = 0;
  memcpy(&k, h, sizeof k);
  return k;
}

int sp_sync_lock(sp_syncer *s, const sp_connector *cc, char *err,
                 size_t errlen) {
  char key[32];
  snprintf(key, sizeof key, "%lld", lock_key(cc->name));
  const char *p[] = {key};
  PGresult *res;
  int rc = sp_pg_execp(s->conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, p,
                       PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  int got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  PQclear(res);
  if (got)
    return 0;
  rc = sp_pg_execp(
      s->conn,
      "SELECT a.application_name, a.pid, "
      "to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS') "
      "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted "
      "AND l.classid = (($1::bigint >> 32) & 4294967295)::oid "
      "AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1",
      1, p, PGRES_TUPLES_OK, &res, err, errlen);
  if (!rc && PQntuples(res) > 0)
    snprintf(err, errlen,
             "connector '%s' is being synced by another samspor (%s, "
             "backend pid %s, since %s); try again later",
             cc->name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
             PQgetisnull(res, 0, 2) ? "?" : PQgetvalue(res, 0, 2));
  else
    snprintf(err, errlen,
             "connector '%s' is being synced by another samspor; try again "
             "later",
             cc->name);
  PQclear(res);
  return SAMSPOR_ETEMP;
}

void sp_sync_unlock(sp_syncer *s, const sp_connector *cc) {
  char key[32];
  snprintf(key, sizeof key, "%lld", lock_key(cc->name));
  const char *p[] = {key};
  char err[256];
  sp_pg_execp(s->conn, "SELECT pg_advisory_unlock($1::bigint)", 1, p,
              PGRES_TUPLES_OK, NULL, err, sizeof err);
}

/* Reads the current generation and, on a warehouse with none, records this
 * key as the first: in one transaction under the set-up lock, so that two
 * first syncs at once record one generation, not two rows (or a duplicate
 * key error for the second). */
static int check_key_locked(sp_syncer *s, char *err, size_t errlen) {
  PGresult *res;
  int rc =
      sp_pg_exec(s->conn, "SELECT pg_advisory_xact_lock(" SP_SETUP_LOCK ")",
                 PGRES_TUPLES_OK, NULL, err, errlen);
  if (!rc)
    rc = sp_pg_exec(s->conn,
                    "SELECT key_id FROM samspor.key_history ORDER BY "
                    "first_used DESC, key_id LIMIT 1",
                    PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  const char *id = sp_key_id(s->key);
  int known = PQntuples(res) == 1;
  int same = known && strcmp(PQgetvalue(res, 0, 0), id) == 0;
  if (known && !same) {
    snprintf(err, errlen,
             "the pseudonymisation key (id %s) is not the warehouse's "
             "current generation (key id %s): pseudonyms made with it would "
             "not link to the people already loaded. Use the key file of "
             "generation %s; to change the key, rotate every table at once "
             "with: samspor rekey --new-key FILE",
             id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 0));
    PQclear(res);
    return SAMSPOR_ECONFIG;
  }
  PQclear(res);
  if (!known) {
    const char *p[] = {id};
    rc = sp_pg_execp(s->conn,
                     "INSERT INTO samspor.key_history (key_id, note, "
                     "command) VALUES ($1, 'first key', 'sync')",
                     1, p, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  return rc;
}

static int check_key(sp_syncer *s, char *err, size_t errlen) {
  int rc = sp_pg_exec(s->conn, "BEGIN", PGRES_COMMAND_OK, NULL, err, errlen);
  if (rc)
    return rc;
  rc = check_key_locked(s, err, errlen);
  if (!rc)
    return sp_pg_exec(s->conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, errlen);
  if (PQstatus(s->conn) == CONNECTION_OK)
    PQclear(PQexec(s->conn, "ROLLBACK"));
  return rc;
}

int sp_syncer_open(sp_syncer *s, const sp_config *c, const sp_sync_opts *o,
                   char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->config = c;
  s->opts = *o;
  s->recfd = -1;
  if (gethostname(s->host, sizeof s->host) != 0)
    snprintf(s->host, sizeof s->host, "unknown");
  s->host[sizeof s->host - 1] = '\0';
  const char *kf =
      o->key_file
          ? o->key_file
          : sp_get_string(sp_get_group(c->root, "pseudonym"), "key_file");
  int rc = sp_key_load(kf, &s->key, err, errlen);
  if (rc)
    return SAMSPOR_ECONFIG;
  rc = sp_warehouse_connect(c, &s->conn, err, errlen);
  if (rc)
    return rc;
  char *app = sp_xasprintf("samspor sync on %s pid %d", s->host, (int)getpid());
  const char *p[] = {app, sp_config_timezone(c)};
  rc = sp_pg_execp(s->conn,
                   "SELECT set_config('application_name', $1, false), "
                   "set_config('TimeZone', $2, false), "
                   /* The staging table of a merge is a temporary table,
                    * held in the backend's local buffers: the default 8MB
                    * makes a nightly file spill to disk. */
                   "set_config('temp_buffers', '256MB', false)",
                   2, p, PGRES_TUPLES_OK, NULL, err, errlen);
  free(app);
  if (!rc)
    rc = sp_schema_migrate(s->conn, err, errlen);
  if (!rc)
    (void)sp_access_check_roles(s->conn); /* a warning, never a failure */
  if (!rc && !o->key_file)
    rc = check_key(s, err, errlen);
  return rc;
}

void sp_syncer_close(sp_syncer *s) {
  if (s->conn)
    PQfinish(s->conn);
  sp_key_free(s->key);
  memset(s, 0, sizeof *s);
}

int sp_sync_connector(sp_syncer *s, const sp_connector *cc,
                      sp_stream_result *results) {
  char err[1024];
  int rc = sp_sync_lock(s, cc, err, sizeof err);
  if (rc) {
    for (size_t i = 0; i < cc->nstreams; i++) {
      memset(&results[i], 0, sizeof results[i]);
      results[i].rc = rc;
      snprintf(results[i].error, sizeof results[i].error, "%s", err);
    }
    sp_logctx lc = {cc->name, NULL, 0};
    sp_error(&lc, "%s", err);
    return rc;
  }
  int worst = 0;
  for (size_t i = 0; i < cc->nstreams; i++) {
    int src = sync_stream(s, cc, &cc->streams[i], &results[i]);
    if (src == SAMSPOR_ESKIP)
      src = 0; /* if_missing = "skip": recorded, not a failure */
    if (src && (worst == 0 || src != SAMSPOR_ETEMP))
      worst = src;
    if (src && s->opts.rebuild) {
      /* The one transaction is lost: nothing after this can load. */
      for (size_t j = i + 1; j < cc->nstreams; j++) {
        memset(&results[j], 0, sizeof results[j]);
        results[j].rc = src;
        snprintf(results[j].error, sizeof results[j].error,
                 "not run: an earlier stream failed");
      }
      break;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
      /* The connection is gone: the remaining streams cannot run now. */
      for (size_t j = i + 1; j < cc->nstreams; j++) {
        memset(&results[j], 0, sizeof results[j]);
        results[j].rc = SAMSPOR_ETEMP;
        snprintf(results[j].error, sizeof results[j].error,
                 "not run: the warehouse connection was lost");
      }
      worst = worst ? worst : SAMSPOR_ETEMP;
      break;
    }
  }
  if (PQstatus(s->conn) == CONNECTION_OK)
    sp_sync_unlock(s, cc);
  return worst;
}

/* ---- samspor sync ----------------------------------------------------- */

/* Exit status for a set of results: 2 config, 1 failure, 75 temporary. */
static int worst_status(int cur, int rc) {
  int st = sp_exit_status(rc);
  if (st == SP_EXIT_USAGE || cur == SP_EXIT_USAGE)
    return SP_EXIT_USAGE;
  if (st == SP_EXIT_FAIL || cur == SP_EXIT_FAIL)
    return SP_EXIT_FAIL;
  if (st == SP_EXIT_TEMPFAIL || cur == SP_EXIT_TEMPFAIL)
    return SP_EXIT_TEMPFAIL;
  return SP_EXIT_OK;
}

/* Tell the daemon how one stream went (runrecord.h). */
static void write_record(int fd, const sp_connector *cc, const sp_stream *st,
                         const sp_stream_result *r) {
  sp_runrec rec;
  memset(&rec, 0, sizeof rec);
  snprintf(rec.connector, sizeof rec.connector, "%s", cc->name);
  snprintf(rec.stream, sizeof rec.stream, "%s", st->table);
  rec.run_id = r->run_id;
  rec.status = r->rc == 0               ? SP_RUNREC_SUCCEEDED
               : r->rc == SAMSPOR_ESKIP ? SP_RUNREC_SKIPPED
                                        : SP_RUNREC_FAILED;
  rec.exit_code = r->rc == SAMSPOR_ESKIP ? SP_EXIT_OK : sp_exit_status(r->rc);
  rec.read = r->read;
  rec.loaded = r->loaded;
  rec.rejected = r->rejected;
  rec.skipped = r->skipped;
  rec.deleted = r->deleted;
  rec.duplicates = r->duplicates;
  rec.seconds = r->seconds;
  rec.nreasons = r->nreasons;
  memcpy(rec.reasons, r->reasons, sizeof rec.reasons);
  if (r->rc != 0)
    snprintf(rec.error, sizeof rec.error, "%s", r->error);
  if (sp_runrec_write(fd, &rec) != 0) {
    sp_logctx ctx = {cc->name, st->table, r->run_id};
    sp_warn(&ctx, "cannot tell the daemon how the stream went: %s",
            strerror(errno));
  }
}

int sp_sync_run(sp_config *c, const sp_sync_opts *opts, char **names,
                int nnames) {
  const sp_sync_opts o = *opts;
  int rc;
  for (int n = 0; n < nnames; n++)
    if (!sp_config_connector(c, names[n])) {
      fprintf(stderr, "samspor: sync: no connector named '%s' in %s\n",
              names[n], c->path);
      sp_config_free(c);
      return SP_EXIT_USAGE;
    }

  sp_syncer s;
  char err[1024];
  rc = sp_syncer_open(&s, c, &o, err, sizeof err);
  if (rc) {
    sp_error(NULL, "%s", err);
    fprintf(stderr, "samspor: sync: %s\n", err);
    sp_syncer_close(&s);
    sp_config_free(c);
    return sp_exit_status(rc);
  }
  int status = SP_EXIT_OK;
  /* The daemon's channel, when it started this sync (runrecord.h). */
  int recfd = sp_runrec_channel();
  s.recfd = recfd;
  for (size_t k = 0; k < c->nconnectors; k++) {
    const sp_connector *cc = &c->connectors[k];
    int wanted = nnames == 0 ? sp_get_bool(cc->s, "enabled") : 0;
    for (int n = 0; n < nnames; n++)
      wanted |= strcmp(names[n], cc->name) == 0;
    if (!wanted)
      continue;
    if (PQstatus(s.conn) != CONNECTION_OK)
      PQreset(s.conn);
    sp_stream_result *res = sp_xcalloc(cc->nstreams, sizeof *res);
    sp_sync_connector(&s, cc, res);
    for (size_t t = 0; t < cc->nstreams; t++) {
      const sp_stream_result *r = &res[t];
      char why[512];
      sp_stream_reasons(r, why, sizeof why);
      if (recfd >= 0)
        write_record(recfd, cc, &cc->streams[t], r);
      if (r->rc == 0 && o.dry_run) {
        /* Not the summary line the daemon reads: a dry run is no run. */
        printf("%s.%s: dry run: would read %lld, load %lld, reject %lld, "
               "skip %lld, delete %lld (%.2f s, rolled back)",
               cc->name, cc->streams[t].table, r->read, r->loaded, r->rejected,
               r->skipped, r->deleted, r->seconds);
        if (r->rejected && why[0])
          printf("; rejected by reason: %s", why);
        printf("\n");
      } else if (r->rc == 0) {
        printf("%s.%s: read %lld, loaded %lld, rejected %lld, skipped %lld, "
               "deleted %lld in %.2f s (run %lld)",
               cc->name, cc->streams[t].table, r->read, r->loaded, r->rejected,
               r->skipped, r->deleted, r->seconds, r->run_id);
        if (r->duplicates)
          printf("; duplicate keys %lld (on_duplicate = %s)", r->duplicates,
                 sp_get_string(cc->streams[t].s, "on_duplicate"));
        if (r->rejected && why[0])
          printf("; rejected by reason: %s", why);
        printf("\n");
      } else if (r->rc == SAMSPOR_ESKIP)
        printf("%s.%s: skipped (run %lld): %s\n", cc->name,
               cc->streams[t].table, r->run_id, r->error);
      else
        printf("%s.%s: FAILED after %.2f s (run %lld): %s\n", cc->name,
               cc->streams[t].table, r->seconds, r->run_id, r->error);
      if (r->rc != SAMSPOR_ESKIP)
        status = worst_status(status, r->rc);
    }
    free(res);
  }
  /* The partner tables follow every sync, even one that failed: what did
   * load is then visible to partners, suppressed, the same night. */
  if (PQstatus(s.conn) != CONNECTION_OK)
    PQreset(s.conn);
  if (!o.dry_run)
    status = worst_status(status, sp_partner_after_sync(s.conn, c));
  fflush(stdout);
  sp_syncer_close(&s);
  sp_config_free(c);
  return status;
}
