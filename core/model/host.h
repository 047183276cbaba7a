/*
 * host.h — the core's side of the plugin ABI: the samspor_host table, the
 * per-stream context (logging, error message) and the sink interface that
 * receives records.  The sync engine implements a sink that loads the
 * warehouse; tests and `check` implement lighter ones.
 */
#ifndef SAMSPOR_HOST_H
#define SAMSPOR_HOST_H

#include "base/log.h"
#include "samspor-plugin.h"
#include "base/util.h"

struct samspor_ctx {
  sp_logctx log; /* connector/stream/run on every line the plugin logs */
  sp_buf error;  /* last host->error() message; empty when none */
};

/*
 * A sink: embed it as the first member of the implementation's struct and
 * fill in every function.  The host forwards the plugin's record calls.
 */
struct samspor_sink {
  int (*record_begin)(samspor_sink *sink, const char *position);
  void (*field)(samspor_sink *sink, size_t index, const char *value,
                size_t len);
  int (*record_end)(samspor_sink *sink);
  int (*reject)(samspor_sink *sink, const char *position, const char *reason,
                const char *message);
  void (*set_state)(samspor_sink *sink, const char *state);
};

/* The table given to every plugin (static, never freed). */
const samspor_host *sp_host(void);

void sp_ctx_init(samspor_ctx *ctx, const char *connector, const char *stream,
                 long long run);
void sp_ctx_free(samspor_ctx *ctx);
/* The plugin's last error message, or `fallback` when it gave none. */
const char *sp_ctx_error(const samspor_ctx *ctx, const char *fallback);

/* A human-readable name for a SAMSPOR_E* code. */
const char *samspor_strerror(int code);

#endif
