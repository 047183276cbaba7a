#include "config.h"

#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static SP_NORETURN void oom(size_t n) {
  fprintf(stderr, "samspor: out of memory allocating %zu bytes\n", n);
  abort();
}

void *sp_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p)
    oom(n);
  return p;
}

void *sp_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    oom(n * size);
  return p;
}

void *sp_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q)
    oom(n);
  return q;
}

char *sp_xstrdup(const char *s) {
  return s ? sp_xstrndup(s, strlen(s)) : NULL;
}

char *sp_xstrndup(const char *s, size_t n) {
  char *p = sp_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *sp_xasprintf(const char *fmt, ...) {
  sp_buf b;
  va_list ap;
  sp_buf_init(&b);
  va_start(ap, fmt);
  sp_buf_vprintf(&b, fmt, ap);
  va_end(ap);
  if (!b.data)
    return sp_xstrdup("");
  return b.data;
}

void sp_buf_init(sp_buf *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void sp_buf_free(sp_buf *b) {
  free(b->data);
  sp_buf_init(b);
}

void sp_buf_reset(sp_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void sp_buf_reserve(sp_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  b->data = sp_xrealloc(b->data, cap);
  b->cap = cap;
}

void sp_buf_append(sp_buf *b, const void *p, size_t n) {
  sp_buf_reserve(b, n);
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void sp_buf_puts(sp_buf *b, const char *s) {
  sp_buf_append(b, s, strlen(s));
}

void sp_buf_putc(sp_buf *b, char c) {
  sp_buf_reserve(b, 1);
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void sp_buf_vprintf(sp_buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  sp_buf_reserve(b, 64);
  int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  if (n >= 0 && (size_t)n >= b->cap - b->len) {
    sp_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
  }
  if (n > 0)
    b->len += (size_t)n;
  va_end(ap2);
}

void sp_buf_printf(sp_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sp_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

void sp_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

void sp_wipe(void *p, size_t n) {
  if (p && n)
    sodium_memzero(p, n);
}

double sp_now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sp_streq(const char *a, const char *b) {
  if (!a || !b)
    return a == b;
  return strcmp(a, b) == 0;
}

/* write(2) all of buf, retrying on EINTR and short writes. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

int sp_replace_file(const char *path, const char *data, size_t len,
                    unsigned mode, char *err, size_t errlen) {
  char *tmp = sp_xasprintf("%s.XXXXXX", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    sp_set_err(err, errlen, "cannot create a file beside %s: %s", path,
               strerror(errno));
    free(tmp);
    return -1;
  }
  const char *step = NULL;
  /* mkostemp makes 0600; readers (a metrics collector, a web server) may
   * run as another user. */
  if (fchmod(fd, (mode_t)mode) != 0)
    step = "chmod";
  else if (write_all(fd, data ? data : "", len) != 0)
    step = "write";
  else if (fsync(fd) != 0)
    step = "fsync";
  int e = errno;
  if (close(fd) != 0 && !step) {
    step = "close";
    e = errno;
  }
  if (!step && rename(tmp, path) != 0) {
    step = "rename";
    e = errno;
  }
  if (step) {
    sp_set_err(err, errlen, "cannot write %s: %s: %s", path, step, strerror(e));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  /* Make the rename itself durable; a failure here loses nothing but the
   * guarantee, so it is not reported. */
  char *dir = sp_xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (slash)
    slash[slash == dir ? 1 : 0] = '\0';
  int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  free(dir);
  return 0;
}

/* Names that become SQL identifiers unquoted: no quoting surprises for the
 * analysts who type them in psql or Excel. */
int sp_valid_ident(const char *s) {
  if (!s || !*s || strlen(s) > 63)
    return 0;
  if (!(islower((unsigned char)s[0])))
    return 0;
  for (const char *p = s; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
          *p == '_'))
      return 0;
  return 1;
}

int sp_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned char c = p[i];
    if (c < 0x80) {
      /* mostly ASCII: 8 bytes a step until a byte with the high bit */
      for (i++; len - i >= 8; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v & UINT64_C(0x8080808080808080))
          break;
      }
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if (c == 0xE0) {
      n = 2;
      lo = 0xA0; /* no overlong 3-byte forms */
    } else if (c == 0xED) {
      n = 2;
      hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xE1 && c <= 0xEF)
      n = 2;
    else if (c == 0xF0) {
      n = 3;
      lo = 0x90; /* no overlong 4-byte forms */
    } else if (c == 0xF4) {
      n = 3;
      hi = 0x8F; /* nothing above U+10FFFF */
    } else if (c >= 0xF1 && c <= 0xF3)
      n = 3;
    else
      return 0;
    if (len - i <= n)
      return 0;
    if (p[i + 1] < lo || p[i + 1] > hi)
      return 0;
    for (size_t k = 2; k <= n; k++)
      if ((p[i + k] & 0xC0) != 0x80)
        return 0;
    i += n + 1;
  }
  return 1;
}
