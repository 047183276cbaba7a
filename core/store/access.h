/*
 * access.h — who may read what in the warehouse (SPEC.md "Warehouse"):
 * the group roles samspor_loader (writes), samspor_analyst (reads the
 * pseudonymised stream tables), samspor_analyst_all (an analyst who sees
 * every area) and samspor_partner (reads schema partner only), their
 * grants, and row-level security on streams with restrict_by.
 *
 * The roles are created by migration 2 when the user running samspor may
 * create roles; otherwise it only says (a server NOTICE, and a warning in
 * the log) what an administrator must run.  Roles are cluster-wide and may
 * appear later, so the grants are not part of a migration: they are
 * (re)applied, idempotently and only for roles that exist, with every load
 * of a stream table (sp_schema_ensure_table) and by `samspor grant`.
 *
 * Only what is missing is applied (sp_access_missing first), under the
 * advisory lock SP_SETUP_LOCK: loads running at once then change no
 * catalog row.
 *
 * Row-level security: a stream with restrict_by = "area" gets RLS enabled
 * and one policy, samspor_org, FOR SELECT TO samspor_analyst: a row is
 * visible when the querying role belongs to samspor_analyst_all, or when
 * its area is one of samspor.org_area's areas of an organisation whose
 * analyst role (org_<org>_analyst) the querying role belongs to.  The
 * lookup goes through samspor_access.visible_areas(), a SECURITY DEFINER
 * function in a schema of its own, so analysts need no access to schema
 * samspor at all.  The loader owns the tables and is not subject to RLS
 * (never FORCEd): partner views built by the loader aggregate all rows.
 */
#ifndef SAMSPOR_ACCESS_H
#define SAMSPOR_ACCESS_H

#include <stddef.h>

#include <libpq-fe.h>

/* The group roles. */
#define SP_ROLE_LOADER "samspor_loader"
#define SP_ROLE_ANALYST "samspor_analyst"
#define SP_ROLE_ANALYST_ALL "samspor_analyst_all"
#define SP_ROLE_PARTNER "samspor_partner"

/* The schema that holds only the functions RLS policies call. */
#define SP_ACCESS_SCHEMA "samspor_access"

/*
 * Grant what the roles that exist should have on the schemas (warehouse
 * schema `schema`, partner, samspor_access, samspor) and, when table is
 * not NULL, on stream table schema.table; enable RLS and (re)create the
 * samspor_org policy on column restrict_col when it is not NULL, or drop
 * the policy when it is.  Idempotent; runs in the caller's transaction.
 * Schema-level grants the current user may not make are skipped with a
 * server NOTICE.  Returns 0 or a SAMSPOR_E* code with a message in err.
 */
int sp_access_apply(PGconn *conn, const char *schema, const char *table,
                    const char *restrict_col, char *err, size_t errlen);

/*
 * Whether anything sp_access_apply would grant, revoke or create is
 * missing (read-only catalog queries; qt is the quoted "schema"."table" or
 * NULL).  Returns 1 when something is missing or the check failed, else 0.
 */
int sp_access_missing(PGconn *conn, const char *schema, const char *qt,
                      const char *restrict_col);

/*
 * Warn (once per process) in the log when a group role is missing, with
 * what an administrator must run.  Returns how many are missing, or -1 when
 * the check itself failed.
 */
int sp_access_check_roles(PGconn *conn);

#endif
