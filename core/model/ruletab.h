/*
 * ruletab.h — the one table of column rules.  A column's rule (`rule = ...`
 * in a stream's columns) is an sp_rule; everything the core knows about a
 * rule besides computing it — its name, the SQL type of the column it
 * makes, what else the column must declare, and its sentence in the data
 * dictionary — is its row in sp_rule_table.  Configuration (conf.c), the
 * loader (rules.c computes; schema.c comments), `check` and the dictionary
 * (docs.c) all read this table.
 *
 * Adding a rule: a value here and a row in ruletab.c (the option's choices
 * follow SP_RULE_CHOICES, in the same order: a unit test checks it), and
 * its computation in rules.c.
 */
#ifndef SAMSPOR_RULETAB_H
#define SAMSPOR_RULETAB_H

typedef enum sp_rule {
  SP_RULE_KEEP, /* the value, typed by `type` */
  SP_RULE_PSEUDONYM,
  SP_RULE_CPR_BIRTH_YEAR,
  SP_RULE_CPR_BIRTH_MONTH,
  SP_RULE_CPR_GENDER,
  SP_RULE_AGE,
  SP_RULE_AGE_BAND,
  SP_RULE_DATE_MONTH,
  SP_RULE_DATE_YEAR,
  SP_RULE_LOOKUP,
  SP_RULE_COUNT
} sp_rule;

/* The `rule` option's choices: the names of sp_rule, in its order. */
#define SP_RULE_CHOICES                                                        \
  "keep|pseudonym|cpr_birth_year|cpr_birth_month|cpr_gender|age|age_band|"     \
  "date_month|date_year|lookup"

/* What a column with the rule must (or may only then) declare. */
#define SP_RULE_NEEDS_KIND 1u  /* kind: the identifier kind */
#define SP_RULE_NEEDS_MAP 2u   /* map: one of maps */
#define SP_RULE_NEEDS_BANDS 4u /* bands: lower bounds, ascending */
#define SP_RULE_AGE_AT 8u      /* reference: run_date or a date column */

typedef struct sp_rule_def {
  sp_rule rule;
  const char *name;     /* as written in the configuration */
  const char *sql_type; /* of the column it makes; NULL: keep's `type` */
  unsigned needs;       /* SP_RULE_* above */
  int from_cpr;         /* the input is a CPR number (age rules: or a date) */
  /* The dictionary's sentence: "%s" stands for the source field (for an
   * age, for where the age is computed from); docs.c completes it with
   * what the column's options say (kind, bands, map, keep's type). */
  const char *words;
} sp_rule_def;

extern const sp_rule_def sp_rule_table[SP_RULE_COUNT];

/* The row of r. */
const sp_rule_def *sp_rule_def_of(sp_rule r);

/* The rule named name (NULL: keep).  Returns 0 and *out, or -1 for a name
 * that is no rule (the configuration's parser refuses those first). */
int sp_rule_parse(const char *name, sp_rule *out);

/* The PostgreSQL type of a column with rule r and option `type` (keep's
 * type: text, int, bigint, numeric, date, timestamp, boolean). */
const char *sp_rule_sql_type(sp_rule r, const char *type);

#endif
