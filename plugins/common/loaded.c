#include "config.h"

/*
 * loaded.c — the files-loaded state of the file-based plugins (see
 * loaded.h).  Hand-written rather than jansson: the format is this small,
 * the plugins would otherwise have to link jansson for it, and jansson
 * would turn the \u00XX of a name that is not UTF-8 back into a character
 * rather than the byte it stands for.
 */

#include "loaded.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void spp_loaded_free(spp_loaded *s) {
  size_t i;
  for (i = 0; i < s->n; i++)
    free(s->v[i].name);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

/* ---- reading ---------------------------------------------------------- */

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
      /* isxdigit() is 0-9a-fA-F in every locale, and false at the
       * terminating NUL, so p never runs past it */
      for (i = 0; i < 4; i++) {
        int d = (unsigned char)p[i];
        if (!isxdigit(d))
          goto bad;
        v = v * 16 + (unsigned)(isdigit(d) ? d - '0' : (d | 0x20) - 'a' + 10);
      }
      p += 4;
      /* Only what json_string writes: a NUL would cut the name short,
       * and a real character (> 0xff) is never escaped there. */
      if (v == 0 || v > 0xff)
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
 * Returns 0, 1 when malformed, or SAMSPOR_ENOMEM; e->name is the
 * caller's to free whatever the result. */
static int parse_entry(const char **pp, spp_loaded_file *e) {
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
    /* without a name the entry could never match a file: not ours */
    return e->name ? 0 : 1;
  }
}

int spp_loaded_parse(const char *json, spp_loaded *out) {
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
    spp_loaded_file e, *nv;
    if ((rc = parse_entry(&p, &e)) != 0) {
      free(e.name);
      spp_loaded_free(out);
      return rc;
    }
    nv = realloc(out->v, (out->n + 1) * sizeof *nv);
    if (!nv) {
      free(e.name);
      spp_loaded_free(out);
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
    spp_loaded_free(out);
    return 1;
  }
}

int spp_loaded_has(const spp_loaded *s, const spp_file *f) {
  size_t i;
  if (f->mtime < 0)
    return 0;
  for (i = 0; i < s->n; i++)
    if (s->v[i].size == f->size && s->v[i].mtime == f->mtime &&
        !strcmp(s->v[i].name, f->name))
      return 1;
  return 0;
}

/* ---- writing ---------------------------------------------------------- */

/*
 * Nonzero when the NUL-terminated s is UTF-8 as PostgreSQL text takes it
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 * The core stores the state in a text column, so a looser check (such as
 * libxml2's xmlCheckUTF8, which lets surrogates through) would let a name
 * make the state unstorable.  Not csv_utf8_valid(): the xml plugin does
 * not have csv_parse.c, and a name needs no speed.
 */
static int utf8_valid(const char *str) {
  const unsigned char *s = (const unsigned char *)str;

  while (*s) {
    unsigned c = *s++, lo = 0x80, hi = 0xBF;
    int more;

    if (c < 0x80)
      continue;
    if (c < 0xC2) {
      return 0; /* a continuation byte, or an overlong 2-byte form */
    } else if (c < 0xE0) {
      more = 1;
    } else if (c < 0xF0) {
      more = 2;
      if (c == 0xE0)
        lo = 0xA0; /* overlong */
      else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
      more = 3;
      if (c == 0xF0)
        lo = 0x90; /* overlong */
      else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    } else {
      return 0;
    }
    /* the terminating NUL fails both tests, so s never runs past it */
    if (*s < lo || *s > hi)
      return 0;
    for (s++; --more > 0; s++)
      if ((*s & 0xC0) != 0x80)
        return 0;
  }
  return 1;
}

/* Append s as a JSON string to b (capacity known to suffice: at most 6
 * bytes per byte of s, plus the quotes).  Bytes of a name that is not
 * valid UTF-8 are written as \u00XX, keeping the JSON valid and the same
 * name always giving the same text; parse_string() turns them back. */
static char *json_string(char *b, const char *s) {
  int utf8 = utf8_valid(s);
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

/* Append one entry, after a comma unless it is the first. */
static char *json_entry(char *b, const char *name, long long size,
                        long long mtime) {
  if (b[-1] != '[')
    *b++ = ',';
  b += sprintf(b, "{\"name\":");
  b = json_string(b, name);
  b += sprintf(b, ",\"size\":%lld,\"mtime\":%lld}", size, mtime);
  return b;
}

/* Nonzero when a file named `name` is among files[0..n). */
static int among(const spp_file *files, size_t n, const char *name) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!strcmp(files[i].name, name))
      return 1;
  return 0;
}

/* The room an entry for `name` can take: the name escaped at 6 bytes a
 * byte, and 80 for the quotes, keys, two numbers of up to 20 characters
 * and the comma. */
static size_t entry_cap(const char *name) {
  return strlen(name) * 6 + 80;
}

char *spp_loaded_json(const spp_loaded *old, const spp_file *files, size_t n) {
  size_t i, cap = 3, total = n, skip, k = 0;
  char *s, *b;

  for (i = 0; old && i < old->n; i++) {
    cap += entry_cap(old->v[i].name);
    if (!among(files, n, old->v[i].name))
      total++;
  }
  for (i = 0; i < n; i++)
    cap += entry_cap(files[i].name);
  /* the oldest go first: the list is in loading order */
  skip = total > SPP_LOADED_MAX ? total - SPP_LOADED_MAX : 0;
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

int spp_loaded_skip(const samspor_open_args *a, const char *plugin,
                    const char *written, spp_loaded *loaded, int *append,
                    spp_file *files, size_t *nfiles) {
  const char *mode;
  size_t i, kept = 0;
  int rc;

  if (!a->state || a->full)
    return 0;
  mode = a->host->get_string(a->stream, "mode");
  if (!mode || strcmp(mode, "append") != 0)
    return 0;
  *append = 1;
  rc = spp_loaded_parse(a->state, loaded);
  if (rc == SAMSPOR_ENOMEM) {
    a->host->error(a->ctx, "%s: out of memory", plugin);
    return rc;
  }
  if (rc) {
    /* Loading every file again would duplicate rows in append mode. */
    a->host->error(a->ctx,
                   "%s: the stored state of this stream (the files "
                   "already loaded) is not %s; refusing to guess which "
                   "files were loaded. Delete the stream's row in "
                   "samspor.sync_state, or sync with --full, to load every "
                   "file again",
                   plugin, written);
    return SAMSPOR_EDATA;
  }
  for (i = 0; i < *nfiles; i++) {
    if (spp_loaded_has(loaded, &files[i])) {
      a->host->log(a->ctx, SAMSPOR_LOG_INFO,
                   "%s: %s already loaded (same name, size and "
                   "modification time); skipped",
                   plugin, files[i].name);
      free(files[i].name);
      free(files[i].url);
      continue;
    }
    files[kept++] = files[i];
  }
  *nfiles = kept;
  return 0;
}
