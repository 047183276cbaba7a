/*
 * pgconn.h — what samspor does the same way on every PostgreSQL
 * connection, the warehouse's (core) and a pgsql source's (plugin): how it
 * connects and classifies a failed connection, which server messages it
 * may repeat, and which TLS it asks for.  Compiled into both the core and
 * the pgsql plugin (plugins never link against the core).
 *
 * Nothing here keeps state or logs; messages are written into the caller's
 * buffers and never quote a value, a password or the conninfo.
 */
#ifndef SAMSPOR_PGCONN_H
#define SAMSPOR_PGCONN_H

#include <stddef.h>

#include <libpq-fe.h>

/* ---- messages ---------------------------------------------------------- */

/*
 * Nonzero when the server's message text of this SQLSTATE may be repeated
 * (on stderr, in samspor.sync_run.error): the allow-list of classes whose
 * texts name objects, settings and limits but never carry a data value —
 * 08 connection exception, 25 invalid transaction state, 28 invalid
 * authorisation, 3D invalid catalog name, 3F invalid schema name, 40
 * transaction rollback, 42 syntax error or access rule violation (names
 * tables, columns, functions, types), 53 insufficient resources, 57
 * operator intervention.  Every other class — 22 data exception, 23
 * integrity constraint violation, P0 (RAISE in a function, whose text is
 * whatever the function's author put there), XX, and any class a server or
 * extension invents — may quote rows and is replaced by samspor's own
 * words.  NULL (no SQLSTATE) is 0.
 */
int spp_pq_text_allowed(const char *sqlstate);

/*
 * The message of failed result `res` (may be NULL) as one line into `out`
 * (capacity outlen > 0; always NUL-terminated, cut if too long), without
 * the SQLSTATE: the server's primary message with every run of whitespace
 * made one space when spp_pq_text_allowed(), else samspor's own words for
 * the SQLSTATE followed by the names of the constraint, table, column and
 * type the server gives in separate fields (names describe the data, they
 * are not data).  With no SQLSTATE (libpq's own failure: the connection
 * broke, out of memory), `libpq_msg` (PQerrorMessage(), may be NULL),
 * which libpq writes itself and never fills with row values.
 */
void spp_pq_message(const PGresult *res, const char *libpq_msg, char *out,
                    size_t outlen);

/* ---- connecting -------------------------------------------------------- */

/*
 * Connect with PQconnectStartParams(keys, vals, expand_dbname = 1),
 * waiting at most `timeout` seconds for each step, and classify a failure
 * by the server's SQLSTATE and PQping(), never by message text:
 *
 *   no answer (refused, unreachable, timed out, TLS failed), or the server
 *   is starting, shutting down or full (57P, 53, 08)       SAMSPOR_ETEMP
 *   28P01 (password refused), 28000 (no such role, or pg_hba.conf does not
 *   admit it), 42501 (no CONNECT privilege), or the server asked for a
 *   password and none is configured                       SAMSPOR_EAUTH
 *   3D000 (no such database) and any other SQLSTATE       SAMSPOR_EFAIL
 *   parameters libpq cannot use                           SAMSPOR_ECONFIG
 *
 * `setting` names what the user should fix ("warehouse.conninfo"), used
 * in the message.  Returns 0 with *out connected (caller PQfinish()es it;
 * its error verbosity is PQERRORS_DEFAULT), or one of the codes above with
 * *out NULL and a sentence in err (capacity errlen) that says why and
 * what to fix.
 */
int spp_pq_connect(const char *const *keys, const char *const *vals,
                   double timeout, const char *setting, PGconn **out, char *err,
                   size_t errlen);

/*
 * The SQLSTATE in a connection failure's message written with
 * PQERRORS_SQLSTATE verbosity ("... failed: FATAL:  28P01"): the last
 * "<severity>:  XXXXX" at the end of a line, copied to state[6].  Returns
 * 1 when found, else 0.  Exposed for the unit tests.
 */
int spp_pq_connect_sqlstate(const char *msg, char state[6]);

/* ---- TLS --------------------------------------------------------------- */

/* What spp_pq_tls() found out about a conninfo. */
typedef struct spp_pq_tls_info {
  int remote;            /* a TCP host other than loopback or localhost */
  int defaulted;         /* samspor adds sslmode=verify-full */
  char sslmode[16];      /* the sslmode that applies ("" = libpq default) */
  char first_remote[64]; /* the first such host, cut; for messages */
} spp_pq_tls_info;

/*
 * Decide the TLS of a connection string (already checked to parse):
 * hosts are the conninfo's host/hostaddr lists, else $PGHOST/$PGHOSTADDR.
 * A host is local when it is empty, a socket directory (starts with '/' or
 * '@'), "localhost", or an address in 127.0.0.0/8 or ::1.  When some host
 * is remote and neither the conninfo, a service file (service=) nor
 * $PGSSLMODE chooses an sslmode, samspor chooses "verify-full":
 * defaulted is set and sslmode says so.  Returns 0, or SAMSPOR_ECONFIG
 * when the string does not parse.
 */
int spp_pq_tls(const char *conninfo, spp_pq_tls_info *out);

/* Nonzero when sslmode (as spp_pq_tls() reports it) verifies the server's
 * certificate and host name: only "verify-full". */
int spp_pq_tls_verified(const char *sslmode);

#endif
