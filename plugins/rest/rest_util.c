#include "config.h"

/*
 * rest_util.c — Link headers, Retry-After, ${cursor}, query parameters,
 * redacted URLs.  See rest_util.h for the contract.
 */

#include "rest_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samspor-plugin.h"

#define PLACEHOLDER "${cursor}"
#define PLACEHOLDER_LEN (sizeof PLACEHOLDER - 1)

/* ---- small character classes (ASCII, locale-independent) --------------- */

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* RFC 9110 tchar: the characters of a token. */
static int is_tchar(char c) {
  return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int ascii_caseeq(const char *a, size_t alen, const char *b) {
  size_t i, blen = strlen(b);
  if (alen != blen)
    return 0;
  for (i = 0; i < alen; i++)
    if (lower(a[i]) != lower(b[i]))
      return 0;
  return 1;
}

/* ---- Link ------------------------------------------------------------- */

/* The index just past the quoted-string starting at v[i] == '"', or 0
 * when it is not closed. */
static size_t quoted_end(const char *v, size_t len, size_t i) {
  for (i++; i < len; i++) {
    if (v[i] == '\\')
      i++;
    else if (v[i] == '"')
      return i + 1;
  }
  return 0;
}

/* The index of the next comma that separates links at or after i (not one
 * inside <...> or a quoted string), or len. */
static size_t skip_to_comma(const char *v, size_t len, size_t i) {
  while (i < len && v[i] != ',') {
    if (v[i] == '"') {
      size_t e = quoted_end(v, len, i);
      i = e ? e : len;
    } else if (v[i] == '<') {
      const char *gt = memchr(v + i, '>', len - i);
      i = gt ? (size_t)(gt - v) + 1 : len;
    } else {
      i++;
    }
  }
  return i;
}

/*
 * Whether a rel value (a token, or a quoted string of [s, s+n) with its
 * quotes removed and escapes still in) lists "next" among its
 * space-separated relation types.
 */
static int rel_has_next(const char *s, size_t n) {
  static const char want[] = "next";
  size_t i, wlen = 0;
  int match = 1;
  for (i = 0; i <= n; i++) {
    char c;
    if (i == n) {
      c = ' ';
    } else if (s[i] == '\\' && i + 1 < n) {
      c = s[++i];
    } else {
      c = s[i];
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (wlen == 4 && match)
        return 1;
      wlen = 0;
      match = 1;
      continue;
    }
    if (wlen >= 4 || lower(c) != want[wlen])
      match = 0;
    wlen++;
  }
  return 0;
}

int rest_link_next(const char *v, size_t len, char **target) {
  size_t i = 0;

  *target = NULL;
  while (i < len) {
    size_t us, ue;
    const char *gt;
    int rel_seen = 0, next = 0, anchor = 0, bad = 0;

    while (i < len && (is_ows(v[i]) || v[i] == ','))
      i++;
    if (i >= len)
      break;
    if (v[i] != '<') {
      i = skip_to_comma(v, len, i);
      continue;
    }
    gt = memchr(v + i, '>', len - i);
    if (!gt)
      return 0; /* an unclosed target: nothing usable follows */
    us = i + 1;
    ue = (size_t)(gt - v);
    i = ue + 1;

    for (;;) {
      size_t ns, ne, vs = 0, ve = 0;
      int has_value = 0;
      while (i < len && is_ows(v[i]))
        i++;
      if (i >= len || v[i] == ',')
        break;
      if (v[i] != ';') {
        bad = 1;
        break;
      }
      i++;
      while (i < len && is_ows(v[i]))
        i++;
      ns = i;
      while (i < len && is_tchar(v[i]))
        i++;
      ne = i;
      if (ne == ns) {
        if (i >= len || v[i] == ',' || v[i] == ';')
          continue; /* an empty parameter (";;"): tolerated */
        bad = 1;
        break;
      }
      while (i < len && is_ows(v[i]))
        i++;
      if (i < len && v[i] == '=') {
        i++;
        while (i < len && is_ows(v[i]))
          i++;
        has_value = 1;
        if (i < len && v[i] == '"') {
          size_t end = quoted_end(v, len, i);
          if (!end) {
            bad = 1;
            break;
          }
          vs = i + 1;
          ve = end - 1;
          i = end;
        } else {
          vs = i;
          while (i < len && is_tchar(v[i]))
            i++;
          ve = i;
        }
      }
      if (ascii_caseeq(v + ns, ne - ns, "rel")) {
        if (!rel_seen && has_value)
          next = rel_has_next(v + vs, ve - vs);
        rel_seen = 1;
      } else if (ascii_caseeq(v + ns, ne - ns, "anchor")) {
        anchor = 1;
      }
    }
    if (bad) {
      i = skip_to_comma(v, len, i);
      continue;
    }
    if (next && !anchor) {
      char *t;
      while (us < ue && is_ows(v[us]))
        us++;
      while (ue > us && is_ows(v[ue - 1]))
        ue--;
      t = malloc(ue - us + 1);
      if (!t)
        return SAMSPOR_ENOMEM;
      memcpy(t, v + us, ue - us);
      t[ue - us] = '\0';
      *target = t;
      return 1;
    }
  }
  return 0;
}

/* ---- Retry-After ------------------------------------------------------ */

/* 0-based month of a three-letter English month name, or -1. */
static int month_of(const char *m) {
  static const char *const names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                      "jul", "aug", "sep", "oct", "nov", "dec"};
  int i;
  if (strlen(m) != 3)
    return -1;
  for (i = 0; i < 12; i++)
    if (ascii_caseeq(m, 3, names[i]))
      return i;
  return -1;
}

/* Seconds since the epoch of an HTTP-date, or -1. */
static long long http_date(const char *s) {
  int d = 0, y = 0, hh = 0, mm = 0, ss = 0, n = -1, mon;
  char mname[4] = "";
  struct tm tm;
  size_t len = strlen(s);
  time_t t;

  /* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", then the obsolete RFC
   * 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6
   * 08:49:37 1994" forms; %n checks that nothing follows. */
  if (sscanf(s, "%*[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &d, mname,
             &y, &hh, &mm, &ss, &n) != 6 ||
      (size_t)n != len) {
    n = -1;
    if (sscanf(s, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &d, mname,
               &y, &hh, &mm, &ss, &n) == 6 &&
        (size_t)n == len) {
      y += y < 70 ? 2000 : 1900;
    } else {
      n = -1;
      if (sscanf(s, "%*[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", mname, &d,
                 &hh, &mm, &ss, &y, &n) != 6 ||
          (size_t)n != len)
        return -1;
    }
  }
  mon = month_of(mname);
  if (mon < 0 || d < 1 || d > 31 || y < 1970 || y > 9999 || hh < 0 || hh > 23 ||
      mm < 0 || mm > 59 || ss < 0 || ss > 60)
    return -1;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = d;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  t = timegm(&tm);
  return t == (time_t)-1 ? -1 : (long long)t;
}

int rest_retry_after(const char *value, time_t now, double *seconds) {
  char buf[64];
  size_t n, i;
  const char *s = value;
  double v = 0;
  long long t;

  if (!s)
    return -1;
  while (is_ows(*s))
    s++;
  n = strlen(s);
  while (n && (is_ows(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n'))
    n--;
  if (n == 0 || n >= sizeof buf)
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  for (i = 0; i < n && is_digit(buf[i]); i++)
    if (v < 1e9)
      v = v * 10 + (buf[i] - '0');
  if (i == n) {
    *seconds = v < 1e9 ? v : 1e9;
    return 0;
  }
  t = http_date(buf);
  if (t < 0)
    return -1;
  v = (double)(t - (long long)now);
  *seconds = v < 0 ? 0 : v < 1e9 ? v : 1e9;
  return 0;
}

/* ---- ${cursor} -------------------------------------------------------- */

int rest_template_check(const char *tmpl, char *err, size_t errlen) {
  const char *p = tmpl;
  while (p && (p = strstr(p, "${")) != NULL) {
    if (strncmp(p, PLACEHOLDER, PLACEHOLDER_LEN) != 0) {
      snprintf(err, errlen,
               "unknown placeholder at byte %zu: only ${cursor} is "
               "substituted",
               (size_t)(p - tmpl) + 1);
      return SAMSPOR_EINVAL;
    }
    p += PLACEHOLDER_LEN;
  }
  return 0;
}

static int is_unreserved(unsigned char c) {
  return is_alpha((char)c) || is_digit((char)c) || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

/* Bytes `s` takes escaped. */
static size_t escaped_len(const char *s, rest_escape esc) {
  const unsigned char *p;
  size_t n = 0;
  for (p = (const unsigned char *)s; *p; p++) {
    if (esc == REST_ESC_URL)
      n += is_unreserved(*p) ? 1 : 3;
    else if (*p == '"' || *p == '\\')
      n += 2;
    else if (*p < 0x20)
      n += 6;
    else
      n += 1;
  }
  return n;
}

/* Write s escaped at o; returns the end. */
static char *escape_into(char *o, const char *s, rest_escape esc) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *p;
  for (p = (const unsigned char *)s; *p; p++) {
    if (esc == REST_ESC_URL) {
      if (is_unreserved(*p)) {
        *o++ = (char)*p;
      } else {
        *o++ = '%';
        *o++ = hex[*p >> 4];
        *o++ = hex[*p & 15];
      }
    } else if (*p == '"' || *p == '\\') {
      *o++ = '\\';
      *o++ = (char)*p;
    } else if (*p < 0x20) {
      o += sprintf(o, "\\u%04x", *p);
    } else {
      *o++ = (char)*p;
    }
  }
  return o;
}

int rest_subst_cursor(const char *tmpl, const char *cursor, rest_escape esc,
                      char **out) {
  const char *p, *hit;
  size_t count = 0, clen, n;
  char *o, *res;

  if (!cursor)
    cursor = "";
  for (p = tmpl; (hit = strstr(p, PLACEHOLDER)) != NULL;
       p = hit + PLACEHOLDER_LEN)
    count++;
  clen = escaped_len(cursor, esc);
  n = strlen(tmpl) - count * PLACEHOLDER_LEN + count * clen;
  res = o = malloc(n + 1);
  if (!res)
    return SAMSPOR_ENOMEM;
  for (p = tmpl; (hit = strstr(p, PLACEHOLDER)) != NULL;
       p = hit + PLACEHOLDER_LEN) {
    memcpy(o, p, (size_t)(hit - p));
    o += hit - p;
    o = escape_into(o, cursor, esc);
  }
  strcpy(o, p);
  *out = res;
  return 0;
}

/* ---- query parameters ------------------------------------------------- */

int rest_url_encode(const char *s, char **out) {
  char *res = malloc(escaped_len(s, REST_ESC_URL) + 1);
  if (!res)
    return SAMSPOR_ENOMEM;
  *escape_into(res, s, REST_ESC_URL) = '\0';
  *out = res;
  return 0;
}

int rest_url_set_param(const char *url, const char *name, const char *value,
                       char **out) {
  size_t ulen = strcspn(url, "#");
  const char *q = memchr(url, '?', ulen);
  size_t base = q ? (size_t)(q - url) : ulen;
  size_t nlen = strlen(name), elen = escaped_len(name, REST_ESC_URL);
  size_t cap = ulen + 2 + elen + 1 + escaped_len(value, REST_ESC_URL) + 1;
  char *res = malloc(cap), *o;
  char *ename = malloc(elen + 1);
  int first = 1;

  if (!res || !ename) {
    free(res);
    free(ename);
    return SAMSPOR_ENOMEM;
  }
  *escape_into(ename, name, REST_ESC_URL) = '\0';
  memcpy(res, url, base);
  o = res + base;
  *o++ = '?';
  if (q) {
    const char *p = q + 1, *end = url + ulen;
    while (p < end) {
      const char *amp = memchr(p, '&', (size_t)(end - p));
      const char *pe = amp ? amp : end;
      size_t plen = (size_t)(pe - p);
      const char *eq = memchr(p, '=', plen);
      size_t klen = eq ? (size_t)(eq - p) : plen;
      int same = (klen == nlen && !memcmp(p, name, nlen)) ||
                 (klen == elen && !memcmp(p, ename, elen));
      if (plen && !same) {
        if (!first)
          *o++ = '&';
        memcpy(o, p, plen);
        o += plen;
        first = 0;
      }
      p = amp ? amp + 1 : end;
    }
  }
  if (!first)
    *o++ = '&';
  memcpy(o, ename, elen);
  o += elen;
  *o++ = '=';
  o = escape_into(o, value, REST_ESC_URL);
  *o = '\0';
  free(ename);
  *out = res;
  return 0;
}

/* ---- redaction -------------------------------------------------------- */

typedef struct outbuf {
  char *buf;
  size_t size, len;
  int full;
} outbuf;

static void put(outbuf *b, const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n && !b->full; i++) {
    unsigned char c = (unsigned char)s[i];
    if (b->len + 4 >= b->size) { /* keep room for "..." and the NUL */
      b->full = 1;
      break;
    }
    b->buf[b->len++] = c > 0x20 && c < 0x7f ? (char)c : '?';
  }
}

void rest_url_redact(const char *url, char *buf, size_t size) {
  outbuf b = {buf, size, 0, 0};
  const char *p = url, *sep, *auth_end, *at, *q, *end;

  if (!size)
    return;
  if (size < 8) {
    buf[0] = '\0';
    return;
  }
  end = url + strcspn(url, "#");
  sep = strstr(url, "://");
  if (sep && sep < end) {
    put(&b, url, (size_t)(sep + 3 - url));
    p = sep + 3;
    auth_end = p + strcspn(p, "/?#");
    at = NULL;
    for (q = p; q < auth_end; q++)
      if (*q == '@')
        at = q;
    if (at)
      p = at + 1;
  }
  q = memchr(p, '?', (size_t)(end - p));
  put(&b, p, (size_t)((q ? q : end) - p));
  if (q) {
    const char *s = q + 1;
    put(&b, "?", 1);
    while (s < end) {
      const char *amp = memchr(s, '&', (size_t)(end - s));
      const char *pe = amp ? amp : end;
      const char *eq = memchr(s, '=', (size_t)(pe - s));
      put(&b, s, (size_t)((eq ? eq : pe) - s));
      if (eq)
        put(&b, "=...", 4);
      if (amp)
        put(&b, "&", 1);
      s = amp ? amp + 1 : end;
    }
  }
  if (b.full) {
    memcpy(b.buf + b.len, "...", 3);
    b.len += 3;
  }
  b.buf[b.len] = '\0';
}
