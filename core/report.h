/*
 * report.h — `samspor report`: the partners' indicators as one
 * self-contained HTML page, read from the partner tables.
 */
#ifndef SAMSPOR_REPORT_H
#define SAMSPOR_REPORT_H

#include <stddef.h>

#include <libpq-fe.h>

struct sp_config;

/* Write the report of configuration c to path, atomically.  Returns 0 or a
 * SAMSPOR_E* code with a message in err. */
int sp_report_write_file(PGconn *conn, const struct sp_config *c,
                         const char *path, char *err, size_t errlen);

#endif
