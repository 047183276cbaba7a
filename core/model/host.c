#include "config.h"

#include "model/host.h"

#include <string.h>

#include "base/options.h"

static void host_log(samspor_ctx *ctx, int level, const char *fmt, ...)
    SP_PRINTF(3, 4);
static void host_log(samspor_ctx *ctx, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sp_vlog(level, ctx ? &ctx->log : NULL, fmt, ap);
  va_end(ap);
}

static void host_error(samspor_ctx *ctx, const char *fmt, ...) SP_PRINTF(2, 3);
static void host_error(samspor_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  if (!ctx)
    return;
  sp_buf_reset(&ctx->error);
  va_start(ap, fmt);
  sp_buf_vprintf(&ctx->error, fmt, ap);
  va_end(ap);
}

static int host_record_begin(samspor_sink *s, const char *pos) {
  return s->record_begin(s, pos);
}

static void host_field(samspor_sink *s, size_t i, const char *v, size_t n) {
  s->field(s, i, v, n);
}

static int host_record_end(samspor_sink *s) {
  return s->record_end(s);
}

static int host_reject(samspor_sink *s, const char *pos, const char *reason,
                       const char *msg) {
  return s->reject(s, pos, reason, msg);
}

static void host_set_state(samspor_sink *s, const char *state) {
  s->set_state(s, state);
}

static const samspor_host host = {
    .struct_size = sizeof(samspor_host),
    .abi_version = SAMSPOR_ABI_VERSION,
    .fill = sp_options_fill,
    .get_string = sp_get_string,
    .get_int = sp_get_int,
    .get_float = sp_get_float,
    .get_bool = sp_get_bool,
    .get_duration = sp_get_duration,
    .get_list = sp_get_list,
    .is_set = sp_is_set,
    .get_group = sp_get_group,
    .log = host_log,
    .error = host_error,
    .record_begin = host_record_begin,
    .field = host_field,
    .record_end = host_record_end,
    .reject = host_reject,
    .set_state = host_set_state,
};

const samspor_host *sp_host(void) {
  return &host;
}

void sp_ctx_init(samspor_ctx *ctx, const char *connector, const char *stream,
                 long long run) {
  memset(ctx, 0, sizeof *ctx);
  ctx->log.connector = connector;
  ctx->log.stream = stream;
  ctx->log.run = run;
  sp_buf_init(&ctx->error);
}

void sp_ctx_free(samspor_ctx *ctx) {
  sp_buf_free(&ctx->error);
}

const char *sp_ctx_error(const samspor_ctx *ctx, const char *fallback) {
  return ctx->error.len ? ctx->error.data : fallback;
}

const char *samspor_strerror(int code) {
  switch (code) {
  case SAMSPOR_OK:
    return "success";
  case SAMSPOR_ENOMEM:
    return "out of memory";
  case SAMSPOR_EINVAL:
    return "invalid argument";
  case SAMSPOR_EIO:
    return "input/output error";
  case SAMSPOR_ETEMP:
    return "temporary failure";
  case SAMSPOR_EDATA:
    return "malformed data";
  case SAMSPOR_EABI:
    return "plugin ABI mismatch";
  case SAMSPOR_ENOENT:
    return "not found";
  case SAMSPOR_EABORT:
    return "aborted";
  case SAMSPOR_EAUTH:
    return "authentication failed";
  case SAMSPOR_ECONFIG:
    return "configuration error";
  case SAMSPOR_EFAIL:
    return "failed";
  case SAMSPOR_ESKIP:
    return "skipped";
  }
  return "unknown error";
}
