/*
 * conf.h — samspor's configuration: the core option tables, loading a
 * file (libconfig) into settings, loading the plugins it names, and the
 * checks that span options (keys name columns, names are unique, ...).
 *
 * A loaded sp_config is immutable; reload builds a new one and swaps it in
 * only when it is valid (PgBouncer's and Fluent Bit's way).
 */
#ifndef SAMSPOR_CONF_H
#define SAMSPOR_CONF_H

#include <libconfig.h>

#include "model/partner.h"
#include "base/options.h"
#include "model/plugin.h"
#include "model/ruletab.h"
#include "model/schedule.h"

typedef enum sp_mode {
  SP_MODE_FULL_REFRESH,
  SP_MODE_APPEND,
  SP_MODE_INCREMENTAL_DEDUP
} sp_mode;

/* One column of a stream's table. */
typedef struct sp_column {
  const samspor_settings *s; /* its options (owned by the stream) */
  const char *name;          /* column name in the warehouse */
  const char *from;          /* source field (header, position, path) */
  sp_rule rule;              /* keep, pseudonym, lookup, ... (ruletab.h) */
  const char *sql_type;      /* PostgreSQL type of the column */
  size_t field;              /* index of `from` in the stream's fields */
  int line;                  /* line in the config */
} sp_column;

/* One stream: one warehouse table fed from one record source. */
typedef struct sp_stream {
  samspor_settings *s; /* core + plugin stream options (owned) */
  const char *table;   /* table name in the warehouse schema */
  sp_mode mode;        /* how a load replaces or merges rows */
  sp_column *columns;  /* owned array */
  size_t ncolumns;
  const char **fields; /* distinct `from` values (borrowed strings) */
  size_t nfields;
  int cursor_column; /* index in columns of `cursor`, or -1 */
  int line;
} sp_stream;

/*
 * Typed settings, filled from the core's option tables at load
 * (sp_options_fill), so that code reads a member rather than looking an
 * option up by name.  Strings are borrowed from the settings.
 */
typedef struct sp_retry_conf {
  long long attempts;
  double backoff, max_backoff; /* seconds */
} sp_retry_conf;

typedef struct sp_connector_conf {
  const char *name, *plugin, *description, *schedule;
  int enabled;
  double jitter, timeout; /* seconds */
  const samspor_settings *retry_group;
  sp_retry_conf retry;
} sp_connector_conf;

typedef struct sp_daemon_conf {
  const char *timezone;
  long long max_parallel;
  const char *admin_socket;
  const char *metrics_file; /* or NULL */
  double grace;             /* seconds */
} sp_daemon_conf;

typedef struct sp_log_conf {
  int level;  /* SP_LOG_ERROR..SP_LOG_DEBUG: the order of its choices */
  int format; /* 0 logfmt, 1 json */
} sp_log_conf;

typedef struct sp_warehouse_conf {
  const char *conninfo, *password, *schema;
  double connect_timeout;
} sp_warehouse_conf;

typedef struct sp_root_conf {
  const samspor_settings *warehouse_group, *pseudonym_group, *daemon_group,
      *log_group, *partner_group;
  const char *plugin_dir;
  samspor_grouplist maps, connectors;
  sp_warehouse_conf warehouse;
  const char *key_file; /* pseudonym.key_file */
  sp_daemon_conf daemon;
  sp_log_conf log;
} sp_root_conf;

typedef struct sp_connector {
  const samspor_settings *s; /* connector options (owned by the root) */
  sp_connector_conf conf;    /* the same, typed */
  const char *name;
  const sp_plugin *plugin;  /* from the config's plugin set, or NULL */
  samspor_settings *source; /* plugin source options (owned) */
  sp_stream *streams;       /* owned array */
  size_t nstreams;
  sp_schedule *schedule; /* owned, NULL if invalid */
  int line;
} sp_connector;

typedef struct sp_config {
  char *path;             /* the file as given */
  char *basedir;          /* its directory, for relative paths */
  config_t cfg;           /* libconfig tree (settings point into it) */
  samspor_settings *root; /* core settings */
  sp_root_conf conf;      /* the same, typed */
  sp_plugin_set plugins;  /* plugins of plugin_dir */
  sp_connector *connectors;
  size_t nconnectors;
  sp_partner partner; /* the partner indicators */
} sp_config;

/* The core's option tables (for docs and `samspor plugins`). */
extern const samspor_option sp_root_options[];
extern const samspor_option sp_stream_options[];
extern const samspor_option sp_column_options[];

/* -c default: $SAMSPOR_CONFIG, else /etc/samspor/samspor.conf. */
const char *sp_config_default_path(void);

/*
 * Load and validate the configuration at path.  Every error and warning
 * goes to errs (all of them, not only the first).  Returns 0 and sets *out
 * (caller frees with sp_config_free) when there is no error; otherwise a
 * negative code (SAMSPOR_ECONFIG) and *out is NULL.
 */
int sp_config_load(const char *path, sp_config **out, sp_errors *errs);
void sp_config_free(sp_config *c);

const sp_connector *sp_config_connector(const sp_config *c, const char *name);

/* The warehouse schema for stream tables. */
const char *sp_config_schema(const sp_config *c);
const char *sp_config_timezone(const sp_config *c);

/*
 * Validate a conninfo string without connecting: it must parse, and it
 * must not hold a password (secrets are never written inline).  Returns 0
 * or writes why into err (never echoing the string) and returns
 * SAMSPOR_ECONFIG.
 */
int sp_conninfo_check(const char *conninfo, char *err, size_t errlen);

#endif
