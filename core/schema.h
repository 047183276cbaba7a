/*
 * schema.h — the warehouse layout: versioned migrations of the `samspor`
 * bookkeeping schema, and each stream's table created and evolved from its
 * declared columns.  Evolution only ever adds: a new column is added; a
 * changed type or key is refused with a message saying what to do, never
 * fixed by dropping data.
 */
#ifndef SAMSPOR_SCHEMA_H
#define SAMSPOR_SCHEMA_H

#include <stddef.h>

#include <libpq-fe.h>

#include "conf.h"

/* Advisory lock key serialising set-up (tables, grants, policies) across
 * samspor processes; held for a transaction. */
#define SP_SETUP_LOCK "7368304"

/* The bookkeeping schema version this samspor writes. */
int sp_schema_version_current(void);

/*
 * Bring schema `samspor` up to the current version, each migration in its
 * own transaction, serialised across processes by an advisory lock.
 * Idempotent.  A warehouse of a newer version is refused.  Returns 0, or a
 * SAMSPOR_E* code with a message in err.
 */
int sp_schema_migrate(PGconn *conn, char *err, size_t errlen);

/*
 * Inside the caller's transaction, under the advisory lock SP_SETUP_LOCK
 * (held to its end): create the stream's table when missing, add columns
 * new in the configuration, refresh the comments, grants and the
 * pseudonym-column register where they differ.  Refuses (SAMSPOR_ECONFIG) a
 * changed column type or key.  Returns 0 or a code with a message in err.
 */
int sp_schema_ensure_table(PGconn *conn, const sp_config *c,
                           const sp_connector *conn_cfg, const sp_stream *st,
                           char *err, size_t errlen);

/*
 * Outside any transaction: check with read-only queries whether the
 * stream's table, columns, comments, grants or register entry are missing
 * or differ and, only then, make them in a short transaction of their own
 * under the advisory lock SP_SETUP_LOCK, so that loads running at once
 * never change the catalog.  Returns 0 or a code with a message in err.
 */
int sp_schema_prepare(PGconn *conn, const sp_config *c, const sp_connector *cc,
                      const sp_stream *st, char *err, size_t errlen);

/* "schema"."table", quoted; caller frees. */
/* Whether the stream's table keeps a digest of each row's values
 * (_digest): keyed incremental_dedup and full_refresh streams, whose loads
 * send only the rows that changed (sync.c). */
int sp_schema_digested(const sp_stream *st);

char *sp_schema_qualified(PGconn *conn, const char *schema, const char *table);

/*
 * Run a statement, expecting `expect` (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK).  Returns 0, or a code classified from the SQLSTATE
 * (class 08 and 57P: SAMSPOR_ETEMP; else SAMSPOR_EFAIL) with the server's
 * message in err.  `res` (may be NULL) receives the result on success.
 */
int sp_pg_exec(PGconn *conn, const char *sql, ExecStatusType expect,
               PGresult **res, char *err, size_t errlen);
int sp_pg_execp(PGconn *conn, const char *sql, int nparams,
                const char *const *params, ExecStatusType expect,
                PGresult **res, char *err, size_t errlen);
/*
 * Run `sql` (a COPY ... FROM STDIN) and send it everything `data` holds,
 * from its current position.  Returns 0, or a classified code with the
 * server's (redacted) message in err.
 */
int sp_pg_copy_in(PGconn *conn, const char *sql, FILE *data, char *err,
                  size_t errlen);
/* The server's message for a failed result with its SQLSTATE: the
 * server's text only for the classes whose texts carry no values
 * (sp_pq_text_allowed()), else samspor's words (sp_pq_message()). */
void sp_pg_error(PGconn *conn, const PGresult *res, char *err, size_t errlen);
/* Classify a failed result or a lost connection. */
int sp_pg_classify(PGconn *conn, const PGresult *res);

#endif
