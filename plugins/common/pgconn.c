#include "config.h"

/*
 * pgconn.c — connecting to PostgreSQL, classifying failures, repeating
 * only what may be repeated, and the TLS default (see pgconn.h).
 */

#include "pgconn.h"

#include "samspor-plugin.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- messages ---------------------------------------------------------- */

int spp_pq_text_allowed(const char *sqlstate) {
  static const char *const keep[] = {"08", "25", "28", "3D", "3F",
                                     "40", "42", "53", "57"};
  if (!sqlstate || strlen(sqlstate) != 5)
    return 0;
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
    if (!strncmp(sqlstate, keep[i], 2))
      return 1;
  return 0;
}

/* samspor's words for a SQLSTATE whose text is withheld. */
static const char *own_words(const char *s) {
  static const struct {
    const char *code; /* a full SQLSTATE, or a class of two characters */
    const char *words;
  } w[] = {
      {"23505", "duplicate key"},
      {"23502", "a null value in a NOT NULL column"},
      {"23503", "a foreign key violation"},
      {"23514", "a check constraint violation"},
      {"23P01", "an exclusion constraint violation"},
      {"22P02", "a value that is not valid input for its type"},
      {"22007", "a value that is not a valid date or time"},
      {"22008", "a date or time out of range"},
      {"22003", "a number out of range"},
      {"22001", "a value too long for its column"},
      {"22012", "division by zero"},
      {"22021", "a byte sequence that is not valid in the encoding"},
      {"P0001", "an error raised by a function (RAISE)"},
      {"22", "a data exception"},
      {"23", "an integrity constraint violation"},
      {"P0", "an error raised by a PL/pgSQL function"},
      {"XX", "an internal error of the server"},
  };
  for (size_t i = 0; i < sizeof w / sizeof *w; i++)
    if (!strncmp(s, w[i].code, strlen(w[i].code)))
      return w[i].words;
  return "an error";
}

/* Append `src` to out[*o..outlen) as one line: runs of whitespace become
 * one space, none leads or trails. */
static void append_line(char *out, size_t outlen, size_t *o, const char *src) {
  int space = 0;
  for (; *src && *o + 1 < outlen; src++) {
    char c = *src;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = *o > 0;
      continue;
    }
    if (space && *o + 2 < outlen)
      out[(*o)++] = ' ';
    space = 0;
    out[(*o)++] = c;
  }
  out[*o] = '\0';
}

void spp_pq_message(const PGresult *res, const char *libpq_msg, char *out,
                    size_t outlen) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg =
      res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  size_t o = 0;

  if (!outlen)
    return;
  out[0] = '\0';
  if (!state || strlen(state) != 5) {
    /* libpq's own text; a result without a SQLSTATE but with a message
     * (libpq-made) is its own text too. */
    append_line(out, outlen, &o, msg ? msg : libpq_msg ? libpq_msg : "");
    if (!*out)
      snprintf(out, outlen, "unknown error");
    return;
  }
  if (spp_pq_text_allowed(state) && msg) {
    append_line(out, outlen, &o, msg);
    return;
  }
  /* Withheld: say what kind of error, and where, by names only. */
  static const struct {
    int field;
    const char *label;
  } names[] = {{PG_DIAG_CONSTRAINT_NAME, "constraint"},
               {PG_DIAG_TABLE_NAME, "table"},
               {PG_DIAG_COLUMN_NAME, "column"},
               {PG_DIAG_DATATYPE_NAME, "type"}};
  int n = snprintf(out, outlen, "%s", own_words(state));
  o = n < 0 ? 0 : (size_t)n >= outlen ? outlen - 1 : (size_t)n;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const char *v = PQresultErrorField(res, names[i].field);
    if (!v || !*v || o + 1 >= outlen)
      continue;
    n = snprintf(out + o, outlen - o, "%s%s %s", o && i ? ", " : " on ",
                 names[i].label, v);
    o = n < 0 ? o : o + (size_t)n >= outlen ? outlen - 1 : o + (size_t)n;
  }
  if (o + 1 < outlen)
    snprintf(out + o, outlen - o,
             " (the server's message is withheld: it may quote data)");
}

/* ---- connecting -------------------------------------------------------- */

int spp_pq_connect_sqlstate(const char *msg, char state[6]) {
  int found = 0;
  if (!msg)
    return 0;
  /* pqBuildErrorMessage3() with PQERRORS_SQLSTATE writes "%s:  " (the
   * severity, possibly translated) and then "%s\n" (the SQLSTATE). */
  for (const char *p = strstr(msg, ":  "); p; p = strstr(p + 1, ":  ")) {
    const char *s = p + 3;
    size_t i;
    for (i = 0; i < 5; i++)
      if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
        break;
    if (i == 5 && (s[5] == '\n' || s[5] == '\0')) {
      memcpy(state, s, 5);
      state[5] = '\0';
      found = 1;
    }
  }
  return found;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* libpq's message as one line, without the "FATAL:  XXXXX" we asked for
 * in place of the server's text. */
static void libpq_line(const char *msg, char *out, size_t outlen) {
  size_t o = 0;
  append_line(out, outlen, &o, msg ? msg : "");
  if (!*out)
    snprintf(out, outlen, "no answer");
}

int spp_pq_connect(const char *const *keys, const char *const *vals,
                   double timeout, const char *setting, PGconn **out, char *err,
                   size_t errlen) {
  char state[6] = "", text[512];
  int timed_out = 0, rc;
  PGconn *conn;

  *out = NULL;
  conn = PQconnectStartParams(keys, vals, 1);
  if (!conn) {
    snprintf(err, errlen, "out of memory");
    return SAMSPOR_ENOMEM;
  }
  /* The SQLSTATE of a refused connection reaches the client only inside
   * the message text; with this verbosity the server's part of it is the
   * SQLSTATE alone, so neither its (translated) words nor anything they
   * quote come back. */
  PQsetErrorVerbosity(conn, PQERRORS_SQLSTATE);
  if (PQstatus(conn) != CONNECTION_BAD) {
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    double deadline = now_s() + (timeout > 0 ? timeout : 30);
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
      struct pollfd p = {.fd = PQsocket(conn),
                         .events =
                             st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
      double left = deadline - now_s();
      int n;
      if (left <= 0) {
        timed_out = 1;
        break;
      }
      n = poll(&p, 1, (int)(left * 1000) + 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0) {
        timed_out = 1;
        break;
      }
      /* The step also restarts the clock: libpq's connect_timeout is per
       * step and host, too. */
      st = PQconnectPoll(conn);
      deadline = now_s() + (timeout > 0 ? timeout : 30);
    }
  }
  if (!timed_out && PQstatus(conn) == CONNECTION_OK) {
    PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
    *out = conn;
    return 0;
  }
  libpq_line(PQerrorMessage(conn), text, sizeof text);
  if (timed_out) {
    snprintf(err, errlen, "no answer within %.0f s (connect_timeout)", timeout);
    PQfinish(conn);
    return SAMSPOR_ETEMP;
  }
  if (spp_pq_connect_sqlstate(PQerrorMessage(conn), state)) {
    if (!strcmp(state, "28P01")) {
      snprintf(err, errlen,
               "the server refused the password (SQLSTATE 28P01); fix the "
               "user in %s or the password in its password_file or "
               "password_env",
               setting);
      rc = SAMSPOR_EAUTH;
    } else if (!strcmp(state, "28000")) {
      snprintf(err, errlen,
               "the server refused the login: no such role, or its "
               "pg_hba.conf does not admit this user from here (SQLSTATE "
               "28000); fix the user in %s, or ask the server's "
               "administrator",
               setting);
      rc = SAMSPOR_EAUTH;
    } else if (!strcmp(state, "42501")) {
      snprintf(err, errlen,
               "the role may not connect to this database (SQLSTATE "
               "42501); fix the user or dbname in %s, or ask for CONNECT",
               setting);
      rc = SAMSPOR_EAUTH;
    } else if (!strcmp(state, "3D000")) {
      snprintf(err, errlen,
               "the database does not exist (SQLSTATE 3D000); fix dbname in "
               "%s",
               setting);
      rc = SAMSPOR_EFAIL;
    } else if (!strncmp(state, "08", 2) || !strncmp(state, "53", 2) ||
               !strncmp(state, "57", 2)) {
      snprintf(err, errlen,
               "the server is not accepting connections now (SQLSTATE %s)",
               state);
      rc = SAMSPOR_ETEMP;
    } else {
      snprintf(err, errlen, "the server refused the connection (SQLSTATE %s)",
               state);
      rc = SAMSPOR_EFAIL;
    }
    PQfinish(conn);
    return rc;
  }
  /* No SQLSTATE: did anything answer at all? */
  int needs_pw = PQconnectionNeedsPassword(conn);
  PQfinish(conn);
  switch (PQpingParams(keys, vals, 1)) {
  case PQPING_OK: /* it answered, asked us to authenticate, and we could not */
    if (needs_pw)
      snprintf(err, errlen,
               "the server asks for a password and none is configured; "
               "give password_file or password_env next to %s",
               setting);
    else
      snprintf(err, errlen, "%s; check %s", text, setting);
    return SAMSPOR_EAUTH;
  case PQPING_NO_ATTEMPT:
    snprintf(err, errlen, "%s cannot be used: %s", setting, text);
    return SAMSPOR_ECONFIG;
  default: /* PQPING_NO_RESPONSE, PQPING_REJECT */
    snprintf(err, errlen, "%s", text);
    return SAMSPOR_ETEMP;
  }
}

/* ---- TLS --------------------------------------------------------------- */

/* Nonzero when one host or hostaddr item (len bytes) is local. */
static int local_host(const char *h, size_t len) {
  char buf[256];
  if (len == 0 || h[0] == '/' || h[0] == '@')
    return 1;
  if (len >= sizeof buf)
    return 0;
  memcpy(buf, h, len);
  buf[len] = '\0';
  for (char *p = buf; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p + 32);
  if (!strcmp(buf, "localhost") || !strcmp(buf, "::1") ||
      !strcmp(buf, "0:0:0:0:0:0:0:1"))
    return 1;
  /* 127.0.0.0/8, written as a dotted quad */
  unsigned a, b, c, d;
  char tail;
  if (sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 &&
      b < 256 && c < 256 && d < 256)
    return 1;
  return 0;
}

/* Walk a comma-separated host list; record the first remote one. */
static void scan_hosts(const char *list, spp_pq_tls_info *out) {
  if (!list)
    return;
  for (const char *p = list;;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (!local_host(p, len) && !out->remote) {
      out->remote = 1;
      snprintf(out->first_remote, sizeof out->first_remote, "%.*s",
               (int)(len < 63 ? len : 63), p);
    }
    if (!e)
      break;
    p = e + 1;
  }
}

int spp_pq_tls(const char *conninfo, spp_pq_tls_info *out) {
  char *perr = NULL;
  const char *host = NULL, *hostaddr = NULL, *sslmode = NULL, *service = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);

  memset(out, 0, sizeof *out);
  if (!opts) {
    PQfreemem(perr);
    return SAMSPOR_ECONFIG;
  }
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val || !*o->val)
      continue;
    if (!strcmp(o->keyword, "host"))
      host = o->val;
    else if (!strcmp(o->keyword, "hostaddr"))
      hostaddr = o->val;
    else if (!strcmp(o->keyword, "sslmode"))
      sslmode = o->val;
    else if (!strcmp(o->keyword, "service"))
      service = o->val;
  }
  if (!host && !hostaddr) {
    host = getenv("PGHOST");
    hostaddr = getenv("PGHOSTADDR");
  }
  /* A hostaddr is what is reached; host then only names the certificate. */
  scan_hosts(hostaddr && *hostaddr ? hostaddr : host, out);
  if (!sslmode && !service)
    sslmode = getenv("PGSSLMODE");
  if (sslmode && *sslmode) {
    snprintf(out->sslmode, sizeof out->sslmode, "%s", sslmode);
  } else if (out->remote && !service && !getenv("PGSERVICE")) {
    out->defaulted = 1;
    snprintf(out->sslmode, sizeof out->sslmode, "verify-full");
  }
  PQconninfoFree(opts);
  return 0;
}

int spp_pq_tls_verified(const char *sslmode) {
  return sslmode && !strcmp(sslmode, "verify-full");
}
