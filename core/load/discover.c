/*
 * discover.c — what a source holds, for the person writing its connector.
 * Values are looked at only to count which shapes they have (a date
 * dd-mm-yyyy, a number with a decimal comma, a CPR number); none is kept
 * past the field() call, and nothing printed is derived from a value
 * beyond those counts.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "model/cpr.h"
#include "load/discover.h"
#include "model/host.h"
#include "base/util.h"

/* The shapes a value is counted as; a field takes the first shape (in
 * this order) that all its non-empty values have. */
enum {
  SH_CPR,     /* a valid CPR number (flagged, more than half suffice) */
  SH_INT,     /* -?digits */
  SH_DEC_DOT, /* -?digits.digits */
  SH_DEC_COM, /* -?digits(.ddd)*,digits: decimal comma */
  SH_DMY,     /* dd-mm-yyyy */
  SH_YMD,     /* yyyy-mm-dd */
  SH_DMY_DOT, /* dd.mm.yyyy */
  SH_BOOL,    /* ja/nej, true/false, yes/no */
  SH_N
};

typedef struct field_stat {
  long long filled;
  long long shape[SH_N];
} field_stat;

typedef struct sampler {
  samspor_sink sink; /* first: the host casts back to it */
  field_stat *st;
  size_t n;
  long long records, rejects, limit;
} sampler;

static int all_digits(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

/* dd?mm?yyyy or yyyy?mm?dd with separator sep, month 1..12, day 1..31. */
static int is_date(const char *v, size_t n, int ymd, char sep) {
  if (n != 10)
    return 0;
  int a = ymd ? 4 : 2, b = a + 3;
  if (v[a] != sep || v[b] != sep)
    return 0;
  if (!all_digits(v, (size_t)a) || !all_digits(v + a + 1, 2) ||
      !all_digits(v + b + 1, ymd ? 2 : 4))
    return 0;
  int m = atoi(v + a + 1) /* stops at sep */;
  int d = ymd ? atoi(v + b + 1) : atoi(v);
  return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int is_decimal(const char *v, size_t n, char point, char thousands) {
  size_t i = (n && v[0] == '-') ? 1 : 0, digits = 0;
  int seen_point = 0;
  for (; i < n; i++) {
    if (isdigit((unsigned char)v[i]))
      digits++;
    else if (v[i] == point && !seen_point)
      seen_point = 1;
    else if (thousands && v[i] == thousands && !seen_point)
      continue;
    else
      return 0;
  }
  return digits > 0 && seen_point;
}

static void count_shapes(field_stat *f, const char *v, size_t n) {
  sp_cpr cpr;
  f->filled++;
  if (sp_cpr_parse(v, n, &cpr) == 0)
    f->shape[SH_CPR]++;
  sodium_memzero(&cpr, sizeof cpr);
  size_t s = (n && v[0] == '-') ? 1 : 0;
  if (all_digits(v + s, n - s))
    f->shape[SH_INT]++;
  if (is_decimal(v, n, '.', 0))
    f->shape[SH_DEC_DOT]++;
  if (is_decimal(v, n, ',', '.'))
    f->shape[SH_DEC_COM]++;
  if (is_date(v, n, 0, '-'))
    f->shape[SH_DMY]++;
  if (is_date(v, n, 1, '-'))
    f->shape[SH_YMD]++;
  if (is_date(v, n, 0, '.'))
    f->shape[SH_DMY_DOT]++;
  static const char *const words[] = {"ja",    "nej", "true",
                                      "false", "yes", "no"};
  for (size_t i = 0; i < SP_ARRAY_LEN(words); i++)
    if (strlen(words[i]) == n && strncasecmp(words[i], v, n) == 0)
      f->shape[SH_BOOL]++;
}

static int s_begin(samspor_sink *sink, const char *position) {
  (void)position;
  sampler *s = (sampler *)sink;
  return s->records >= s->limit ? SAMSPOR_EABORT : 0;
}

static void s_field(samspor_sink *sink, size_t i, const char *v, size_t n) {
  sampler *s = (sampler *)sink;
  if (i < s->n && v && n)
    count_shapes(&s->st[i], v, n);
}

static int s_end(samspor_sink *sink) {
  sampler *s = (sampler *)sink;
  return ++s->records >= s->limit ? SAMSPOR_EABORT : 0;
}

static int s_reject(samspor_sink *sink, const char *position,
                    const char *reason, const char *message) {
  (void)position, (void)reason, (void)message;
  sampler *s = (sampler *)sink;
  s->rejects++;
  return 0;
}

static void s_state(samspor_sink *sink, const char *state) {
  (void)sink, (void)state;
}

/* Does the lowercased field name contain one of words? */
static int name_has(const char *name, const char *const *words) {
  char low[128];
  size_t i;
  for (i = 0; name[i] && i + 1 < sizeof low; i++)
    low[i] = (char)tolower((unsigned char)name[i]);
  low[i] = '\0';
  for (; *words; words++)
    if (strstr(low, *words))
      return 1;
  return 0;
}

static const char *const person_words[] = {
    "navn",  "name",   "adresse", "address", "addr",  "vej", "street", "gade",
    "email", "e-mail", "mail",    "telefon", "phone", "tlf", "mobil",  NULL};
static const char *const cpr_words[] = {"cpr", "personnummer", "personnr",
                                        NULL};

/* A warehouse column name from a source field name: lowercase letters,
 * digits and _, starting with a letter. */
static void column_name(const char *field, char *out, size_t outlen) {
  size_t o = 0;
  if (!isalpha((unsigned char)field[0]) && outlen > 3) {
    memcpy(out, "f_", 2);
    o = 2;
  }
  for (const char *p = field; *p && o + 1 < outlen; p++) {
    unsigned char c = (unsigned char)*p;
    out[o++] = (char)(isalnum(c) && c < 128 ? tolower(c) : '_');
  }
  out[o] = '\0';
}

/* The field name without the xml plugin's namespace test: an element in a
 * namespace without a configured prefix is named *[local-name()='Navn'],
 * and "name" in the XPath function must not make every such field look
 * like a person's name. */
static void plain_name(const char *field, char *out, size_t outlen) {
  static const char pre[] = "*[local-name()='";
  size_t o = 0;
  while (*field && o + 1 < outlen) {
    const char *end;
    if (!strncmp(field, pre, sizeof pre - 1) &&
        (end = strstr(field + sizeof pre - 1, "']")) != NULL) {
      for (field += sizeof pre - 1; field < end && o + 1 < outlen; field++)
        out[o++] = *field;
      field = end + 2;
      continue;
    }
    out[o++] = *field++;
  }
  out[o] = '\0';
}

/* The guess for one field: a sentence for people and the column line. */
static void guess(const char *field, const field_stat *f, FILE *out,
                  sp_buf *cols, size_t *ncols) {
  char col[64], plain[256];
  plain_name(field, plain, sizeof plain);
  column_name(plain, col, sizeof col);
  long long n = f->filled;
  const char *what, *line;
  char buf[256];
  if (n && f->shape[SH_CPR] * 2 > n) {
    snprintf(buf, sizeof buf, "CPR-like (%lld of %lld values)",
             f->shape[SH_CPR], n);
    what = buf;
    line = "rule = \"pseudonym\"; kind = \"cpr\";";
  } else if (name_has(plain, cpr_words)) {
    what = "named like a CPR number (values do not validate)";
    line = "rule = \"pseudonym\"; kind = \"cpr\";";
  } else if (name_has(plain, person_words)) {
    /* Left out, not pseudonymised: a name or an address is no identifier
     * that links; an area, if needed, comes from a map (rule lookup). */
    sp_buf_printf(cols,
                  "#  # left out, a name or an address: { name = \"%s\"; "
                  "from = \"%s\"; }\n",
                  col, field);
    fprintf(out, "#   %-24s left out: named like a name or an address\n",
            field);
    return;
  } else if (n == 0) {
    what = "always empty";
    line = "type = \"text\";";
  } else if (f->shape[SH_INT] == n) {
    what = "integer";
    line = "type = \"bigint\";";
  } else if (f->shape[SH_DEC_DOT] + f->shape[SH_INT] == n &&
             f->shape[SH_DEC_DOT]) {
    what = "decimal number, decimal point";
    line = "type = \"numeric\";";
  } else if (f->shape[SH_DEC_COM] + f->shape[SH_INT] == n &&
             f->shape[SH_DEC_COM]) {
    what = "decimal number, decimal comma";
    line = "type = \"numeric\"; decimal_comma = true;";
  } else if (f->shape[SH_DMY] == n) {
    what = "date dd-mm-yyyy";
    line = "type = \"date\"; format = \"%d-%m-%Y\";";
  } else if (f->shape[SH_YMD] == n) {
    what = "date yyyy-mm-dd";
    line = "type = \"date\";";
  } else if (f->shape[SH_DMY_DOT] == n) {
    what = "date dd.mm.yyyy";
    line = "type = \"date\"; format = \"%d.%m.%Y\";";
  } else if (f->shape[SH_BOOL] == n) {
    what = "yes/no";
    line = "type = \"boolean\";";
  } else {
    what = "text (check that it holds no names or CPR numbers)";
    line = "type = \"text\";";
  }
  fprintf(out, "#   %-24s %s\n", field, what);
  sp_buf_printf(cols, "C  { name = \"%s\"; from = \"%s\"; %s }\n", col, field,
                line);
  ++*ncols;
}

int sp_discover(const sp_discover_args *a, FILE *out, char *err,
                size_t errlen) {
  const samspor_plugin *d = a->plugin;
  if (!d->discover) {
    snprintf(err, errlen,
             "plugin %s cannot list the fields of its source (it has no "
             "discover function)",
             d->name);
    return SAMSPOR_EINVAL;
  }
  samspor_ctx ctx;
  sp_ctx_init(&ctx, a->connector, a->stream_name, 0);
  sampler s = {.sink = {s_begin, s_field, s_end, s_reject, s_state},
               .limit = a->sample > 0 ? a->sample : 1};
  samspor_open_args oa = {.struct_size = sizeof oa,
                          .host = sp_host(),
                          .ctx = &ctx,
                          .sink = &s.sink,
                          .source = a->source,
                          .stream = a->stream,
                          .cursor_field = -1,
                          .full = 1};
  void *h = NULL;
  const char *const *names = NULL;
  size_t nnames = 0;
  int rc = d->discover(&oa, &h, &names, &nnames);
  if (rc) {
    snprintf(err, errlen, "%s", sp_ctx_error(&ctx, samspor_strerror(rc)));
    sp_ctx_free(&ctx);
    return rc;
  }
  s.n = nnames;
  s.st = sp_xcalloc(nnames ? nnames : 1, sizeof *s.st);
  rc = d->read(h);
  if (rc == SAMSPOR_EABORT)
    rc = 0; /* the sample is complete */
  if (rc)
    snprintf(err, errlen, "%s", sp_ctx_error(&ctx, samspor_strerror(rc)));
  else {
    fprintf(out,
            "# %s%s%s: %zu fields\n# types guessed from %lld records%s; "
            "values are never shown\n",
            a->connector, a->stream_name ? ", stream " : "",
            a->stream_name ? a->stream_name : "", nnames, s.records,
            s.rejects ? " and some unreadable ones" : "");
    sp_buf cols;
    sp_buf_init(&cols);
    size_t ncols = 0;
    for (size_t i = 0; i < nnames; i++)
      guess(names[i], &s.st[i], out, &cols, &ncols);
    /* Each line starts with C (a column) or # (a comment); a comma after
     * every column but the last: libconfig allows none after the last. */
    fprintf(out, "columns = (\n");
    size_t seen = 0;
    for (char *p = cols.data; p && *p;) {
      char *nl = strchr(p, '\n');
      int column = *p == 'C';
      seen += (size_t)column;
      fprintf(out, "%.*s%s\n", (int)(nl - p - 1), p + 1,
              column && seen < ncols ? "," : "");
      p = nl + 1;
    }
    fprintf(out, ");\n");
    sp_buf_free(&cols);
  }
  d->close(h);
  free(s.st);
  sp_ctx_free(&ctx);
  return rc;
}
