/*
 * sync.h — the sync engine: one connector's streams from its plugin
 * through the column rules into the warehouse, each stream's rows, cursor,
 * rejects and sync_run row in one transaction.
 */
#ifndef SAMSPOR_SYNC_H
#define SAMSPOR_SYNC_H

#include <stdio.h>

#include <libpq-fe.h>

#include "model/conf.h"
#include "model/key.h"
#include "model/runrecord.h"

/* What happened to one stream in one run. */
typedef struct sp_stream_result {
  long long run_id;
  long long read;     /* records the plugin delivered (incl. rejects) */
  long long loaded;   /* rows inserted or changed */
  long long rejected; /* rows sent to samspor.rejects */
  long long skipped;  /* forgotten people, rows older than the cursor,
                         rows already loaded at the cursor boundary,
                         unchanged rows of incremental_dedup */
  long long deleted;  /* rows removed by retention */
  /* Rows whose key another row of the load had (counted in rejected or
   * skipped, as on_duplicate says). */
  long long duplicates;
  double seconds;
  int rc;           /* 0 or SAMSPOR_E* */
  char error[1024]; /* why it failed; never a value */
  size_t nreasons;  /* entries of reasons in use */
  sp_runrec_reason reasons[SP_RUNREC_MAX_REASONS]; /* rejected per reason */
} sp_stream_result;

/* "cpr_bad_date 12, field_count 3": r's rejects per reason (buf of n
 * bytes; empty when none). */
void sp_stream_reasons(const sp_stream_result *r, char *buf, size_t n);

typedef struct sp_sync_opts {
  int full; /* --full: ignore stored cursors and plugin state */
  /* --dry-run: each stream's set-up and load run in one transaction that
   * is rolled back; no run, cursor, plugin state or reject is kept. */
  int dry_run;
  /* `samspor rekey` only (rekey.c); zero for every other caller. */
  int rebuild; /* the caller holds one transaction over every stream; each
                  table is emptied and reloaded from what its source
                  delivers with full set */
  const char *key_file;  /* load this key, not pseudonym.key_file, and
                            leave the generation check to the caller */
  const sp_key *old_key; /* the retiring key (borrowed): a row of a person
                            forgotten under it is skipped, and the new
                            pseudonym goes to the temporary table
                            samspor_carried (kind, old, new), which the
                            caller creates */
} sp_sync_opts;

/*
 * The process-wide part of a sync: the warehouse connection, the key, the
 * options.  One per `samspor sync` (or per child of the daemon).
 */
typedef struct sp_syncer {
  const sp_config *config;
  sp_key *key;  /* owned */
  PGconn *conn; /* owned */
  sp_sync_opts opts;
  char host[256]; /* this machine, for sync_run and the lock holder */
  int recfd;      /* the daemon's run-record channel (progress), or -1 */
} sp_syncer;

/*
 * Connect, migrate, load and verify the key against the warehouse's.
 * Returns 0, or a code with a message in err: SAMSPOR_ETEMP when the
 * warehouse is unreachable, SAMSPOR_ECONFIG when the key is not the
 * warehouse's current generation (only `samspor rekey` changes it).
 */
int sp_syncer_open(sp_syncer *s, const sp_config *c, const sp_sync_opts *o,
                   char *err, size_t errlen);
void sp_syncer_close(sp_syncer *s);

/*
 * Run every stream of one connector under its advisory lock; results[i]
 * for stream i (caller provides conn->nstreams entries).  Returns the worst
 * code: 0, SAMSPOR_ETEMP (lock held, unreachable), or another.
 */
int sp_sync_connector(sp_syncer *s, const sp_connector *cc,
                      sp_stream_result *results);

/*
 * The connector's advisory lock (session level), so that two samspor
 * processes never sync one connector at once.  Returns 0, or
 * SAMSPOR_ETEMP with the holder named in err.
 */
int sp_sync_lock(sp_syncer *s, const sp_connector *cc, char *err,
                 size_t errlen);
void sp_sync_unlock(sp_syncer *s, const sp_connector *cc);

/*
 * `samspor sync`: run the connectors named (all enabled ones when nnames
 * is 0) of configuration c (freed here) once, printing a summary per
 * stream, then refresh the partner tables.  Returns an exit status
 * (exitcode.h): the worst of the streams'.
 */
int sp_sync_run(sp_config *c, const sp_sync_opts *o, char **names, int nnames);

#endif
