/*
 * pgsql_msg.h — the pure parts of the pgsql plugin: what a server or libpq
 * statement error means (classification), whether a conninfo may be used,
 * where in the query a message points, and which result column a
 * requested field names.  Kept apart from pgsql.c so that the unit tests
 * can reach them without a server.
 *
 * Nothing here keeps state; nothing allocates unless it says so.
 */
#ifndef SAMSPOR_PGSQL_MSG_H
#define SAMSPOR_PGSQL_MSG_H

#include <stddef.h>

/*
 * The SAMSPOR_E* code for a failed statement with this SQLSTATE:
 * SAMSPOR_ETEMP for NULL (no SQLSTATE: the connection broke), class 08
 * (connection exception), 57P (shutdown, crash, cannot connect now), 53
 * (insufficient resources) and 40 (serialization failure, deadlock, a hot
 * standby's conflict with recovery: the same query succeeds later);
 * SAMSPOR_EAUTH for class 28 (invalid authorization); SAMSPOR_EFAIL for
 * everything else.
 */
int pgsql_classify_sqlstate(const char *sqlstate);

/*
 * Check a conninfo string: it must parse (libpq's connection string or URI
 * syntax) and must not hold a password, which belongs in password_file or
 * password_env where it cannot leak with the configuration.  Returns 0, or
 * SAMSPOR_ECONFIG with a sentence in err (capacity errlen) that never
 * quotes the string, or SAMSPOR_ENOMEM.
 */
int pgsql_conninfo_check(const char *conninfo, char *err, size_t errlen);

/*
 * Line and column (both 1-based) of the character at 1-based position
 * `pos` of `query`, as a server error's statement position counts it:
 * in characters, not bytes.  Past the end, the position after the last
 * character.
 */
void pgsql_position(const char *query, long pos, long *line, long *col);

/* pgsql_find_column() results. */
#define PGSQL_COL_FOUND 0
#define PGSQL_COL_MISSING 1
#define PGSQL_COL_AMBIGUOUS 2

/*
 * Find the result column `want` among the `n` names: the one exactly equal
 * to it, else the one equal ignoring ASCII case (PostgreSQL folds unquoted
 * names to lowercase; a configuration may not).  Returns PGSQL_COL_FOUND
 * with *col set, PGSQL_COL_MISSING, or PGSQL_COL_AMBIGUOUS with *col and
 * *other set to the first two matching columns (0-based), when two result
 * columns share the name.
 */
int pgsql_find_column(const char *const *names, size_t n, const char *want,
                      size_t *col, size_t *other);

#endif
