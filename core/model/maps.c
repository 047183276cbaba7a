#include "config.h"

#include "model/maps.h"

#include "base/options.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The index is an open-addressing hash table with linear probing over
 * `slots` (a power of two, at most half full), each slot holding a key's
 * hash and its entry number + 1 (0: empty).  Keys and values live in one
 * text arena, addressed by offsets so the arena may grow while loading.
 * A 100,000-line map is a few megabytes and one lookup is a hash and,
 * almost always, one memcmp.
 */
typedef struct map_entry {
  uint32_t key_off, key_len; /* normalised key in the arena */
  uint32_t val_off, val_len; /* value in the arena, NUL-terminated */
  uint32_t line;             /* line in the file, for duplicate errors */
} map_entry;

typedef struct map_slot {
  uint32_t hash; /* the key's hash, compared before the key */
  uint32_t idx;  /* entry number + 1; 0 for an empty slot */
} map_slot;

struct sp_map {
  char *name;         /* for messages */
  sp_buf text;        /* arena of keys and values */
  map_entry *entries; /* in file order */
  size_t nentries;
  map_slot *slots; /* the hash table */
  size_t mask;     /* number of slots - 1 */
  int has_extract; /* extract was given */
  regex_t rx;      /* compiled extract, when has_extract */
  int fast;        /* 0: use regexec; '+' or '*': extract is
                      "^([^X]+)" or "^([^X]*)", done with memchr */
  char fast_stop;  /* X of the fast form */
  char *def;       /* default value, or NULL */
  size_t def_len;
};

/* ---- text helpers ------------------------------------------------------ */

/* White space for key normalisation; *w is set to its length in bytes. */
static int space_at(const unsigned char *p, size_t left, size_t *w) {
  unsigned char c = p[0];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
      c == '\f') {
    *w = 1;
    return 1;
  }
  /* U+00A0 no-break space: what an address copied from a web page or a
   * word processor carries between street and number. */
  if (c == 0xC2 && left >= 2 && p[1] == 0xA0) {
    *w = 2;
    return 1;
  }
  return 0;
}

/*
 * The fold is written out rather than left to towlower(): towlower depends
 * on the process locale (LC_CTYPE), so a daemon started under another
 * locale, or a glibc update, could fold "Æ" differently and silently stop
 * matching the map.  Danish addresses need ASCII and the Latin-1 letters
 * (ÆØÅ, É, Ü, ...), which are exactly U+00C0..U+00DE in UTF-8: the bytes
 * C3 80..C3 9E, whose lower case is C3 A0..C3 BE.  U+00D7 (×) is the one
 * non-letter in that range.
 */
size_t sp_map_normalise(const char *in, size_t len, char *out) {
  const unsigned char *p = (const unsigned char *)in;
  size_t i = 0, o = 0, w;
  int pending_space = 0;

  while (i < len && space_at(p + i, len - i, &w))
    i += w;
  while (i < len) {
    if (space_at(p + i, len - i, &w)) {
      pending_space = 1;
      i += w;
      continue;
    }
    if (pending_space) {
      out[o++] = ' ';
      pending_space = 0;
    }
    unsigned char c = p[i];
    if (c >= 'A' && c <= 'Z') {
      out[o++] = (char)(c + 32);
      i++;
    } else if (c == 0xC3 && i + 1 < len && p[i + 1] >= 0x80 &&
               p[i + 1] <= 0x9E && p[i + 1] != 0x97) {
      out[o++] = (char)0xC3;
      out[o++] = (char)(p[i + 1] + 0x20);
      i += 2;
    } else {
      out[o++] = (char)c;
      i++;
    }
  }
  return o;
}

/* FNV-1a, 32 bits: short keys, a trusted file, no need for more. */
static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

/* ---- extract ----------------------------------------------------------- */

/*
 * Almost every map's extract is "the text before the first X" (the example
 * configuration's "^([^,]+)": an address up to its first comma).  glibc's
 * regexec takes about a microsecond per call for it with a subgroup, and
 * allocates, which alone would cap a stream at under a million rows a
 * second; memchr does the same in nanoseconds.  The forms recognised are
 * exactly "^([^X]+)" and "^([^X]*)" with X one byte that is not special in
 * a bracket expression; without REG_NEWLINE, `^` anchors at the start of the
 * string only and [^X] matches every other byte, so in the C locale the
 * result is byte for byte regexec's (the fuzzer checks that).
 */
static int detect_fast(sp_map *m, const char *re) {
  if (strlen(re) != 8 || memcmp(re, "^([^", 4) != 0 || re[5] != ']' ||
      (re[6] != '+' && re[6] != '*') || re[7] != ')')
    return 0;
  unsigned char x = (unsigned char)re[4];
  if (x == ']' || x == '\\' || x == '^' || x == '-' || x == '[' || x >= 0x80 ||
      x == '\0')
    return 0;
  m->fast = re[6];
  m->fast_stop = (char)x;
  return 1;
}

int sp_map_extract_regex(const sp_map *m, const char *in, size_t *off,
                         size_t *len) {
  regmatch_t g[2];
  if (!m->has_extract || regexec(&m->rx, in, 2, g, 0) != 0 || g[1].rm_so < 0)
    return 0;
  *off = (size_t)g[1].rm_so;
  *len = (size_t)(g[1].rm_eo - g[1].rm_so);
  return 1;
}

int sp_map_extract(const sp_map *m, const char *in, size_t len, size_t *off,
                   size_t *olen) {
  if (!m->has_extract) {
    *off = 0;
    *olen = len;
    return 1;
  }
  if (m->fast) {
    const char *stop = memchr(in, m->fast_stop, len);
    size_t n = stop ? (size_t)(stop - in) : len;
    if (n == 0 && m->fast == '+')
      return 0;
    *off = 0;
    *olen = n;
    return 1;
  }
  return sp_map_extract_regex(m, in, off, olen);
}

/* ---- loading ----------------------------------------------------------- */

static const map_entry *probe(const sp_map *m, const char *key, size_t len,
                              uint32_t h) {
  for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
    const map_slot *s = &m->slots[i];
    if (!s->idx)
      return NULL;
    if (s->hash == h) {
      const map_entry *e = &m->entries[s->idx - 1];
      if (e->key_len == len && memcmp(m->text.data + e->key_off, key, len) == 0)
        return e;
    }
  }
}

/* Build the table over entries[0..n) and drop same-valued duplicates.
 * Returns 0, or the index of an entry whose key an earlier entry gave a
 * different value (+1), for the caller's message. */
static size_t build_index(sp_map *m, size_t *dup_of) {
  size_t cap = 16;
  while (cap < m->nentries * 2)
    cap *= 2;
  m->slots = sp_xcalloc(cap, sizeof(map_slot));
  m->mask = cap - 1;
  size_t kept = 0;
  for (size_t e = 0; e < m->nentries; e++) {
    map_entry *en = &m->entries[e];
    const char *key = m->text.data + en->key_off;
    uint32_t h = hash_bytes(key, en->key_len);
    const map_entry *old = probe(m, key, en->key_len, h);
    if (old) {
      if (old->val_len != en->val_len ||
          memcmp(m->text.data + old->val_off, m->text.data + en->val_off,
                 en->val_len) != 0) {
        *dup_of = (size_t)(old - m->entries);
        return e + 1;
      }
      continue;
    }
    m->entries[kept] = *en;
    size_t i = h & m->mask;
    while (m->slots[i].idx)
      i = (i + 1) & m->mask;
    m->slots[i].hash = h;
    m->slots[i].idx = (uint32_t)(kept + 1);
    kept++;
  }
  m->nentries = kept;
  return 0;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

/* Parse one line (without its newline) into an entry.  Returns NULL or the
 * problem as a phrase for "file F line N: <phrase>". */
static const char *add_line(sp_map *m, char *line, size_t len,
                            const char *delim, size_t dlen, uint32_t lineno,
                            size_t *cap) {
  if (memchr(line, '\0', len))
    return "contains a NUL byte";
  if (!sp_utf8_valid(line, len))
    return "is not valid UTF-8 (save the file as UTF-8)";
  size_t b = 0;
  while (b < len && is_blank(line[b]))
    b++;
  if (b == len || line[b] == '#')
    return NULL;
  const char *d = memmem(line, len, delim, dlen);
  if (!d)
    return "has no delimiter between key and value";
  size_t klen = (size_t)(d - line);
  const char *v = d + dlen;
  size_t vlen = len - klen - dlen;
  while (vlen && is_blank(*v)) {
    v++;
    vlen--;
  }
  while (vlen && is_blank(v[vlen - 1]))
    vlen--;

  if (m->text.len + len + 2 > UINT32_MAX)
    return "is past the 4 GiB a map may hold";
  sp_buf_reserve(&m->text, klen + vlen + 1);
  size_t koff = m->text.len;
  size_t nk = sp_map_normalise(line, klen, m->text.data + koff);
  if (nk == 0)
    return "has an empty key";
  m->text.len += nk;
  size_t voff = m->text.len;
  sp_buf_append(&m->text, v, vlen);
  sp_buf_putc(&m->text, '\0');

  if (m->nentries == *cap) {
    *cap = *cap ? *cap * 2 : 256;
    m->entries = sp_xrealloc(m->entries, *cap * sizeof(map_entry));
  }
  m->entries[m->nentries++] = (map_entry){
      (uint32_t)koff, (uint32_t)nk, (uint32_t)voff, (uint32_t)vlen, lineno};
  return NULL;
}

int sp_map_open(const sp_map_spec *spec, sp_map **out, char *err,
                size_t errlen) {
  const char *name = spec->name ? spec->name : "?";
  const char *delim = spec->delimiter ? spec->delimiter : ";";
  size_t dlen = strlen(delim);
  *out = NULL;

  if (dlen == 0) {
    sp_set_err(err, errlen, "map '%s': delimiter is empty", name);
    return SAMSPOR_ECONFIG;
  }
  if (spec->def && !sp_utf8_valid(spec->def, strlen(spec->def))) {
    sp_set_err(err, errlen, "map '%s': default is not valid UTF-8", name);
    return SAMSPOR_ECONFIG;
  }
  sp_map *m = sp_xcalloc(1, sizeof *m);
  m->name = sp_xstrdup(name);
  sp_buf_init(&m->text);
  if (spec->def) {
    m->def = sp_xstrdup(spec->def);
    m->def_len = strlen(m->def);
  }
  if (spec->extract) {
    int rc = regcomp(&m->rx, spec->extract, REG_EXTENDED);
    if (rc != 0) {
      char msg[128];
      regerror(rc, &m->rx, msg, sizeof msg);
      sp_set_err(err, errlen,
                 "map '%s': extract is not a valid POSIX extended regex: %s",
                 name, msg);
      sp_map_free(m);
      return SAMSPOR_ECONFIG;
    }
    m->has_extract = 1;
    if (m->rx.re_nsub < 1) {
      sp_set_err(err, errlen,
                 "map '%s': extract needs a group ( ... ) around the key",
                 name);
      sp_map_free(m);
      return SAMSPOR_ECONFIG;
    }
    detect_fast(m, spec->extract);
  }

  FILE *f = spec->file ? fopen(spec->file, "r") : NULL;
  if (!f) {
    int e = spec->file ? errno : ENOENT;
    sp_set_err(err, errlen, "map '%s': cannot open %s: %s", name,
               spec->file ? spec->file : "(no file)", strerror(e));
    sp_map_free(m);
    return e == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO;
  }
  char *line = NULL;
  size_t linecap = 0, cap = 0;
  ssize_t n;
  uint32_t lineno = 0;
  int rc = 0;
  while ((n = getline(&line, &linecap, f)) >= 0) {
    size_t len = (size_t)n;
    lineno++;
    if (len && line[len - 1] == '\n')
      len--;
    if (len && line[len - 1] == '\r')
      len--;
    char *p = line;
    /* A byte order mark, as Windows editors write: not part of a key. */
    if (lineno == 1 && len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
      p += 3;
      len -= 3;
    }
    const char *problem = add_line(m, p, len, delim, dlen, lineno, &cap);
    if (problem) {
      sp_set_err(err, errlen, "map '%s': %s line %u %s", name, spec->file,
                 (unsigned)lineno, problem);
      rc = SAMSPOR_ECONFIG;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    sp_set_err(err, errlen, "map '%s': cannot read %s: %s", name, spec->file,
               strerror(errno));
    rc = SAMSPOR_EIO;
  }
  /* The line buffer held a key (an address, say): wipe before freeing. */
  sp_wipe(line, linecap);
  free(line);
  fclose(f);
  if (rc == 0) {
    size_t dup_of = 0, bad = build_index(m, &dup_of);
    if (bad) {
      sp_set_err(err, errlen,
                 "map '%s': %s lines %u and %u give one key (after case "
                 "folding and white space collapsing) two different values",
                 name, spec->file, (unsigned)m->entries[dup_of].line,
                 (unsigned)m->entries[bad - 1].line);
      rc = SAMSPOR_ECONFIG;
    }
  }
  if (rc != 0) {
    sp_map_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int sp_map_load(const samspor_settings *ms, sp_map **out, char *err,
                size_t errlen) {
  sp_map_spec spec = {
      ms->name, sp_get_string(ms, "file"), sp_get_string(ms, "extract"),
      sp_get_string(ms, "default"), sp_get_string(ms, "delimiter")};
  return sp_map_open(&spec, out, err, errlen);
}

void sp_map_free(sp_map *m) {
  if (!m)
    return;
  /* Keys are often addresses: wipe them rather than leave them in freed
   * heap for a core dump. */
  if (m->text.data)
    sp_wipe(m->text.data, m->text.cap);
  sp_buf_free(&m->text);
  free(m->entries);
  free(m->slots);
  if (m->has_extract)
    regfree(&m->rx);
  free(m->def);
  free(m->name);
  free(m);
}

size_t sp_map_size(const sp_map *m) {
  return m->nentries;
}

const char *sp_map_name(const sp_map *m) {
  return m->name;
}

/* ---- lookup ------------------------------------------------------------ */

int sp_map_lookup(const sp_map *m, const char *in, size_t len, sp_buf *scratch,
                  const char **val, size_t *vlen) {
  size_t off = 0, klen = len;
  int matched = 1;

  sp_buf_reset(scratch);
  /* Room for a NUL-terminated copy of the input (regexec wants one) and,
   * after it, the normalised key: reserved once, so neither pointer below
   * moves. */
  sp_buf_reserve(scratch, 2 * len + 2);
  if (m->has_extract && !m->fast) {
    memcpy(scratch->data, in, len);
    scratch->data[len] = '\0';
    in = scratch->data;
    matched = sp_map_extract_regex(m, in, &off, &klen);
  } else {
    matched = sp_map_extract(m, in, len, &off, &klen);
  }
  if (matched) {
    char *key = scratch->data + len + 1;
    size_t nk = sp_map_normalise(in + off, klen, key);
    if (nk) {
      const map_entry *e = probe(m, key, nk, hash_bytes(key, nk));
      if (e) {
        *val = m->text.data + e->val_off;
        *vlen = e->val_len;
        return SP_MAP_FOUND;
      }
    }
  }
  if (m->def) {
    *val = m->def;
    *vlen = m->def_len;
    return SP_MAP_DEFAULT;
  }
  *val = NULL;
  *vlen = 0;
  return SP_MAP_UNMAPPED;
}

void sp_map_absorb(const sp_map *m, sp_absorb_fn absorb, void *ud) {
  absorb(ud, &m->nentries, sizeof m->nentries);
  for (size_t i = 0; i < m->nentries; i++) {
    const map_entry *e = &m->entries[i];
    absorb(ud, &e->key_len, sizeof e->key_len);
    absorb(ud, m->text.data + e->key_off, e->key_len);
    absorb(ud, &e->val_len, sizeof e->val_len);
    absorb(ud, m->text.data + e->val_off, e->val_len);
  }
  size_t dl = m->def ? m->def_len + 1 : 0;
  absorb(ud, &dl, sizeof dl);
  if (m->def)
    absorb(ud, m->def, m->def_len);
}
