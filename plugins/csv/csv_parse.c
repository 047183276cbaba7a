#include "config.h"

#include "csv_parse.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The input goes through stages, each consuming a prefix of the byte
 * stream and handing the rest on: the byte order mark, the lines to skip,
 * delimiter detection (which holds back the first line and replays it into
 * the parser once it has decided), and the parser proper.
 */
enum stage { ST_BOM, ST_SKIP, ST_SNIFF, ST_PARSE };

/* Where the parser stands inside a record. */
enum pstate {
  P_REC_START,   /* nothing of the next record seen yet */
  P_FIELD_START, /* just after a delimiter */
  P_UNQUOTED,    /* inside an unquoted field */
  P_QUOTED,      /* inside a quoted field */
  P_QUOTE_END    /* just after a quote inside a quoted field: the closing
                    quote, or the first of a doubled one */
};

struct csv_parser {
  csv_config cfg;   /* as given, validated */
  csv_record_fn fn; /* record function and its argument */
  void *user;
  int delim;                   /* delimiter in use; 0 while detecting */
  unsigned char stop_unq[256]; /* nonzero: ends a run of unquoted data
                                  (delimiter, CR, LF) */
  unsigned char stop_q[256];   /* nonzero: ends a run of quoted data (quote,
                                  and CR, LF which need counting) */

  enum stage stage;   /* current input stage */
  unsigned bom_have;  /* bytes of the BOM matched so far */
  uint64_t skip_left; /* lines still to skip */
  enum pstate state;  /* parser state */
  int last_cr;        /* the last byte consumed was CR: a following LF
                         belongs to it (CRLF is one terminator) */
  uint64_t line;      /* current physical line, 1-based */
  uint64_t consumed;  /* bytes handed to the parser proper so far: the
                         offsets max_record is measured with */

  /* Delimiter detection: the first non-blank line, held back. */
  char *sniff;       /* its bytes; replayed into the parser */
  size_t sniff_len;  /* bytes held */
  size_t sniff_cap;  /* bytes allocated */
  size_t replay_off; /* bytes of sniff already replayed ... */
  size_t replay_len; /* ... out of these; equal when nothing is pending */
  int sniff_inq;     /* inside quotes (a rough toggle, good for counting) */
  int sniff_content; /* a non-terminator byte was seen */
  size_t counts[3];  /* ';' ',' TAB seen outside quotes */

  /* The current record. */
  uint64_t rec_start; /* offset (in `consumed` terms) where it starts */
  uint64_t rec_line;  /* line where it starts */
  csv_status status;  /* first problem found, or CSV_REC_OK */
  size_t bad_field;   /* 1-based field the problem is in */
  const char *why;    /* CSV_REC_ENCODING: what is wrong with the bytes */
  int too_long;       /* longer than max_record: bytes no longer kept */
  char *data;         /* unquoted field bytes, back to back */
  size_t len;         /* bytes used in data */
  size_t cap;         /* bytes allocated in data */
  uint32_t *ends;     /* end offset of each field in data */
  size_t nfields;     /* fields complete */
  size_t ends_cap;    /* entries allocated in ends */

  /* The current record converted to UTF-8 (non-UTF-8 input only). */
  char *conv;
  size_t conv_cap;
  uint32_t *conv_ends;
  size_t conv_ends_cap;

  /* Single-byte input: byte b becomes the first utf8_len[b] bytes of
   * to_utf8[b] (zero-padded to 4, stored as one word); a length of 0 marks
   * a byte iconv refuses. */
  unsigned char to_utf8[256][4];
  unsigned char utf8_len[256];

  char msg[160]; /* the reject message handed to the record function */
};

void csv_config_init(csv_config *cfg) {
  cfg->delimiter = ';';
  cfg->quote = '"';
  cfg->max_record = CSV_DEFAULT_MAX_RECORD;
  cfg->encoding = CSV_UTF8;
  cfg->skip_lines = 0;
}

const char *csv_status_reason(csv_status st) {
  switch (st) {
  case CSV_REC_OK:
    return "ok";
  case CSV_REC_QUOTE:
    return "quote";
  case CSV_REC_UNTERMINATED:
    return "unterminated_quote";
  case CSV_REC_TOO_LONG:
    return "record_too_long";
  case CSV_REC_ENCODING:
    return "encoding";
  }
  return "unknown";
}

/* ---- buffers ---------------------------------------------------------- */

/* Grow `old` (*cap elements of `size` bytes) to hold at least `need`
 * elements, doubling so that growth is amortised.  Returns the new buffer
 * (and updates *cap), or NULL with `old` still valid and *cap unchanged. */
static void *grow(void *old, size_t *cap, size_t need, size_t size) {
  size_t ncap = *cap ? *cap : 64;
  void *nbuf;

  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / size)
      return NULL;
    ncap *= 2;
  }
  nbuf = realloc(old, ncap * size);
  if (nbuf)
    *cap = ncap;
  return nbuf;
}

/* Typed wrappers: grow *buf in place.  Return 0 or CSV_ENOMEM. */
static int grow_bytes(char **buf, size_t *cap, size_t need) {
  void *nb = grow(*buf, cap, need, 1);
  if (!nb)
    return CSV_ENOMEM;
  *buf = nb;
  return 0;
}

static int grow_u32(uint32_t **buf, size_t *cap, size_t need) {
  void *nb = grow(*buf, cap, need, sizeof **buf);
  if (!nb)
    return CSV_ENOMEM;
  *buf = nb;
  return 0;
}

/* ---- encodings -------------------------------------------------------- */

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Nonzero when none of the 8 bytes in v is NUL or >= 0x80. */
static inline int word_clean(uint64_t v) {
  return !((v & HIGHS) | ((v - ONES) & ~v & HIGHS));
}

/* Nonzero when [s, s+n) is ASCII without NUL: valid in every supported
 * encoding and identical in UTF-8, so nothing needs checking. */
static int ascii_clean(const char *s, size_t n) {
  size_t i = 0;

  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, s + i, 8);
    if (!word_clean(v))
      return 0;
  }
  for (; i < n; i++)
    if ((unsigned char)s[i] - 1u >= 0x7fu) /* NUL wraps around */
      return 0;
  return 1;
}

/*
 * Written here rather than done with iconv (UTF-8 to UTF-8) because that
 * copies every byte through a conversion loop and was the slowest part of
 * the parse, and because glibc's iconv accepts NUL, which PostgreSQL text
 * refuses.  The ranges are those of RFC 3629 / Unicode table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF.
 */
int csv_utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  const unsigned char *end = s + n;

  while (s < end) {
    unsigned c = *s;
    size_t left = (size_t)(end - s);
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
      if (c == 0)
        return 0;
      s++;
      while (end - s >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        if (!word_clean(v))
          break;
        s += 8;
      }
      continue;
    }
    if (c < 0xC2)
      return 0; /* continuation byte, or overlong 2-byte form */
    if (c < 0xE0) {
      if (left < 2 || (s[1] & 0xC0) != 0x80)
        return 0;
      s += 2;
      continue;
    }
    if (c < 0xF0) {
      if (c == 0xE0)
        lo = 0xA0; /* overlong */
      else if (c == 0xED)
        hi = 0x9F; /* surrogates */
      if (left < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
        return 0;
      s += 3;
      continue;
    }
    if (c < 0xF5) {
      if (c == 0xF0)
        lo = 0x90; /* overlong */
      else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
      if (left < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 ||
          (s[3] & 0xC0) != 0x80)
        return 0;
      s += 4;
      continue;
    }
    return 0;
  }
  return 1;
}

/* Mark the current record as an encoding reject in field i (0-based). */
static void encoding_reject(csv_parser *p, size_t i, const char *why) {
  p->status = CSV_REC_ENCODING;
  p->bad_field = i + 1;
  p->why = why;
}

/*
 * Check the current record's fields, and convert them to UTF-8 unless the
 * input is UTF-8.  On success r->data/r->ends point at the UTF-8 bytes;
 * a bad field sets p->status.  Returns 0 or CSV_ENOMEM.
 *
 * Done per complete record, not on the byte stream, so a chunk boundary
 * can never split a multi-byte sequence: every supported encoding leaves
 * the bytes the parser looks at (delimiter, quote, CR, LF) as single ASCII
 * bytes that cannot occur inside a multi-byte character.  Done per field
 * because a sequence split by a delimiter would otherwise validate.
 */
static int check_encoding(csv_parser *p, csv_record *r) {
  size_t i, start = 0;
  size_t out_len = 0;

  if (ascii_clean(p->data, p->len))
    return 0;

  if (p->cfg.encoding == CSV_UTF8) {
    for (i = 0; i < p->nfields; i++) {
      if (!csv_utf8_valid(p->data + start, p->ends[i] - start)) {
        encoding_reject(p, i,
                        memchr(p->data + start, 0, p->ends[i] - start)
                            ? "NUL byte"
                            : "invalid UTF-8 byte sequence");
        return 0;
      }
      start = p->ends[i];
    }
    return 0;
  }

  /* One input byte of windows-1252 becomes at most 3 bytes of UTF-8. */
  if (p->conv_cap < p->len * 3 + 1 &&
      grow_bytes(&p->conv, &p->conv_cap, p->len * 3 + 1))
    return CSV_ENOMEM;
  if (p->conv_ends_cap < p->nfields &&
      grow_u32(&p->conv_ends, &p->conv_ends_cap, p->nfields))
    return CSV_ENOMEM;
  for (i = 0; i < p->nfields; i++) {
    const unsigned char *in = (const unsigned char *)p->data + start;
    size_t j, inleft = p->ends[i] - start;
    unsigned char *out = (unsigned char *)p->conv + out_len;

    if (ascii_clean((const char *)in, inleft)) {
      /* the same bytes in UTF-8: one copy */
      memcpy(out, in, inleft);
      out += inleft;
    } else if (memchr(in, 0, inleft)) {
      encoding_reject(p, i, "NUL byte");
      return 0;
    } else {
      for (j = 0; j < inleft; j++) {
        unsigned n = p->utf8_len[in[j]];

        if (!n) {
          encoding_reject(p, i,
                          p->cfg.encoding == CSV_WINDOWS_1252
                              ? "byte not defined in windows-1252"
                              : "byte not convertible from ISO 8859-1");
          return 0;
        }
        /* 4 bytes stored, n of them kept: one word store instead of a
         * copy of variable length.  The buffer has room for 3 bytes per
         * input byte plus 1, so the last store still fits. */
        memcpy(out, p->to_utf8[in[j]], 4);
        out += n;
      }
    }
    out_len = (size_t)((char *)out - p->conv);
    p->conv_ends[i] = (uint32_t)out_len;
    start = p->ends[i];
  }
  r->data = p->conv;
  r->ends = p->conv_ends;
  return 0;
}

/* ---- records ---------------------------------------------------------- */

static void rec_begin(csv_parser *p, uint64_t off) {
  p->rec_start = off;
  p->rec_line = p->line;
  p->status = CSV_REC_OK;
  p->bad_field = 0;
  p->why = NULL;
  p->too_long = 0;
  p->len = 0;
  p->nfields = 0;
}

/*
 * Add n bytes of field data; end_off is the input offset just past them,
 * so end_off - rec_start is the record's length so far.  Past max_record
 * the bytes are dropped and the record marked, which is what bounds the
 * memory.  Returns 0 or CSV_ENOMEM.
 */
static inline int rec_append(csv_parser *p, const unsigned char *s, size_t n,
                             uint64_t end_off) {
  if (p->too_long)
    return 0;
  if (end_off - p->rec_start > p->cfg.max_record) {
    p->too_long = 1;
    return 0;
  }
  if (n > p->cap - p->len && grow_bytes(&p->data, &p->cap, p->len + n))
    return CSV_ENOMEM;
  memcpy(p->data + p->len, s, n);
  p->len += n;
  return 0;
}

/* End the current field at the delimiter or terminator at input offset
 * `off`.  The length check keeps `ends` bounded for records of nothing but
 * delimiters.  Returns 0 or CSV_ENOMEM. */
static inline int field_end(csv_parser *p, uint64_t off) {
  if (p->too_long)
    return 0;
  if (off - p->rec_start > p->cfg.max_record) {
    p->too_long = 1;
    return 0;
  }
  if (p->nfields == p->ends_cap &&
      grow_u32(&p->ends, &p->ends_cap, p->nfields + 1))
    return CSV_ENOMEM;
  p->ends[p->nfields++] = (uint32_t)p->len;
  return 0;
}

/* Deliver the current record.  Returns what the record function returned,
 * or CSV_ENOMEM. */
static int rec_end(csv_parser *p) {
  csv_record r;
  int rc;

  p->state = P_REC_START;
  if (p->status == CSV_REC_OK && p->too_long)
    p->status = CSV_REC_TOO_LONG;
  r.data = p->data ? p->data : ""; /* never NULL, even with no bytes yet */
  r.ends = p->ends;
  r.nfields = p->nfields;
  if (p->status == CSV_REC_OK && (rc = check_encoding(p, &r)) != 0)
    return rc;

  switch (p->status) {
  case CSV_REC_OK:
    p->msg[0] = '\0';
    break;
  case CSV_REC_QUOTE:
    snprintf(p->msg, sizeof p->msg,
             "unexpected character after the closing quote of field %zu",
             p->bad_field);
    break;
  case CSV_REC_UNTERMINATED:
    snprintf(p->msg, sizeof p->msg,
             "quoted field %zu is not closed before the end of the file",
             p->bad_field);
    break;
  case CSV_REC_TOO_LONG:
    snprintf(p->msg, sizeof p->msg,
             "record is longer than the maximum of %zu bytes",
             p->cfg.max_record);
    break;
  case CSV_REC_ENCODING:
    snprintf(p->msg, sizeof p->msg, "%s in field %zu", p->why, p->bad_field);
    break;
  }
  if (p->status != CSV_REC_OK)
    r.nfields = 0;
  r.line = p->rec_line;
  r.status = p->status;
  r.message = p->msg;
  return p->fn(p->user, &r);
}

/* ---- the parser proper ------------------------------------------------ */

/*
 * Parse [buf, buf+n).  Returns 0 with *used == n, or a record function's
 * stop value or CSV_ENOMEM with *used the bytes consumed.
 *
 * The hot path is the run scans: a table lookup per byte over stretches of
 * plain data, each stretch copied with one memcpy; per-byte state changes
 * happen only at delimiters, quotes and terminators.
 */
static int parse(csv_parser *p, const unsigned char *buf, size_t n,
                 size_t *used) {
  const unsigned char *s = buf, *end = buf + n;
  const int delim = p->delim, quote = p->cfg.quote;
  const uint64_t base = p->consumed;
  int rc = 0;

#define OFF(ptr) (base + (uint64_t)((ptr)-buf))
#define PREV_CR(ptr) ((ptr) > buf ? (ptr)[-1] == '\r' : p->last_cr)

  while (s < end) {
    switch (p->state) {
    case P_REC_START:
      if (*s == '\n') { /* blank line, or the LF of a CRLF */
        if (!PREV_CR(s))
          p->line++;
        s++;
        continue;
      }
      if (*s == '\r') { /* blank line */
        p->line++;
        s++;
        continue;
      }
      rec_begin(p, OFF(s));
      p->state = P_FIELD_START;
      /* fallthrough */
    case P_FIELD_START:
      if (*s == quote) {
        s++;
        p->state = P_QUOTED;
        continue;
      }
      p->state = P_UNQUOTED;
      /* fallthrough */
    case P_UNQUOTED:
      /* Stay in this loop across delimiters while the next field is
       * unquoted too: the common case, without a trip through the switch. */
      for (;;) {
        const unsigned char *q = s;
        while (q < end && !p->stop_unq[*q])
          q++;
        if (q > s && (rc = rec_append(p, s, (size_t)(q - s), OFF(q))) != 0)
          goto out;
        s = q;
        if (q == end)
          goto out;
        s = q + 1;
        if ((rc = field_end(p, OFF(q))) != 0)
          goto out;
        if (*q == delim) {
          if (s < end && *s != quote)
            continue;
          p->state = P_FIELD_START;
          break;
        }
        /* CR or LF; an LF here never follows a CR, which ends records */
        p->line++;
        if ((rc = rec_end(p)) != 0)
          goto out;
        break;
      }
      break;
    case P_QUOTED: {
      const unsigned char *q = s;
      for (;;) {
        while (q < end && !p->stop_q[*q])
          q++;
        if (q == end || *q == quote)
          break;
        if (*q == '\r' || !PREV_CR(q)) /* CR or LF kept as data */
          p->line++;
        q++;
      }
      if (q > s && (rc = rec_append(p, s, (size_t)(q - s), OFF(q))) != 0)
        goto out;
      s = q;
      if (q == end)
        goto out;
      s++;
      p->state = P_QUOTE_END;
      break;
    }
    case P_QUOTE_END:
      if (*s == quote) { /* doubled: one quote of data */
        s++;
        p->state = P_QUOTED;
        if ((rc = rec_append(p, s - 1, 1, OFF(s))) != 0)
          goto out;
      } else if (*s == delim) {
        s++;
        p->state = P_FIELD_START;
        if ((rc = field_end(p, OFF(s - 1))) != 0)
          goto out;
      } else if (*s == '\r' || *s == '\n') {
        s++;
        p->line++;
        if ((rc = field_end(p, OFF(s - 1))) != 0 || (rc = rec_end(p)) != 0)
          goto out;
      } else {
        /* Text after the closing quote: reject the record, and read on as
         * unquoted data to find where it ends. */
        if (p->status == CSV_REC_OK) {
          p->status = CSV_REC_QUOTE;
          p->bad_field = p->nfields + 1;
        }
        p->state = P_UNQUOTED;
      }
      break;
    }
  }
out:
  *used = (size_t)(s - buf);
  if (s > buf)
    p->last_cr = s[-1] == '\r';
  p->consumed += (uint64_t)(s - buf);
  return rc;
#undef OFF
#undef PREV_CR
}

/* ---- the stages before it --------------------------------------------- */

/* Set up the scan tables for delimiter d and enter the parse stage. */
static void use_delimiter(csv_parser *p, int d) {
  p->delim = d;
  memset(p->stop_unq, 0, sizeof p->stop_unq);
  memset(p->stop_q, 0, sizeof p->stop_q);
  p->stop_unq[(unsigned char)d] = 1;
  p->stop_unq['\r'] = p->stop_unq['\n'] = 1;
  if (p->cfg.quote != CSV_NO_QUOTE)
    p->stop_q[(unsigned char)p->cfg.quote] = 1;
  p->stop_q['\r'] = p->stop_q['\n'] = 1;
  p->stage = ST_PARSE;
}

static enum stage stage_after_skip(const csv_parser *p) {
  return p->cfg.delimiter == CSV_DELIM_AUTO ? ST_SNIFF : ST_PARSE;
}

static enum stage stage_after_bom(const csv_parser *p) {
  return p->cfg.skip_lines ? ST_SKIP : stage_after_skip(p);
}

/* Set the stage that follows `st`; the parse stage needs its tables. */
static void enter(csv_parser *p, enum stage st) {
  if (st == ST_PARSE)
    use_delimiter(p, p->cfg.delimiter);
  else
    p->stage = st;
}

/* Detection has seen enough: pick the delimiter and queue the held-back
 * bytes for the parser. */
static void sniff_decide(csv_parser *p) {
  static const char cand[3] = {';', ',', '\t'};
  size_t best = 0, i;

  for (i = 1; i < 3; i++)
    if (p->counts[i] > p->counts[best])
      best = i;
  use_delimiter(p, cand[best]);
  p->replay_off = 0;
  p->replay_len = p->sniff_len;
}

static int feed_stages(csv_parser *p, const unsigned char *buf, size_t len,
                       size_t *used);

/* Match the UTF-8 BOM, possibly over several chunks.  On a mismatch the
 * bytes matched so far are text and go to the next stage.  Returns the
 * bytes consumed; *rc gets CSV_ENOMEM on failure. */
static size_t stage_bom(csv_parser *p, const unsigned char *buf, size_t n,
                        int *rc) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  size_t i = 0, u;
  unsigned had;

  while (i < n && p->bom_have < 3 && buf[i] == bom[p->bom_have]) {
    p->bom_have++;
    i++;
  }
  if (p->bom_have == 3) {
    enter(p, stage_after_bom(p));
    return i;
  }
  if (i == n)
    return i; /* still a possible BOM */
  had = p->bom_have;
  enter(p, stage_after_bom(p));
  /* 0xEF 0xBB are no delimiter, quote or terminator, so this cannot reach
   * a record function: the only possible failure is CSV_ENOMEM. */
  if (had)
    *rc = feed_stages(p, bom, had, &u);
  return i;
}

/* Drop skip_left physical lines.  Returns the bytes consumed. */
static size_t stage_skip(csv_parser *p, const unsigned char *buf, size_t n) {
  size_t i = 0;

  while (i < n) {
    unsigned char c = buf[i++];
    int ends_line = c == '\r' || (c == '\n' && !p->last_cr);

    p->last_cr = c == '\r';
    if (ends_line) {
      p->line++;
      if (--p->skip_left == 0) {
        enter(p, stage_after_skip(p));
        break;
      }
    }
  }
  return i;
}

/* Hold back the first non-blank line, counting the candidate delimiters,
 * until its end (or max_record).  Leading blank lines are counted and
 * dropped here, as the parser would, so they take no memory.  Returns the
 * bytes consumed (the terminator is left for the parser); *rc gets
 * CSV_ENOMEM on failure. */
static size_t stage_sniff(csv_parser *p, const unsigned char *buf, size_t n,
                          int *rc) {
  const int quote = p->cfg.quote;
  size_t i = 0, start;
  int done = 0;

  for (; i < n && !p->sniff_content; i++) {
    if (buf[i] == '\n') {
      if (!p->last_cr)
        p->line++;
    } else if (buf[i] == '\r') {
      p->line++;
    } else {
      p->sniff_content = 1;
      break;
    }
    p->last_cr = buf[i] == '\r';
  }
  start = i;
  for (; i < n; i++) {
    unsigned char c = buf[i];

    if (p->sniff_len + (i - start) > p->cfg.max_record) {
      done = 1; /* the parser will reject this record as too long */
      break;
    }
    if (p->sniff_inq) {
      if (c == quote)
        p->sniff_inq = 0;
    } else if (c == quote) {
      p->sniff_inq = 1;
    } else if (c == '\r' || c == '\n') {
      done = 1;
      break;
    } else if (c == ';') {
      p->counts[0]++;
    } else if (c == ',') {
      p->counts[1]++;
    } else if (c == '\t') {
      p->counts[2]++;
    }
  }
  if (i > start) {
    if (p->sniff_len + (i - start) > p->sniff_cap &&
        grow_bytes(&p->sniff, &p->sniff_cap, p->sniff_len + (i - start))) {
      *rc = CSV_ENOMEM;
      return i;
    }
    memcpy(p->sniff + p->sniff_len, buf + start, i - start);
    p->sniff_len += i - start;
  }
  if (done)
    sniff_decide(p);
  return i;
}

/* Replay held-back bytes into the parser.  Returns 0 when none are left,
 * else what parse() returned (the rest stays queued). */
static int drain_replay(csv_parser *p) {
  while (p->replay_off < p->replay_len) {
    size_t used;
    int rc = parse(p, (const unsigned char *)p->sniff + p->replay_off,
                   p->replay_len - p->replay_off, &used);
    p->replay_off += used;
    if (rc)
      return rc;
  }
  return 0;
}

/* Run [buf, buf+len) through the stages.  Returns like csv_parser_feed. */
static int feed_stages(csv_parser *p, const unsigned char *buf, size_t len,
                       size_t *used) {
  size_t off = 0, u;
  int rc = 0;

  while (off < len && rc == 0) {
    switch (p->stage) {
    case ST_BOM:
      off += stage_bom(p, buf + off, len - off, &rc);
      break;
    case ST_SKIP:
      off += stage_skip(p, buf + off, len - off);
      break;
    case ST_SNIFF:
      off += stage_sniff(p, buf + off, len - off, &rc);
      if (rc == 0 && p->stage == ST_PARSE)
        rc = drain_replay(p);
      break;
    case ST_PARSE:
      rc = parse(p, buf + off, len - off, &u);
      off += u;
      break;
    }
  }
  *used = off;
  return rc;
}

/* ---- public ----------------------------------------------------------- */

/*
 * Fill p->to_utf8 by asking iconv for each byte once, so the mapping is
 * exactly glibc's (including the bytes it refuses), while the per-byte
 * work of the parse is a table lookup: converting every field through
 * iconv cost as much as parsing it.  Every supported non-UTF-8 encoding
 * is single-byte without shift states, which is what makes a table exact.
 * Returns 0, CSV_ENOMEM or CSV_EINVAL.
 */
static int build_table(csv_parser *p, const char *from) {
  iconv_t cd = iconv_open("UTF-8", from);
  unsigned b;

  if (cd == (iconv_t)-1)
    return errno == ENOMEM ? CSV_ENOMEM : CSV_EINVAL;
  for (b = 0; b < 256; b++) {
    char in = (char)b, out[8];
    char *ip = &in, *op = out;
    size_t il = 1, ol = sizeof out;

    memset(p->to_utf8[b], 0, sizeof p->to_utf8[b]);
    p->utf8_len[b] = 0;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0 ||
        sizeof out - ol > 3) {
      iconv(cd, NULL, NULL, NULL, NULL); /* no state after a failure */
      continue;
    }
    p->utf8_len[b] = (unsigned char)(sizeof out - ol);
    memcpy(p->to_utf8[b], out, sizeof out - ol);
  }
  iconv_close(cd);
  return 0;
}

int csv_parser_new(csv_parser **out, const csv_config *cfg, csv_record_fn fn,
                   void *user) {
  csv_parser *p;
  const char *from = NULL;
  int d = cfg->delimiter, q = cfg->quote;

  *out = NULL;
  if (!fn || cfg->max_record < 1 || cfg->max_record > CSV_MAX_RECORD_LIMIT)
    return CSV_EINVAL;
  if (d != CSV_DELIM_AUTO && (d < 1 || d > 0x7f || d == '\r' || d == '\n'))
    return CSV_EINVAL;
  if (q != CSV_NO_QUOTE &&
      (q < 1 || q > 0x7f || q == '\r' || q == '\n' || q == d ||
       (d == CSV_DELIM_AUTO && (q == ';' || q == ',' || q == '\t'))))
    return CSV_EINVAL;
  switch (cfg->encoding) {
  case CSV_UTF8:
    break;
  case CSV_WINDOWS_1252:
    from = "WINDOWS-1252";
    break;
  case CSV_ISO_8859_1:
    from = "ISO-8859-1";
    break;
  default:
    return CSV_EINVAL;
  }

  p = calloc(1, sizeof *p);
  if (!p)
    return CSV_ENOMEM;
  p->cfg = *cfg;
  p->fn = fn;
  p->user = user;
  if (from) {
    int rc = build_table(p, from);

    if (rc) {
      free(p);
      return rc;
    }
  }
  csv_parser_reset(p);
  *out = p;
  return 0;
}

void csv_parser_reset(csv_parser *p) {
  p->delim = CSV_DELIM_AUTO;
  p->bom_have = 0;
  p->skip_left = p->cfg.skip_lines;
  p->state = P_REC_START;
  p->last_cr = 0;
  p->line = 1;
  p->consumed = 0;
  p->sniff_len = p->replay_off = p->replay_len = 0;
  p->sniff_inq = p->sniff_content = 0;
  memset(p->counts, 0, sizeof p->counts);
  p->len = p->nfields = 0;
  if (p->cfg.encoding == CSV_UTF8)
    p->stage = ST_BOM;
  else
    enter(p, stage_after_bom(p));
}

int csv_parser_feed(csv_parser *p, const void *buf, size_t len, size_t *used) {
  int rc = drain_replay(p);

  if (rc) {
    *used = 0;
    return rc;
  }
  return feed_stages(p, buf, len, used);
}

int csv_parser_finish(csv_parser *p) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  int rc;
  size_t u;

  if (p->stage == ST_BOM) {
    unsigned had = p->bom_have;
    enter(p, stage_after_bom(p));
    if (had && (rc = feed_stages(p, bom, had, &u)) != 0)
      return rc;
  }
  if (p->stage == ST_SKIP)
    enter(p, stage_after_skip(p)); /* the input ended within them */
  if (p->stage == ST_SNIFF)
    sniff_decide(p);
  if ((rc = drain_replay(p)) != 0)
    return rc;

  switch (p->state) {
  case P_REC_START:
    return 0;
  case P_QUOTED:
    if (p->status == CSV_REC_OK) {
      p->status = CSV_REC_UNTERMINATED;
      p->bad_field = p->nfields + 1;
    }
    return rec_end(p);
  case P_FIELD_START:
  case P_UNQUOTED:
  case P_QUOTE_END:
    if ((rc = field_end(p, p->consumed)) != 0)
      return rc;
    return rec_end(p);
  }
  return 0;
}

int csv_parser_delimiter(const csv_parser *p) {
  return p->stage == ST_PARSE ? p->delim : CSV_DELIM_AUTO;
}

uint64_t csv_parser_line(const csv_parser *p) {
  return p->line;
}

size_t csv_parser_memory(const csv_parser *p) {
  return sizeof *p + p->sniff_cap + p->cap + p->conv_cap +
         (p->ends_cap + p->conv_ends_cap) * sizeof(uint32_t);
}

void csv_parser_free(csv_parser *p) {
  if (!p)
    return;
  free(p->sniff);
  free(p->data);
  free(p->ends);
  free(p->conv);
  free(p->conv_ends);
  free(p);
}
