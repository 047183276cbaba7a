/*
 * warehouse.h — connecting to the PostgreSQL warehouse, and running
 * statements on it (errors classified and redacted).  The connection is
 * built from warehouse.conninfo (any libpq keyword, TLS included, or a
 * service name), the secret warehouse.password and connect_timeout.
 */
#ifndef SAMSPOR_WAREHOUSE_H
#define SAMSPOR_WAREHOUSE_H

#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "model/conf.h"

/*
 * Connect.  Returns 0 and *out (caller PQfinish()es), or SAMSPOR_ETEMP
 * (unreachable: worth retrying), SAMSPOR_EAUTH (credentials refused) or
 * SAMSPOR_ECONFIG, with a message in err.
 */
int sp_warehouse_connect(const sp_config *c, PGconn **out, char *err,
                         size_t errlen);

/* Connect and disconnect: `check --connect`. */
int sp_warehouse_ping(const sp_config *c, char *err, size_t errlen);

/* Advisory lock key serialising set-up (tables, grants, policies) across
 * samspor processes; held for a transaction. */
#define SP_SETUP_LOCK "7368304"

/* "schema"."table", quoted; caller frees. */
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
 * (spp_pq_text_allowed()), else samspor's words (spp_pq_message()). */
void sp_pg_error(PGconn *conn, const PGresult *res, char *err, size_t errlen);
/* Classify a failed result or a lost connection. */
int sp_pg_classify(PGconn *conn, const PGresult *res);

#endif
