#include "config.h"

/*
 * xml_state.c — the files-loaded state of the xml plugin (see
 * xml_state.h).  Hand-written rather than jansson: the format is this
 * small, and jansson would turn the \u00XX of a name that is not UTF-8
 * back into a character rather than the byte it stands for.
 */

#include "xml_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlstring.h>

void xml_state_free(xml_state *s) {
  size_t i;
  for (i = 0; i < s->n; i++)
    free(s->v[i].name);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  return p;
}

/* Parse the JSON string at *pp (at its '"') into a malloc'd *out, the
 * inverse of json_string (\u00XX is the byte XX).  Returns 0, 1 when
 * malformed, or SAMSPOR_ENOMEM. */
static int parse_string(const char **pp, char **out) {
  const char *p = *pp + 1, *q;
  size_t n = 0;
  char *o;

  *out = NULL;
  /* the decoded text is never longer than the JSON text */
  for (q = p; *q && *q != '"'; q++)
    if (*q == '\\' && q[1])
      q++;
  if (*q != '"')
    return 1;
  o = malloc((size_t)(q - p) + 1);
  if (!o)
    return SAMSPOR_ENOMEM;
  while (*p != '"') {
    unsigned char c = (unsigned char)*p++;
    if (c != '\\') {
      o[n++] = (char)c;
      continue;
    }
    c = (unsigned char)*p++;
    if (c == 'u') {
      unsigned v = 0;
      int i;
      for (i = 0; i < 4; i++) {
        int d = hexval(p[i]);
        if (d < 0)
          goto bad;
        v = v * 16 + (unsigned)d;
      }
      p += 4;
      if (v == 0 || v > 0xff) /* never written by json_string */
        goto bad;
      o[n++] = (char)v;
    } else if (c == '"' || c == '\\' || c == '/') {
      o[n++] = (char)c;
    } else {
      goto bad;
    }
  }
  o[n] = '\0';
  *pp = p + 1;
  *out = o;
  return 0;
bad:
  free(o);
  return 1;
}

/* Parse one {"name":...,"size":...,"mtime":...} object at *pp into *e
 * (keys in any order; others with string or number values ignored).
 * Returns 0, 1 when malformed, or SAMSPOR_ENOMEM. */
static int parse_entry(const char **pp, xml_seen *e) {
  const char *p = skip_ws(*pp);
  int rc;

  e->name = NULL;
  e->size = e->mtime = -1;
  if (*p++ != '{')
    return 1;
  for (;;) {
    char *key, *val;
    p = skip_ws(p);
    if (*p != '"')
      return 1;
    if ((rc = parse_string(&p, &key)) != 0)
      return rc;
    p = skip_ws(p);
    if (*p++ != ':') {
      free(key);
      return 1;
    }
    p = skip_ws(p);
    if (*p == '"') {
      if ((rc = parse_string(&p, &val)) != 0) {
        free(key);
        return rc;
      }
      if (!strcmp(key, "name")) {
        free(e->name);
        e->name = val;
      } else {
        free(val);
      }
    } else {
      char *end;
      long long num = strtoll(p, &end, 10);
      if (end == p) {
        free(key);
        return 1;
      }
      p = end;
      if (!strcmp(key, "size"))
        e->size = num;
      else if (!strcmp(key, "mtime"))
        e->mtime = num;
    }
    free(key);
    p = skip_ws(p);
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p++ != '}')
      return 1;
    *pp = p;
    return e->name ? 0 : 1;
  }
}

int xml_state_parse(const char *json, xml_state *out) {
  const char *p = skip_ws(json);
  int rc;

  out->v = NULL;
  out->n = 0;
  if (*p++ != '[')
    return 1;
  p = skip_ws(p);
  if (*p == ']')
    return skip_ws(p + 1)[0] ? 1 : 0;
  for (;;) {
    xml_seen e, *nv;
    if ((rc = parse_entry(&p, &e)) != 0) {
      free(e.name);
      xml_state_free(out);
      return rc;
    }
    nv = realloc(out->v, (out->n + 1) * sizeof *nv);
    if (!nv) {
      free(e.name);
      xml_state_free(out);
      return SAMSPOR_ENOMEM;
    }
    out->v = nv;
    out->v[out->n++] = e;
    p = skip_ws(p);
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p++ == ']' && !skip_ws(p)[0])
      return 0;
    xml_state_free(out);
    return 1;
  }
}

int xml_state_has(const xml_state *s, const sp_file *f) {
  size_t i;
  if (f->mtime < 0)
    return 0;
  for (i = 0; i < s->n; i++)
    if (s->v[i].size == f->size && s->v[i].mtime == f->mtime &&
        !strcmp(s->v[i].name, f->name))
      return 1;
  return 0;
}

/* Append s as a JSON string to b (capacity known to suffice).  Bytes of a
 * name that is not valid UTF-8 are written as \u00XX, keeping the JSON
 * valid and the same name always giving the same text. */
static char *json_string(char *b, const char *s) {
  int utf8 = xmlCheckUTF8((const unsigned char *)s);
  const unsigned char *p;

  *b++ = '"';
  for (p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      *b++ = '\\';
      *b++ = (char)*p;
    } else if (*p < 0x20 || (*p >= 0x80 && !utf8)) {
      b += sprintf(b, "\\u%04x", *p);
    } else {
      *b++ = (char)*p;
    }
  }
  *b++ = '"';
  return b;
}

static char *json_entry(char *b, const char *name, long long size,
                        long long mtime) {
  if (b[-1] != '[')
    *b++ = ',';
  b += sprintf(b, "{\"name\":");
  b = json_string(b, name);
  b += sprintf(b, ",\"size\":%lld,\"mtime\":%lld}", size, mtime);
  return b;
}

static int among(const sp_file *files, size_t n, const char *name) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!strcmp(files[i].name, name))
      return 1;
  return 0;
}

char *xml_state_json(const xml_state *old, const sp_file *files, size_t n) {
  size_t i, cap = 3, total = n, skip, k = 0;
  char *s, *b;

  for (i = 0; old && i < old->n; i++) {
    cap += strlen(old->v[i].name) * 6 + 80;
    if (!among(files, n, old->v[i].name))
      total++;
  }
  for (i = 0; i < n; i++)
    cap += strlen(files[i].name) * 6 + 80;
  skip = total > XML_STATE_MAX ? total - XML_STATE_MAX : 0;
  s = b = malloc(cap);
  if (!s)
    return NULL;
  *b++ = '[';
  for (i = 0; old && i < old->n; i++) {
    if (among(files, n, old->v[i].name) || k++ < skip)
      continue;
    b = json_entry(b, old->v[i].name, old->v[i].size, old->v[i].mtime);
  }
  for (i = 0; i < n; i++) {
    if (k++ < skip)
      continue;
    b = json_entry(b, files[i].name, (long long)files[i].size,
                   (long long)files[i].mtime);
  }
  *b++ = ']';
  *b = '\0';
  return s;
}
