/*
 * rules.h — the column-rule engine: one record's source field values in,
 * one row of PostgreSQL COPY (text, or binary: sp_rules_binary) for the
 * stream's table out.
 *
 * Each column of a stream (SPEC.md, "Configuration": columns) has a rule:
 *
 *   keep             the value, typed: text, int, bigint, numeric, date,
 *                    timestamp, boolean
 *   pseudonym        the keyed pseudonym of an identifier of a `kind`
 *   cpr_birth_year   from a CPR number: birth year (integer), birth month
 *   cpr_birth_month  (date, first of the month), gender ("male" for an odd
 *   cpr_gender       last digit, "female" for an even one)
 *   age, age_band    whole years at `reference` (run_date or a date column
 *                    of the stream), from a CPR number or, with type =
 *                    "date" (or "timestamp") set, from a date read with
 *                    `format`; age_band labels "0-5", "6-9", "65+"
 *   date_month       a date (or with type = "timestamp", a timestamp's
 *   date_year        date as written) truncated to its month (YYYY-MM-01)
 *                    or year (integer)
 *   lookup           the value of a map (maps.h); an empty map value is
 *                    NULL
 *
 * Input conventions, the same for every column: an absent or empty field is
 * SQL NULL; surrounding white space (space, tab, CR, LF) is trimmed for
 * every type but text, and a value that is only white space is NULL; a NULL
 * in a not_null column or a column of the stream's key sends the row to the
 * rejects ("missing_value").
 *
 * Everything that depends on the configuration (formats, words, bands,
 * maps, pseudonymisers, the order columns are computed in) is prepared by
 * sp_rules_new, so sp_rules_apply, which runs once per source row, reads no
 * option and allocates nothing once its buffers have grown (the C
 * library's regexec may, for a map extract other than "^([^X]+)").
 *
 * Formats (`format`) are strptime-style but strict and locale-free: %d %m
 * %H %M %S (1-2 digits; exactly 2 when another number follows directly),
 * %Y (4 digits), %y (2 digits: 69-99 are 19xx, 00-68 are 20xx, as POSIX),
 * %b %B %h (English or Danish month names and abbreviations, any case), %z
 * (Z, +HH, +HHMM, +HH:MM), %F (%Y-%m-%d), %T (%H:%M:%S), %% and literal
 * bytes, matched exactly; the whole value must be consumed.  Without a
 * format, dates are YYYY-MM-DD and timestamps ISO 8601.
 *
 * Privacy: a rejected row is described by a column and a static reason
 * code and sentence; neither ever contains the value.  Only the declared
 * columns reach the output: other fields are never read here.
 *
 * An sp_rules is used by one thread at a time (it holds the row being
 * built); give each worker its own.
 */
#ifndef SAMSPOR_RULES_H
#define SAMSPOR_RULES_H

#include <stddef.h>

#include "model/conf.h"
#include "model/key.h"
#include "base/util.h"

/* One source field value of a record, as the plugin delivered it. */
typedef struct sp_field {
  const char *ptr; /* the bytes (any bytes); NULL: the field is absent */
  size_t len;      /* their number */
} sp_field;

/* Why a row went to the rejects. */
typedef struct sp_reject_info {
  int column;          /* index in st->columns, -1 when no column applies */
  const char *reason;  /* static machine code, e.g. "cpr_bad_date" */
  const char *message; /* static sentence for people; never the value */
} sp_reject_info;

/* What the rules need from outside the stream. */
typedef struct sp_rules_env {
  const sp_config *config; /* root `maps`; may be NULL when the stream has
                              no lookup column */
  const sp_key *key;       /* may be NULL when the stream has no pseudonym
                              column (sp_rules_new fails if it has one) */
  int run_year, run_month, run_day; /* the run date, for reference
                                       "run_date" */
  /* 1 when the person with this pseudonym of this kind was erased
   * (`samspor forget`): the row is skipped.  May be NULL. */
  int (*is_forgotten)(void *ud, const char *kind,
                      const unsigned char pseudonym[16]);
  void *ud; /* passed to is_forgotten and was_forgotten */
  /* During `samspor rekey` only: the retiring key.  Every pseudonym is then
   * also computed under it, and the row is skipped when was_forgotten says
   * the person was erased under that key (the callback records the new
   * pseudonym, so the erasure outlives the old key).  Both may be NULL. */
  const sp_key *old_key;
  int (*was_forgotten)(void *ud, const char *kind,
                       const unsigned char old_pseudonym[16],
                       const unsigned char pseudonym[16]);
} sp_rules_env;

typedef struct sp_rules sp_rules;

/*
 * Prepare the rules of stream st: load the maps its lookup columns use
 * (each once), compile formats, words and bands, and make one
 * pseudonymiser per distinct kind.  st and env->config must outlive the
 * result; env is copied.  Returns 0 and sets *out (the caller frees it
 * with sp_rules_free), or a negative SAMSPOR_E* code with *out NULL and a
 * sentence naming the column or map in err (errlen bytes; err may be
 * NULL): SAMSPOR_ECONFIG (bad format, bands or words; an unknown map; a
 * bad map line), SAMSPOR_ENOENT or SAMSPOR_EIO (a map file unreadable),
 * SAMSPOR_EINVAL (a pseudonym column but no key), SAMSPOR_ENOMEM.
 */
int sp_rules_new(const sp_stream *st, const sp_rules_env *env, sp_rules **out,
                 char *err, size_t errlen);

/* Free the rules, wiping the row buffers.  NULL is allowed. */
void sp_rules_free(sp_rules *r);

/*
 * Write rows in PostgreSQL's binary COPY format (util.h) from now on:
 * each row's field count is the stream's columns plus `extra`, fields the
 * caller appends after sp_rules_apply.  Returns 0, or -1 (and nothing
 * changes) when a column has no exact binary form here: a timestamp
 * without an offset is read in the session's time zone, which only the
 * server applies.  sp_rules_value still gives the canonical text.
 */
int sp_rules_binary(sp_rules *r, int extra);

#define SP_ROW_OK 0
#define SP_ROW_REJECT 1
#define SP_ROW_SKIP 2 /* a forgotten person: dropped silently, counted */

/*
 * Apply the rules to one record.  fields[] has st->nfields entries; column
 * c reads fields[st->columns[c].field].
 *
 * SP_ROW_OK: the row's values are appended to out, the columns in
 * declared order in COPY text format (tab-separated, \N for NULL,
 * backslash, tab, newline and CR escaped as \\ \t \n \r), with no line
 * end: the loader owns the COPY line, and adds its own columns and the
 * "\n".
 *
 * SP_ROW_REJECT: out is left exactly as it was and *rej says which column
 * and why.  The first failing column, in the order columns are computed:
 * pseudonym columns first, then the others in declared order, then age
 * columns whose reference is another column.
 *
 * SP_ROW_SKIP: out is left as it was; a pseudonym column's person is
 * forgotten.  Pseudonym columns are computed, and checked, before every
 * other column, and a forgotten person is skipped even when another column
 * of the row would have rejected it: an erased person must leave no trace,
 * not even a rejects row.  (A pseudonym that cannot be computed is not
 * anyone's, so a row whose only identifier fails is still a reject.)
 *
 * rej may be NULL.  Never fails otherwise.
 */
int sp_rules_apply(sp_rules *r, const sp_field *fields, sp_buf *out,
                   sp_reject_info *rej);

/*
 * Canonical, unescaped text of column col from the last apply that
 * returned SP_ROW_OK (a later reject or skip does not change it), or NULL
 * for SQL NULL, an out-of-range col, or before any such apply.  *len (len
 * may be NULL) is its length.  NUL-terminated; borrowed until the next
 * apply that returns SP_ROW_OK, or sp_rules_free.  For the cursor.
 *
 * Canonical forms: integers without leading zeros or '+'; numeric
 * [-]digits[.digits] with the scale as written; date YYYY-MM-DD; timestamp
 * YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM] (offset only when the source gave
 * one); boolean t/f; pseudonym lowercase uuid.
 */
const char *sp_rules_value(const sp_rules *r, size_t col, size_t *len);

/*
 * Compare two canonical values of column col (as sp_rules_value gives
 * them) in the order of the column's SQL type: numerically for integer,
 * bigint and numeric; as instants for timestamps with an offset (a value
 * without an offset counts as UTC: a column normally has offsets on all
 * its values or on none); by bytes otherwise, which is date order for
 * YYYY-MM-DD.  NULL sorts before every value.  Text that is not canonical
 * is compared by bytes.  Returns <0, 0 or >0.
 */
int sp_rules_compare(const sp_rules *r, size_t col, const char *a,
                     const char *b);

/* The raw 16-byte pseudonym of column col from the last SP_ROW_OK apply,
 * or NULL (not a pseudonym column, NULL value, no such apply).  Borrowed
 * like sp_rules_value. */
const unsigned char *sp_rules_pseudonym(const sp_rules *r, size_t col);

/* The sentence for a reason code of sp_reject_info (static storage), or a
 * generic one for an unknown code. */
const char *sp_rules_reason_text(const char *reason);

/*
 * What r's output depends on besides the row and the stream's settings,
 * fed to absorb: the contents of its maps and, when a column's age is at
 * the run date, that date.  With the key and the settings it makes the
 * fingerprint under which a source row gives the same table row (sync.c).
 */
void sp_rules_absorb(const sp_rules *r, sp_absorb_fn absorb, void *ud);

#endif
