/*
 * rejects.c — the rejects of a run, summarised from samspor.rejects and
 * samspor.sync_run.  Only reason codes, column names, positions (where in
 * the source: file and line, page and item) and counts are read: the table
 * holds no value, and neither does anything printed here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/rejects.h"
#include "store/schema.h"
#include "base/util.h"

static int print_run(PGconn *conn, PGresult *runs, int i, FILE *out, char *err,
                     size_t errlen) {
  const char *run = PQgetvalue(runs, i, 0);
  fprintf(out, "%s.%s run %s (%s, %s): read %s, rejected %s",
          PQgetvalue(runs, i, 1), PQgetvalue(runs, i, 2), run,
          PQgetvalue(runs, i, 3), PQgetvalue(runs, i, 4),
          PQgetvalue(runs, i, 5), PQgetvalue(runs, i, 6));
  PGresult *res = NULL;
  const char *params[] = {run};
  int rc = sp_pg_execp(
      conn,
      "SELECT reason, coalesce(column_name, '-'), count(*), "
      " array_to_string((array_agg(position ORDER BY ord) "
      "   FILTER (WHERE position IS NOT NULL))[1:3], "
      "   ', ') "
      "FROM (SELECT *, row_number() OVER () AS ord FROM samspor.rejects "
      "      WHERE run_id = $1) r "
      "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
      1, params, PGRES_TUPLES_OK, &res, err, errlen);
  if (rc) {
    fputc('\n', out);
    return rc;
  }
  long long stored = 0;
  for (int j = 0; j < PQntuples(res); j++)
    stored += atoll(PQgetvalue(res, j, 2));
  if (stored != atoll(PQgetvalue(runs, i, 6)))
    fprintf(out, " (%lld stored; max_rejects_stored keeps the rest out)",
            stored);
  fputc('\n', out);
  if (PQntuples(res) > 0)
    fprintf(out, "  %-20s %-20s %8s  %s\n", "reason", "column", "rows",
            "first positions");
  for (int j = 0; j < PQntuples(res); j++)
    fprintf(out, "  %-20s %-20s %8s  %s\n", PQgetvalue(res, j, 0),
            PQgetvalue(res, j, 1), PQgetvalue(res, j, 2),
            PQgetvalue(res, j, 3));
  PQclear(res);
  return 0;
}

int sp_rejects_print(PGconn *conn, long long run_id, FILE *out, char *err,
                     size_t errlen) {
  PGresult *res = NULL;
  int rc = sp_pg_exec(conn, "SELECT to_regclass('samspor.rejects') IS NOT NULL",
                      PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  int exists = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  PQclear(res);
  if (!exists) {
    snprintf(err, errlen, "no sync has run in this warehouse yet");
    return SAMSPOR_ENOENT;
  }
  char run[32];
  snprintf(run, sizeof run, "%lld", run_id);
  const char *params[] = {run};
  static const char cols[] =
      "SELECT run_id, connector, stream, "
      " to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ'), status, rows_read, "
      " rows_rejected FROM samspor.sync_run ";
  char *sql =
      run_id ? sp_xasprintf("%s WHERE run_id = $1", cols)
             : sp_xasprintf("SELECT * FROM (SELECT DISTINCT ON (connector, "
                            "stream) * FROM (%s) s ORDER BY connector, "
                            "stream, run_id DESC) l ORDER BY connector, stream",
                            cols);
  rc = sp_pg_execp(conn, sql, run_id ? 1 : 0, run_id ? params : NULL,
                   PGRES_TUPLES_OK, &res, err, errlen);
  free(sql);
  if (rc)
    return rc;
  if (PQntuples(res) == 0) {
    if (run_id)
      snprintf(err, errlen, "no run %lld in samspor.sync_run", run_id);
    else
      snprintf(err, errlen, "no sync has run in this warehouse yet");
    PQclear(res);
    return SAMSPOR_ENOENT;
  }
  for (int i = 0; i < PQntuples(res) && !rc; i++)
    rc = print_run(conn, res, i, out, err, errlen);
  PQclear(res);
  return rc;
}
