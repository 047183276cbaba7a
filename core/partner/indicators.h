/*
 * indicators.h — the partners' indicators: aggregate tables in schema
 * `partner`, computed by samspor from SQL queries over the warehouse with
 * small counts suppressed, refreshed after every sync.
 *
 * An indicator is declared in the configuration (partner.indicators): a
 * query that returns one row per cell — its dimensions (text) and its raw
 * measures (counts and hidden sums) — and what to publish from it.  samspor
 * adds total rows over the dimensions listed in `totals`, suppresses every
 * count from 1 to the threshold (primary), then suppresses further cells
 * until no suppressed count can be recovered from a published total and
 * its other cells (secondary), computes ratios and changes against the
 * baseline from the counts (a ratio or change built on a suppressed count
 * is suppressed too), and replaces partner.<name> in one transaction.
 *
 * The raw aggregates exist only in samspor's memory during the refresh:
 * nothing that partners or analysts can read holds an unsuppressed small
 * count.
 *
 * Layout of partner.<name>, in this order:
 *   one text column per dimension (total rows hold partner.total_label);
 *   per count c:  c bigint (NULL when suppressed), c_suppressed boolean;
 *   per ratio r:  r numeric (NULL when suppressed or undefined),
 *                 r_suppressed boolean, and when the ratio has change:
 *                 r_change numeric (r minus r in the baseline period, for
 *                 the same other dimensions), r_change_suppressed boolean;
 *   suppressed boolean (any measure of the row suppressed),
 *   suppression_reason text (why, in words; NULL when nothing is),
 *   final boolean (the row's period is final: frozen, never recomputed;
 *                  see release.h).
 * Hidden sums are never published.
 */
#ifndef SAMSPOR_INDICATORS_H
#define SAMSPOR_INDICATORS_H

#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "model/partner.h"

struct sp_config;

/* Column name of a published measure: "<name>", "<name>_suppressed",
 * "<name>_change", "<name>_change_suppressed". */

/*
 * Recompute every indicator and replace its partner table, each in its own
 * transaction (an advisory lock serialises concurrent refreshes).  An
 * indicator whose query names a table that does not exist yet is skipped
 * with a warning.  Returns 0, or SAMSPOR_EFAIL/ETEMP after logging; err
 * holds the first error.
 */
int sp_indicators_refresh(PGconn *conn, const struct sp_config *c, char *err,
                          size_t errlen);

/*
 * check --connect: plan (EXPLAIN) every indicator's query in a read-only
 * transaction and print one line each to out.  A table not loaded yet is
 * "waits", not a failure.  Returns 0 or SAMSPOR_EFAIL.
 */
int sp_indicators_check(PGconn *conn, const struct sp_config *c, FILE *out);

/*
 * After a sync: refresh the indicators and rewrite the configured report.
 * Does nothing when there are no indicators.  Returns 0 or an error code.
 */
int sp_partner_after_sync(PGconn *conn, const struct sp_config *c);

/*
 * `samspor refresh`: recompute every indicator of configuration c (freed
 * here) into its partner table, and the report when it is set.  Returns an
 * exit status (exitcode.h).
 */
int sp_refresh(struct sp_config *c);

#endif
