/*
 * forget.c — `samspor forget --kind KIND`: erase people from the
 * warehouse (GDPR art. 17) and keep them out of future loads.
 *
 * Identifiers come on stdin and are pseudonymised with the configured key;
 * in one transaction every row of every table whose pseudonym column of
 * that kind matches is deleted, the pseudonyms go to samspor.forgotten
 * (which every load consults), and samspor.erasure_log records how many
 * people and rows, never who.  Every connector's sync lock is held
 * meanwhile, so no sync can put a person back between the delete and the
 * commit.  The partner tables follow at the next refresh (not at once).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/exitcode.h"
#include "load/forget.h"
#include "partner/indicators.h"
#include "base/log.h"
#include "model/pseudonym.h"
#include "store/schema.h"
#include "load/sync.h"

/* Read in into COPY text lines of pseudonyms.  Returns the number of
 * valid identifiers; *invalid counts the others. */
static long read_pseudonyms(const sp_pseudonymiser *p, FILE *in, sp_buf *copy,
                            long *invalid) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long valid = 0, lineno = 0;
  *invalid = 0;
  while ((n = getline(&line, &cap, in)) >= 0) {
    lineno++;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    if (n == 0)
      continue;
    char out[37];
    const char *reason = NULL;
    if (sp_pseudonym(p, line, (size_t)n, out, &reason) == 0) {
      sp_buf_puts(copy, out);
      sp_buf_putc(copy, '\n');
      valid++;
    } else {
      (*invalid)++;
      fprintf(stderr,
              "samspor: forget: line %ld: not a valid identifier "
              "(%s); skipped\n",
              lineno, reason ? reason : "invalid");
    }
  }
  if (line) {
    sp_wipe(line, cap);
    free(line);
  }
  return valid;
}

/*
 * Rows loaded under an older key (a warehouse rotated with the old sync
 * --new-key) hold pseudonyms the current key cannot match: an erasure would
 * silently leave them.  Returns SAMSPOR_EFAIL naming every such table and
 * its row count, or 0 when every row is of the current generation.
 */
static int older_generations(sp_syncer *s, PGresult *cols, char *err,
                             size_t errlen) {
  sp_buf msg, sql;
  sp_buf_init(&msg);
  sp_buf_init(&sql);
  int rc = 0;
  for (int i = 0; i < PQntuples(cols) && !rc; i++) {
    if (i > 0 &&
        strcmp(PQgetvalue(cols, i, 0), PQgetvalue(cols, i - 1, 0)) == 0 &&
        strcmp(PQgetvalue(cols, i, 1), PQgetvalue(cols, i - 1, 1)) == 0)
      continue; /* one count per table */
    char *qt = sp_schema_qualified(s->conn, PQgetvalue(cols, i, 0),
                                   PQgetvalue(cols, i, 1));
    sp_buf_reset(&sql);
    sp_buf_printf(&sql,
                  "SELECT r.key_id, count(*) FROM %s t JOIN "
                  "samspor.sync_run r ON r.run_id = t._run_id WHERE r.key_id "
                  "<> $1 GROUP BY 1 ORDER BY 1",
                  qt);
    free(qt);
    PGresult *res;
    const char *p[] = {sp_key_id(s->key)};
    rc = sp_pg_execp(s->conn, sql.data, 1, p, PGRES_TUPLES_OK, &res, err,
                     errlen);
    for (int r = 0; !rc && r < PQntuples(res); r++)
      sp_buf_printf(&msg, "%s%s.%s: %s rows under key id %s",
                    msg.len ? "; " : "", PQgetvalue(cols, i, 0),
                    PQgetvalue(cols, i, 1), PQgetvalue(res, r, 1),
                    PQgetvalue(res, r, 0));
    if (!rc)
      PQclear(res);
  }
  if (!rc && msg.len) {
    snprintf(err, errlen,
             "rows of an older key generation remain (%s): the current key "
             "(id %s) cannot find those people in them. Rotate first with "
             "samspor rekey --new-key FILE, which rebuilds every table under "
             "one key, then forget again",
             msg.data, sp_key_id(s->key));
    rc = SAMSPOR_EFAIL;
  }
  sp_buf_free(&msg);
  sp_buf_free(&sql);
  return rc;
}

/* The deletes, inside the caller's transaction.  Prints per table. */
static int erase(sp_syncer *s, const char *kind, long people, char *err,
                 size_t errlen) {
  PGconn *conn = s->conn;
  PGresult *cols = NULL, *res = NULL;
  const char *kp[] = {kind};
  int rc = sp_pg_execp(conn,
                       "SELECT c.table_schema, c.table_name, c.column_name "
                       "FROM samspor.pseudonym_columns c "
                       "WHERE c.kind = $1 AND to_regclass(quote_ident("
                       "c.table_schema) || '.' || quote_ident(c.table_name)) "
                       "IS NOT NULL ORDER BY 1, 2, 3",
                       1, kp, PGRES_TUPLES_OK, &cols, err, errlen);
  if (rc)
    return rc;
  long long total = 0;
  sp_buf tables, sql;
  sp_buf_init(&tables);
  sp_buf_init(&sql);
  rc = older_generations(s, cols, err, errlen);
  sp_buf_puts(&tables, "{");
  for (int i = 0; i < PQntuples(cols) && !rc; i++) {
    const char *schema = PQgetvalue(cols, i, 0);
    const char *table = PQgetvalue(cols, i, 1);
    const char *column = PQgetvalue(cols, i, 2);
    char *qt = sp_schema_qualified(conn, schema, table);
    char *qc = PQescapeIdentifier(conn, column, strlen(column));
    sp_buf_reset(&sql);
    sp_buf_printf(&sql,
                  "DELETE FROM %s WHERE %s IN (SELECT pseudonym FROM "
                  "samspor_forget)",
                  qt, qc);
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, &res, err, errlen);
    if (!rc) {
      long long n = atoll(PQcmdTuples(res));
      total += n;
      printf("%s.%s (%s): %lld rows deleted\n", schema, table, column, n);
      sp_buf_printf(&tables, "%s\"%s.%s.%s\": %lld", i ? ", " : "", schema,
                    table, column, n);
      PQclear(res);
    }
    free(qt);
    PQfreemem(qc);
  }
  sp_buf_puts(&tables, "}");
  PQclear(cols);
  if (!rc)
    rc = sp_pg_execp(conn,
                     "INSERT INTO samspor.forgotten (kind, pseudonym, key_id) "
                     "SELECT DISTINCT $1, pseudonym, $2 FROM samspor_forget "
                     "ON CONFLICT DO NOTHING",
                     2, (const char *[]){kind, sp_key_id(s->key)},
                     PGRES_COMMAND_OK, NULL, err, errlen);
  if (!rc) {
    char ppl[32], rows[32];
    snprintf(ppl, sizeof ppl, "%ld", people);
    snprintf(rows, sizeof rows, "%lld", total);
    const char *lp[] = {kind, ppl, rows, tables.data, sp_key_id(s->key)};
    rc = sp_pg_execp(conn,
                     "INSERT INTO samspor.erasure_log (kind, people, "
                     "rows_deleted, tables, key_id) VALUES ($1, $2, $3, "
                     "$4::jsonb, $5)",
                     5, lp, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  if (!rc) {
    printf("%lld rows deleted for %ld %s; they are kept out of future "
           "loads\n",
           total, people, people == 1 ? "person" : "people");
    sp_info(NULL, "forget: %lld rows of %ld people (kind %s) erased", total,
            people, kind);
  }
  sp_buf_free(&tables);
  sp_buf_free(&sql);
  return rc;
}

int sp_forget(sp_config *c, const char *kind, FILE *in) {
  int rc;

  sp_syncer s;
  sp_sync_opts o = {0};
  char err[1024];
  /* The same key check as sync: with another key the pseudonyms would
   * match nobody, and the erasure would silently do nothing. */
  rc = sp_syncer_open(&s, c, &o, err, sizeof err);
  sp_pseudonymiser *p = NULL;
  sp_buf copy;
  sp_buf_init(&copy);
  size_t locked = 0;
  long invalid = 0, people = 0;
  if (!rc) {
    p = sp_pseudonymiser_new(s.key, kind);
    if (!p) {
      rc = SAMSPOR_ENOMEM;
      snprintf(err, sizeof err, "cannot set up pseudonyms");
    }
  }
  if (!rc)
    people = read_pseudonyms(p, in, &copy, &invalid);
  for (; !rc && locked < c->nconnectors; locked++)
    rc = sp_sync_lock(&s, &c->connectors[locked], err, sizeof err);
  if (!rc)
    rc = sp_pg_exec(s.conn,
                    "BEGIN; CREATE TEMP TABLE samspor_forget (pseudonym "
                    "uuid NOT NULL) ON COMMIT DROP",
                    PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (!rc) {
    FILE *f = fmemopen(copy.data ? copy.data : (char *)"", copy.len, "r");
    rc = f ? sp_pg_copy_in(s.conn, "COPY samspor_forget FROM STDIN", f, err,
                           sizeof err)
           : SAMSPOR_ENOMEM;
    if (f)
      fclose(f);
  }
  if (!rc)
    rc = erase(&s, kind, people, err, sizeof err);
  if (!rc)
    rc = sp_pg_exec(s.conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (rc && s.conn && PQstatus(s.conn) == CONNECTION_OK)
    PQclear(PQexec(s.conn, "ROLLBACK"));
  if (s.conn && PQstatus(s.conn) == CONNECTION_OK)
    for (size_t i = 0; i < locked; i++)
      sp_sync_unlock(&s, &c->connectors[i]);
  if (rc)
    fprintf(stderr, "samspor: forget: %s; nothing was erased\n", err);
  /* The partner tables are not recomputed here: the erasure reaches their
   * open periods with the next refresh, batched with the night's other
   * changes; final periods keep what was published (release.h). */
  if (!rc && sp_config_partner(c)->nindicators > 0)
    printf("the partner indicators are not recomputed now: their open "
           "periods stop counting the people erased at the next refresh "
           "(the next sync, or samspor refresh); final periods keep their "
           "published figures\n");
  if (copy.data)
    sp_wipe(copy.data, copy.cap);
  sp_buf_free(&copy);
  sp_pseudonymiser_free(p);
  sp_syncer_close(&s);
  sp_config_free(c);
  if (rc)
    return sp_exit_status(rc);
  return invalid ? SP_EXIT_FAIL : SP_EXIT_OK;
}
