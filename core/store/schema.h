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

#include "model/conf.h"
#include "store/warehouse.h"

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

/* Whether the stream's table keeps a digest of each row's values
 * (_digest): keyed incremental_dedup and full_refresh streams, whose loads
 * send only the rows that changed (sync.c). */
int sp_schema_digested(const sp_stream *st);
#endif
