/*
 * rekey.c — `samspor rekey --new-key FILE`: rotate the pseudonymisation
 * key.  One generation of pseudonyms at a time, and every erasure kept.
 *
 * Every stream table of the configuration is emptied and reloaded from its
 * source under the new key, all of them in one transaction: readers wait on
 * the tables' locks and then see the new generation, never a mix, and a
 * rotation that dies half-way leaves the old generation as it was.  While
 * the rows come in, each identifier is pseudonymised under both keys; a row
 * whose old pseudonym is in samspor.forgotten is dropped and its new
 * pseudonym recorded there for the new generation, so the old key is not
 * needed once the rotation has committed.  Pseudonyms cannot be converted
 * without the identifiers (HMAC is one-way), so a person forgotten under
 * the old key whom no source delivers during the rotation cannot be
 * carried: the command counts them and says what to do.
 *
 * A stream whose source may not deliver its history again (mode append, or
 * a cursor) would lose the rows the source no longer has: the rotation is
 * refused, naming them and their row counts, unless --drop-unreloadable
 * confirms it.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/exitcode.h"
#include "load/rekey.h"
#include "partner/indicators.h"
#include "base/log.h"
#include "store/schema.h"
#include "load/sync.h"

/* Whether a full load may not bring back every row the table holds. */
static int unreloadable(const sp_stream *st) {
  return st->mode == SP_MODE_APPEND || st->cursor_column >= 0;
}

static long long table_rows(PGconn *conn, const char *schema,
                            const char *table) {
  char *qt = sp_schema_qualified(conn, schema, table);
  char *sql = sp_xasprintf("SELECT count(*) FROM %s", qt);
  PGresult *res = PQexec(conn, sql);
  long long n = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                    ? atoll(PQgetvalue(res, 0, 0))
                    : -1;
  PQclear(res);
  free(sql);
  free(qt);
  return n;
}

/*
 * The tables the rotation cannot rebuild from a full history: streams of
 * mode append or with a cursor, and tables with pseudonym columns that no
 * configured stream loads (pseudonym_columns remembers them).  One line
 * per table into *out.  Returns how many hold rows.
 */
static int find_unreloadable(PGconn *conn, const sp_config *c, sp_buf *out) {
  const char *schema = sp_config_schema(c);
  int n = 0;
  for (size_t k = 0; k < c->nconnectors; k++)
    for (size_t i = 0; i < c->connectors[k].nstreams; i++) {
      const sp_stream *st = &c->connectors[k].streams[i];
      if (!unreloadable(st))
        continue;
      long long rows = table_rows(conn, schema, st->table);
      if (rows <= 0)
        continue;
      sp_buf_printf(out,
                    "  %s.%s (table %s.%s, %s%s): %lld rows now; only what "
                    "the source delivers again is kept\n",
                    c->connectors[k].name, st->table, schema, st->table,
                    st->mode == SP_MODE_APPEND ? "mode append" : "",
                    st->cursor_column >= 0
                        ? (st->mode == SP_MODE_APPEND ? ", cursor" : "cursor")
                        : "",
                    rows);
      n++;
    }
  PGresult *res = PQexec(conn, "SELECT DISTINCT table_schema, table_name "
                               "FROM samspor.pseudonym_columns ORDER BY 1, 2");
  for (int r = 0; PQresultStatus(res) == PGRES_TUPLES_OK && r < PQntuples(res);
       r++) {
    const char *ts = PQgetvalue(res, r, 0), *tn = PQgetvalue(res, r, 1);
    int configured = 0;
    for (size_t k = 0; k < c->nconnectors; k++)
      for (size_t i = 0; i < c->connectors[k].nstreams; i++)
        configured |= strcmp(ts, schema) == 0 &&
                      strcmp(tn, c->connectors[k].streams[i].table) == 0;
    if (configured)
      continue;
    long long rows = table_rows(conn, ts, tn);
    if (rows <= 0)
      continue;
    sp_buf_printf(out,
                  "  table %s.%s: %lld rows with pseudonyms, but no "
                  "configured stream loads it; its rows are deleted\n",
                  ts, tn, rows);
    n++;
  }
  PQclear(res);
  return n;
}

/* Empty the tables with pseudonyms that no configured stream loads, in the
 * rotation's transaction. */
static int clear_orphans(PGconn *conn, const sp_config *c, char *err,
                         size_t errlen) {
  PGresult *res;
  const char *schema = sp_config_schema(c);
  int rc = sp_pg_exec(conn,
                      "SELECT DISTINCT table_schema, table_name FROM "
                      "samspor.pseudonym_columns WHERE to_regclass("
                      "quote_ident(table_schema) || '.' || "
                      "quote_ident(table_name)) IS NOT NULL ORDER BY 1, 2",
                      PGRES_TUPLES_OK, &res, err, errlen);
  for (int r = 0; !rc && r < PQntuples(res); r++) {
    const char *ts = PQgetvalue(res, r, 0), *tn = PQgetvalue(res, r, 1);
    int configured = 0;
    for (size_t k = 0; k < c->nconnectors; k++)
      for (size_t i = 0; i < c->connectors[k].nstreams; i++)
        configured |= strcmp(ts, schema) == 0 &&
                      strcmp(tn, c->connectors[k].streams[i].table) == 0;
    if (configured)
      continue;
    char *qt = sp_schema_qualified(conn, ts, tn);
    char *sql = sp_xasprintf("TRUNCATE %s", qt);
    rc = sp_pg_exec(conn, sql, PGRES_COMMAND_OK, NULL, err, errlen);
    free(sql);
    free(qt);
  }
  PQclear(res);
  return rc;
}

/* After every stream: carry the erasures, close the old generation, open
 * the new.  *carried and *uncarried count people. */
static int finish_generation(PGconn *conn, const char *old_id,
                             const char *new_id, long long *carried,
                             long long *uncarried, char *err, size_t errlen) {
  const char *p[] = {new_id, old_id};
  PGresult *res;
  int rc = sp_pg_execp(conn,
                       "INSERT INTO samspor.forgotten (kind, pseudonym, "
                       "key_id) SELECT DISTINCT kind, new, $1 FROM "
                       "samspor_carried ON CONFLICT DO NOTHING",
                       1, p, PGRES_COMMAND_OK, &res, err, errlen);
  if (rc)
    return rc;
  *carried = atoll(PQcmdTuples(res));
  PQclear(res);
  /* Forgotten under the retiring key and found in no source now: the new
   * key cannot recognise them. */
  rc = sp_pg_execp(conn,
                   "SELECT count(*) FROM samspor.forgotten f WHERE "
                   "f.key_id = $1 AND NOT EXISTS (SELECT 1 FROM "
                   "samspor_carried c WHERE c.kind = f.kind AND c.old = "
                   "f.pseudonym)",
                   1, p + 1, PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  *uncarried = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  char note[64];
  snprintf(note, sizeof note, "rotated from key id %s", old_id);
  const char *hp[] = {new_id, note};
  rc = sp_pg_execp(conn,
                   "UPDATE samspor.key_history SET retired_at = now() WHERE "
                   "retired_at IS NULL AND key_id <> $1",
                   1, hp, PGRES_COMMAND_OK, NULL, err, errlen);
  if (rc)
    return rc;
  return sp_pg_execp(
      conn,
      "INSERT INTO samspor.key_history (key_id, note, command) VALUES ($1, "
      "$2, 'rekey') ON CONFLICT (key_id) DO UPDATE SET first_used = now(), "
      "retired_at = NULL, note = EXCLUDED.note, command = EXCLUDED.command",
      2, hp, PGRES_COMMAND_OK, NULL, err, errlen);
}

/* The warehouse's current generation, or "" when nothing was loaded. */
static int current_generation(PGconn *conn, char *id, size_t idlen, char *err,
                              size_t errlen) {
  PGresult *res;
  int rc = sp_pg_exec(conn,
                      "SELECT key_id FROM samspor.key_history ORDER BY "
                      "first_used DESC, key_id LIMIT 1",
                      PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  snprintf(id, idlen, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
  PQclear(res);
  return 0;
}

/* Whether the warehouse may rotate from old_id to new_id: it is at the
 * old key's generation.  *already is set when a rotation to the new key
 * committed before (and rc is 0). */
static int check_generation(PGconn *conn, const sp_rekey_opts *ro,
                            const char *kf, const char *old_id,
                            const char *new_id, int *already, char *err,
                            size_t errlen) {
  char cur[16];
  int rc = current_generation(conn, cur, sizeof cur, err, errlen);
  if (!rc && strcmp(old_id, new_id) == 0) {
    snprintf(err, errlen,
             "%s holds the key in use (key id %s); make a new key with "
             "samspor keygen FILE",
             ro->new_key, new_id);
    rc = SAMSPOR_ECONFIG;
  } else if (!rc && !*cur) {
    snprintf(err, errlen,
             "nothing was loaded yet, so there is nothing to rotate: point "
             "pseudonym.key_file at %s",
             ro->new_key);
    rc = SAMSPOR_ECONFIG;
  } else if (!rc && strcmp(cur, new_id) == 0) {
    /* A rotation to this key committed already: only the configuration
     * is left to change. */
    printf("the warehouse is already at generation %s (the key in %s); "
           "point pseudonym.key_file at %s\n",
           new_id, ro->new_key, ro->new_key);
    *already = 1;
  } else if (!rc && strcmp(cur, old_id) != 0) {
    snprintf(err, errlen,
             "the configured key %s (key id %s) is not the warehouse's "
             "current generation (key id %s); rekey needs the current key "
             "to carry the erasures",
             kf, old_id, cur);
    rc = SAMSPOR_ECONFIG;
  }
  return rc;
}

/* A table whose source may not deliver its history again is rebuilt
 * only with --drop-unreloadable; the user is told which. */
static int check_unreloadable(PGconn *conn, sp_config *c,
                              const sp_rekey_opts *ro) {
  sp_buf lost;
  sp_buf_init(&lost);
  if (find_unreloadable(conn, c, &lost) > 0) {
    if (!ro->drop_unreloadable) {
      fprintf(stderr,
              "samspor: rekey: these tables may not be rebuilt in full, "
              "because their source may no longer deliver its history:\n%s"
              "samspor: rekey: nothing was changed; run again with "
              "--drop-unreloadable to rotate anyway and drop the rows their "
              "sources do not deliver again\n",
              lost.data);
      sp_buf_free(&lost);
      return SAMSPOR_ECONFIG;
    }
    printf("--drop-unreloadable: rows these sources do not deliver again "
           "are dropped:\n%s",
           lost.data);
  }
  sp_buf_free(&lost);

  return 0;
}

/* Every connector's streams loaded again in full under the new key, in
 * the caller's transaction. */
static int reload_all(sp_syncer *s, sp_config *c, char *err, size_t errlen) {
  int rc = 0;
  for (size_t k = 0; !rc && k < c->nconnectors; k++) {
    const sp_connector *cc = &c->connectors[k];
    sp_stream_result *res = sp_xcalloc(cc->nstreams + 1, sizeof *res);
    rc = sp_sync_connector(s, cc, res);
    for (size_t t = 0; t < cc->nstreams; t++) {
      const sp_stream_result *r = &res[t];
      if (r->rc == 0)
        printf("%s.%s: read %lld, loaded %lld, rejected %lld, skipped %lld, "
               "deleted %lld in %.2f s (run %lld)\n",
               cc->name, cc->streams[t].table, r->read, r->loaded, r->rejected,
               r->skipped, r->deleted, r->seconds, r->run_id);
      else if (rc && !*err)
        snprintf(err, errlen, "%s.%s: %s", cc->name, cc->streams[t].table,
                 r->error);
    }
    free(res);
  }
  return rc;
}

/* Every connector's lock, so that no sync runs during the rotation; on
 * failure *locked counts those held, which the caller releases. */
static int lock_all(sp_syncer *s, sp_config *c, size_t *locked, char *err,
                    size_t errlen) {
  int rc = 0;
  size_t n = 0;
  for (; !rc && n < c->nconnectors; n++)
    rc = sp_sync_lock(s, &c->connectors[n], err, errlen);
  if (rc)
    n--; /* the one that failed is not held */
  *locked = n;
  return rc;
}

static void report_rotated(const sp_rekey_opts *ro, const char *old_id,
                           const char *new_id, long long carried,
                           long long uncarried) {
  sp_info(NULL, "rekey: generation %s is current; %lld erasures carried",
          new_id, carried);
  printf("every table is now under key id %s (generation %s retired); %lld "
         "forgotten %s carried to the new key\n",
         new_id, old_id, carried, carried == 1 ? "person" : "people");
  if (uncarried > 0)
    printf("%lld %s forgotten under key id %s %s delivered by no source "
           "during the rotation, so the new key cannot recognise %s: run "
           "samspor forget again with their identifiers from the erasure "
           "register after pointing pseudonym.key_file at the new key\n",
           uncarried, uncarried == 1 ? "person" : "people", old_id,
           uncarried == 1 ? "was" : "were",
           uncarried == 1 ? "her or him" : "them");
  printf("now point pseudonym.key_file at %s; samspor refuses the old key "
         "from here on, and it is no longer needed: destroy every copy\n",
         ro->new_key);
}

int sp_rekey(sp_config *c, const sp_rekey_opts *opts) {
  const sp_rekey_opts ro = *opts;

  char err[1024];
  const char *kf =
      sp_get_string(sp_get_group(c->root, "pseudonym"), "key_file");
  sp_key *old = NULL;
  sp_syncer s;
  memset(&s, 0, sizeof s);
  int rc = sp_key_load(kf, &old, err, sizeof err);
  if (rc)
    rc = SAMSPOR_ECONFIG;
  sp_sync_opts o = {
      .full = 1, .rebuild = 1, .key_file = ro.new_key, .old_key = old};
  if (!rc)
    rc = sp_syncer_open(&s, c, &o, err, sizeof err);
  if (rc) {
    fprintf(stderr, "samspor: rekey: %s; nothing was changed\n", err);
    goto done;
  }
  const char *old_id = sp_key_id(old), *new_id = sp_key_id(s.key);
  int already = 0;
  rc = check_generation(s.conn, &ro, kf, old_id, new_id, &already, err,
                        sizeof err);
  if (already)
    goto done;
  if (rc) {
    fprintf(stderr, "samspor: rekey: %s; nothing was changed\n", err);
    goto done;
  }

  rc = check_unreloadable(s.conn, c, &ro);
  if (rc)
    goto done;

  size_t locked = 0;
  rc = lock_all(&s, c, &locked, err, sizeof err);
  sp_info(NULL, "rekey: rotating from key id %s to key id %s", old_id, new_id);
  err[0] = '\0';
  if (!rc)
    rc = sp_pg_exec(s.conn,
                    "BEGIN; CREATE TEMP TABLE samspor_carried (kind text NOT "
                    "NULL, old uuid NOT NULL, new uuid NOT NULL) ON COMMIT "
                    "DROP",
                    PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (!rc)
    rc = reload_all(&s, c, err, sizeof err);
  if (!rc && ro.drop_unreloadable)
    rc = clear_orphans(s.conn, c, err, sizeof err);
  long long carried = 0, uncarried = 0;
  if (!rc)
    rc = finish_generation(s.conn, old_id, new_id, &carried, &uncarried, err,
                           sizeof err);
  if (!rc)
    rc = sp_pg_exec(s.conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (rc && PQstatus(s.conn) == CONNECTION_OK)
    PQclear(PQexec(s.conn, "ROLLBACK"));
  if (PQstatus(s.conn) == CONNECTION_OK)
    for (size_t i = 0; i < locked; i++)
      sp_sync_unlock(&s, &c->connectors[i]);
  if (rc) {
    sp_error(NULL, "rekey failed: %s", err);
    fprintf(stderr,
            "samspor: rekey: %s; nothing was changed: the warehouse is still "
            "at generation %s. Fix the cause and run the same command again\n",
            err, old_id);
    goto done;
  }
  report_rotated(&ro, old_id, new_id, carried, uncarried);
  /* The partner tables: frozen periods are republished as released,
   * open ones recomputed from the new tables. */
  {
    if (sp_partner_after_sync(s.conn, c) != 0)
      fprintf(stderr, "samspor: rekey: the rotation is complete, but the "
                      "partner tables were not all refreshed; run samspor "
                      "refresh\n");
  }

done:
  fflush(stdout);
  sp_syncer_close(&s);
  sp_key_free(old);
  sp_config_free(c);
  return rc ? sp_exit_status(rc) : SP_EXIT_OK;
}
