/*
 * partner.h — the model of the partners' indicators, as the configuration
 * declares them (the `partner` group, parsed and checked by partner.c):
 * measures, indicators and the publication settings.  Computing and
 * publishing them is indicators.h's.
 */
#ifndef SAMSPOR_PARTNER_H
#define SAMSPOR_PARTNER_H

#include <stddef.h>

#include "base/options.h"

struct sp_config;

typedef enum sp_measure_kind {
  SP_MEASURE_COUNT, /* published, suppressed when 1..threshold */
  SP_MEASURE_SUM,   /* hidden: only a ratio's numerator */
  SP_MEASURE_RATIO  /* numerator / denominator * scale */
} sp_measure_kind;

typedef struct sp_measure {
  const char *name;
  const char *description; /* may be NULL */
  const char *label;       /* for people; NULL: the name */
  int needs_next;          /* COUNT: NULL in the latest period (not known) */
  sp_measure_kind kind;
  int numerator, denominator; /* RATIO: indices into measures */
  double scale;               /* RATIO: 100 for percent */
  int decimals;               /* RATIO: rounding of the published value */
  int change;                 /* RATIO: publish r_change vs the baseline */
  int subset_of; /* COUNT: index of the count that counts everyone this one
                    does, or -1 */
} sp_measure;

#define SP_MAX_DIMS 8

typedef struct sp_indicator {
  const samspor_settings *s;
  const char *name;  /* table partner.<name> */
  const char *title; /* for people; the report's heading */
  const char *description;
  const char *query;      /* SQL; unqualified names are the warehouse schema */
  const char *query_file; /* where query was read from, or NULL */
  char *query_owned;      /* query, when read from query_file */
  size_t query_len;       /* of query without its final `;` (one statement) */
  const char **dims;      /* dimension columns, in order (borrowed) */
  size_t ndims;           /* 1..SP_MAX_DIMS */
  int time_dim;           /* index in dims of `time` */
  int series_dim;         /* index in dims of `series` (the report's lines) */
  unsigned totals;        /* bit i: dims[i] gets total rows */
  unsigned coarsen;       /* bit i: dims[i] collapsed into the total label */
  const char *time_grain; /* "quarter", "half", "year" or NULL */
  const char *baseline;   /* value of the time dimension, or NULL */
  sp_measure *measures;   /* owned: counts, sums, ratios in declared order */
  size_t nmeasures;
  int chart; /* index in measures of the measure the report plots */
  int line;
} sp_indicator;

typedef struct sp_partner {
  int threshold;            /* counts 1..threshold are suppressed (>= 3) */
  const char *total_label;  /* dimension value of total rows */
  int protect_zeros;        /* zeros hidden like small counts */
  long long width;          /* protection width (>= 1) */
  double audit_budget;      /* seconds per indicator */
  const char *hidden_label; /* the one reason of every hidden value */
  const char *report;       /* HTML report rewritten after refresh, or NULL */
  const char *report_title;
  int report_da;     /* report_language = "da" */
  char **dim_labels; /* dimension_labels: name, label, name, ... */
  size_t ndim_labels;
  double freeze_after;      /* seconds after a period's end it is closed */
  sp_indicator *indicators; /* owned */
  size_t nindicators;
} sp_partner;

/* The option table of the `partner` group (for conf.c, docs, the man
 * page). */
extern const samspor_option sp_partner_options[];

/*
 * Build the indicator model from the parsed `partner` settings and check
 * what spans options (names, references, time in dims, ...).  Errors go to
 * errs with file:line.  Returns 0 or -1.
 */
int sp_partner_init(sp_partner *p, const samspor_settings *partner,
                    const char *file, sp_errors *errs);
void sp_partner_free(sp_partner *p);

/* The dimension's label (partner.dimension_labels), or its name. */
const char *sp_partner_dim_label(const sp_partner *p, const char *dim);
/* A measure's label, or its name. */
#define SP_MEASURE_LABEL(m) ((m)->label ? (m)->label : (m)->name)

/* The configuration's partner model (never NULL). */
const sp_partner *sp_config_partner(const struct sp_config *c);

#endif
