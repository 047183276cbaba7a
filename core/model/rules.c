#include "config.h"

#include "model/rules.h"

#include "model/cpr.h"
#include "model/maps.h"
#include "model/pseudonym.h"
#include "samspor-plugin.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- compiled columns -------------------------------------------------- */

/* What a column does, decided once from its rule and type. */
typedef enum rule_op {
  OP_TEXT,
  OP_INT,
  OP_BIGINT,
  OP_NUMERIC,
  OP_DATE,
  OP_TIMESTAMP,
  OP_BOOL,
  OP_PSEUDONYM,
  OP_BIRTH_YEAR,
  OP_BIRTH_MONTH,
  OP_GENDER,
  OP_AGE,
  OP_AGE_BAND,
  OP_DATE_MONTH,
  OP_DATE_YEAR,
  OP_LOOKUP
} rule_op;

/* How sp_rules_compare orders a column's values. */
typedef enum cmp_kind {
  CMP_BYTES,
  CMP_INT,
  CMP_NUMERIC,
  CMP_TIMESTAMP
} cmp_kind;

/* Tokens of a compiled date format. */
enum {
  T_LIT,     /* one literal byte */
  T_DAY,     /* %d: 1-2 digits */
  T_MONTH,   /* %m: 1-2 digits */
  T_YEAR4,   /* %Y: 4 digits */
  T_YEAR2,   /* %y: 2 digits, 69-99 -> 19xx, 00-68 -> 20xx */
  T_HOUR,    /* %H: 1-2 digits */
  T_MIN,     /* %M: 1-2 digits */
  T_SEC,     /* %S: 1-2 digits */
  T_MONNAME, /* %b %B %h: English or Danish month name or abbreviation */
  T_ZONE     /* %z: Z, +HH, +HHMM or +HH:MM */
};

#define FMT_MAX 64

/* A date or timestamp format, compiled; iso when the column has none. */
typedef struct dfmt {
  int iso;                    /* no format: ISO 8601 */
  int n;                      /* tokens */
  unsigned char tok[FMT_MAX]; /* T_* */
  char lit[FMT_MAX];          /* the byte of a T_LIT */
} dfmt;

/* A parsed date and time. */
typedef struct dtime {
  int y, mo, d; /* date */
  int h, mi, s; /* time of day; 0 when the format has none */
  int usec;     /* microseconds (ISO input only) */
  int has_off;  /* the value gave a UTC offset */
  int off;      /* the offset in minutes east of UTC */
} dtime;

/* A boolean word, normalised like map keys. */
typedef struct bword {
  char *w;
  size_t n;
  int value; /* 1 true, 0 false */
} bword;

typedef struct rcol {
  rule_op op;
  cmp_kind cmp;
  size_t field; /* index into the record's fields */
  int required; /* not_null or part of the key: NULL rejects */
  int escape;   /* values may hold bytes COPY must escape */
  /* numbers */
  char decimal;          /* '.' or ',' */
  const char *thousands; /* separator to accept between groups, or NULL */
  size_t nthousands;
  /* dates */
  dfmt fmt;     /* input format of date, timestamp, date rules, age */
  int src_ts;   /* date rules: the input is a timestamp */
  int src_date; /* age, age_band: the input is a date, not a CPR number */
  /* booleans */
  bword *words;
  size_t nwords;
  /* pseudonym */
  const sp_pseudonymiser *pz;
  const sp_pseudonymiser *pz_old; /* the retiring key's, during rekey */
  const char *kind;               /* borrowed from the rules' kinds */
  int kind_cpr;                   /* kind "cpr": normalised by sp_cpr_parse */
  /* The last identifier pseudonymised and its pseudonym: an export lists
   * a person's rows together, and the HMAC is the costliest step of a
   * row.  Wiped with the columns (sp_rules_free). */
  unsigned char memo_in[32];
  size_t memo_len; /* 0: empty */
  unsigned char memo_out[16];
  /* age */
  int ref;          /* column computing the reference date, -1: run date */
  long long *bands; /* lower bounds, ascending */
  char **labels;    /* one per band */
  size_t nbands;
  /* lookup */
  const sp_map *map;
  /* Per row.  Values go to one of two buffers in turn, so the last
   * accepted row stays readable (sp_rules_value) while the next one is
   * built. */
  size_t off[2], len[2]; /* the value in vals[set] */
  unsigned char null[2]; /* SQL NULL */
  unsigned char pseudo[2][16];
  unsigned char pseudo_old[16]; /* under the retiring key, this row */
  int has_date;                 /* this row's date, for an age's reference */
  int y, m, d;
} rcol;

/* One CPR parse per field and row, shared by the columns derived from it
 * (person, birth_year, gender all read "cpr"). */
typedef struct cpr_slot {
  int done; /* parsed in this row */
  int rc;   /* sp_cpr_parse's result */
  sp_cpr cpr;
} cpr_slot;

struct sp_rules {
  const sp_stream *st;
  rcol *cols; /* one per column of st */
  size_t ncols;
  size_t *order;             /* computing order of the columns */
  size_t npseudo;            /* order[0..npseudo) are the pseudonym columns */
  sp_pseudonymiser **pz;     /* one per distinct kind */
  sp_pseudonymiser **pz_old; /* the same under env->old_key, or NULL */
  char **kinds;
  size_t nkinds;
  sp_map **maps; /* each map the stream uses, once */
  size_t nmaps;
  cpr_slot *cpr; /* one per field */
  size_t nfields;
  sp_buf vals[2]; /* canonical values, NUL after each */
  int ok;         /* set holding the last accepted row, -1: none */
  sp_buf scratch; /* lookups */
  int run_y, run_m, run_d;
  int binary; /* rows in binary COPY format (sp_rules_binary) */
  int extra;  /* with binary: fields the caller appends to each row */
  int (*is_forgotten)(void *, const char *, const unsigned char[16]);
  int (*was_forgotten)(void *, const char *, const unsigned char[16],
                       const unsigned char[16]);
  void *ud;
};

/* ---- small helpers ----------------------------------------------------- */

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* The white space trimmed around non-text values: the set sp_pseudonym
 * trims, so `samspor pseudonym` and a load agree on every identifier. */
static int is_trim(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *n) {
  const char *s = *p;
  size_t b = 0, e = *n;
  while (b < e && is_trim(s[b]))
    b++;
  while (e > b && is_trim(s[e - 1]))
    e--;
  *p = s + b;
  *n = e - b;
}

static int is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static long long days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  long long yoe = y - era * 400;
  long long doy = (153LL * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Write v as exactly `w` digits (v >= 0, fits). */
static char *put_digits(char *o, int v, int w) {
  for (int i = w - 1; i >= 0; i--) {
    o[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return o + w;
}

static char *put_date(char *o, int y, int m, int d) {
  o = put_digits(o, y, 4);
  *o++ = '-';
  o = put_digits(o, m, 2);
  *o++ = '-';
  return put_digits(o, d, 2);
}

/* Write a non-negative int in decimal; returns the end. */
static char *put_uint(char *o, unsigned long long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *o++ = tmp[--n];
  return o;
}

/* ---- the row's value buffer -------------------------------------------- */

/* Room for a value of at most `max` bytes at the end of vals[set]. */
static char *val_begin(sp_rules *r, int set, size_t max) {
  sp_buf_reserve(&r->vals[set], max + 2);
  return r->vals[set].data + r->vals[set].len;
}

/* The value written since val_begin ends at `end`. */
static void val_end(sp_rules *r, rcol *c, int set, const char *end) {
  sp_buf *b = &r->vals[set];
  size_t n = (size_t)(end - (b->data + b->len));
  c->off[set] = b->len;
  c->len[set] = n;
  c->null[set] = 0;
  b->len += n;
  b->data[b->len++] = '\0';
  b->data[b->len] = '\0';
}

static void val_bytes(sp_rules *r, rcol *c, int set, const char *p, size_t n) {
  char *o = val_begin(r, set, n);
  memcpy(o, p, n);
  val_end(r, c, set, o + n);
}

/* ---- dates and times --------------------------------------------------- */

static const struct {
  const char *name;
  int month;
} month_names[] = {
    /* English and Danish, full and abbreviated; compared ASCII
     * case-insensitively, the longest match wins ("marts" over "mar"). */
    {"january", 1},  {"januar", 1},    {"february", 2},  {"februar", 2},
    {"march", 3},    {"marts", 3},     {"april", 4},     {"may", 5},
    {"maj", 5},      {"june", 6},      {"juni", 6},      {"july", 7},
    {"juli", 7},     {"august", 8},    {"september", 9}, {"october", 10},
    {"oktober", 10}, {"november", 11}, {"december", 12}, {"jan", 1},
    {"feb", 2},      {"mar", 3},       {"apr", 4},       {"jun", 6},
    {"jul", 7},      {"aug", 8},       {"sep", 9},       {"sept", 9},
    {"oct", 10},     {"okt", 10},      {"nov", 11},      {"dec", 12},
};

static size_t match_month(const char *s, size_t n, int *month) {
  size_t best = 0;
  for (size_t i = 0; i < SP_ARRAY_LEN(month_names); i++) {
    size_t l = strlen(month_names[i].name);
    if (l <= best || l > n)
      continue;
    size_t k;
    for (k = 0; k < l; k++) {
      char c = s[k];
      if (c >= 'A' && c <= 'Z')
        c = (char)(c + 32);
      if (c != month_names[i].name[k])
        break;
    }
    if (k == l) {
      best = l;
      *month = month_names[i].month;
    }
  }
  return best;
}

/* Exactly w digits at s[*i]; advances. */
static int take_digits(const char *s, size_t n, size_t *i, int w, int *v) {
  if (n - *i < (size_t)w)
    return 0;
  int x = 0;
  for (int k = 0; k < w; k++) {
    char c = s[*i + (size_t)k];
    if (!is_digit(c))
      return 0;
    x = x * 10 + (c - '0');
  }
  *i += (size_t)w;
  *v = x;
  return 1;
}

/* 1 or 2 digits (exactly 2 when min is 2); advances. */
static int take_12(const char *s, size_t n, size_t *i, int min, int *v) {
  int x = 0, k = 0;
  while (k < 2 && *i < n && is_digit(s[*i])) {
    x = x * 10 + (s[*i] - '0');
    (*i)++;
    k++;
  }
  *v = x;
  return k >= min;
}

/* Z, +HH, +HHMM, +HH:MM (or -); advances. */
static int take_offset(const char *s, size_t n, size_t *i, int *off, int *bad) {
  if (*i >= n)
    return 0;
  if (s[*i] == 'Z' || s[*i] == 'z') {
    (*i)++;
    *off = 0;
    return 1;
  }
  if (s[*i] != '+' && s[*i] != '-')
    return 0;
  int sign = s[*i] == '-' ? -1 : 1, hh, mm = 0;
  (*i)++;
  if (!take_digits(s, n, i, 2, &hh))
    return 0;
  if (*i < n && s[*i] == ':') {
    (*i)++;
    if (!take_digits(s, n, i, 2, &mm))
      return 0;
  } else if (*i < n && is_digit(s[*i])) {
    if (!take_digits(s, n, i, 2, &mm))
      return 0;
  }
  /* PostgreSQL takes offsets up to 15:59; real ones are -12..+14. */
  if (hh > 15 || mm > 59)
    *bad = 1;
  *off = sign * (hh * 60 + mm);
  return 1;
}

/* Check a parsed value; NULL or the reason. */
static const char *check_dtime(const dtime *t, int bad_off) {
  if (t->y < 1 || t->y > 9999 || t->mo < 1 || t->mo > 12 || t->d < 1 ||
      t->d > days_in_month(t->y, t->mo))
    return "invalid_date";
  if (t->h > 23 || t->mi > 59 || t->s > 59 || bad_off)
    return "invalid_time";
  return NULL;
}

/*
 * ISO 8601 as sources write it: YYYY-MM-DD for a date; for a timestamp
 * YYYY-MM-DD, 'T' or a space, HH:MM[:SS[.f{1,6}]] and an optional offset
 * (Z, +HH, +HHMM, +HH:MM).  Returns NULL or the reason.
 */
static const char *parse_iso(const char *s, size_t n, int want_ts, dtime *t) {
  const char *syntax = want_ts ? "not_a_timestamp" : "not_a_date";
  size_t i = 0;
  int bad_off = 0;
  memset(t, 0, sizeof *t);
  if (!take_digits(s, n, &i, 4, &t->y) || i >= n || s[i++] != '-' ||
      !take_digits(s, n, &i, 2, &t->mo) || i >= n || s[i++] != '-' ||
      !take_digits(s, n, &i, 2, &t->d))
    return syntax;
  if (want_ts) {
    if (i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
      return syntax;
    i++;
    if (!take_digits(s, n, &i, 2, &t->h) || i >= n || s[i++] != ':' ||
        !take_digits(s, n, &i, 2, &t->mi))
      return syntax;
    if (i < n && s[i] == ':') {
      i++;
      if (!take_digits(s, n, &i, 2, &t->s))
        return syntax;
      if (i < n && s[i] == '.') {
        int k = 0, us = 0;
        i++;
        while (i < n && is_digit(s[i]) && k < 6) {
          us = us * 10 + (s[i++] - '0');
          k++;
        }
        /* More than microseconds would be rounded by PostgreSQL, and
         * then two different source values compare equal. */
        if (k == 0 || (i < n && is_digit(s[i])))
          return syntax;
        while (k++ < 6)
          us *= 10;
        t->usec = us;
      }
    }
    if (i < n) {
      if (!take_offset(s, n, &i, &t->off, &bad_off))
        return syntax;
      t->has_off = 1;
    }
  }
  if (i != n)
    return syntax;
  return check_dtime(t, bad_off);
}

static int numeric_tok(unsigned char k) {
  return k == T_DAY || k == T_MONTH || k == T_YEAR4 || k == T_YEAR2 ||
         k == T_HOUR || k == T_MIN || k == T_SEC;
}

/*
 * Parse with a compiled format.  Strict where strptime is lenient: every
 * literal must be there, nothing may follow, %Y takes 4 digits and %y 2,
 * and the 1-2 digit fields take exactly 2 when the next token is another
 * number (so "%d%m%Y" cannot read "1122024" two ways).  A missing day is
 * the 1st (a format "%m/%Y" for months); a missing time is midnight.
 */
static const char *parse_fmt(const dfmt *f, const char *s, size_t n,
                             int want_ts, dtime *t) {
  const char *syntax = want_ts ? "not_a_timestamp" : "not_a_date";
  if (f->iso)
    return parse_iso(s, n, want_ts, t);
  size_t i = 0;
  int bad_off = 0;
  memset(t, 0, sizeof *t);
  t->d = 1;
  for (int k = 0; k < f->n; k++) {
    int min = k + 1 < f->n && numeric_tok(f->tok[k + 1]) ? 2 : 1, ok = 1;
    switch (f->tok[k]) {
    case T_LIT:
      ok = i < n && s[i] == f->lit[k];
      i++;
      break;
    case T_DAY:
      ok = take_12(s, n, &i, min, &t->d);
      break;
    case T_MONTH:
      ok = take_12(s, n, &i, min, &t->mo);
      break;
    case T_HOUR:
      ok = take_12(s, n, &i, min, &t->h);
      break;
    case T_MIN:
      ok = take_12(s, n, &i, min, &t->mi);
      break;
    case T_SEC:
      ok = take_12(s, n, &i, min, &t->s);
      break;
    case T_YEAR4:
      ok = take_digits(s, n, &i, 4, &t->y);
      break;
    case T_YEAR2:
      ok = take_digits(s, n, &i, 2, &t->y);
      /* POSIX strptime's pivot, so a format behaves as it does in date(1)
       * and every other tool a user tries it with. */
      t->y += t->y < 69 ? 2000 : 1900;
      break;
    case T_MONNAME: {
      size_t l = match_month(s + i, n - i, &t->mo);
      ok = l > 0;
      i += l;
      break;
    }
    case T_ZONE:
      ok = take_offset(s, n, &i, &t->off, &bad_off);
      t->has_off = 1;
      break;
    }
    if (!ok)
      return syntax;
  }
  if (i != n)
    return syntax;
  return check_dtime(t, bad_off);
}

/* The token of conversion %c; 0, or -1 for one not supported. */
static int conversion(char c, unsigned char *tk) {
  static const struct {
    char c;
    unsigned char tk;
  } conv[] = {{'d', T_DAY},     {'m', T_MONTH},   {'Y', T_YEAR4},
              {'y', T_YEAR2},   {'H', T_HOUR},    {'M', T_MIN},
              {'S', T_SEC},     {'b', T_MONNAME}, {'B', T_MONNAME},
              {'h', T_MONNAME}, {'z', T_ZONE}};
  for (size_t i = 0; i < SP_ARRAY_LEN(conv); i++)
    if (conv[i].c == c) {
      *tk = conv[i].tk;
      return 0;
    }
  return -1;
}

/* Compile a strptime-style format; 0, or -1 with a sentence in err.
 * %F and %T are shorthands for %Y-%m-%d and %H:%M:%S, as in strptime. */
static int compile_fmt(const char *fmt, dfmt *f, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  if (!fmt) {
    f->iso = 1;
    return 0;
  }
  sp_buf x;
  sp_buf_init(&x);
  for (const char *p = fmt; *p; p++) {
    if (p[0] == '%' && p[1] == 'F') {
      sp_buf_puts(&x, "%Y-%m-%d");
      p++;
    } else if (p[0] == '%' && p[1] == 'T') {
      sp_buf_puts(&x, "%H:%M:%S");
      p++;
    } else if (p[0] == '%' && p[1]) {
      sp_buf_append(&x, p, 2);
      p++;
    } else {
      sp_buf_putc(&x, *p);
    }
  }
  unsigned seen = 0; /* one bit per field, to refuse a field given twice */
  int rc = 0;
  for (const char *p = x.data ? x.data : ""; *p; p++) {
    unsigned char tk = T_LIT;
    char lit = *p;
    if (*p == '%') {
      p++;
      if (*p == '%') {
        lit = '%';
      } else if (conversion(*p, &tk) != 0) {
        sp_set_err(err, errlen,
                   "format '%s': %%%c is not supported; use %%d %%m %%Y %%y "
                   "%%b %%H %%M %%S %%z %%F %%T %%%% and literal characters",
                   fmt, *p ? *p : ' ');
        rc = -1;
        break;
      }
    }
    if (f->n == FMT_MAX) {
      sp_set_err(err, errlen, "format '%s' is too long", fmt);
      rc = -1;
      break;
    }
    if (tk != T_LIT) {
      /* %y and %Y give one field, and so do %m and %b */
      unsigned bit = 1u << (tk == T_YEAR2     ? T_YEAR4
                            : tk == T_MONNAME ? T_MONTH
                                              : tk);
      if (seen & bit) {
        sp_set_err(err, errlen, "format '%s' gives one field twice", fmt);
        rc = -1;
        break;
      }
      seen |= bit;
    }
    f->tok[f->n] = tk;
    f->lit[f->n] = tk == T_LIT ? lit : 0;
    f->n++;
  }
  sp_buf_free(&x);
  if (rc == 0 && (!(seen & (1u << T_YEAR4)) || !(seen & (1u << T_MONTH)))) {
    sp_set_err(err, errlen,
               "format '%s' needs a year (%%Y or %%y) and a month (%%m or %%b)",
               fmt);
    rc = -1;
  }
  return rc;
}

/* Canonical timestamp text; returns the end.  At most 32 bytes. */
static char *put_timestamp(char *o, const dtime *t) {
  o = put_date(o, t->y, t->mo, t->d);
  *o++ = 'T';
  o = put_digits(o, t->h, 2);
  *o++ = ':';
  o = put_digits(o, t->mi, 2);
  *o++ = ':';
  o = put_digits(o, t->s, 2);
  if (t->usec) {
    int us = t->usec, w = 6;
    while (us % 10 == 0) {
      us /= 10;
      w--;
    }
    *o++ = '.';
    o = put_digits(o, us, w);
  }
  if (t->has_off) {
    int off = t->off;
    *o++ = off < 0 ? '-' : '+';
    if (off < 0)
      off = -off;
    o = put_digits(o, off / 60, 2);
    *o++ = ':';
    o = put_digits(o, off % 60, 2);
  }
  return o;
}

/* ---- numbers ----------------------------------------------------------- */

/* Longest number text accepted, in digits on either side of the point. */
#define NUM_MAX_DIGITS 1000

/*
 * [sign] digits [decimal digits], thousands separators allowed only as
 * real thousands grouping (1-3 digits, then groups of exactly 3): with
 * decimal_comma, "1.5" (a dot-decimal value from a source exported the
 * other way) is refused rather than read as 15, and so is a separator with
 * no digits after it ("5,").  Writes the canonical form
 * to out (room for n + 2 bytes) and returns NULL, or returns the reason.
 * *frac is set when the value has decimals.
 */
static const char *parse_number(const rcol *c, const char *s, size_t n,
                                char *out, size_t *outlen, int *frac) {
  size_t i = 0, o = 0;
  int neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    neg = s[i++] == '-';
  if (neg)
    out[o++] = '-';
  size_t int_start = o, ndig = 0, group = 0, ngroups = 1;
  int nonzero = 0;
  while (i < n) {
    if (is_digit(s[i])) {
      /* leading zeros are dropped */
      if (s[i] != '0' || nonzero) {
        out[o++] = s[i];
        nonzero |= s[i] != '0';
      }
      ndig++;
      group++;
      i++;
    } else if (c->thousands && n - i >= c->nthousands &&
               memcmp(s + i, c->thousands, c->nthousands) == 0) {
      if (group == 0 || (ngroups == 1 ? group > 3 : group != 3))
        return "not_a_number";
      ngroups++;
      group = 0;
      i += c->nthousands;
    } else {
      break;
    }
  }
  if (ngroups > 1 && group != 3)
    return "not_a_number";
  if (ndig > NUM_MAX_DIGITS)
    return "out_of_range";
  if (o == int_start)
    out[o++] = '0';
  size_t nfrac = 0;
  *frac = 0;
  if (i < n && s[i] == c->decimal) {
    out[o++] = '.';
    i++;
    while (i < n && is_digit(s[i])) {
      nonzero |= s[i] != '0';
      out[o++] = s[i++];
      nfrac++;
    }
    /* "4994," is refused, not read as 4994: a dangling separator is
     * what a line cut inside its last field looks like (issue 14) */
    if (nfrac == 0)
      return "not_a_number";
    *frac = 1;
    if (nfrac > NUM_MAX_DIGITS)
      return "out_of_range";
  }
  if (i != n || ndig + nfrac == 0)
    return "not_a_number";
  /* No negative zero: "-0,00" is 0.00, as in PostgreSQL. */
  if (neg && !nonzero) {
    memmove(out, out + 1, o - 1);
    o--;
  }
  *outlen = o;
  return NULL;
}

/* Range check of a canonical integer (no fraction). */
static int int_fits(const char *s, size_t n, int big) {
  int neg = s[0] == '-';
  const char *d = s + neg;
  size_t nd = n - (size_t)neg;
  if (nd > 19)
    return 0;
  unsigned long long v = 0;
  for (size_t i = 0; i < nd; i++)
    v = v * 10 + (unsigned long long)(d[i] - '0');
  unsigned long long lim = big ? 9223372036854775807ULL : 2147483647ULL;
  return v <= lim + (unsigned long long)neg;
}

/* ---- reasons ----------------------------------------------------------- */

static const struct {
  const char *reason, *text;
} reasons[] = {
    {"missing_value", "The column is required (not_null or part of the "
                      "key), but the value is empty or missing."},
    {"nul_byte", "The value contains a NUL byte, which PostgreSQL text "
                 "cannot hold."},
    {"invalid_utf8", "The value is not valid UTF-8; check the source's "
                     "encoding setting."},
    {"not_a_number", "The value is not a number in the column's format "
                     "(sign, digits, decimal and thousands separators as "
                     "configured)."},
    {"not_an_integer", "The value has decimals, but the column is an "
                       "integer."},
    {"out_of_range", "The number is too large for the column's type."},
    {"not_a_date", "The value does not match the column's date format."},
    {"not_a_timestamp", "The value does not match the column's timestamp "
                        "format."},
    {"invalid_date", "The value is not a real calendar date."},
    {"invalid_time", "The value's time of day or UTC offset is out of "
                     "range."},
    {"not_a_boolean", "The value is none of the column's boolean words."},
    {"unmapped", "The value is not in the column's map, and the map has no "
                 "default."},
    {"age_negative", "The birth date is after the reference date."},
    {"age_out_of_range", "The age is below the first of the column's age "
                         "bands."},
};

const char *sp_rules_reason_text(const char *reason) {
  if (reason) {
    for (size_t i = 0; i < SP_ARRAY_LEN(reasons); i++)
      if (strcmp(reasons[i].reason, reason) == 0)
        return reasons[i].text;
    for (int code = -1; code >= -5; code--)
      if (strcmp(sp_cpr_reason(code), reason) == 0)
        return sp_cpr_reason_text(code);
  }
  return "The value does not satisfy the column's rule.";
}

/* ---- per-row computing ------------------------------------------------- */

static const sp_cpr *get_cpr(sp_rules *r, const rcol *c, const char *p,
                             size_t n, const char **reason) {
  cpr_slot *cs = &r->cpr[c->field];
  if (!cs->done) {
    cs->rc = sp_cpr_parse(p, n, &cs->cpr);
    cs->done = 1;
  }
  if (cs->rc != 0) {
    *reason = sp_cpr_reason(cs->rc);
    return NULL;
  }
  return &cs->cpr;
}

/* Age in whole years at y/m/d of someone born on by/bm/bd.  A birthday on
 * 29 February counts from 1 March in other years, as PostgreSQL's age()
 * does. */
static int age_at(int y, int m, int d, int by, int bm, int bd) {
  return y - by - (m < bm || (m == bm && d < bd));
}

/* Each compute_* below converts the trimmed field p/n of column c into
 * vals[set], as compute() describes; static, and called once each, so
 * that the compiler inlines them back into the per-row loop. */

static const char *compute_text(sp_rules *r, rcol *c, int set, const char *p,
                                size_t n) {
  if (memchr(p, '\0', n))
    return "nul_byte";
  /* One invalid byte would fail the whole COPY, not just this row. */
  if (!sp_utf8_valid(p, n))
    return "invalid_utf8";
  val_bytes(r, c, set, p, n);
  return NULL;
}

static const char *compute_number(sp_rules *r, rcol *c, int set, const char *p,
                                  size_t n) {
  char *o = val_begin(r, set, n + 2);
  size_t len;
  int frac;
  const char *why = parse_number(c, p, n, o, &len, &frac);
  if (why)
    return why;
  if (c->op != OP_NUMERIC) {
    if (frac)
      return "not_an_integer";
    if (!int_fits(o, len, c->op == OP_BIGINT))
      return "out_of_range";
  }
  val_end(r, c, set, o + len);
  return NULL;
}

static const char *compute_date(sp_rules *r, rcol *c, int set, const char *p,
                                size_t n) {
  dtime t;
  const char *why = parse_fmt(&c->fmt, p, n, c->src_ts, &t);
  if (why)
    return why;
  char *o = val_begin(r, set, 16);
  if (c->op == OP_DATE_YEAR) {
    o = put_uint(o, (unsigned long long)t.y); /* an integer: no 0 pad */
  } else {
    if (c->op == OP_DATE_MONTH)
      t.d = 1;
    o = put_date(o, t.y, t.mo, t.d);
    c->has_date = 1;
    c->y = t.y;
    c->m = t.mo;
    c->d = t.d;
  }
  val_end(r, c, set, o);
  return NULL;
}

static const char *compute_timestamp(sp_rules *r, rcol *c, int set,
                                     const char *p, size_t n) {
  dtime t;
  const char *why = parse_fmt(&c->fmt, p, n, 1, &t);
  if (why)
    return why;
  char *o = val_begin(r, set, 40);
  val_end(r, c, set, put_timestamp(o, &t));
  return NULL;
}

static const char *compute_bool(sp_rules *r, rcol *c, int set, const char *p,
                                size_t n) {
  char buf[64];
  if (n > sizeof buf)
    return "not_a_boolean";
  size_t k = sp_map_normalise(p, n, buf);
  for (size_t i = 0; i < c->nwords; i++)
    if (c->words[i].n == k && memcmp(c->words[i].w, buf, k) == 0) {
      char *o = val_begin(r, set, 1);
      *o = c->words[i].value ? 't' : 'f';
      val_end(r, c, set, o + 1);
      return NULL;
    }
  return "not_a_boolean";
}

/* The pseudonym of identifier id (len bytes, normalised) into raw, from
 * the memo when it is the column's last one. */
static void pseudonymise(rcol *c, const char *id, size_t len,
                         unsigned char raw[16]) {
  if (c->pz_old) {
    /* rekey: both keys on every row, no memo */
    sp_pseudonym_raw(c->pz, id, len, raw);
    sp_pseudonym_raw(c->pz_old, id, len, c->pseudo_old);
    return;
  }
  if (len && len == c->memo_len && memcmp(c->memo_in, id, len) == 0) {
    memcpy(raw, c->memo_out, 16);
    return;
  }
  sp_pseudonym_raw(c->pz, id, len, raw);
  c->memo_len = len && len <= sizeof c->memo_in ? len : 0;
  if (c->memo_len) {
    memcpy(c->memo_in, id, len);
    memcpy(c->memo_out, raw, 16);
  }
}

static const char *compute_pseudonym(sp_rules *r, rcol *c, int set,
                                     const char *p, size_t n) {
  unsigned char *raw = c->pseudo[set];
  if (c->kind_cpr) {
    const char *why = NULL;
    const sp_cpr *cpr = get_cpr(r, c, p, n, &why);
    if (!cpr)
      return why;
    pseudonymise(c, cpr->digits, 10, raw);
  } else {
    pseudonymise(c, p, n, raw);
  }
  char *o = val_begin(r, set, SP_UUID_LEN);
  sp_uuid_format(raw, o);
  val_end(r, c, set, o + SP_UUID_LEN);
  return NULL;
}

/* birth_year, birth_month, gender: read from a CPR number. */
static const char *compute_cpr_field(sp_rules *r, rcol *c, int set,
                                     const char *p, size_t n) {
  const char *why = NULL;
  const sp_cpr *cpr = get_cpr(r, c, p, n, &why);
  if (!cpr)
    return why;
  char *o = val_begin(r, set, 16);
  if (c->op == OP_BIRTH_YEAR) {
    o = put_uint(o, (unsigned long long)cpr->year);
  } else if (c->op == OP_BIRTH_MONTH) {
    o = put_date(o, cpr->year, cpr->month, 1);
    c->has_date = 1;
    c->y = cpr->year;
    c->m = cpr->month;
    c->d = 1;
  } else {
    const char *g = cpr->male ? "male" : "female";
    size_t gl = strlen(g);
    memcpy(o, g, gl);
    o += gl;
  }
  val_end(r, c, set, o);
  return NULL;
}

/* The birth date of an age column: its source is a date or a CPR number.
 * Returns NULL or a reject reason. */
static const char *birth_date(sp_rules *r, rcol *c, const char *p, size_t n,
                              int *by, int *bm, int *bd) {
  if (c->src_date) {
    dtime t;
    const char *why = parse_fmt(&c->fmt, p, n, c->src_ts, &t);
    if (why)
      return why;
    *by = t.y;
    *bm = t.mo;
    *bd = t.d;
  } else {
    const char *why = NULL;
    const sp_cpr *cpr = get_cpr(r, c, p, n, &why);
    if (!cpr)
      return why;
    *by = cpr->year;
    *bm = cpr->month;
    *bd = cpr->day;
  }
  return NULL;
}

static const char *compute_age(sp_rules *r, rcol *c, int set, const char *p,
                               size_t n) {
  int by = 0, bm = 0, bd = 0; /* GCC cannot see birth_date sets them */
  const char *why = birth_date(r, c, p, n, &by, &bm, &bd);
  if (why)
    return why;
  int ry = r->run_y, rm = r->run_m, rd = r->run_d;
  if (c->ref >= 0) {
    const rcol *rc = &r->cols[c->ref];
    /* No reference date in this row: no age (SQL's age(NULL)). */
    if (!rc->has_date)
      return NULL;
    ry = rc->y;
    rm = rc->m;
    rd = rc->d;
  }
  int age = age_at(ry, rm, rd, by, bm, bd);
  if (age < 0)
    return "age_negative";
  if (c->op == OP_AGE) {
    char *o = val_begin(r, set, 12);
    val_end(r, c, set, put_uint(o, (unsigned long long)age));
    return NULL;
  }
  if (age < c->bands[0])
    return "age_out_of_range";
  size_t b = c->nbands - 1;
  while (age < c->bands[b])
    b--;
  const char *l = c->labels[b];
  val_bytes(r, c, set, l, strlen(l));
  return NULL;
}

static const char *compute_lookup(sp_rules *r, rcol *c, int set, const char *p,
                                  size_t n) {
  if (memchr(p, '\0', n))
    return "nul_byte";
  const char *v;
  size_t vl;
  if (sp_map_lookup(c->map, p, n, &r->scratch, &v, &vl) == SP_MAP_UNMAPPED)
    return "unmapped";
  if (vl)
    val_bytes(r, c, set, v, vl);
  return NULL;
}

/*
 * Compute column c into vals[set].  Returns NULL (the value or NULL is
 * set) or a reject reason.  p/n is the raw field, p NULL when absent.
 */
static const char *compute(sp_rules *r, rcol *c, int set, const char *p,
                           size_t n) {
  c->null[set] = 1;
  c->has_date = 0;
  if (!p || n == 0)
    return NULL;
  if (c->op != OP_TEXT) {
    trim(&p, &n);
    if (n == 0)
      return NULL;
  }

  switch (c->op) {
  case OP_TEXT:
    return compute_text(r, c, set, p, n);
  case OP_INT:
  case OP_BIGINT:
  case OP_NUMERIC:
    return compute_number(r, c, set, p, n);
  case OP_DATE:
  case OP_DATE_MONTH:
  case OP_DATE_YEAR:
    return compute_date(r, c, set, p, n);
  case OP_TIMESTAMP:
    return compute_timestamp(r, c, set, p, n);
  case OP_BOOL:
    return compute_bool(r, c, set, p, n);
  case OP_PSEUDONYM:
    return compute_pseudonym(r, c, set, p, n);
  case OP_BIRTH_YEAR:
  case OP_BIRTH_MONTH:
  case OP_GENDER:
    return compute_cpr_field(r, c, set, p, n);
  case OP_AGE:
  case OP_AGE_BAND:
    return compute_age(r, c, set, p, n);
  case OP_LOOKUP:
    return compute_lookup(r, c, set, p, n);
  }
  return NULL;
}

/* ---- binary COPY rows -------------------------------------------------- */

/* A canonical integer's value (sign and digits, range checked). */
static long long canonical_int(const char *s, size_t n) {
  size_t i = s[0] == '-';
  unsigned long long v = 0;
  for (; i < n; i++)
    v = v * 10 + (unsigned long long)(s[i] - '0');
  return s[0] == '-' ? (long long)(0 - v) : (long long)v;
}

/* Four decimal digits at s (n of them, n <= 4; right-padded with zeros
 * when pad, as a fraction's last group is) as one base-10000 digit. */
static unsigned group_of(const char *s, size_t n, int pad) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (unsigned)(s[i] - '0');
  for (size_t i = n; pad && i < 4; i++)
    v *= 10;
  return v;
}

/*
 * A canonical numeric ("-12345.670") as numeric_send writes it: the
 * number of base-10000 digits, the weight of the first (its power of
 * 10000), the sign (0 or 0x4000), the display scale (the digits after the
 * point, so 12345.670 keeps its three), then the digits.  The integer
 * part's groups are aligned at the point from the right, the fraction's
 * from the left; zero groups at either end are allowed, and the server
 * drops them as it does for text input.  Returns the end.
 */
static char *put_numeric(char *o, const char *s, size_t n) {
  int neg = s[0] == '-';
  const char *ip = s + neg, *end = s + n;
  const char *dot = memchr(ip, '.', (size_t)(end - ip));
  size_t il = (size_t)((dot ? dot : end) - ip);
  if (il == 1 && ip[0] == '0')
    il = 0; /* "0.5": no integer groups */
  const char *fp = dot ? dot + 1 : end;
  size_t fl = (size_t)(end - fp);
  size_t ig = (il + 3) / 4, fg = (fl + 3) / 4;
  o = sp_put_be32(o, (uint32_t)(8 + 2 * (ig + fg)));
  o = sp_put_be16(o, (uint16_t)(ig + fg));
  o = sp_put_be16(o, (uint16_t)(int16_t)((int)ig - 1));
  o = sp_put_be16(o, neg ? 0x4000 : 0);
  o = sp_put_be16(o, (uint16_t)fl);
  size_t first = il - 4 * (ig ? ig - 1 : 0); /* digits of the top group */
  for (size_t g = 0, at = 0; g < ig; g++) {
    size_t k = g == 0 ? first : 4;
    o = sp_put_be16(o, (uint16_t)group_of(ip + at, k, 0));
    at += k;
  }
  for (size_t g = 0; g < fg; g++) {
    size_t k = fl - 4 * g < 4 ? fl - 4 * g : 4;
    o = sp_put_be16(o, (uint16_t)group_of(fp + 4 * g, k, 1));
  }
  return o;
}

/*
 * The row in binary COPY format, from the canonical values: the server
 * then parses no text (typed rows load in about a third of the time).
 * sp_rules_binary has checked every column has a binary form here.
 */
static void put_binary_row(sp_rules *r, int set, sp_buf *out) {
  /* 4 for the length; a numeric takes 8 + 2 per 4 digits, at most 16
   * more than its text; the fixed-size values at most 16 */
  size_t need = 2;
  for (size_t ci = 0; ci < r->ncols; ci++)
    need += 4 + (r->cols[ci].null[set] ? 0 : r->cols[ci].len[set] + 24);
  sp_buf_reserve(out, need + 1);
  char *o = sp_put_be16(out->data + out->len,
                        (uint16_t)(r->ncols + (size_t)r->extra));
  for (size_t ci = 0; ci < r->ncols; ci++) {
    const rcol *c = &r->cols[ci];
    if (c->null[set]) {
      o = sp_put_be32(o, 0xffffffffu);
      continue;
    }
    const char *v = r->vals[set].data + c->off[set];
    size_t n = c->len[set];
    switch (c->op) {
    case OP_PSEUDONYM:
      o = sp_put_be32(o, 16);
      memcpy(o, c->pseudo[set], 16);
      o += 16;
      break;
    case OP_INT:
    case OP_BIRTH_YEAR:
    case OP_AGE:
    case OP_DATE_YEAR:
      o = sp_put_be32(o, 4);
      o = sp_put_be32(o, (uint32_t)canonical_int(v, n));
      break;
    case OP_BIGINT:
      o = sp_put_be32(o, 8);
      o = sp_put_be64(o, (uint64_t)canonical_int(v, n));
      break;
    case OP_NUMERIC:
      o = put_numeric(o, v, n);
      break;
    case OP_DATE:
    case OP_DATE_MONTH:
    case OP_BIRTH_MONTH: {
      /* days since 2000-01-01, PostgreSQL's epoch */
      int y = (int)group_of(v, 4, 0), m = (int)group_of(v + 5, 2, 0),
          d = (int)group_of(v + 8, 2, 0);
      o = sp_put_be32(o, 4);
      o = sp_put_be32(o, (uint32_t)(days_from_civil(y, m, d) -
                                    days_from_civil(2000, 1, 1)));
      break;
    }
    case OP_BOOL:
      o = sp_put_be32(o, 1);
      *o++ = v[0] == 't';
      break;
    default: /* text: the UTF-8 bytes */
      o = sp_put_be32(o, (uint32_t)n);
      memcpy(o, v, n);
      o += n;
    }
  }
  out->len = (size_t)(o - out->data);
  out->data[out->len] = '\0';
}

int sp_rules_binary(sp_rules *r, int extra) {
  for (size_t ci = 0; ci < r->ncols; ci++)
    if (r->cols[ci].op == OP_TIMESTAMP)
      return -1;
  r->binary = 1;
  r->extra = extra;
  return 0;
}

static int reject(sp_reject_info *rej, int column, const char *reason) {
  if (rej) {
    rej->column = column;
    rej->reason = reason;
    rej->message = sp_rules_reason_text(reason);
  }
  return SP_ROW_REJECT;
}

int sp_rules_apply(sp_rules *r, const sp_field *fields, sp_buf *out,
                   sp_reject_info *rej) {
  int set = r->ok == 0 ? 1 : 0;
  sp_buf_reset(&r->vals[set]);
  for (size_t f = 0; f < r->nfields; f++)
    r->cpr[f].done = 0;
  if (rej) {
    rej->column = -1;
    rej->reason = NULL;
    rej->message = NULL;
  }

  /* Pseudonym columns first: a forgotten person is skipped before any
   * other column can send the row to the rejects. */
  int bad_col = -1;
  const char *bad_reason = NULL;
  for (size_t k = 0; k < r->npseudo; k++) {
    size_t ci = r->order[k];
    rcol *c = &r->cols[ci];
    const sp_field *fv = &fields[c->field];
    const char *why = compute(r, c, set, fv->ptr, fv->len);
    if (!why && c->null[set] && c->required)
      why = "missing_value";
    if (why && bad_col < 0) {
      bad_col = (int)ci;
      bad_reason = why;
    }
  }
  if (r->is_forgotten)
    for (size_t k = 0; k < r->npseudo; k++) {
      const rcol *c = &r->cols[r->order[k]];
      if (!c->null[set] && r->is_forgotten(r->ud, c->kind, c->pseudo[set]))
        return SP_ROW_SKIP;
    }
  if (r->was_forgotten)
    for (size_t k = 0; k < r->npseudo; k++) {
      const rcol *c = &r->cols[r->order[k]];
      if (!c->null[set] && c->pz_old &&
          r->was_forgotten(r->ud, c->kind, c->pseudo_old, c->pseudo[set]))
        return SP_ROW_SKIP;
    }
  if (bad_col >= 0)
    return reject(rej, bad_col, bad_reason);

  for (size_t k = r->npseudo; k < r->ncols; k++) {
    size_t ci = r->order[k];
    rcol *c = &r->cols[ci];
    const sp_field *fv = &fields[c->field];
    const char *why = compute(r, c, set, fv->ptr, fv->len);
    if (!why && c->null[set] && c->required)
      why = "missing_value";
    if (why)
      return reject(rej, (int)ci, why);
  }
  if (r->binary) {
    put_binary_row(r, set, out);
    r->ok = set;
    return SP_ROW_OK;
  }
  size_t need = 0;
  for (size_t ci = 0; ci < r->ncols; ci++) {
    const rcol *c = &r->cols[ci];
    need += c->null[set] ? 3 : (c->escape ? 2 * c->len[set] : c->len[set]) + 1;
  }

  sp_buf_reserve(out, need + 1);
  for (size_t ci = 0; ci < r->ncols; ci++) {
    const rcol *c = &r->cols[ci];
    if (c->null[set]) {
      memcpy(out->data + out->len, "\\N", 2);
      out->len += 2;
    } else if (c->escape) {
      sp_copy_escape(out, r->vals[set].data + c->off[set], c->len[set]);
    } else {
      memcpy(out->data + out->len, r->vals[set].data + c->off[set],
             c->len[set]);
      out->len += c->len[set];
    }
    if (ci + 1 < r->ncols)
      out->data[out->len++] = '\t';
  }
  out->data[out->len] = '\0';
  r->ok = set;
  return SP_ROW_OK;
}

const char *sp_rules_value(const sp_rules *r, size_t col, size_t *len) {
  if (len)
    *len = 0;
  if (r->ok < 0 || col >= r->ncols || r->cols[col].null[r->ok])
    return NULL;
  const rcol *c = &r->cols[col];
  if (len)
    *len = c->len[r->ok];
  return r->vals[r->ok].data + c->off[r->ok];
}

const unsigned char *sp_rules_pseudonym(const sp_rules *r, size_t col) {
  if (r->ok < 0 || col >= r->ncols || r->cols[col].op != OP_PSEUDONYM ||
      r->cols[col].null[r->ok])
    return NULL;
  return r->cols[col].pseudo[r->ok];
}

/* ---- comparing --------------------------------------------------------- */

/* Canonical numeric text: sign, integer digits (no leading zeros), point,
 * fraction.  Returns 0 when s is not of that form. */
static int split_num(const char *s, int *neg, const char **ip, size_t *il,
                     const char **fp, size_t *fl) {
  *neg = *s == '-';
  s += *neg;
  *ip = s;
  while (is_digit(*s))
    s++;
  *il = (size_t)(s - *ip);
  *fp = s;
  *fl = 0;
  if (*s == '.') {
    *fp = ++s;
    while (is_digit(*s))
      s++;
    *fl = (size_t)(s - *fp);
  }
  return *s == '\0' && *il > 0;
}

static int cmp_magnitude(const char *ia, size_t ila, const char *fa, size_t fla,
                         const char *ib, size_t ilb, const char *fb,
                         size_t flb) {
  /* Leading zeros are gone, except a lone "0", which sorts first anyway. */
  if (ila != ilb)
    return ila < ilb ? -1 : 1;
  int c = memcmp(ia, ib, ila);
  if (c)
    return c < 0 ? -1 : 1;
  size_t n = fla > flb ? fla : flb;
  for (size_t i = 0; i < n; i++) {
    char x = i < fla ? fa[i] : '0', y = i < flb ? fb[i] : '0';
    if (x != y)
      return x < y ? -1 : 1;
  }
  return 0;
}

static int cmp_numeric(const char *a, const char *b) {
  int na, nb;
  const char *ia, *fa, *ib, *fb;
  size_t ila, fla, ilb, flb;
  if (!split_num(a, &na, &ia, &ila, &fa, &fla) ||
      !split_num(b, &nb, &ib, &ilb, &fb, &flb))
    return strcmp(a, b);
  if (na != nb)
    return na ? -1 : 1;
  int m = cmp_magnitude(ia, ila, fa, fla, ib, ilb, fb, flb);
  return na ? -m : m;
}

/* Microseconds since the epoch of a canonical timestamp; 0 if not one. */
static int ts_key(const char *s, long long *key) {
  dtime t;
  if (parse_iso(s, strlen(s), 1, &t))
    return 0;
  long long secs = days_from_civil(t.y, t.mo, t.d) * 86400LL + t.h * 3600LL +
                   t.mi * 60LL + t.s - t.off * 60LL;
  *key = secs * 1000000LL + t.usec;
  return 1;
}

int sp_rules_compare(const sp_rules *r, size_t col, const char *a,
                     const char *b) {
  if (!a || !b)
    return a ? 1 : b ? -1 : 0;
  cmp_kind k = col < r->ncols ? r->cols[col].cmp : CMP_BYTES;
  if (k == CMP_INT || k == CMP_NUMERIC)
    return cmp_numeric(a, b);
  if (k == CMP_TIMESTAMP) {
    long long x, y;
    if (ts_key(a, &x) && ts_key(b, &y))
      return x < y ? -1 : x > y;
  }
  int c = strcmp(a, b);
  return c < 0 ? -1 : c > 0;
}

/* ---- preparing --------------------------------------------------------- */

static const char *const default_true[] = {"true", "t", "1", "ja", "yes"};
static const char *const default_false[] = {"false", "f", "0", "nej", "no"};

static int add_word(rcol *c, const char *w, int value, const char *name,
                    char *err, size_t errlen) {
  size_t l = strlen(w);
  char *n = sp_xmalloc(l + 1);
  size_t k = sp_map_normalise(w, l, n);
  n[k] = '\0';
  if (k == 0 || k > 64) {
    free(n);
    sp_set_err(err, errlen,
               "column '%s': boolean words must be 1 to 64 bytes and not only "
               "white space",
               name);
    return -1;
  }
  for (size_t i = 0; i < c->nwords; i++)
    if (c->words[i].n == k && memcmp(c->words[i].w, n, k) == 0) {
      free(n);
      if (c->words[i].value == value)
        return 0;
      sp_set_err(err, errlen,
                 "column '%s': the word '%s' is both a true and a false word",
                 name, w);
      return -1;
    }
  c->words = sp_xrealloc(c->words, (c->nwords + 1) * sizeof(bword));
  c->words[c->nwords++] = (bword){n, k, value};
  return 0;
}

static int setup_bool(rcol *c, const samspor_settings *s, const char *name,
                      char *err, size_t errlen) {
  for (int value = 1; value >= 0; value--) {
    const char *opt = value ? "true_words" : "false_words";
    const char *const *w;
    size_t n = sp_get_list(s, opt, &w);
    if (!sp_is_set(s, opt)) {
      w = value ? default_true : default_false;
      n = SP_ARRAY_LEN(default_true);
    }
    for (size_t i = 0; i < n; i++)
      if (add_word(c, w[i], value, name, err, errlen) != 0)
        return -1;
  }
  return 0;
}

static int setup_numbers(rcol *c, const samspor_settings *s, const char *name,
                         char *err, size_t errlen) {
  int comma = sp_get_bool(s, "decimal_comma");
  const char *ts = sp_get_string(s, "thousands_separator");
  c->decimal = comma ? ',' : '.';
  if (ts && *ts)
    c->thousands = ts;
  else if (comma)
    c->thousands = ".";
  c->nthousands = c->thousands ? strlen(c->thousands) : 0;
  if (c->thousands && (strchr(c->thousands, c->decimal) ||
                       strpbrk(c->thousands, "0123456789+-"))) {
    sp_set_err(err, errlen,
               "column '%s': thousands_separator must differ from the decimal "
               "separator ('%c'; decimal_comma = true makes it ',') and hold "
               "no digit or sign",
               name, c->decimal);
    return -1;
  }
  return 0;
}

static int setup_bands(rcol *c, const samspor_settings *s, const char *name,
                       char *err, size_t errlen) {
  const sp_value *v = sp_settings_value(s, "bands");
  if (!v || v->nlist == 0) {
    sp_set_err(
        err, errlen,
        "column '%s': rule age_band needs bands, e.g. [0, 6, 10, 15, 18, "
        "25, 30, 65]",
        name);
    return -1;
  }
  for (size_t i = 0; i < v->nlist; i++)
    if (v->ilist[i] < 0 || v->ilist[i] > 200 ||
        (i && v->ilist[i] <= v->ilist[i - 1])) {
      sp_set_err(err, errlen,
                 "column '%s': bands must be ascending ages from 0 to 200",
                 name);
      return -1;
    }
  c->nbands = v->nlist;
  c->bands = sp_xcalloc(v->nlist, sizeof(long long));
  c->labels = sp_xcalloc(v->nlist, sizeof(char *));
  for (size_t i = 0; i < v->nlist; i++) {
    c->bands[i] = v->ilist[i];
    if (i + 1 < v->nlist && v->ilist[i + 1] - 1 == v->ilist[i])
      c->labels[i] = sp_xasprintf("%lld", v->ilist[i]);
    else if (i + 1 < v->nlist)
      c->labels[i] =
          sp_xasprintf("%lld-%lld", v->ilist[i], v->ilist[i + 1] - 1);
    else
      c->labels[i] = sp_xasprintf("%lld+", v->ilist[i]);
  }
  return 0;
}

static int setup_pseudonym(sp_rules *r, rcol *c, const samspor_settings *s,
                           const sp_rules_env *env, const char *name, char *err,
                           size_t errlen) {
  const char *kind = sp_get_string(s, "kind");
  if (!kind || !*kind) {
    sp_set_err(err, errlen,
               "column '%s': rule pseudonym needs kind (cpr, or a name such "
               "as tenancy)",
               name);
    return SAMSPOR_ECONFIG;
  }
  if (!env->key) {
    sp_set_err(err, errlen,
               "column '%s' has rule pseudonym, but no pseudonymisation key "
               "is loaded",
               name);
    return SAMSPOR_EINVAL;
  }
  for (size_t i = 0; i < r->nkinds; i++)
    if (strcmp(r->kinds[i], kind) == 0) {
      c->pz = r->pz[i];
      c->pz_old = r->pz_old[i];
      c->kind = r->kinds[i];
      c->kind_cpr = strcmp(kind, "cpr") == 0;
      return 0;
    }
  sp_pseudonymiser *pz = sp_pseudonymiser_new(env->key, kind);
  if (!pz) {
    sp_set_err(err, errlen,
               "column '%s': cannot allocate protected memory for the "
               "pseudonymiser",
               name);
    return SAMSPOR_ENOMEM;
  }
  sp_pseudonymiser *pz_old = NULL;
  if (env->old_key && !(pz_old = sp_pseudonymiser_new(env->old_key, kind))) {
    sp_pseudonymiser_free(pz);
    sp_set_err(err, errlen,
               "column '%s': cannot allocate protected memory for the "
               "pseudonymiser",
               name);
    return SAMSPOR_ENOMEM;
  }
  r->pz = sp_xrealloc(r->pz, (r->nkinds + 1) * sizeof *r->pz);
  r->pz_old = sp_xrealloc(r->pz_old, (r->nkinds + 1) * sizeof *r->pz_old);
  r->kinds = sp_xrealloc(r->kinds, (r->nkinds + 1) * sizeof *r->kinds);
  r->pz[r->nkinds] = pz;
  r->pz_old[r->nkinds] = pz_old;
  r->kinds[r->nkinds] = sp_xstrdup(kind);
  c->pz = pz;
  c->pz_old = pz_old;
  c->kind = r->kinds[r->nkinds];
  c->kind_cpr = strcmp(kind, "cpr") == 0;
  r->nkinds++;
  return 0;
}

static int setup_lookup(sp_rules *r, rcol *c, const samspor_settings *s,
                        const sp_rules_env *env, const char *name, char *err,
                        size_t errlen) {
  const char *mname = sp_get_string(s, "map");
  if (!mname) {
    sp_set_err(err, errlen, "column '%s': rule lookup needs map (one of maps)",
               name);
    return SAMSPOR_ECONFIG;
  }
  for (size_t i = 0; i < r->nmaps; i++)
    if (strcmp(sp_map_name(r->maps[i]), mname) == 0) {
      c->map = r->maps[i];
      return 0;
    }
  samspor_settings *const *items = NULL;
  size_t n = env->config && env->config->root
                 ? sp_get_items(env->config->root, "maps", &items)
                 : 0;
  for (size_t i = 0; i < n; i++) {
    if (!sp_streq(items[i]->name, mname))
      continue;
    sp_map *m;
    int rc = sp_map_load(items[i], &m, err, errlen);
    if (rc != 0)
      return rc;
    r->maps = sp_xrealloc(r->maps, (r->nmaps + 1) * sizeof *r->maps);
    r->maps[r->nmaps++] = m;
    c->map = m;
    return 0;
  }
  sp_set_err(err, errlen, "column '%s': map '%s' is not defined in maps", name,
             mname);
  return SAMSPOR_ECONFIG;
}

/* Rules whose value is a date an age can be measured at. */
static int gives_date(rule_op op) {
  return op == OP_DATE || op == OP_BIRTH_MONTH || op == OP_DATE_MONTH;
}

static int setup_column(sp_rules *r, size_t ci, const sp_rules_env *env,
                        char *err, size_t errlen) {
  const sp_column *col = &r->st->columns[ci];
  const samspor_settings *s = col->s;
  rcol *c = &r->cols[ci];
  const char *name = col->name ? col->name : "?";
  const char *rule = sp_rule_def_of(col->rule)->name;
  const char *type = sp_get_string(s, "type");
  int type_set = sp_is_set(s, "type");
  /* The computation of each rule but keep (ruletab.h has the rest). */
  static const rule_op by_rule[SP_RULE_COUNT] = {
      [SP_RULE_PSEUDONYM] = OP_PSEUDONYM,
      [SP_RULE_CPR_BIRTH_YEAR] = OP_BIRTH_YEAR,
      [SP_RULE_CPR_BIRTH_MONTH] = OP_BIRTH_MONTH,
      [SP_RULE_CPR_GENDER] = OP_GENDER,
      [SP_RULE_AGE] = OP_AGE,
      [SP_RULE_AGE_BAND] = OP_AGE_BAND,
      [SP_RULE_DATE_MONTH] = OP_DATE_MONTH,
      [SP_RULE_DATE_YEAR] = OP_DATE_YEAR,
      [SP_RULE_LOOKUP] = OP_LOOKUP,
  };
  static const struct {
    const char *type;
    rule_op op;
  } types[] = {{"text", OP_TEXT},     {"int", OP_INT},
               {"bigint", OP_BIGINT}, {"numeric", OP_NUMERIC},
               {"date", OP_DATE},     {"timestamp", OP_TIMESTAMP},
               {"boolean", OP_BOOL}};

  c->field = col->field;
  c->ref = -1;
  c->required = sp_get_bool(s, "not_null");
  const char *const *key;
  size_t nkey = sp_get_list(r->st->s, "key", &key);
  for (size_t i = 0; i < nkey; i++)
    if (sp_streq(key[i], col->name))
      c->required = 1;

  int found = 0;
  if (col->rule == SP_RULE_KEEP) {
    for (size_t i = 0; i < SP_ARRAY_LEN(types); i++)
      if (sp_streq(type, types[i].type)) {
        c->op = types[i].op;
        found = 1;
      }
  } else if ((unsigned)col->rule < SP_RULE_COUNT) {
    c->op = by_rule[col->rule];
    found = 1;
  }
  if (!found) {
    sp_set_err(err, errlen, "column '%s': unknown rule '%s' or type '%s'", name,
               rule, type ? type : "(none)");
    return SAMSPOR_ECONFIG;
  }

  switch (c->op) {
  case OP_INT:
  case OP_BIGINT:
  case OP_BIRTH_YEAR:
  case OP_AGE:
  case OP_DATE_YEAR:
    c->cmp = CMP_INT;
    break;
  case OP_NUMERIC:
    c->cmp = CMP_NUMERIC;
    break;
  case OP_TIMESTAMP:
    c->cmp = CMP_TIMESTAMP;
    break;
  default:
    c->cmp = CMP_BYTES;
  }
  c->escape = c->op == OP_TEXT || c->op == OP_LOOKUP;

  int need_fmt = 0;
  switch (c->op) {
  case OP_INT:
  case OP_BIGINT:
  case OP_NUMERIC:
    if (setup_numbers(c, s, name, err, errlen) != 0)
      return SAMSPOR_ECONFIG;
    break;
  case OP_DATE:
  case OP_TIMESTAMP:
    need_fmt = 1;
    break;
  case OP_DATE_MONTH:
  case OP_DATE_YEAR:
    need_fmt = 1;
    c->src_ts = type_set && sp_streq(type, "timestamp");
    break;
  case OP_AGE:
  case OP_AGE_BAND:
    /* A CPR number unless the column says its input is a date. */
    c->src_ts = type_set && sp_streq(type, "timestamp");
    c->src_date = c->src_ts || (type_set && sp_streq(type, "date"));
    need_fmt = c->src_date;
    if (c->op == OP_AGE_BAND && setup_bands(c, s, name, err, errlen) != 0)
      return SAMSPOR_ECONFIG;
    break;
  case OP_BOOL:
    if (setup_bool(c, s, name, err, errlen) != 0)
      return SAMSPOR_ECONFIG;
    break;
  case OP_PSEUDONYM:
    return setup_pseudonym(r, c, s, env, name, err, errlen);
  case OP_LOOKUP:
    return setup_lookup(r, c, s, env, name, err, errlen);
  default:
    break;
  }
  if (need_fmt) {
    char ferr[200];
    if (compile_fmt(sp_get_string(s, "format"), &c->fmt, ferr, sizeof ferr) !=
        0) {
      sp_set_err(err, errlen, "column '%s': %s", name, ferr);
      return SAMSPOR_ECONFIG;
    }
  }
  return 0;
}

/* Second pass: references between columns, once every op is known. */
static int setup_reference(sp_rules *r, size_t ci, char *err, size_t errlen) {
  rcol *c = &r->cols[ci];
  if (c->op != OP_AGE && c->op != OP_AGE_BAND)
    return 0;
  const char *name = r->st->columns[ci].name;
  const char *ref = sp_get_string(r->st->columns[ci].s, "reference");
  if (!ref || strcmp(ref, "run_date") == 0) {
    if (r->run_m < 1 || r->run_m > 12 || r->run_d < 1 ||
        r->run_d > days_in_month(r->run_y, r->run_m)) {
      sp_set_err(err, errlen, "column '%s': the run date is not a real date",
                 name ? name : "?");
      return SAMSPOR_EINVAL;
    }
    return 0;
  }
  for (size_t i = 0; i < r->ncols; i++)
    if (sp_streq(r->st->columns[i].name, ref) && gives_date(r->cols[i].op)) {
      c->ref = (int)i;
      return 0;
    }
  sp_set_err(
      err, errlen,
      "column '%s': reference '%s' is neither run_date nor a date column "
      "of this stream",
      name ? name : "?", ref);
  return SAMSPOR_ECONFIG;
}

int sp_rules_new(const sp_stream *st, const sp_rules_env *env, sp_rules **out,
                 char *err, size_t errlen) {
  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  sp_rules *r = sp_xcalloc(1, sizeof *r);
  r->st = st;
  r->ncols = st->ncolumns;
  r->cols = sp_xcalloc(r->ncols ? r->ncols : 1, sizeof(rcol));
  r->order = sp_xcalloc(r->ncols ? r->ncols : 1, sizeof(size_t));
  r->nfields = st->nfields;
  r->cpr = sp_xcalloc(r->nfields ? r->nfields : 1, sizeof(cpr_slot));
  r->ok = -1;
  r->run_y = env->run_year;
  r->run_m = env->run_month;
  r->run_d = env->run_day;
  r->is_forgotten = env->is_forgotten;
  r->was_forgotten = env->old_key ? env->was_forgotten : NULL;
  r->ud = env->ud;
  sp_buf_init(&r->vals[0]);
  sp_buf_init(&r->vals[1]);
  sp_buf_init(&r->scratch);

  int rc = 0;
  for (size_t i = 0; i < r->ncols && rc == 0; i++) {
    if (st->columns[i].field >= st->nfields) {
      sp_set_err(err, errlen, "column '%s' has no source field",
                 st->columns[i].name ? st->columns[i].name : "?");
      rc = SAMSPOR_EINVAL;
      break;
    }
    rc = setup_column(r, i, env, err, errlen);
  }
  for (size_t i = 0; i < r->ncols && rc == 0; i++)
    rc = setup_reference(r, i, err, errlen);
  if (rc != 0) {
    sp_rules_free(r);
    return rc;
  }

  /* Computing order: pseudonyms (for the forgotten check), then the rest
   * as declared, then ages measured at another column, which by then has
   * its date for the row. */
  size_t k = 0;
  for (size_t i = 0; i < r->ncols; i++)
    if (r->cols[i].op == OP_PSEUDONYM)
      r->order[k++] = i;
  r->npseudo = k;
  for (size_t i = 0; i < r->ncols; i++)
    if (r->cols[i].op != OP_PSEUDONYM && r->cols[i].ref < 0)
      r->order[k++] = i;
  for (size_t i = 0; i < r->ncols; i++)
    if (r->cols[i].ref >= 0)
      r->order[k++] = i;
  *out = r;
  return 0;
}

void sp_rules_free(sp_rules *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->ncols; i++) {
    rcol *c = &r->cols[i];
    for (size_t w = 0; w < c->nwords; w++)
      free(c->words[w].w);
    free(c->words);
    for (size_t b = 0; b < c->nbands; b++)
      free(c->labels[b]);
    free(c->labels);
    free(c->bands);
  }
  /* The row buffers and the CPR cache held the last rows' values (free
   * text, CPR digits, addresses): wipe them before they go back to the
   * heap. */
  for (int s = 0; s < 2; s++) {
    sp_wipe(r->vals[s].data, r->vals[s].cap);
    sp_buf_free(&r->vals[s]);
  }
  sp_wipe(r->scratch.data, r->scratch.cap);
  sp_buf_free(&r->scratch);
  sp_wipe(r->cpr, (r->nfields ? r->nfields : 1) * sizeof(cpr_slot));
  free(r->cpr);
  sp_wipe(r->cols, (r->ncols ? r->ncols : 1) * sizeof(rcol));
  free(r->cols);
  free(r->order);
  for (size_t i = 0; i < r->nkinds; i++) {
    sp_pseudonymiser_free(r->pz[i]);
    sp_pseudonymiser_free(r->pz_old[i]);
    free(r->kinds[i]);
  }
  free(r->pz);
  free(r->pz_old);
  free(r->kinds);
  for (size_t i = 0; i < r->nmaps; i++)
    sp_map_free(r->maps[i]);
  free(r->maps);
  free(r);
}

void sp_rules_absorb(const sp_rules *r, sp_absorb_fn absorb, void *ud) {
  absorb(ud, &r->nmaps, sizeof r->nmaps);
  for (size_t i = 0; i < r->nmaps; i++)
    sp_map_absorb(r->maps[i], absorb, ud);
  /* An age at the run date changes with the date alone. */
  int dated = 0;
  for (size_t i = 0; i < r->ncols; i++)
    dated |= (r->cols[i].op == OP_AGE || r->cols[i].op == OP_AGE_BAND) &&
             r->cols[i].ref < 0;
  absorb(ud, &dated, sizeof dated);
  if (dated) {
    int ymd[3] = {r->run_y, r->run_m, r->run_d};
    absorb(ud, ymd, sizeof ymd);
  }
}
