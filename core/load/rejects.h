/*
 * rejects.h — what samspor.rejects says about a run, for people: counts
 * per reason and column and the first positions, never a value.
 */
#ifndef SAMSPOR_REJECTS_H
#define SAMSPOR_REJECTS_H

#include <stdio.h>

#include <libpq-fe.h>

/*
 * Print the rejects of run `run_id`, or with run_id 0 of the latest run
 * of each stream, to `out`.  Returns 0, SAMSPOR_ENOENT (no such run, the
 * message in err), or a code from the warehouse with its message in err.
 */
int sp_rejects_print(PGconn *conn, long long run_id, FILE *out, char *err,
                     size_t errlen);

#endif
