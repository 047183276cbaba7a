/*
 * warehouse.h — connecting to the PostgreSQL warehouse.  The connection is
 * built from warehouse.conninfo (any libpq keyword, TLS included, or a
 * service name), the secret warehouse.password and connect_timeout.
 */
#ifndef SAMSPOR_WAREHOUSE_H
#define SAMSPOR_WAREHOUSE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "conf.h"

/*
 * Validate a conninfo string without connecting: it must parse, and it
 * must not hold a password (secrets are never written inline).  Returns 0
 * or writes why into err (never echoing the string) and returns
 * SAMSPOR_ECONFIG.
 */
int sp_conninfo_check(const char *conninfo, char *err, size_t errlen);

/*
 * Connect.  Returns 0 and *out (caller PQfinish()es), or SAMSPOR_ETEMP
 * (unreachable: worth retrying), SAMSPOR_EAUTH (credentials refused) or
 * SAMSPOR_ECONFIG, with a message in err.
 */
int sp_warehouse_connect(const sp_config *c, PGconn **out, char *err,
                         size_t errlen);

/* Connect and disconnect: `check --connect`. */
int sp_warehouse_ping(const sp_config *c, char *err, size_t errlen);

#endif
