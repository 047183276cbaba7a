#include "config.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
