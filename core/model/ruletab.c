#include "config.h"

#include "model/ruletab.h"

#include <string.h>

#define GONE "; the source value is not kept"

const sp_rule_def sp_rule_table[SP_RULE_COUNT] = {
    {SP_RULE_KEEP, "keep", NULL, 0, 0, "Kept: the value of source field %s"},
    {SP_RULE_PSEUDONYM, "pseudonym", "uuid", SP_RULE_NEEDS_KIND, 0,
     "Pseudonymised: the identifier in source field %s"},
    {SP_RULE_CPR_BIRTH_YEAR, "cpr_birth_year", "integer", 0, 1,
     "Generalised: the year of birth (cpr_birth_year), derived from the CPR "
     "number in source field %s" GONE},
    {SP_RULE_CPR_BIRTH_MONTH, "cpr_birth_month", "date", 0, 1,
     "Generalised: the month of birth as the first day of that month "
     "(cpr_birth_month), derived from the CPR number in source field %s" GONE},
    {SP_RULE_CPR_GENDER, "cpr_gender", "text", 0, 1,
     "Generalised: gender (cpr_gender: male for an odd last digit, female "
     "for an even one), derived from the CPR number in source field %s" GONE},
    {SP_RULE_AGE, "age", "integer", SP_RULE_AGE_AT, 1,
     "Generalised: age in whole years, %s"},
    {SP_RULE_AGE_BAND, "age_band", "text", SP_RULE_NEEDS_BANDS | SP_RULE_AGE_AT,
     1, "Generalised: age band, %s"},
    {SP_RULE_DATE_MONTH, "date_month", "date", 0, 0,
     "Generalised: the date in source field %s truncated to the first day "
     "of its month (date_month); the exact date is not kept"},
    {SP_RULE_DATE_YEAR, "date_year", "integer", 0, 0,
     "Generalised: only the year of the date in source field %s "
     "(date_year); the exact date is not kept"},
    {SP_RULE_LOOKUP, "lookup", "text", SP_RULE_NEEDS_MAP, 0,
     "Generalised: the value of source field %s looked up through map"},
};

const sp_rule_def *sp_rule_def_of(sp_rule r) {
  return &sp_rule_table[(unsigned)r < SP_RULE_COUNT ? r : SP_RULE_KEEP];
}

int sp_rule_parse(const char *name, sp_rule *out) {
  *out = SP_RULE_KEEP;
  if (!name)
    return 0;
  for (size_t i = 0; i < SP_RULE_COUNT; i++)
    if (strcmp(name, sp_rule_table[i].name) == 0) {
      *out = sp_rule_table[i].rule;
      return 0;
    }
  return -1;
}

const char *sp_rule_sql_type(sp_rule r, const char *type) {
  static const struct {
    const char *type, *sql;
  } types[] = {{"text", "text"},      {"int", "integer"},
               {"bigint", "bigint"},  {"numeric", "numeric"},
               {"date", "date"},      {"timestamp", "timestamptz"},
               {"boolean", "boolean"}};
  const sp_rule_def *d = sp_rule_def_of(r);
  if (d->sql_type)
    return d->sql_type;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (type && strcmp(type, types[i].type) == 0)
      return types[i].sql;
  return "text";
}
