#include "config.h"

#include "load/relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* A batch is handed over once it holds this much: large enough that the
 * lock and the wake-up cost nothing beside the rows, small enough to stay
 * in the cache between the two threads. */
#define RELAY_BATCH (64 * 1024)
/* Batches waiting for the loader at most; the plugin waits beyond. */
#define RELAY_SLOTS 4
/* A plugin slower than the loader (a REST page at a time) hands over what
 * it has after this long, so that the loader's progress keeps up. */
#define RELAY_LINGER 0.05

/* What the plugin sent, one byte each, then its data: strings as a 32-bit
 * length (NONE: NULL) and bytes (C strings with their NUL); a field as its
 * index, then its value. */
enum {
  EV_BEGIN = 'B', /* position */
  EV_FIELD = 'F', /* index, value */
  EV_END = 'E',
  EV_REJECT = 'R', /* position, reason, message */
  EV_STATE = 'S'   /* state */
};
#define NONE UINT32_MAX

struct sp_relay {
  samspor_sink sink; /* must be first: the host casts to it */
  samspor_sink *to;
  int direct; /* no thread: calls go straight to `to` */

  pthread_mutex_t mu;
  pthread_cond_t ready; /* a batch is queued, or the plugin is done */
  pthread_cond_t space; /* a slot is free */
  sp_buf queue[RELAY_SLOTS];
  size_t head, nqueued;
  sp_buf spare[RELAY_SLOTS]; /* delivered batches, for reuse */
  size_t nspare;
  int done; /* read() has returned */

  sp_buf fill;        /* the plugin's batch (its thread only) */
  double last_push;   /* when it last handed one over */
  atomic_int waiting; /* the loader waits for a batch */
  atomic_int stop;    /* nonzero: what the loader's sink said to stop with */

  int (*read)(void *);
  void *handle;
  int rc; /* read()'s result */
};

/* ---- the plugin's side ------------------------------------------------ */

/* Room for n more bytes; returns where they go (the caller sets len). */
static char *room(sp_buf *b, size_t n) {
  if (b->cap - b->len < n + 1)
    sp_buf_reserve(b, n);
  return b->data + b->len;
}

static char *put_u32(char *o, uint32_t v) {
  memcpy(o, &v, sizeof v);
  return o + sizeof v;
}

/* A tag and a C string, stored with its NUL so the loader can take it in
 * place. */
static char *put_cstr(char *o, const char *s, size_t n) {
  o = put_u32(o, s ? (uint32_t)n : NONE);
  if (s) {
    memcpy(o, s, n + 1);
    o += n + 1;
  }
  return o;
}

static void put_event(sp_buf *b, char ev, const char *s) {
  size_t n = s ? strlen(s) : 0;
  char *o = room(b, 6 + n);
  *o++ = ev;
  o = put_cstr(o, s, n);
  b->len = (size_t)(o - b->data);
}

/* Hand the batch over; waits while every slot is taken. */
static void push(sp_relay *r) {
  pthread_mutex_lock(&r->mu);
  while (r->nqueued == RELAY_SLOTS)
    pthread_cond_wait(&r->space, &r->mu);
  r->queue[(r->head + r->nqueued) % RELAY_SLOTS] = r->fill;
  r->nqueued++;
  if (r->nspare)
    r->fill = r->spare[--r->nspare];
  else
    sp_buf_init(&r->fill);
  pthread_cond_signal(&r->ready);
  pthread_mutex_unlock(&r->mu);
  r->last_push = sp_now_mono();
}

/* After a whole record or a reject: hand the batch over when it is full,
 * or when the loader is idle and the batch has waited long enough. */
static int sent(sp_relay *r) {
  int stop = atomic_load_explicit(&r->stop, memory_order_relaxed);
  if (stop)
    return stop;
  if (r->fill.len >= RELAY_BATCH ||
      (atomic_load_explicit(&r->waiting, memory_order_relaxed) &&
       sp_now_mono() - r->last_push >= RELAY_LINGER))
    push(r);
  return 0;
}

static int r_record_begin(samspor_sink *sink, const char *position) {
  sp_relay *r = (sp_relay *)sink;
  if (r->direct)
    return r->to->record_begin(r->to, position);
  int stop = atomic_load_explicit(&r->stop, memory_order_relaxed);
  if (stop)
    return stop;
  put_event(&r->fill, EV_BEGIN, position);
  return 0;
}

static void r_field(samspor_sink *sink, size_t index, const char *value,
                    size_t len) {
  sp_relay *r = (sp_relay *)sink;
  if (r->direct) {
    r->to->field(r->to, index, value, len);
    return;
  }
  char *o = room(&r->fill, 9 + len);
  *o++ = EV_FIELD;
  o = put_u32(o, index > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)index);
  o = put_u32(o, value ? (uint32_t)len : NONE);
  if (value) {
    memcpy(o, value, len);
    o += len;
  }
  r->fill.len = (size_t)(o - r->fill.data);
}

static int r_record_end(samspor_sink *sink) {
  sp_relay *r = (sp_relay *)sink;
  if (r->direct)
    return r->to->record_end(r->to);
  *room(&r->fill, 1) = EV_END;
  r->fill.len++;
  return sent(r);
}

static int r_reject(samspor_sink *sink, const char *position,
                    const char *reason, const char *message) {
  sp_relay *r = (sp_relay *)sink;
  if (r->direct)
    return r->to->reject(r->to, position, reason, message);
  int stop = atomic_load_explicit(&r->stop, memory_order_relaxed);
  if (stop)
    return stop;
  put_event(&r->fill, EV_REJECT, position);
  put_event(&r->fill, EV_REJECT, reason);
  put_event(&r->fill, EV_REJECT, message);
  return sent(r);
}

static void r_set_state(samspor_sink *sink, const char *state) {
  sp_relay *r = (sp_relay *)sink;
  if (r->direct) {
    r->to->set_state(r->to, state);
    return;
  }
  put_event(&r->fill, EV_STATE, state);
}

/* ---- the loader's side ------------------------------------------------ */

static uint32_t get_u32(const char **p) {
  uint32_t v;
  memcpy(&v, *p, sizeof v);
  *p += sizeof v;
  return v;
}

static const char *get_str(const char **p, size_t *len) {
  uint32_t n = get_u32(p);
  *len = 0;
  if (n == NONE)
    return NULL;
  const char *s = *p;
  *p += n;
  *len = n;
  return s;
}

static const char *get_cstr(const char **p) {
  size_t n;
  const char *s = get_str(p, &n);
  if (s)
    (*p)++; /* its NUL */
  return s;
}

/* Deliver a batch to the loader's sink; returns its stop code. */
static int deliver(sp_relay *r, const sp_buf *b) {
  samspor_sink *to = r->to;
  const char *p = b->data, *end = b->data + b->len;
  int stop = 0;
  while (p < end && !stop) {
    char ev = *p++;
    if (ev == EV_FIELD) {
      uint32_t index = get_u32(&p);
      size_t n;
      const char *v = get_str(&p, &n);
      to->field(to, index, v, n);
    } else if (ev == EV_END) {
      stop = to->record_end(to);
    } else if (ev == EV_BEGIN) {
      stop = to->record_begin(to, get_cstr(&p));
    } else if (ev == EV_STATE) {
      to->set_state(to, get_cstr(&p));
    } else { /* EV_REJECT */
      const char *pos = get_cstr(&p);
      p++; /* each string of a reject has the tag */
      const char *reason = get_cstr(&p);
      p++;
      stop = to->reject(to, pos, reason, get_cstr(&p));
    }
  }
  return stop;
}

/* The batches hold source values: wiped when let go, as the loader's
 * buffers are. */
static void wipe_free(sp_buf *b) {
  if (b->data)
    sp_wipe(b->data, b->cap);
  sp_buf_free(b);
}

static void *reader_main(void *arg) {
  sp_relay *r = arg;
  r->rc = r->read(r->handle);
  pthread_mutex_lock(&r->mu);
  r->done = 1;
  pthread_cond_signal(&r->ready);
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* Deliver a batch and empty it; once the loader said stop, nothing more is
 * delivered (its state included: a stopped load fails and keeps none). */
static void take(sp_relay *r, sp_buf *b) {
  if (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
    int stop = deliver(r, b);
    if (stop)
      atomic_store(&r->stop, stop);
  }
  sp_buf_reset(b);
}

int sp_relay_run(sp_relay *r, int (*read)(void *handle), void *handle) {
  sp_relay_flush(r); /* what open() sent comes first */
  r->read = read;
  r->handle = handle;
  r->done = 0;
  r->last_push = sp_now_mono();
  pthread_t th;
  if (pthread_create(&th, NULL, reader_main, r) != 0) {
    r->direct = 1;
    int rc = read(handle);
    r->direct = 0;
    return rc;
  }
  for (;;) {
    pthread_mutex_lock(&r->mu);
    atomic_store(&r->waiting, 1);
    while (!r->nqueued && !r->done)
      pthread_cond_wait(&r->ready, &r->mu);
    atomic_store(&r->waiting, 0);
    if (!r->nqueued) {
      pthread_mutex_unlock(&r->mu);
      break;
    }
    sp_buf b = r->queue[r->head];
    r->head = (r->head + 1) % RELAY_SLOTS;
    r->nqueued--;
    pthread_cond_signal(&r->space);
    pthread_mutex_unlock(&r->mu);
    take(r, &b);
    pthread_mutex_lock(&r->mu);
    if (r->nspare < RELAY_SLOTS)
      r->spare[r->nspare++] = b;
    else
      wipe_free(&b);
    pthread_mutex_unlock(&r->mu);
  }
  pthread_join(th, NULL);
  /* The end of what read() sent: its last batch, never handed over. */
  take(r, &r->fill);
  return r->rc;
}

void sp_relay_flush(sp_relay *r) {
  take(r, &r->fill);
}

sp_relay *sp_relay_new(samspor_sink *to) {
  sp_relay *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  if (pthread_mutex_init(&r->mu, NULL) != 0) {
    free(r);
    return NULL;
  }
  if (pthread_cond_init(&r->ready, NULL) != 0) {
    pthread_mutex_destroy(&r->mu);
    free(r);
    return NULL;
  }
  if (pthread_cond_init(&r->space, NULL) != 0) {
    pthread_cond_destroy(&r->ready);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return NULL;
  }
  r->sink.record_begin = r_record_begin;
  r->sink.field = r_field;
  r->sink.record_end = r_record_end;
  r->sink.reject = r_reject;
  r->sink.set_state = r_set_state;
  r->to = to;
  sp_buf_init(&r->fill);
  atomic_init(&r->waiting, 0);
  atomic_init(&r->stop, 0);
  return r;
}

samspor_sink *sp_relay_sink(sp_relay *r) {
  return &r->sink;
}

void sp_relay_free(sp_relay *r) {
  if (!r)
    return;
  /* The batches held rows' values: wiped, as the loader's buffers are. */
  for (size_t i = 0; i < r->nspare; i++)
    wipe_free(&r->spare[i]);
  wipe_free(&r->fill);
  pthread_cond_destroy(&r->ready);
  pthread_cond_destroy(&r->space);
  pthread_mutex_destroy(&r->mu);
  free(r);
}
