/*
 * samspor-plugin.h — the one header a samspor source plugin includes.
 *
 * A plugin is a shared object in plugin_dir that exports exactly one symbol,
 * samspor_plugin_descriptor(), a function returning a pointer to a static
 * samspor_plugin block (use SAMSPOR_PLUGIN_EXPORT below).  The loader calls
 * it and compares, in this order, struct_size and abi_version with its own
 * before it touches any other field; a plugin built against another version
 * of this header is refused with a message naming both values.  The idea is
 * PostgreSQL's PG_MODULE_MAGIC.
 *
 * Division of labour.  A plugin reads its source and hands the core *field
 * values* of *records*.  It never sees the warehouse, never sees the column
 * rules, and is only ever told about the source fields a stream declares
 * (the columns' `from` values), so fields the configuration does not name
 * never leave the plugin: privacy by default starts here.  Mapping,
 * pseudonymisation, type conversion and loading are the core's.
 *
 * Record flow, for one stream of one connector:
 *
 *     open(args, &handle)        parse settings, resolve the requested fields
 *                                (a CSV header name, an XPath, a JSON path,
 *                                a result column) and connect
 *     read(handle)               for each record:
 *                                  host->record_begin(sink, position)
 *                                  host->field(sink, i, value, len) ...
 *                                  host->record_end(sink)
 *                                or host->reject(...) for a malformed one
 *     close(handle)              always called after a successful open
 *
 * Error convention (libuv's): every function returns 0 or a negative
 * SAMSPOR_E* code, never a bare -1 (that is SAMSPOR_ENOMEM).  A plugin that
 * fails says why with host->error(); the message must name what failed
 * (file, URL, line) and never contain a field value, since values may be
 * CPR numbers, names or addresses.  Out of memory: a plugin checks every
 * allocation and returns SAMSPOR_ENOMEM (the core's own allocators abort,
 * but a plugin does not link them; see the core's util.h).
 *
 * Threads: a plugin's callbacks for one handle are called from one thread at
 * a time; the host functions may be called only from that thread, during the
 * callback.  Plugins keep no file-scope mutable state: everything lives in
 * the handle, so one process may run several streams of one plugin.
 */
#ifndef SAMSPOR_PLUGIN_H
#define SAMSPOR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever any struct below changes layout or meaning.
 * 2: samspor_option gained `fill` and `offset`, samspor_host gained
 *    fill(), so that one call fills a plugin's typed struct. */
#define SAMSPOR_ABI_VERSION 2

/* ---- error codes ------------------------------------------------------ */

#define SAMSPOR_OK 0
#define SAMSPOR_ENOMEM (-1) /* out of memory */
#define SAMSPOR_EINVAL (-2) /* invalid argument or setting */
#define SAMSPOR_EIO (-3)    /* local I/O error (file unreadable, ...) */
#define SAMSPOR_ETEMP                                                          \
  (-4)                        /* temporary: unreachable, timeout, 5xx, 429;    \
                                 worth retrying later (exit status 75) */
#define SAMSPOR_EDATA (-5)    /* malformed or truncated document */
#define SAMSPOR_EABI (-6)     /* plugin does not fit this samspor */
#define SAMSPOR_ENOENT (-7)   /* no such file, table, plugin, ... */
#define SAMSPOR_EABORT (-8)   /* the core asked the plugin to stop */
#define SAMSPOR_EAUTH (-9)    /* credentials refused (not retried) */
#define SAMSPOR_ECONFIG (-10) /* configuration error (exit status 2) */
#define SAMSPOR_EFAIL (-11)   /* any other permanent failure */
/* Nothing to load yet (no file matches), and the configuration says to
 * skip the run: the core records it as skipped and exits 0. */
#define SAMSPOR_ESKIP (-12)

/* ---- option tables ---------------------------------------------------- */

/*
 * Every option of the core and of every plugin is declared once in an
 * option table: an array of samspor_option ended by an entry whose name is
 * NULL.  The table alone drives parsing, defaults, validation, `samspor
 * plugins`, the man page and the data dictionary.
 */
typedef enum samspor_opt_type {
  SAMSPOR_OPT_STRING = 1, /* libconfig string */
  SAMSPOR_OPT_INT,        /* libconfig integer; range min..max */
  SAMSPOR_OPT_FLOAT,      /* libconfig float or integer; range min..max */
  SAMSPOR_OPT_BOOL,       /* libconfig true/false */
  SAMSPOR_OPT_DURATION,   /* string such as "90s" "30m" "2h" "1d" "6y";
                             read as seconds; range min..max in seconds */
  SAMSPOR_OPT_ENUM,       /* string, one of `choices` ("a|b|c") */
  SAMSPOR_OPT_STRLIST,    /* array of strings, or a single string */
  SAMSPOR_OPT_INTLIST,    /* array of integers */
  SAMSPOR_OPT_PATH,       /* a local file path (or a URL with "://", left
                             as it is); a relative path is taken relative
                             to the configuration file's directory */
  SAMSPOR_OPT_GROUP,      /* nested group described by `sub` */
  SAMSPOR_OPT_GROUPLIST,  /* list of groups, each described by `sub` */
  SAMSPOR_OPT_MAP,        /* group of named groups, each described by `sub`
                             (e.g. maps: { areas = {...}; }) */
  SAMSPOR_OPT_ANY         /* a group whose contents another table checks
                             (a connector's `source`: the plugin's table) */
} samspor_opt_type;

#define SAMSPOR_OPT_REQUIRED 0x01u /* must be given (no default) */
/*
 * A secret.  For an option named "password", the configuration must say
 * password_file (a file that holds only the secret, not readable by group or
 * others) or password_env (an environment variable); "password" itself is
 * refused.  The value is never printed or logged.
 */
#define SAMSPOR_OPT_SECRET 0x02u
#define SAMSPOR_OPT_RESTART 0x04u /* changing it needs a daemon restart */
/*
 * What a string holds, so that the core can refuse a secret written
 * inline in it when the configuration is loaded (file:line): a URL (no
 * user:password@, no query parameter named like a secret: api_key, token,
 * password, secret, ...), HTTP header lines "Name: value" (no header named
 * like a secret: Authorization, Cookie, *key*, *token*, *secret*; those
 * belong in a headers_file), a libpq conninfo (no password=).
 */
#define SAMSPOR_OPT_URL 0x08u
#define SAMSPOR_OPT_HEADERS 0x10u
#define SAMSPOR_OPT_CONNINFO 0x20u

/* Parsed settings of one group.  Opaque; read with the host's fill() or
 * getters. */
typedef struct samspor_settings samspor_settings;

/*
 * What fill() writes for an option with an offset, by type:
 *   STRING, PATH          const char *      (NULL: unset, no default)
 *   ENUM                  int               (index in `choices`, -1: unset)
 *   INT                   long long
 *   FLOAT, DURATION       double            (a duration in seconds)
 *   BOOL                  int               (0 or 1)
 *   STRLIST               samspor_strlist
 *   INTLIST               samspor_intlist
 *   GROUP                 const samspor_settings *
 *   GROUPLIST, MAP        samspor_grouplist
 * ANY cannot be filled.  Strings and arrays are borrowed from the settings:
 * valid until close() (for the core: until the settings are freed).
 */
typedef struct samspor_strlist {
  const char *const *items;
  size_t n;
} samspor_strlist;
typedef struct samspor_intlist {
  const long long *items;
  size_t n;
} samspor_intlist;
typedef struct samspor_grouplist {
  samspor_settings *const *items;
  size_t n;
} samspor_grouplist;

typedef struct samspor_option {
  const char *name;      /* option name as written in the config */
  samspor_opt_type type; /* value type */
  const char *def;       /* default, written as in the config, or NULL */
  unsigned flags;        /* SAMSPOR_OPT_* flags */
  double min, max;       /* numeric/duration range; min == max: none */
  const char *choices;   /* ENUM: "a|b|c"; else NULL */
  const char *help;      /* one or two sentences for a person */
  const struct samspor_option *sub; /* GROUP/GROUPLIST/MAP: member table */
  int fill;      /* nonzero: fill() writes the value at `offset` */
  size_t offset; /* offsetof(your struct, member) */
  size_t size;   /* sizeof the member: a member of the wrong size for the
                    type (an int for a STRING) is refused, not written;
                    set all three with SAMSPOR_AT */
} samspor_option;

/*
 * In a table entry: fill() puts this option's value into member `member`
 * of struct type `type` (the plugin's own: no layout is shared with the
 * core), e.g.
 *
 *     typedef struct my_conf { const char *url; long long page_size; } my_conf;
 *     static const samspor_option my_options[] = {
 *         {.name = "url", .type = SAMSPOR_OPT_STRING,
 *          SAMSPOR_AT(my_conf, url), .help = "..."},
 *         ...
 *     my_conf c;
 *     host->fill(args->source, my_options, &c);
 *
 * A plugin's code then never names an option as a string, so a misspelt
 * name cannot get past the compiler.
 */
#define SAMSPOR_AT(type, member)                                               \
  .fill = 1, .offset = offsetof(type, member),                                 \
  .size = sizeof(((type *)0)->member)

/* ---- the host: what the core offers a plugin -------------------------- */

typedef struct samspor_sink samspor_sink; /* where records go; opaque */
typedef struct samspor_ctx samspor_ctx;   /* connector/stream/run context */

#define SAMSPOR_LOG_ERROR 0
#define SAMSPOR_LOG_WARN 1
#define SAMSPOR_LOG_INFO 2
#define SAMSPOR_LOG_DEBUG 3

#if defined(__GNUC__)
#define SAMSPOR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SAMSPOR_PRINTF(f, a)
#endif

typedef struct samspor_host {
  uint32_t struct_size; /* sizeof(samspor_host) of the core */
  uint32_t abi_version; /* SAMSPOR_ABI_VERSION of the core */

  /*
   * Fill the typed struct `out` from settings `s`: every option of `table`
   * that has SAMSPOR_AT is written at its offset (see the list above the
   * option struct); the others are left alone.  `table` must be one of the
   * tables `s` was parsed with (a stream's settings hold the core's table
   * and the plugin's stream_options).  Defaults are applied, checks of
   * type, range and choice done.  Returns 0, or SAMSPOR_EINVAL (nothing
   * written) when `table` is not one of them or a member's size does not
   * fit its option's type.
   */
  int (*fill)(const samspor_settings *s, const samspor_option *table,
              void *out);

  /*
   * Settings getters, for what fill() does not cover (is_set) and for
   * plugins that prefer them.  `name` must be an option of the table the
   * settings were parsed with; defaults are already applied.  Strings are
   * borrowed: valid until close().  get_string returns NULL for an unset option
   * without default; a SECRET option returns the resolved secret.
   */
  const char *(*get_string)(const samspor_settings *s, const char *name);
  long long (*get_int)(const samspor_settings *s, const char *name);
  double (*get_float)(const samspor_settings *s, const char *name);
  int (*get_bool)(const samspor_settings *s, const char *name);
  double (*get_duration)(const samspor_settings *s, const char *name);
  /* Number of items of a STRLIST; *items (borrowed) is set to the array. */
  size_t (*get_list)(const samspor_settings *s, const char *name,
                     const char *const **items);
  /* Nonzero when the option was written in the configuration. */
  int (*is_set)(const samspor_settings *s, const char *name);
  /* The settings of a GROUP option, or NULL. */
  const samspor_settings *(*get_group)(const samspor_settings *s,
                                       const char *name);

  /* Logging with the connector/stream/run context attached.  Never log a
   * field value. */
  void (*log)(samspor_ctx *ctx, int level, const char *fmt, ...)
      SAMSPOR_PRINTF(3, 4);
  /* Record why the current call fails (last call wins).  No values. */
  void (*error)(samspor_ctx *ctx, const char *fmt, ...) SAMSPOR_PRINTF(2, 3);

  /*
   * Records.  `position` says where a record came from, for rejects and
   * errors: "unge_2026.csv:42", "page 3 item 17", "row 1004".  Borrowed
   * for the duration of the call.
   *
   * field(): value of requested field `index` (0..nfields-1) for the
   * current record; `value` NULL means absent/NULL.  Borrowed for the call
   * only: the core copies what it needs.  Fields not given are NULL.
   *
   * record_begin() and record_end() return 0, or a negative code when the
   * core wants the read to stop (the warehouse failed, a limit was
   * reached); the plugin then returns that code from read() promptly.
   */
  int (*record_begin)(samspor_sink *sink, const char *position);
  void (*field)(samspor_sink *sink, size_t index, const char *value,
                size_t len);
  int (*record_end)(samspor_sink *sink);
  /*
   * A record the plugin could not parse (wrong number of fields, invalid
   * byte sequence, ...).  `reason` is a short code ("field_count",
   * "encoding"), `message` a sentence without values.  Returns like
   * record_end().
   */
  int (*reject)(samspor_sink *sink, const char *position, const char *reason,
                const char *message);

  /*
   * Plugin state kept in the warehouse with the stream's cursor and
   * committed in the same transaction as the rows (e.g. files already
   * loaded: name, size, mtime).  A string the plugin owns the format of;
   * the core copies it.  Given back in samspor_open_args.state next run.
   */
  void (*set_state)(samspor_sink *sink, const char *state);
} samspor_host;

/* ---- the plugin ------------------------------------------------------- */

typedef struct samspor_open_args {
  uint32_t struct_size;           /* sizeof(samspor_open_args) of the core */
  const samspor_host *host;       /* valid until close() */
  samspor_ctx *ctx;               /* for host->log and host->error */
  samspor_sink *sink;             /* for the record functions */
  const samspor_settings *source; /* the connector's `source` group */
  const samspor_settings *stream; /* the stream (core + plugin options) */
  const char *const *fields;      /* requested fields: the columns' `from`,
                                     valid until close() */
  size_t nfields;
  /* The stored cursor (largest value loaded so far) or NULL when there is
   * none or --full was given; cursor_field is the index in `fields` of the
   * cursor column's source field, or -1.  A plugin that can filter at the
   * source (URL parameter, SQL $1) asks for values >= cursor: the core
   * removes the boundary rows it already has. */
  const char *cursor;
  int cursor_field;
  const char *state; /* set_state() of the last good run, or NULL */
  int full;          /* --full was given */
} samspor_open_args;

typedef struct samspor_check_args {
  uint32_t struct_size;
  const samspor_host *host;
  samspor_ctx *ctx;
  const samspor_settings *source;
} samspor_check_args;

typedef struct samspor_plugin {
  uint32_t struct_size; /* sizeof(samspor_plugin): compared first */
  uint32_t abi_version; /* SAMSPOR_ABI_VERSION: compared second */
  const char *name;     /* the `plugin` value in the config: "csv" */
  const char *version;  /* the plugin's own version */
  const char *description;
  const samspor_option *source_options; /* the connector's `source` group */
  const samspor_option *stream_options; /* extra options of each stream */

  /* Open one stream.  On success *handle is the plugin's and close() will
   * be called.  On failure nothing needs closing. */
  int (*open)(const samspor_open_args *args, void **handle);
  /* Emit every record of the stream through args->host/args->sink.
   * Returns 0 at the end of the data, or a negative code.  The core calls
   * read() on a thread of its own (so that parsing the source and making
   * rows each take a core), open() and close() on the main thread, one
   * after the other: a handle is never used by two threads at once, but
   * read() must not rely on thread-local state that open() set up.  The
   * host functions may be called from either. */
  int (*read)(void *handle);
  /* Release the handle.  Never fails. */
  void (*close)(void *handle);
  /* Optional (NULL): reach the source and verify credentials, loading
   * nothing.  For `samspor check --connect`. */
  int (*check)(const samspor_check_args *args);
  /* Optional (NULL): check the source settings exactly as open() would,
   * reaching nothing (no network, no source file), so that `samspor check`
   * refuses what `sync` would.  Returns 0, or a code after host->error
   * with a message that names the option at fault. */
  int (*validate)(const samspor_check_args *args);

  /*
   * Added after ABI 1 was published, at the end so that every field above
   * keeps its offset: the loader also accepts a descriptor whose
   * struct_size ends before it (a plugin built earlier), as if it were
   * NULL.
   *
   * Optional (NULL): for `samspor discover`.  Open the stream as open()
   * does, but with every field the source offers instead of requested
   * ones (args->fields is empty): a CSV header, an XML record's children,
   * the keys of the first JSON records, a query's columns.  *names (owned
   * by the handle, valid until close()) gets their names in order, and
   * read() then delivers field i as names[i].  The core stops the read
   * (record_end returns SAMSPOR_EABORT) after the records it samples, and
   * never prints a value.
   */
  int (*discover)(const samspor_open_args *args, void **handle,
                  const char *const **names, size_t *nnames);
} samspor_plugin;

/*
 * For a plugin's open(), check() and validate(): whether the core's host
 * and argument struct (args_size, the core's sizeof) are at least as large
 * as this header's (`want`, the plugin's sizeof), since a plugin reads
 * every field of them, and of this ABI version.  Return SAMSPOR_EABI when
 * not.
 */
static inline int samspor_abi_fits(const samspor_host *host, uint32_t args_size,
                                   size_t want) {
  return host && args_size >= want &&
         host->struct_size >= sizeof(samspor_host) &&
         host->abi_version == SAMSPOR_ABI_VERSION;
}

/* The size of a descriptor built before `discover` was added. */
#define SAMSPOR_PLUGIN_SIZE_NO_DISCOVER offsetof(samspor_plugin, discover)

#define SAMSPOR_DESCRIPTOR_SYMBOL "samspor_plugin_descriptor"

/* Put this once in a plugin, naming its static samspor_plugin. */
#define SAMSPOR_PLUGIN_EXPORT(desc)                                            \
  __attribute__((visibility("default"))) const samspor_plugin *                \
  samspor_plugin_descriptor(void);                                             \
  __attribute__((visibility("default"))) const samspor_plugin *                \
  samspor_plugin_descriptor(void) {                                            \
    return &(desc);                                                            \
  }

/*
 * The one backoff of samspor, for the daemon's retries of a run and for a
 * plugin's retries of a request: the delay before retry number `retry` (1
 * for the first) is full jitter over a capped exponential,
 * u * min(cap, base * 2^(retry-1)) seconds, with u uniform in [0, 1)
 * supplied by the caller (so this stays pure and the caller owns the
 * random state).  Never more than cap; 0 when base is not positive.
 */
static inline double samspor_backoff_delay(double base, double cap,
                                           unsigned retry, double u) {
  if (retry < 1)
    retry = 1;
  double d = base;
  /* Doubling stops at the cap, so no overflow however many retries. */
  for (unsigned i = 1; i < retry && d < cap; i++)
    d *= 2;
  if (d > cap)
    d = cap;
  if (d <= 0)
    return 0;
  if (u < 0)
    u = 0;
  if (u >= 1)
    u = 0.999999;
  return u * d;
}

#ifdef __cplusplus
}
#endif
#endif
