/*
 * report.h — the partners' report: one self-contained HTML page (or a
 * Markdown summary) of the indicator tables partner.<name>, with a chart
 * per indicator over time and a table under it; suppressed points are
 * gaps with the reason stated.  The command is sp_report_write (docout.h).
 */
#ifndef SAMSPOR_REPORT_H
#define SAMSPOR_REPORT_H

#include <stddef.h>

#include <libpq-fe.h>

struct sp_config;

/*
 * Write the HTML report of the configuration's indicators, read from the
 * partner tables over conn, to path atomically (a temporary file beside
 * it, then rename; on failure the old file stays as it was).  Reads only
 * schema partner, in one read-only transaction of its own when conn is
 * idle (inside the caller's transaction when it is not).  A partner table
 * not computed yet is shown as such, not an error.  Returns 0, or a
 * SAMSPOR_E* code (SAMSPOR_ETEMP: the warehouse went away; SAMSPOR_EIO:
 * the file could not be written) with a message in err.
 */
int sp_report_write_file(PGconn *conn, const struct sp_config *c,
                         const char *path, char *err, size_t errlen);

#endif
