/*
 * util.h — small helpers used all over the core: a growable byte buffer and
 * allocation that aborts on out-of-memory.
 *
 * THE ERROR CONVENTION (core and plugins):
 *
 *  - Out of memory.  The core aborts: it allocates only through sp_x*
 *    below, which print a message and abort().  samspor is a batch loader
 *    with bounded memory; an allocation failure means the machine is in
 *    trouble, and every load is a transaction, so dying leaves the
 *    warehouse exactly as it was.  Checking every malloc would add
 *    thousands of untested branches for no safer outcome.
 *    Plugins are different: they are built apart from the core, do not
 *    link it, and their libraries (libcurl, libxml2, jansson, libpq) report
 *    a failed allocation by returning NULL, not by aborting.  So a plugin
 *    checks every allocation and returns SAMSPOR_ENOMEM after
 *    host->error("...: out of memory"); the core then fails the run, which
 *    rolls the load back just as an abort would.
 *  - Status codes.  A function that can fail in more than one way returns
 *    0 or a negative SAMSPOR_E* code (samspor-plugin.h), and writes a
 *    sentence into a caller's err buffer or through host->error.  Never
 *    a bare -1: SAMSPOR_ENOMEM is -1, so a -1 meaning "bad input" would
 *    be read as out of memory by any caller that passes the code on.
 *  - A plain -1 is kept only for small yes/no helpers whose result never
 *    leaves their file as a status (a parse that failed, "not found": an
 *    index of -1), documented at the function.
 *  - Configuration errors are collected, not returned one by one:
 *    sp_errors (options.h) gathers every "file:line: message", so one
 *    `samspor check` reports them all.
 */
#ifndef SAMSPOR_UTIL_H
#define SAMSPOR_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define SP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SP_NORETURN __attribute__((noreturn))
#define SP_UNUSED __attribute__((unused))
#else
#define SP_PRINTF(f, a)
#define SP_NORETURN
#define SP_UNUSED
#endif

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that never returns NULL (aborts with a message instead). */
void *sp_xmalloc(size_t n);
void *sp_xcalloc(size_t n, size_t size);
void *sp_xrealloc(void *p, size_t n);
char *sp_xstrdup(const char *s);
char *sp_xstrndup(const char *s, size_t n);
/* Freshly allocated formatted string; caller frees. */
char *sp_xasprintf(const char *fmt, ...) SP_PRINTF(1, 2);

/* Growable byte buffer, always NUL-terminated after len. */
typedef struct sp_buf {
  char *data; /* owned; NULL until the first append */
  size_t len; /* bytes used, excluding the terminating NUL */
  size_t cap; /* bytes allocated */
} sp_buf;

void sp_buf_init(sp_buf *b);
void sp_buf_free(sp_buf *b);
void sp_buf_reset(sp_buf *b); /* len = 0, keeps the allocation */
void sp_buf_reserve(sp_buf *b, size_t extra);
void sp_buf_append(sp_buf *b, const void *p, size_t n);
void sp_buf_puts(sp_buf *b, const char *s);
void sp_buf_putc(sp_buf *b, char c);
void sp_buf_printf(sp_buf *b, const char *fmt, ...) SP_PRINTF(2, 3);
void sp_buf_vprintf(sp_buf *b, const char *fmt, va_list ap) SP_PRINTF(2, 0);

/* Format a message into err (when err and errlen allow). */
void sp_set_err(char *err, size_t errlen, const char *fmt, ...) SP_PRINTF(3, 4);

/* Wipe memory that held a secret; not optimised away. */
void sp_wipe(void *p, size_t n);

/* Monotonic clock in seconds. */
double sp_now_mono(void);

/*
 * Replace the file at path with data, atomically: a temporary file beside
 * it (rename(2) is atomic only within one file system), given `mode`,
 * written, fsync'd, renamed over path, and the directory fsync'd, so that
 * readers see the old or the new file, never half of one.  On failure the
 * old file is left as it was and no temporary file remains.  Returns 0, or
 * -1 with why in err ("cannot create a file beside PATH: ..." or "cannot
 * write PATH: STEP: ...").
 */
int sp_replace_file(const char *path, const char *data, size_t len,
                    unsigned mode, char *err, size_t errlen);

/* Case-sensitive string equality that tolerates NULL. */
int sp_streq(const char *a, const char *b);

/* A name that may become an unquoted SQL identifier: lowercase letters,
 * digits and _, starting with a letter, at most 63 bytes. */
int sp_valid_ident(const char *s);

/*
 * 1 when the `len` bytes at `s` are valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0.  Shared by maps and
 * rules, since PostgreSQL refuses a whole COPY for one invalid byte.
 */
int sp_utf8_valid(const char *s, size_t len);

/*
 * Append the n bytes at s to b in PostgreSQL's COPY text format: backslash,
 * tab, newline and CR escaped as \\ \t \n \r.  The one escaping of samspor
 * (the rules' values, the rejects, bookkeeping rows); inline, since it runs
 * for every value loaded.
 */
static inline void sp_copy_escape(sp_buf *b, const char *s, size_t n) {
  sp_buf_reserve(b, 2 * n + 1);
  char *o = b->data + b->len;
  size_t i = 0;
  /* 8 bytes a step while none of them is below 0x0e (\t, \n, \r) or a
   * backslash: most values need no escaping at all */
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, s + i, 8);
    if (((v - UINT64_C(0x0e0e0e0e0e0e0e0e)) & ~v) &
        UINT64_C(0x8080808080808080))
      break;
    uint64_t x = v ^ UINT64_C(0x5c5c5c5c5c5c5c5c);
    if (((x - UINT64_C(0x0101010101010101)) & ~x) &
        UINT64_C(0x8080808080808080))
      break;
    memcpy(o, &v, 8);
    o += 8;
  }
  for (; i < n; i++) {
    char ch = s[i];
    switch (ch) {
    case '\\':
      *o++ = '\\';
      *o++ = '\\';
      break;
    case '\t':
      *o++ = '\\';
      *o++ = 't';
      break;
    case '\n':
      *o++ = '\\';
      *o++ = 'n';
      break;
    case '\r':
      *o++ = '\\';
      *o++ = 'r';
      break;
    default:
      *o++ = ch;
    }
  }
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
}

/*
 * PostgreSQL's binary COPY format (the protocol's "COPY ... (FORMAT
 * binary)"), which the server reads without parsing text: a date is a
 * day count, a uuid its 16 bytes.  Integers are big-endian.  A load
 * starts with SP_COPY_BIN_HEADER (signature, flags 0, no extension); each
 * row is its field count (16 bits) and each field its length (32 bits, -1
 * for NULL) and bytes; SP_COPY_BIN_TRAILER ends the data.
 */
#define SP_COPY_BIN_HEADER "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0"
#define SP_COPY_BIN_HEADER_LEN 19
#define SP_COPY_BIN_TRAILER "\377\377"

static inline char *sp_put_be16(char *o, uint16_t v) {
  o[0] = (char)(v >> 8);
  o[1] = (char)v;
  return o + 2;
}

static inline char *sp_put_be32(char *o, uint32_t v) {
  o[0] = (char)(v >> 24);
  o[1] = (char)(v >> 16);
  o[2] = (char)(v >> 8);
  o[3] = (char)v;
  return o + 4;
}

static inline char *sp_put_be64(char *o, uint64_t v) {
  return sp_put_be32(sp_put_be32(o, (uint32_t)(v >> 32)), (uint32_t)v);
}

/* One bigint field of a binary COPY row. */
static inline void sp_copy_bin_int8(sp_buf *b, long long v) {
  sp_buf_reserve(b, 13);
  char *o = sp_put_be32(b->data + b->len, 8);
  o = sp_put_be64(o, (uint64_t)v);
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
}

/* One field of n bytes (a uuid's 16) of a binary COPY row. */
static inline void sp_copy_bin_bytes(sp_buf *b, const void *p, size_t n) {
  sp_buf_reserve(b, n + 5);
  char *o = sp_put_be32(b->data + b->len, (uint32_t)n);
  memcpy(o, p, n);
  b->len = (size_t)(o + n - b->data);
  b->data[b->len] = '\0';
}

/* Takes n bytes at p, as a hash's update does: for functions that feed
 * what they hold to a fingerprint without knowing the hash. */
typedef void (*sp_absorb_fn)(void *ud, const void *p, size_t n);

#endif
