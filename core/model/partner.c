/*
 * partner.c — the partner indicators' configuration model: the option
 * tables of the `partner` group and the checks that span its options
 * (see indicators.h).  Kept apart from the refresh so that everything that
 * loads a configuration (the fuzz targets too) needs no libpq code.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/partner.h"
#include "base/util.h"

/* ---- options ------------------------------------------------------------ */

/*
 * The typed settings the tables below fill (sp_options_fill).  One struct
 * for the three kinds of measure: each table fills the members it
 * declares, the others stay zero.
 */
typedef struct measure_conf {
  const char *name, *description, *label;
  const char *subset_of;   /* counts */
  int needs_next_period;   /* counts */
  const char *numerator;   /* ratios */
  const char *denominator; /* ratios */
  double scale;            /* ratios */
  long long decimals;      /* ratios */
  int change;              /* ratios */
} measure_conf;

typedef struct indicator_conf {
  const char *name, *title, *description, *query, *query_file, *time, *series,
      *baseline, *chart;
  samspor_strlist dimensions, totals, coarsen;
  int coarsen_time; /* index in its choices */
  samspor_grouplist counts, sums, ratios;
} indicator_conf;

/* coarsen_time's choices, in their order ("none" is no coarsening). */
static const char *const time_grains[] = {NULL, "quarter", "half", "year"};

typedef struct partner_conf {
  long long suppression_threshold, protection_width;
  int protect_zeros;
  double audit_budget, freeze_after;
  const char *hidden_label, *total_label, *report, *report_title;
  int report_language; /* index in its choices: 0 is "da" */
  samspor_strlist dimension_labels;
  samspor_grouplist indicators;
} partner_conf;

static const samspor_option named_options[] = {
    {.name = "name",
     SAMSPOR_AT(measure_conf, name),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "Column name: the query's column and the partner table's (lowercase "
         "letters, digits, _)."},
    {.name = "description",
     SAMSPOR_AT(measure_conf, description),
     .type = SAMSPOR_OPT_STRING,
     .help = "What it counts, for the column comment, the report and the data "
             "dictionary."},
    {.name = "label",
     SAMSPOR_AT(measure_conf, label),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Its name for people, in the report's language: the report's axes, "
         "legends, table headers and CSV files, and the data dictionary "
         "(default: the column name)."},
    {.name = NULL},
};

static const samspor_option count_options[] = {
    {.name = "name",
     SAMSPOR_AT(measure_conf, name),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "Column name: the query's column and the partner table's (lowercase "
         "letters, digits, _)."},
    {.name = "description",
     SAMSPOR_AT(measure_conf, description),
     .type = SAMSPOR_OPT_STRING,
     .help = "What it counts, for the column comment, the report and the data "
             "dictionary."},
    {.name = "label",
     SAMSPOR_AT(measure_conf, label),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Its name for people, in the report's language: the report's axes, "
         "legends, table headers and CSV files, and the data dictionary "
         "(default: the column name)."},
    {.name = "subset_of",
     SAMSPOR_AT(measure_conf, subset_of),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Another count of the indicator that counts everyone this one counts "
         "(\"neet\" is a subset of \"young\"): a partner knows it, so the "
         "disclosure audit uses it, and a refresh fails if a cell breaks it."},
    {.name = "needs_next_period",
     SAMSPOR_AT(measure_conf, needs_next_period),
     .type = SAMSPOR_OPT_BOOL,
     .def = "false",
     .help =
         "The count can be known only once the following period is in the data "
         "(\"in work the month after\"): in the table's latest period it is "
         "published as NULL, not suppressed (the report says \"not known "
         "yet\"), and so is every ratio built on it, instead of the 0 the "
         "query finds there."},
    {.name = NULL},
};

static const samspor_option ratio_options[] = {
    {.name = "name",
     SAMSPOR_AT(measure_conf, name),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Column name in the partner table."},
    {.name = "numerator",
     SAMSPOR_AT(measure_conf, numerator),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "A count or sum of the indicator."},
    {.name = "denominator",
     SAMSPOR_AT(measure_conf, denominator),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "A count of the indicator."},
    {.name = "scale",
     SAMSPOR_AT(measure_conf, scale),
     .type = SAMSPOR_OPT_FLOAT,
     .def = "100",
     .max = 1e9,
     .help =
         "Factor applied to numerator/denominator: 100 for a percentage, 1 for "
         "a mean."},
    {.name = "decimals",
     SAMSPOR_AT(measure_conf, decimals),
     .type = SAMSPOR_OPT_INT,
     .def = "1",
     .max = 6,
     .help = "Decimals the published value is rounded to."},
    {.name = "change",
     SAMSPOR_AT(measure_conf, change),
     .type = SAMSPOR_OPT_BOOL,
     .def = "false",
     .help = "Also publish <name>_change: the value minus the value in the "
             "indicator's baseline period, for the same other dimensions."},
    {.name = "description",
     SAMSPOR_AT(measure_conf, description),
     .type = SAMSPOR_OPT_STRING,
     .help = "What the ratio means, for people."},
    {.name = "label",
     SAMSPOR_AT(measure_conf, label),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Its name for people, in the report's language: the report's axes, "
         "legends, table headers and CSV files, and the data dictionary "
         "(default: the column name)."},
    {.name = NULL},
};

static const samspor_option indicator_options[] = {
    {.name = "name",
     SAMSPOR_AT(indicator_conf, name),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Table partner.<name> (lowercase letters, digits, _)."},
    {.name = "title",
     SAMSPOR_AT(indicator_conf, title),
     .type = SAMSPOR_OPT_STRING,
     .help = "Heading in the report and the data dictionary."},
    {.name = "description",
     SAMSPOR_AT(indicator_conf, description),
     .type = SAMSPOR_OPT_STRING,
     .help = "What the indicator shows and how it is defined, for people."},
    {.name = "query",
     SAMSPOR_AT(indicator_conf, query),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "SQL returning one row per cell: the dimension columns and the count "
         "and sum columns, by name. Unqualified table names are the warehouse "
         "schema's. It must be one plain query (it runs as a subquery, read "
         "only, as samspor_analyst_all; a ';' only at the end); samspor adds "
         "the total rows and suppresses small counts. Give query or "
         "query_file."},
    {.name = "query_file",
     SAMSPOR_AT(indicator_conf, query_file),
     .type = SAMSPOR_OPT_PATH,
     .help =
         "A file holding the query instead (e.g. \"housing.sql\"; a relative "
         "path is taken from the configuration's directory), so that analysts "
         "can review it as SQL. Read when the configuration is loaded; "
         "`check --connect` plans it and names the file in any error."},
    {.name = "dimensions",
     SAMSPOR_AT(indicator_conf, dimensions),
     .type = SAMSPOR_OPT_STRLIST,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "The columns that identify a cell, e.g. [\"area\", \"month\"]."},
    {.name = "time",
     SAMSPOR_AT(indicator_conf, time),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "The dimension that is time (the report's x axis); its values should "
         "sort in time order as text (\"2025-01\", \"2024/25\")."},
    {.name = "series",
     SAMSPOR_AT(indicator_conf, series),
     .type = SAMSPOR_OPT_STRING,
     .help = "The dimension whose values are the report's lines (default: the "
             "first "
             "dimension that is not time)."},
    {.name = "totals",
     SAMSPOR_AT(indicator_conf, totals),
     .type = SAMSPOR_OPT_STRLIST,
     .help =
         "Dimensions that get total rows (value partner.total_label), summed "
         "from the cells. Secondary suppression protects the cells of every "
         "total."},
    {.name = "coarsen",
     SAMSPOR_AT(indicator_conf, coarsen),
     .type = SAMSPOR_OPT_STRLIST,
     .help = "Dimensions other than time to collapse into one value (the total "
             "label): their cells are summed, as the totals are. For a table "
             "that would otherwise be mostly hidden (area -> the whole plan)."},
    {.name = "coarsen_time",
     SAMSPOR_AT(indicator_conf, coarsen_time),
     .type = SAMSPOR_OPT_ENUM,
     .def = "none",
     .choices = "none|quarter|half|year",
     .help =
         "Publish \"YYYY-MM\" months as quarters (\"2025-Q1\"), half-years "
         "(\"2025-H1\") or years, summing the months' cells: a person counted "
         "in "
         "two months of a quarter counts twice, so use it for counts of events "
         "or person-months; for distinct people, group the query by the "
         "coarser "
         "period instead."},
    {.name = "baseline",
     SAMSPOR_AT(indicator_conf, baseline),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "The time value the plan's baseline is measured in, for ratios with "
         "change = true."},
    {.name = "chart",
     SAMSPOR_AT(indicator_conf, chart),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "The count or ratio the report plots (default: the first ratio, else "
         "the first count)."},
    {.name = "counts",
     SAMSPOR_AT(indicator_conf, counts),
     .type = SAMSPOR_OPT_GROUPLIST,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Published counts of people (or cases). Counts from 1 to the "
             "threshold are suppressed.",
     .sub = count_options},
    {.name = "sums",
     SAMSPOR_AT(indicator_conf, sums),
     .type = SAMSPOR_OPT_GROUPLIST,
     .help =
         "Hidden sums, never published: only numerators of ratios (a mean is a "
         "sum over a count).",
     .sub = named_options},
    {.name = "ratios",
     SAMSPOR_AT(indicator_conf, ratios),
     .type = SAMSPOR_OPT_GROUPLIST,
     .help = "Shares and means computed from the counts after suppression.",
     .sub = ratio_options},
    {.name = NULL},
};

const samspor_option sp_partner_options[] = {
    {.name = "suppression_threshold",
     SAMSPOR_AT(partner_conf, suppression_threshold),
     .type = SAMSPOR_OPT_INT,
     .def = "5",
     .min = 3,
     .max = 1000,
     .help = "Counts from 1 up to this number are suppressed in every partner "
             "table "
             "(never below 3)."},
    {.name = "protect_zeros",
     SAMSPOR_AT(partner_conf, protect_zeros),
     .type = SAMSPOR_OPT_BOOL,
     .def = "false",
     .help =
         "false: a count of 0 is published, and the disclosure audit assumes "
         "that a partner knows every hidden count is at least 1. true: zeros "
         "are hidden like small counts (more cells hidden, and a hidden cell "
         "may "
         "be 0)."},
    {.name = "protection_width",
     SAMSPOR_AT(partner_conf, protection_width),
     .type = SAMSPOR_OPT_INT,
     .def = "0",
     .max = 1000000,
     .help =
         "The narrowest interval a partner may be able to confine a hidden "
         "count to, from everything published (0: the suppression threshold)."},
    {.name = "audit_budget",
     SAMSPOR_AT(partner_conf, audit_budget),
     .type = SAMSPOR_OPT_DURATION,
     .def = "5m",
     .help =
         "Time the disclosure audit of one indicator may take. When it runs "
         "out, every period not yet proven safe is withheld whole (fail-safe), "
         "never published on a weaker rule."},
    {.name = "hidden_label",
     SAMSPOR_AT(partner_conf, hidden_label),
     .type = SAMSPOR_OPT_STRING,
     .def = "skjult (diskretion)",
     .help = "suppression_reason of every hidden count: one neutral reason, so "
             "that "
             "the table does not tell a small count from one hidden to protect "
             "it."},
    {.name = "total_label",
     SAMSPOR_AT(partner_conf, total_label),
     .type = SAMSPOR_OPT_STRING,
     .def = "I alt",
     .help = "Value of a dimension in total rows."},
    {.name = "report",
     SAMSPOR_AT(partner_conf, report),
     .type = SAMSPOR_OPT_PATH,
     .help =
         "HTML report (samspor report) rewritten after every refresh of the "
         "indicators, i.e. after every sync."},
    {.name = "report_title",
     SAMSPOR_AT(partner_conf, report_title),
     .type = SAMSPOR_OPT_STRING,
     .def = "samspor indicators",
     .help = "Title of the report."},
    {.name = "report_language",
     SAMSPOR_AT(partner_conf, report_language),
     .type = SAMSPOR_OPT_ENUM,
     .def = "da",
     .choices = "da|en",
     .help =
         "Language of the report's own text (da: Danish, with decimal comma "
         "and thousands separator \".\"; en: English). Labels, titles and "
         "descriptions are written as configured."},
    {.name = "dimension_labels",
     SAMSPOR_AT(partner_conf, dimension_labels),
     .type = SAMSPOR_OPT_STRLIST,
     .help =
         "Names for people of the indicators' dimensions, each \"dimension: "
         "Label\" ([\"area: Boligområde\", \"month: Måned\"]): the report's "
         "axes, table headers and headings, and the data dictionary."},
    {.name = "freeze_after",
     SAMSPOR_AT(partner_conf, freeze_after),
     .type = SAMSPOR_OPT_DURATION,
     .def = "45d",
     .max = 200 * 365 * 86400.0,
     .help =
         "A period (a value of an indicator's time dimension: YYYY, YYYY-MM, "
         "YYYY-Qn, YYYY/YY school years, YYYY-MM-DD) is closed this long after "
         "its last day. A closed period is published one last time and then "
         "frozen: never recomputed, whatever later loads, corrections or "
         "erasures change. Other time formats never close."},
    {.name = "indicators",
     SAMSPOR_AT(partner_conf, indicators),
     .type = SAMSPOR_OPT_GROUPLIST,
     .help = "The indicators: one table partner.<name> each.",
     .sub = indicator_options},
    {.name = NULL},
};

/* ---- the model ---------------------------------------------------------- */

static int find_dim(const sp_indicator *ind, const char *name) {
  for (size_t i = 0; name && i < ind->ndims; i++)
    if (strcmp(ind->dims[i], name) == 0)
      return (int)i;
  return -1;
}

static int find_measure(const sp_indicator *ind, const char *name) {
  for (size_t i = 0; name && i < ind->nmeasures; i++)
    if (strcmp(ind->measures[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* Names the partner table derives from a measure, which must not collide
 * with a dimension or another measure. */
static int name_taken(const sp_indicator *ind, const char *name) {
  if (find_dim(ind, name) >= 0 || find_measure(ind, name) >= 0)
    return 1;
  static const char *const reserved[] = {"suppressed", "suppression_reason",
                                         "final"};
  for (size_t i = 0; i < SP_ARRAY_LEN(reserved); i++)
    if (strcmp(name, reserved[i]) == 0)
      return 1;
  return 0;
}

/* mc[i]: the settings of items[i], filled from `table`. */
static measure_conf *fill_measures(samspor_grouplist items,
                                   const samspor_option *table) {
  measure_conf *mc = sp_xcalloc(items.n ? items.n : 1, sizeof *mc);
  for (size_t i = 0; i < items.n; i++)
    if (sp_options_fill(items.items[i], table, &mc[i]) != 0)
      abort(); /* a table the group was not parsed with: a bug */
  return mc;
}

static void add_measures(sp_indicator *ind, samspor_grouplist list,
                         const samspor_option *table, sp_measure_kind kind,
                         const char *file, sp_errors *errs) {
  samspor_settings *const *items = list.items;
  size_t n = list.n;
  measure_conf *mc = fill_measures(list, table);
  for (size_t i = 0; i < n; i++) {
    const char *name = mc[i].name;
    if (!name)
      continue;
    if (!sp_valid_ident(name) || strlen(name) > 40) {
      sp_errors_add(errs, file, sp_get_line(items[i], "name"),
                    "indicator '%s': '%s' is not a valid column name "
                    "(lowercase letters, digits, _, at most 40 bytes)",
                    ind->name, name);
      continue;
    }
    if (name_taken(ind, name)) {
      sp_errors_add(errs, file, sp_get_line(items[i], "name"),
                    "indicator '%s': the name '%s' is used twice (or "
                    "reserved)",
                    ind->name, name);
      continue;
    }
    sp_measure *m = &ind->measures[ind->nmeasures++];
    memset(m, 0, sizeof *m);
    m->name = name;
    m->description = mc[i].description;
    m->label = mc[i].label;
    if (kind == SP_MEASURE_COUNT)
      m->needs_next = mc[i].needs_next_period;
    m->kind = kind;
    m->numerator = m->denominator = m->subset_of = -1;
    if (kind == SP_MEASURE_RATIO) {
      m->scale = mc[i].scale;
      m->decimals = (int)mc[i].decimals;
      m->change = mc[i].change;
    }
  }
  free(mc);
}

static void resolve_ratios(sp_indicator *ind, samspor_grouplist list,
                           const char *file, sp_errors *errs) {
  samspor_settings *const *items = list.items;
  size_t n = list.n;
  measure_conf *mc = fill_measures(list, ratio_options);
  for (size_t i = 0; i < n; i++) {
    int r = find_measure(ind, mc[i].name);
    if (r < 0 || ind->measures[r].kind != SP_MEASURE_RATIO)
      continue;
    sp_measure *m = &ind->measures[r];
    const char *num = mc[i].numerator;
    const char *den = mc[i].denominator;
    m->numerator = find_measure(ind, num);
    m->denominator = find_measure(ind, den);
    if (m->numerator < 0 ||
        ind->measures[m->numerator].kind == SP_MEASURE_RATIO)
      sp_errors_add(errs, file, sp_get_line(items[i], "numerator"),
                    "indicator '%s', ratio '%s': numerator '%s' is not one of "
                    "the indicator's counts or sums",
                    ind->name, m->name, num ? num : "");
    if (m->denominator < 0 ||
        ind->measures[m->denominator].kind != SP_MEASURE_COUNT)
      sp_errors_add(errs, file, sp_get_line(items[i], "denominator"),
                    "indicator '%s', ratio '%s': denominator '%s' is not one "
                    "of the indicator's counts",
                    ind->name, m->name, den ? den : "");
    if (m->change && !ind->baseline)
      sp_errors_add(errs, file, sp_get_line(items[i], "change"),
                    "indicator '%s', ratio '%s': change = true needs the "
                    "indicator's baseline",
                    ind->name, m->name);
  }
  free(mc);
}

static void resolve_subsets(sp_indicator *ind, samspor_grouplist list,
                            const char *file, sp_errors *errs) {
  samspor_settings *const *items = list.items;
  size_t n = list.n;
  measure_conf *mc = fill_measures(list, count_options);
  for (size_t i = 0; i < n; i++) {
    const char *sup = mc[i].subset_of;
    int c = find_measure(ind, mc[i].name);
    if (!sup || c < 0)
      continue;
    int w = find_measure(ind, sup);
    if (w < 0 || w == c || ind->measures[w].kind != SP_MEASURE_COUNT)
      sp_errors_add(errs, file, sp_get_line(items[i], "subset_of"),
                    "indicator '%s', count '%s': subset_of '%s' is not "
                    "another of the indicator's counts",
                    ind->name, ind->measures[c].name, sup);
    else
      ind->measures[c].subset_of = w;
  }
  free(mc);
}

/*
 * Whether sql is one statement that fits in samspor's subquery: every `;`
 * outside quotes and comments at the end (only whitespace and comments
 * after it), and the parentheses balanced (a query that closed samspor's
 * "FROM (" could append its own clauses).  The server enforces one
 * statement too (the extended protocol); this says so at `check`, with
 * the line.  Returns NULL, with *len the length without the final `;`, or
 * what is wrong.
 */
static const char *one_statement(const char *sql, size_t *len) {
  const char *p = sql, *end = NULL; /* end: the first `;` */
  long depth = 0;
  while (*p) {
    if (p[0] == '-' && p[1] == '-') {
      p += strcspn(p, "\n");
      continue;
    }
    if (p[0] == '/' && p[1] == '*') { /* they nest in PostgreSQL */
      int n = 1;
      for (p += 2; *p && n; p++)
        if (p[0] == '/' && p[1] == '*')
          n++, p++;
        else if (p[0] == '*' && p[1] == '/')
          n--, p++;
      if (n)
        return "a comment is not closed";
      continue;
    }
    if (end && !strchr(" \t\r\n\f", *p))
      return "it holds more than one statement (a ';' before the end); an "
             "indicator runs exactly one query";
    if (*p == '\'' || *p == '"') {
      /* E'...' strings take backslash escapes; '' and "" double. */
      int esc =
          *p == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
          (p - 1 == sql || !(isalnum((unsigned char)p[-2]) || p[-2] == '_'));
      char q = *p++;
      for (;; p++) {
        if (!*p)
          return q == '"' ? "a quoted identifier is not closed"
                          : "a string is not closed";
        if (esc && *p == '\\' && p[1]) {
          p++;
          continue;
        }
        if (*p == q) {
          if (p[1] == q) {
            p++;
            continue;
          }
          break;
        }
      }
      p++;
      continue;
    }
    if (*p == '$' && (p == sql || !(isalnum((unsigned char)p[-1]) ||
                                    p[-1] == '_' || p[-1] == '$'))) {
      /* $tag$...$tag$, tag empty or an identifier; $1 is a parameter. */
      size_t t = 1;
      while (isalpha((unsigned char)p[t]) || p[t] == '_' ||
             (t > 1 && isdigit((unsigned char)p[t])))
        t++;
      if (p[t] == '$') {
        t++;
        const char *close = p + t;
        for (; *close; close++)
          if (strncmp(close, p, t) == 0)
            break;
        if (!*close)
          return "a dollar-quoted string is not closed";
        p = close + t;
        continue;
      }
    }
    if (*p == '(')
      depth++;
    else if (*p == ')' && --depth < 0)
      return "a ')' closes more than it opened; the query must be a plain "
             "query (it runs as a subquery)";
    else if (*p == ';')
      end = p;
    p++;
  }
  if (depth)
    return "a '(' is not closed";
  *len = (size_t)((end ? end : p) - sql);
  return NULL;
}

/* The query of query_file, or NULL after an error at file:line.  Whole
 * and text: a NUL byte or an empty file is an error, not a shorter
 * query. */
static char *read_query_file(const char *path, const char *file, int line,
                             const char *name, sp_errors *errs) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    sp_errors_add(errs, file, line,
                  "indicator '%s': query_file %s: cannot read it: %s", name,
                  path, strerror(errno));
    return NULL;
  }
  sp_buf b;
  sp_buf_init(&b);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    sp_buf_append(&b, chunk, n);
  int bad = ferror(f);
  int saved = errno;
  fclose(f);
  const char *why = NULL;
  if (bad)
    why = strerror(saved);
  else if (b.len > 1024 * 1024)
    why = "it is larger than 1 MiB";
  else if (b.data && memchr(b.data, '\0', b.len))
    why = "it holds a NUL byte (not a text file)";
  else if (!b.data || strspn(b.data, " \t\r\n") == b.len)
    why = "it is empty";
  if (why) {
    sp_errors_add(errs, file, line, "indicator '%s': query_file %s: %s", name,
                  path, why);
    sp_buf_free(&b);
    return NULL;
  }
  return b.data;
}

static void init_indicator(sp_indicator *ind, const samspor_settings *s,
                           const char *file, sp_errors *errs) {
  indicator_conf ic;
  memset(&ic, 0, sizeof ic);
  if (sp_options_fill(s, indicator_options, &ic) != 0)
    abort(); /* a table the group was not parsed with: a bug */
  ind->s = s;
  ind->line = s->line;
  ind->name = ic.name;
  ind->title = ic.title;
  ind->description = ic.description;
  ind->query = ic.query;
  ind->query_file = ic.query_file;
  const char *qopt = ind->query_file ? "query_file" : "query";
  if (ind->query && ind->query_file)
    sp_errors_add(errs, file, sp_get_line(s, "query_file"),
                  "indicator '%s': give query or query_file, not both",
                  ind->name ? ind->name : "");
  else if (!ind->query && !ind->query_file)
    sp_errors_add(errs, file, s->line,
                  "indicator '%s': query or query_file is required",
                  ind->name ? ind->name : "");
  else if (ind->query_file)
    ind->query = ind->query_owned =
        read_query_file(ind->query_file, file, sp_get_line(s, "query_file"),
                        ind->name ? ind->name : "", errs);
  if (ind->query) {
    const char *why = one_statement(ind->query, &ind->query_len);
    if (why)
      sp_errors_add(errs, file, sp_get_line(s, qopt),
                    "indicator '%s': %s%s%s: %s", ind->name ? ind->name : "",
                    qopt, ind->query_file ? " " : "",
                    ind->query_file ? ind->query_file : "", why);
  }
  ind->baseline = ic.baseline;
  ind->time_dim = ind->series_dim = ind->chart = -1;
  if (!ind->name)
    ind->name = "";
  if (!ind->title)
    ind->title = ind->name;
  if (!sp_valid_ident(ind->name) && *ind->name)
    sp_errors_add(errs, file, sp_get_line(s, "name"),
                  "indicator '%s': the name must be lowercase letters, digits "
                  "and _ (it becomes the table partner.%s)",
                  ind->name, ind->name);

  const char *const *dims = ic.dimensions.items;
  size_t nd = ic.dimensions.n;
  if (nd > SP_MAX_DIMS) {
    sp_errors_add(errs, file, sp_get_line(s, "dimensions"),
                  "indicator '%s': at most %d dimensions", ind->name,
                  SP_MAX_DIMS);
    nd = SP_MAX_DIMS;
  }
  ind->dims = sp_xcalloc(nd ? nd : 1, sizeof *ind->dims);
  for (size_t i = 0; i < nd; i++) {
    if (!sp_valid_ident(dims[i]) || find_dim(ind, dims[i]) >= 0 ||
        strcmp(dims[i], "final") == 0) {
      sp_errors_add(errs, file, sp_get_line(s, "dimensions"),
                    "indicator '%s': dimension '%s' is not a valid column "
                    "name, is reserved (final) or is given twice",
                    ind->name, dims[i]);
      continue;
    }
    ind->dims[ind->ndims++] = dims[i];
  }
  const char *time = ic.time;
  ind->time_dim = find_dim(ind, time);
  if (time && ind->time_dim < 0)
    sp_errors_add(errs, file, sp_get_line(s, "time"),
                  "indicator '%s': time '%s' is not one of its dimensions",
                  ind->name, time);
  const char *series = ic.series;
  if (series) {
    ind->series_dim = find_dim(ind, series);
    if (ind->series_dim < 0 || ind->series_dim == ind->time_dim)
      sp_errors_add(errs, file, sp_get_line(s, "series"),
                    "indicator '%s': series '%s' must be one of its "
                    "dimensions other than time",
                    ind->name, series);
  } else {
    for (size_t i = 0; i < ind->ndims && ind->series_dim < 0; i++)
      if ((int)i != ind->time_dim)
        ind->series_dim = (int)i;
  }
  const char *const *coarse = ic.coarsen.items;
  size_t nc = ic.coarsen.n;
  for (size_t i = 0; i < nc; i++) {
    int d = find_dim(ind, coarse[i]);
    if (d < 0 || d == ind->time_dim)
      sp_errors_add(errs, file, sp_get_line(s, "coarsen"),
                    "indicator '%s': coarsen '%s' must be one of its "
                    "dimensions other than time",
                    ind->name, coarse[i]);
    else
      ind->coarsen |= 1u << d;
  }
  ind->time_grain =
      ic.coarsen_time > 0 && (size_t)ic.coarsen_time < SP_ARRAY_LEN(time_grains)
          ? time_grains[ic.coarsen_time]
          : NULL;
  const char *const *totals = ic.totals.items;
  size_t nt = ic.totals.n;
  for (size_t i = 0; i < nt; i++) {
    int d = find_dim(ind, totals[i]);
    if (d < 0 || d == ind->time_dim)
      sp_errors_add(errs, file, sp_get_line(s, "totals"),
                    "indicator '%s': totals '%s' must be one of its "
                    "dimensions other than time",
                    ind->name, totals[i]);
    else if (ind->coarsen & (1u << d))
      sp_errors_add(errs, file, sp_get_line(s, "totals"),
                    "indicator '%s': '%s' is coarsened into one value; it "
                    "cannot have totals too",
                    ind->name, totals[i]);
    else
      ind->totals |= 1u << d;
  }

  size_t nm = ic.counts.n + ic.sums.n + ic.ratios.n;
  ind->measures = sp_xcalloc(nm ? nm : 1, sizeof *ind->measures);
  add_measures(ind, ic.counts, count_options, SP_MEASURE_COUNT, file, errs);
  add_measures(ind, ic.sums, named_options, SP_MEASURE_SUM, file, errs);
  add_measures(ind, ic.ratios, ratio_options, SP_MEASURE_RATIO, file, errs);
  resolve_ratios(ind, ic.ratios, file, errs);
  resolve_subsets(ind, ic.counts, file, errs);

  const char *chart = ic.chart;
  if (chart) {
    ind->chart = find_measure(ind, chart);
    if (ind->chart < 0 || ind->measures[ind->chart].kind == SP_MEASURE_SUM)
      sp_errors_add(errs, file, sp_get_line(s, "chart"),
                    "indicator '%s': chart '%s' is not one of its counts or "
                    "ratios",
                    ind->name, chart);
  } else {
    for (size_t i = 0; i < ind->nmeasures; i++)
      if (ind->measures[i].kind == SP_MEASURE_RATIO && ind->chart < 0)
        ind->chart = (int)i;
    for (size_t i = 0; i < ind->nmeasures; i++)
      if (ind->measures[i].kind == SP_MEASURE_COUNT && ind->chart < 0)
        ind->chart = (int)i;
  }
}

/* partner.dimension_labels: "dimension: Label" pairs, each naming a
 * dimension of some indicator (a misspelt name would silently not
 * label). */
static void dimension_labels(sp_partner *p, const samspor_settings *partner,
                             samspor_strlist list, const char *file,
                             sp_errors *errs) {
  const char *const *v = list.items;
  size_t n = list.n;
  int line = sp_get_line(partner, "dimension_labels");
  p->dim_labels = sp_xcalloc(2 * n + 1, sizeof *p->dim_labels);
  for (size_t i = 0; i < n; i++) {
    const char *colon = strchr(v[i], ':');
    const char *label = colon ? colon + 1 + strspn(colon + 1, " \t") : "";
    char *name = sp_xstrndup(v[i], colon ? (size_t)(colon - v[i]) : 0);
    int known = 0;
    for (size_t k = 0; k < p->nindicators && !known; k++)
      for (size_t d = 0; d < p->indicators[k].ndims && !known; d++)
        known = strcmp(p->indicators[k].dims[d], name) == 0;
    if (!colon || !*label || !known) {
      sp_errors_add(errs, file, line,
                    "partner.dimension_labels: '%s' is not \"dimension: "
                    "Label\" for a dimension of an indicator",
                    v[i]);
      free(name);
      continue;
    }
    p->dim_labels[2 * p->ndim_labels] = name;
    p->dim_labels[2 * p->ndim_labels++ + 1] = sp_xstrdup(label);
  }
}

int sp_partner_init(sp_partner *p, const samspor_settings *partner,
                    const char *file, sp_errors *errs) {
  size_t before = errs->nerrors;
  memset(p, 0, sizeof *p);
  partner_conf pc;
  memset(&pc, 0, sizeof pc);
  if (sp_options_fill(partner, sp_partner_options, &pc) != 0)
    abort(); /* a table the group was not parsed with: a bug */
  p->threshold = (int)pc.suppression_threshold;
  p->total_label = pc.total_label;
  p->protect_zeros = pc.protect_zeros;
  p->width = pc.protection_width;
  p->audit_budget = pc.audit_budget;
  p->hidden_label = pc.hidden_label;
  p->report = pc.report;
  p->report_title = pc.report_title;
  p->report_da = pc.report_language <= 0; /* "da", or unset */
  p->freeze_after = pc.freeze_after;
  if (p->report) {
    /* Like the other files a configuration names: a warning, so that the
     * file checks on a machine not yet set up; writing it then fails. */
    char *dir = sp_xstrdup(p->report);
    char *slash = strrchr(dir, '/');
    if (slash)
      *(slash == dir ? slash + 1 : slash) = '\0';
    if (access(slash ? dir : ".", W_OK) != 0)
      sp_warnings_add(errs, file, sp_get_line(partner, "report"),
                      "partner.report: cannot write in %s: %s (the report "
                      "will not be written until it can)",
                      slash ? dir : ".", strerror(errno));
    free(dir);
  }
  if (p->threshold < 3) /* the option's range already says so */
    p->threshold = 3;
  if (p->width <= 0)
    p->width = p->threshold;
  samspor_settings *const *items = pc.indicators.items;
  size_t n = pc.indicators.n;
  p->indicators = sp_xcalloc(n ? n : 1, sizeof *p->indicators);
  for (size_t i = 0; i < n; i++) {
    sp_indicator *ind = &p->indicators[p->nindicators++];
    init_indicator(ind, items[i], file, errs);
    for (size_t j = 0; j + 1 < p->nindicators; j++)
      if (strcmp(p->indicators[j].name, ind->name) == 0)
        sp_errors_add(errs, file, ind->line,
                      "two indicators are named '%s' (the other at line %d)",
                      ind->name, p->indicators[j].line);
  }
  dimension_labels(p, partner, pc.dimension_labels, file, errs);
  return errs->nerrors > before ? -1 : 0;
}

const char *sp_partner_dim_label(const sp_partner *p, const char *dim) {
  for (size_t i = 0; i < p->ndim_labels; i++)
    if (strcmp(p->dim_labels[2 * i], dim) == 0)
      return p->dim_labels[2 * i + 1];
  return dim;
}

void sp_partner_free(sp_partner *p) {
  for (size_t i = 0; i < 2 * p->ndim_labels; i++)
    free(p->dim_labels[i]);
  free(p->dim_labels);
  for (size_t i = 0; i < p->nindicators; i++) {
    free(p->indicators[i].dims);
    free(p->indicators[i].measures);
    free(p->indicators[i].query_owned);
  }
  free(p->indicators);
  memset(p, 0, sizeof *p);
}
