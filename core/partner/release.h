/*
 * release.h — releases and frozen periods of the partner indicators.
 *
 * A *period* is one value of an indicator's time dimension.  Because the
 * time dimension is never totalled, the periods of an indicator are
 * independent in the suppression: each period's rows can be published,
 * stored and frozen on their own.
 *
 * Every refresh stores, in samspor.partner_release (administrator only),
 * a new *release* of each period whose published rows differ from the
 * latest stored release of that period: the rows exactly as written to
 * partner.<name> (COPY text lines, the `final` column included), the
 * column layout they were written with ("name:type,..."), when, and
 * whether the release is final.  Identical periods are not stored again;
 * every release is kept.
 *
 * A period is *closed* once the day after its last day (00:00 UTC) plus
 * partner.freeze_after is past, by the clock of the machine samspor runs
 * on.  The last day follows from the format of the time value (see
 * sp_period_end); a value of any other format never closes.  A closed
 * period that is not frozen yet is computed one last time, published with
 * final = true and stored as a final release.  A period whose latest
 * release is final is *frozen*: it is never recomputed again; its stored
 * rows are published verbatim, whatever the warehouse holds now, and its
 * cells take no part in the suppression of the open periods.
 *
 * Use in refresh_one (indicators.c), inside its transaction and advisory
 * lock:
 *   sp_release_load()       after the cells are loaded;
 *   sp_release_frozen()     to drop the frozen periods' cells;
 *   sp_release_prev()       the previously published counts of the cells;
 *   sp_release_closed()     whether a computed row is final;
 *   sp_release_add_row()    for every row written of an open period;
 *   sp_release_append_frozen()  the frozen rows, verbatim;
 *   sp_release_store()      after the COPY;
 *   sp_release_free().
 */
#ifndef SAMSPOR_RELEASE_H
#define SAMSPOR_RELEASE_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "model/partner.h"
#include "partner/suppress.h"
#include "base/util.h"

/*
 * The last day of a period from its text: "YYYY" (Dec 31), "YYYY-MM"
 * (the month's last day), "YYYY-Qn" (the quarter's last day), "YYYY/YY"
 * (a school year, e.g. "2025/26": July 31 of the second year; YY must be
 * the year after YYYY), "YYYY-MM-DD" (that day).  Returns 0 with *y, *m,
 * *d set, or -1 for any other text (such a period never closes).
 */
int sp_period_end(const char *period, int *y, int *m, int *d);

/* Whether the period is closed at `now` with freeze_after seconds: the
 * day after its last day (00:00 UTC) + freeze_after <= now.  0 for a text
 * sp_period_end does not know. */
int sp_period_closed(const char *period, double freeze_after, time_t now);

typedef struct sp_release_period sp_release_period; /* release.c */
typedef struct sp_release_row sp_release_row;       /* release.c */

typedef struct sp_releases {
  const sp_indicator *ind;
  const char *total_label;
  double freeze_after;
  time_t now;   /* the clock, read once by sp_release_load */
  char *layout; /* the current layout of partner.<name> */
  /* The latest stored release of every period, sorted by period
   * (strcmp). */
  sp_release_period *periods;
  size_t nperiods;
  size_t nfrozen;
  /* Their rows, parsed (periods whose layout lacks a dimension of the
   * indicator are left out): */
  sp_release_row *rows;
  size_t nrows;
  const char **dimv; /* nrows * ndims, NULL = total; owned by the periods */
  sp_cell_index ix;  /* over dimv */
  /* The rows written by this refresh (sp_release_add_row). */
  struct sp_release_written *written;
  size_t nwritten, capwritten;
  size_t stored; /* releases stored by sp_release_store */
} sp_releases;

/*
 * Read the latest release of every period of the indicator.  layout is
 * the layout partner.<name> is written with now (owned by the caller; it
 * is copied).  When a frozen period was written with another layout, fails
 * with an error naming the indicator and saying what to do.  Returns 0 or
 * a SAMSPOR_E* code with a message in err; r must then still be freed.
 */
int sp_release_load(PGconn *conn, const sp_partner *p, const sp_indicator *ind,
                    const char *layout, sp_releases *r, char *err,
                    size_t errlen);

/* Whether the period is frozen (its latest stored release is final). */
int sp_release_frozen(const sp_releases *r, const char *period);

/* Whether rows of this period written now are final: the period is closed
 * now (sp_period_closed with r->now and r->freeze_after). */
int sp_release_closed(const sp_releases *r, const char *period);

/*
 * For each of the n cells (dimv: n * ndims, NULL = total, the indicator's
 * dimension order), the value each of the indicator's counts (in the
 * order of its measures of kind COUNT; ncounts of them) had in the latest
 * stored release of the cell's period: prev[c * ncounts + k] is the
 * published count, or -1 when it was suppressed, when the cell or the
 * column was not in that release, or when there is no release.  Returns a
 * malloc'd array of n * ncounts (at least one element); free() it.
 *
 * The audit (sp_supp_opts.known) treats a cell whose true value equals
 * its previously published value as known to an attacker who kept the
 * earlier release: hiding it now would protect nothing.
 */
long long *sp_release_prev(const sp_releases *r, const char *const *dimv,
                           size_t n, size_t ncounts);

/* The stored rows of a frozen period: *first receives the index of the
 * first (for sp_release_row_dims and sp_release_field); returns how many. */
size_t sp_release_period_rows(const sp_releases *r, const char *period,
                              size_t *first);

/* The dimension values of stored row i (ndims, NULL = total). */
const char *const *sp_release_row_dims(const sp_releases *r, size_t i);

/* The field of stored row i in column `column`: 1 with *value (NULL for
 * SQL NULL) set, or 0 when the row's layout has no such column. */
int sp_release_field(const sp_releases *r, size_t i, const char *column,
                     const char **value);

/* Note a row written to out by this refresh for an open period:
 * out[off, off + len) is its COPY line, newline included; final says
 * whether it was written with final = true. */
void sp_release_add_row(sp_releases *r, const char *period, size_t off,
                        size_t len, int final);

/* Append the stored rows of every frozen period to out, verbatim.
 * Returns how many rows. */
size_t sp_release_append_frozen(const sp_releases *r, sp_buf *out);

/*
 * Store a new release of every open period whose rows (as noted with
 * sp_release_add_row, text taken from out) differ from its latest stored
 * release, or whose finality or layout does, and an empty release of a
 * period published before and absent now.  In the caller's transaction.
 * r->stored receives how many.  Returns 0 or a SAMSPOR_E* code.
 */
int sp_release_store(PGconn *conn, sp_releases *r, const char *out, char *err,
                     size_t errlen);

void sp_release_free(sp_releases *r);

/*
 * A sentence for people on which periods of partner.<name> are final,
 * read from the table's `final` column (so a partner's login can make
 * it): "Final up to and including 2026-09; later periods may still
 * change." or similar.  NULL (and 0) when the table or the column does
 * not exist yet.  da: in Danish.  Returns 0 or a SAMSPOR_E* code with a message
 * in err.
 */
int sp_release_final_note(PGconn *conn, const sp_partner *p,
                          const sp_indicator *ind, int da, char **note,
                          char *err, size_t errlen);

#endif
