/*
 * pgsql_msg.h — the pure parts of the pgsql plugin: what a server or libpq
 * message means (error classification), what of it may be repeated
 * (redaction), where in the query it points, and which result column a
 * requested field names.  Kept apart from pgsql.c so that the unit tests
 * can reach them without a server.
 *
 * Nothing here keeps state; nothing allocates unless it says so.
 */
#ifndef SAMSPOR_PGSQL_MSG_H
#define SAMSPOR_PGSQL_MSG_H

#include <stddef.h>

/*
 * Copy the first `len` bytes of `msg` (a server's primary message or
 * libpq's text) to `out` (capacity `outlen` > 0, always NUL-terminated,
 * cut if too long) as one line: every run of whitespace, line breaks
 * included, becomes one space, and none leads or trails.  For SQLSTATE
 * classes 22 (data exception) and 23 (integrity constraint violation)
 * every double-quoted part is replaced by "...": those messages quote the
 * offending value (invalid input syntax for type date: "31-02-2026"), and
 * values may be CPR numbers or names.  An unterminated quote redacts
 * everything after it.  `sqlstate` may be NULL.
 */
void pgsql_redact(const char *msg, size_t len, const char *sqlstate, char *out,
                  size_t outlen);

/* Nonzero when messages of this SQLSTATE are redacted (classes 22, 23). */
int pgsql_sqlstate_redacted(const char *sqlstate);

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
 * The SAMSPOR_E* code for a connection attempt that failed with libpq's
 * message `msg`.  libpq gives no SQLSTATE for these, so the message is
 * read: credentials refused (wrong password, no password where one is
 * needed, no pg_hba.conf entry, unknown or NOLOGIN role, no CONNECT
 * privilege) is SAMSPOR_EAUTH; a database that does not exist or a server
 * certificate that does not verify is SAMSPOR_EFAIL (retrying will not
 * help); anything else (refused, timed out, unknown host, starting up,
 * too many connections) is SAMSPOR_ETEMP.  `needs_password` is
 * PQconnectionNeedsPassword(): the server wanted a password and none was
 * configured, which is SAMSPOR_EAUTH whatever the message's language.
 */
int pgsql_classify_connect(const char *msg, int needs_password);

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
