#include "config.h"

#include "model/conf.h"
#include "base/secrets.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <unistd.h>

/* ---- the core option tables ------------------------------------------- */

/* What build_stream reads of a column and a stream, filled from the
 * tables below (the rules read the rest of a column's settings).  rule
 * and type stay strings, read by name: the code compares their text and
 * an ENUM fills an index. */
typedef struct column_conf {
  const char *name, *from, *kind, *map, *reference;
  int rule; /* an sp_rule: the choices are SP_RULE_CHOICES, in its order */
} column_conf;

typedef struct map_conf {
  const char *file, *extract;
} map_conf;

typedef struct stream_conf {
  const char *table, *cursor, *restrict_by, *retention_column;
  int mode; /* full_refresh|append|incremental_dedup: the order of sp_mode */
  samspor_strlist key;
  samspor_grouplist columns;
} stream_conf;

static const samspor_option warehouse_options[] = {
    {.name = "conninfo",
     SAMSPOR_AT(sp_warehouse_conf, conninfo),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "libpq connection string or URI (\"host=/run/postgresql "
         "dbname=warehouse user=samspor_loader\", or \"service=NAME\"). Every "
         "libpq setting, TLS ones included, may appear here; never a "
         "password."},
    {.name = "password",
     SAMSPOR_AT(sp_warehouse_conf, password),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_SECRET,
     .help = "The warehouse password, when the server asks for one."},
    {.name = "schema",
     SAMSPOR_AT(sp_warehouse_conf, schema),
     .type = SAMSPOR_OPT_STRING,
     .def = "warehouse",
     .help = "Schema that holds one table per stream."},
    {.name = "connect_timeout",
     SAMSPOR_AT(sp_warehouse_conf, connect_timeout),
     .type = SAMSPOR_OPT_DURATION,
     .def = "30s",
     .min = 1,
     .max = 3600,
     .help =
         "How long to wait for the warehouse before the run is counted as a "
         "temporary failure (exit status 75)."},
    {.name = NULL},
};

static const samspor_option pseudonym_options[] = {
    {.name = "key_file",
     SAMSPOR_AT(sp_root_conf, key_file),
     .type = SAMSPOR_OPT_PATH,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "File holding the 32-byte pseudonymisation key (samspor keygen FILE); "
         "mode 0600, owned by the user running samspor. Losing it breaks "
         "linkage with earlier loads; keep a backup offline."},
    {.name = NULL},
};

static const samspor_option daemon_options[] = {
    {.name = "timezone",
     SAMSPOR_AT(sp_daemon_conf, timezone),
     .type = SAMSPOR_OPT_STRING,
     .def = "Europe/Copenhagen",
     .help = "IANA time zone in which schedules are read."},
    {.name = "max_parallel",
     SAMSPOR_AT(sp_daemon_conf, max_parallel),
     .type = SAMSPOR_OPT_INT,
     .def = "2",
     .min = 1,
     .max = 64,
     .help = "How many connectors may sync at the same time."},
    {.name = "admin_socket",
     SAMSPOR_AT(sp_daemon_conf, admin_socket),
     .type = SAMSPOR_OPT_STRING,
     .def = "/run/samspor/admin.sock",
     .flags = SAMSPOR_OPT_RESTART,
     .help = "Unix socket (mode 0660) for samspor status, trigger and reload."},
    {.name = "metrics_file",
     SAMSPOR_AT(sp_daemon_conf, metrics_file),
     .type = SAMSPOR_OPT_STRING,
     .help = "Prometheus text file (node_exporter textfile collector), "
             "written when a run starts, as its streams report progress, and "
             "when it ends; none when unset."},
    {.name = "grace",
     SAMSPOR_AT(sp_daemon_conf, grace),
     .type = SAMSPOR_OPT_DURATION,
     .def = "30s",
     .min = 1,
     .max = 3600,
     .help =
         "After SIGTERM to a sync that must stop, how long before SIGKILL."},
    {.name = NULL},
};

static const samspor_option log_options[] = {
    {.name = "level",
     SAMSPOR_AT(sp_log_conf, level),
     .type = SAMSPOR_OPT_ENUM,
     .def = "info",
     .choices = "error|warn|info|debug",
     .help =
         "Least severe level logged; -v and -q on the command line move it."},
    {.name = "format",
     SAMSPOR_AT(sp_log_conf, format),
     .type = SAMSPOR_OPT_ENUM,
     .def = "logfmt",
     .choices = "logfmt|json",
     .help = "One line per event on stderr, as logfmt or as JSON (counts "
             "as numbers); under systemd the journal gets the priority and "
             "the context as fields."},
    {.name = NULL},
};

static const samspor_option map_options[] = {
    {.name = "file",
     SAMSPOR_AT(map_conf, file),
     .type = SAMSPOR_OPT_PATH,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "CSV file of key;value lines (UTF-8), e.g. an address and its housing "
         "area."},
    {.name = "extract",
     SAMSPOR_AT(map_conf, extract),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "POSIX extended regex applied to the value before lookup; its first "
         "group is the key (e.g. \"^([^,]+)\" keeps the street and number)."},
    {.name = "default",
     .type = SAMSPOR_OPT_STRING,
     .help = "Value for keys not in the map; without it an unmapped value "
             "sends the "
             "row to the rejects."},
    {.name = "delimiter",
     .type = SAMSPOR_OPT_STRING,
     .def = ";",
     .help = "Separator between key and value in the file."},
    {.name = NULL},
};

static const samspor_option retry_options[] = {
    {.name = "attempts",
     SAMSPOR_AT(sp_retry_conf, attempts),
     .type = SAMSPOR_OPT_INT,
     .def = "3",
     .max = 100,
     .help = "How many times the daemon retries a run that failed temporarily "
             "(exit "
             "status 75); 0: never."},
    {.name = "backoff",
     SAMSPOR_AT(sp_retry_conf, backoff),
     .type = SAMSPOR_OPT_DURATION,
     .def = "5m",
     .min = 1,
     .max = 86400,
     .help =
         "First retry delay; it doubles with each attempt, with full jitter."},
    {.name = "max_backoff",
     SAMSPOR_AT(sp_retry_conf, max_backoff),
     .type = SAMSPOR_OPT_DURATION,
     .def = "1h",
     .min = 1,
     .max = 7 * 86400,
     .help = "Cap on the retry delay."},
    {.name = NULL},
};

const samspor_option sp_column_options[] = {
    {.name = "name",
     SAMSPOR_AT(column_conf, name),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "Column name in the warehouse table (lowercase letters, digits, _)."},
    {.name = "from",
     SAMSPOR_AT(column_conf, from),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED | SP_OPT_INTOK,
     .help =
         "Source field: a CSV header name or 1-based position, an XPath "
         "relative to the record (xml), a dotted path in the record (rest), a "
         "result column (pgsql)."},
    {.name = "rule",
     SAMSPOR_AT(column_conf, rule),
     .type = SAMSPOR_OPT_ENUM,
     .def = "keep",
     .choices = SP_RULE_CHOICES,
     .help =
         "What happens to the value on the way in: keep it (typed), replace it "
         "by a pseudonym, derive birth year/month or gender from a CPR number, "
         "an age or age band, truncate a date, or look it up in a map."},
    {.name = "type",
     .type = SAMSPOR_OPT_ENUM,
     .def = "text",
     .choices = "text|int|bigint|numeric|date|timestamp|boolean",
     .help = "Type of a kept value (rule keep); also the input type of date "
             "rules."},
    {.name = "kind",
     SAMSPOR_AT(column_conf, kind),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Identifier kind for rule pseudonym: cpr (validated, normalised) or "
         "any "
         "other name (tenancy, pupil_id). Pseudonyms of one kind link across "
         "sources."},
    {.name = "map",
     SAMSPOR_AT(column_conf, map),
     .type = SAMSPOR_OPT_STRING,
     .help = "Name of a map in maps, for rule lookup."},
    {.name = "format",
     .type = SAMSPOR_OPT_STRING,
     .help =
         "strptime-style input format of a date or timestamp (\"%d-%m-%Y\"); "
         "ISO 8601 when unset."},
    {.name = "decimal_comma",
     .type = SAMSPOR_OPT_BOOL,
     .def = "false",
     .help = "Numbers are written 1.234,50 (comma decimal, dot thousands)."},
    {.name = "thousands_separator",
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Thousands separator to remove from numbers (\".\", \",\", \" \")."},
    {.name = "true_words",
     .type = SAMSPOR_OPT_STRLIST,
     .help =
         "Words read as true for type boolean (default: true, t, 1, ja, yes)."},
    {.name = "false_words",
     .type = SAMSPOR_OPT_STRLIST,
     .help = "Words read as false for type boolean (default: false, f, 0, nej, "
             "no)."},
    {.name = "bands",
     .type = SAMSPOR_OPT_INTLIST,
     .help =
         "Lower bounds of age bands for rule age_band, ascending, e.g. [0, 6, "
         "10, 15, 18, 25, 30, 65]."},
    {.name = "reference",
     SAMSPOR_AT(column_conf, reference),
     .type = SAMSPOR_OPT_STRING,
     .def = "run_date",
     .help =
         "Date at which rule age/age_band computes the age: run_date, or the "
         "name of a date column of the stream."},
    {.name = "not_null",
     .type = SAMSPOR_OPT_BOOL,
     .def = "false",
     .help = "A row without a value here is rejected (NOT NULL in the table)."},
    {.name = "description",
     .type = SAMSPOR_OPT_STRING,
     .flags = SP_OPT_INERT,
     .help = "Meaning of the column, for COMMENT ON COLUMN and the data "
             "dictionary."},
    {.name = NULL},
};

const samspor_option sp_stream_options[] = {
    {.name = "table",
     SAMSPOR_AT(stream_conf, table),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Table in the warehouse schema (lowercase letters, digits, _)."},
    {.name = "description",
     .type = SAMSPOR_OPT_STRING,
     .flags = SP_OPT_INERT,
     .help =
         "What the table holds, for COMMENT ON TABLE and the data dictionary."},
    {.name = "mode",
     SAMSPOR_AT(stream_conf, mode),
     .type = SAMSPOR_OPT_ENUM,
     .def = "full_refresh",
     .choices = "full_refresh|append|incremental_dedup",
     .help = "full_refresh replaces the table atomically; append adds rows; "
             "incremental_dedup upserts on key."},
    {.name = "key",
     SAMSPOR_AT(stream_conf, key),
     .type = SAMSPOR_OPT_STRLIST,
     .help = "Columns of the primary key (required for incremental_dedup)."},
    {.name = "cursor",
     SAMSPOR_AT(stream_conf, cursor),
     .type = SAMSPOR_OPT_STRING,
     .help =
         "Column whose largest loaded value is kept, so the next run asks the "
         "source only for newer rows."},
    {.name = "max_reject_ratio",
     .type = SAMSPOR_OPT_FLOAT,
     .flags = SP_OPT_INERT,
     .def = "0",
     .max = 1,
     .help =
         "Share of rows that may be rejected; above it the stream's load is "
         "rolled back and the run fails."},
    {.name = "on_duplicate",
     .type = SAMSPOR_OPT_ENUM,
     .def = "reject",
     .choices = "reject|first|last",
     .help =
         "What to do when one load holds the key twice: reject (load the first "
         "row, reject the others as duplicate_key, counted against "
         "max_reject_ratio), first or last (load that row, skip the others)."},
    {.name = "max_rejects_stored",
     .type = SAMSPOR_OPT_INT,
     .flags = SP_OPT_INERT,
     .def = "1000",
     .max = 100000000,
     .help =
         "Rejects kept in samspor.rejects per stream and run; the true count "
         "is "
         "in sync_run. Once more rows than this are rejected and the share so "
         "far is above max_reject_ratio, reading stops and the run fails."},
    {.name = "retention",
     .type = SAMSPOR_OPT_DURATION,
     .flags = SP_OPT_INERT,
     .min = 86400,
     .max = 200 * 365 * 86400.0,
     .help =
         "Rows whose retention_column is older than this are deleted with each "
         "load (\"6y\")."},
    {.name = "retention_column",
     SAMSPOR_AT(stream_conf, retention_column),
     .type = SAMSPOR_OPT_STRING,
     .flags = SP_OPT_INERT,
     .help = "Date column that retention is measured on."},
    {.name = "restrict_by",
     SAMSPOR_AT(stream_conf, restrict_by),
     .type = SAMSPOR_OPT_STRING,
     .flags = SP_OPT_INERT,
     .help =
         "Text column holding the housing area of each row (e.g. \"area\"): "
         "row-level security then lets an analyst login of an organisation "
         "(samspor grant ORG --role analyst --areas ...) see only its own "
         "areas' "
         "rows; members of samspor_analyst_all see all."},
    {.name = "columns",
     SAMSPOR_AT(stream_conf, columns),
     .type = SAMSPOR_OPT_GROUPLIST,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "The table's columns. Only these reach the warehouse: every other "
             "source field is dropped before anything is written or logged.",
     .sub = sp_column_options},
    {.name = NULL},
};

static const samspor_option connector_options[] = {
    {.name = "name",
     SAMSPOR_AT(sp_connector_conf, name),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help =
         "Unique name (lowercase letters, digits, _), used on the command line "
         "and in logs."},
    {.name = "plugin",
     SAMSPOR_AT(sp_connector_conf, plugin),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Source plugin: csv, xml, rest, pgsql (see samspor plugins)."},
    {.name = "description",
     SAMSPOR_AT(sp_connector_conf, description),
     .type = SAMSPOR_OPT_STRING,
     .help = "Who delivers the data and how, for the data dictionary."},
    {.name = "enabled",
     SAMSPOR_AT(sp_connector_conf, enabled),
     .type = SAMSPOR_OPT_BOOL,
     .def = "true",
     .help = "A disabled connector is validated but never scheduled."},
    {.name = "schedule",
     SAMSPOR_AT(sp_connector_conf, schedule),
     .type = SAMSPOR_OPT_STRING,
     .def = "@nightly",
     .help = "Five-field cron expression or @hourly, @daily, @nightly (30 3 * "
             "* *), "
             "@weekly, read in daemon.timezone."},
    {.name = "jitter",
     SAMSPOR_AT(sp_connector_conf, jitter),
     .type = SAMSPOR_OPT_DURATION,
     .def = "0s",
     .max = 86400,
     .help = "Random delay up to this long added to each scheduled run."},
    {.name = "timeout",
     SAMSPOR_AT(sp_connector_conf, timeout),
     .type = SAMSPOR_OPT_DURATION,
     .def = "1h",
     .min = 1,
     .max = 7 * 86400,
     .help = "A run still going after this long is stopped (SIGTERM, then "
             "SIGKILL)."},
    {.name = "retry",
     SAMSPOR_AT(sp_connector_conf, retry_group),
     .type = SAMSPOR_OPT_GROUP,
     .help = "Retries of temporary failures.",
     .sub = retry_options},
    {.name = "source",
     .type = SAMSPOR_OPT_ANY,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Where the data comes from: the plugin's source options (samspor "
             "plugins NAME)."},
    {.name = "streams",
     .type = SAMSPOR_OPT_GROUPLIST,
     .flags = SAMSPOR_OPT_REQUIRED | SP_OPT_DEFER,
     .help =
         "One or more streams, each loading one warehouse table; these options "
         "plus the plugin's stream options.",
     .sub = sp_stream_options},
    {.name = NULL},
};

const samspor_option sp_root_options[] = {
    {.name = "warehouse",
     SAMSPOR_AT(sp_root_conf, warehouse_group),
     .type = SAMSPOR_OPT_GROUP,
     .help = "The PostgreSQL warehouse.",
     .sub = warehouse_options},
    {.name = "pseudonym",
     SAMSPOR_AT(sp_root_conf, pseudonym_group),
     .type = SAMSPOR_OPT_GROUP,
     .help = "Pseudonymisation key.",
     .sub = pseudonym_options},
    {.name = "daemon",
     SAMSPOR_AT(sp_root_conf, daemon_group),
     .type = SAMSPOR_OPT_GROUP,
     .help = "samspor run: schedules, parallelism, control socket, metrics.",
     .sub = daemon_options},
    {.name = "log",
     SAMSPOR_AT(sp_root_conf, log_group),
     .type = SAMSPOR_OPT_GROUP,
     .help = "Logging to stderr.",
     .sub = log_options},
    {.name = "plugin_dir",
     SAMSPOR_AT(sp_root_conf, plugin_dir),
     .type = SAMSPOR_OPT_STRING,
     .help = "Directory of source plugins (default: the installed plugin "
             "directory; "
             "$SAMSPOR_PLUGIN_DIR overrides both)."},
    {.name = "maps",
     SAMSPOR_AT(sp_root_conf, maps),
     .type = SAMSPOR_OPT_MAP,
     .help = "Named lookup maps for rule lookup.",
     .sub = map_options},
    {.name = "connectors",
     SAMSPOR_AT(sp_root_conf, connectors),
     .type = SAMSPOR_OPT_GROUPLIST,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "The connectors: one per source system.",
     .sub = connector_options},
    {.name = "partner",
     SAMSPOR_AT(sp_root_conf, partner_group),
     .type = SAMSPOR_OPT_GROUP,
     .help =
         "The partners' indicators (schema partner): small-count suppression, "
         "the indicator queries, the report.",
     .sub = sp_partner_options},
    {.name = NULL},
};

/* ---- helpers ---------------------------------------------------------- */

int sp_conninfo_check(const char *conninfo, char *err, size_t errlen) {
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
  if (!opts) {
    /* libpq's message quotes the string, which could hold a password. */
    snprintf(err, errlen,
             "conninfo is not a valid libpq connection string or URI");
    PQfreemem(perr);
    return SAMSPOR_ECONFIG;
  }
  int rc = 0;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
      snprintf(err, errlen,
               "conninfo holds a password; remove it and write "
               "password_file or password_env in warehouse, or use a "
               "~/.pgpass or service file");
      rc = SAMSPOR_ECONFIG;
    }
  PQconninfoFree(opts);
  return rc;
}

/* sp_options_fill for settings that may be missing after a parse error
 * (out keeps its zeros).  A table the settings were not parsed with is a
 * bug that every test loading a configuration finds: stop at once. */
static void fill(const samspor_settings *s, const samspor_option *table,
                 void *out) {
  if (s && sp_options_fill(s, table, out) != 0)
    abort();
}

/* c->conf from c->root. */
static void fill_root(sp_config *c) {
  sp_root_conf *r = &c->conf;
  fill(c->root, sp_root_options, r);
  fill(r->warehouse_group, warehouse_options, &r->warehouse);
  fill(r->pseudonym_group, pseudonym_options, r);
  fill(r->daemon_group, daemon_options, &r->daemon);
  fill(r->log_group, log_options, &r->log);
}

const char *sp_config_default_path(void) {
  const char *env = getenv("SAMSPOR_CONFIG");
  return env && *env ? env : "/etc/samspor/samspor.conf";
}

static const sp_column *find_column(const sp_stream *st, const char *name) {
  for (size_t i = 0; i < st->ncolumns; i++)
    if (sp_streq(st->columns[i].name, name))
      return &st->columns[i];
  return NULL;
}

static int has_map(const sp_config *c, const char *name) {
  samspor_settings *const *maps = c->conf.maps.items;
  size_t n = c->conf.maps.n;
  for (size_t i = 0; i < n; i++)
    if (sp_streq(maps[i]->name, name))
      return 1;
  return 0;
}

/* The rule-specific settings of one column (kind, map, bands) and the
 * free-text warning. */
static void check_column_rule(const sp_config *c, const sp_column *col,
                              const samspor_settings *cs,
                              const column_conf *cconf, const char *file,
                              sp_errors *errs) {
  const sp_rule_def *rd = sp_rule_def_of(col->rule);
  if ((rd->needs & SP_RULE_NEEDS_KIND) && !cconf->kind)
    sp_errors_add(errs, file, col->line,
                  "%s: rule %s needs kind (cpr, or a name such as "
                  "tenancy)",
                  cs->where, rd->name);
  if (!(rd->needs & SP_RULE_NEEDS_KIND) && sp_is_set(cs, "kind"))
    sp_errors_add(errs, file, sp_get_line(cs, "kind"),
                  "%s: kind applies to rule pseudonym only", cs->where);
  if (rd->needs & SP_RULE_NEEDS_MAP) {
    const char *map = cconf->map;
    if (!map)
      sp_errors_add(errs, file, col->line,
                    "%s: rule lookup needs map (one of maps)", cs->where);
    else if (!has_map(c, map))
      sp_errors_add(errs, file, sp_get_line(cs, "map"),
                    "%s: map '%s' is not defined in maps", cs->where, map);
  } else if (sp_is_set(cs, "map")) {
    sp_errors_add(errs, file, sp_get_line(cs, "map"),
                  "%s: map applies to rule lookup only", cs->where);
  }
  if ((rd->needs & SP_RULE_NEEDS_BANDS) && !sp_is_set(cs, "bands"))
    sp_errors_add(errs, file, col->line,
                  "%s: rule %s needs bands, e.g. [0, 6, 10, 15, 18, "
                  "25, 30, 65]",
                  cs->where, rd->name);
  if (sp_is_set(cs, "bands")) {
    const sp_value *b = sp_settings_value(cs, "bands");
    for (size_t k = 1; k < b->nlist; k++)
      if (b->ilist[k] <= b->ilist[k - 1])
        sp_errors_add(errs, file, b->line,
                      "%s: bands must be strictly ascending", cs->where);
  }
  /* Free text can hold anything a person typed, names included: keeping
   * it must be a written decision, and check says so either way. */
  if (col->rule == SP_RULE_KEEP && sp_streq(col->sql_type, "text") &&
      !sp_is_set(cs, "rule"))
    sp_warnings_add(errs, file, col->line,
                    "%s keeps free text without saying so: free text can "
                    "hold names, addresses or CPR numbers; write rule = "
                    "\"keep\" once you have made sure it cannot",
                    cs->where);
}

/* One column of a stream: added to st->columns unless its name or source
 * is missing (reported already). */
static void build_column(const sp_config *c, sp_stream *st,
                         const samspor_settings *cs, const char *file,
                         sp_errors *errs) {
  sp_column *col = &st->columns[st->ncolumns];
  column_conf cconf = {0};
  fill(cs, sp_column_options, &cconf);
  col->s = cs;
  col->name = cconf.name;
  col->from = cconf.from;
  col->rule = cconf.rule >= 0 ? (sp_rule)cconf.rule : SP_RULE_KEEP;
  col->line = cs->line;
  if (!col->name || !col->from)
    return; /* already reported as missing */
  if (!sp_valid_ident(col->name))
    sp_errors_add(errs, file, col->line,
                  "column name '%s' in %s: use lowercase letters, digits "
                  "and _, starting with a letter",
                  col->name, cs->where);
  if (find_column(st, col->name))
    sp_errors_add(errs, file, col->line,
                  "column '%s' is declared twice in stream '%s'", col->name,
                  st->table);
  col->sql_type = sp_rule_sql_type(col->rule, sp_get_string(cs, "type"));
  check_column_rule(c, col, cs, &cconf, file, errs);
  /* Distinct source fields: several columns may derive from one field
   * (cpr -> person, birth_year, gender); the plugin resolves each once. */
  size_t f;
  for (f = 0; f < st->nfields; f++)
    if (strcmp(st->fields[f], col->from) == 0)
      break;
  if (f == st->nfields)
    st->fields[st->nfields++] = col->from;
  col->field = f;
  st->ncolumns++;
}

/* Second pass: references between columns. */
static void check_column_refs(const sp_stream *st, const char *file,
                              sp_errors *errs) {
  for (size_t i = 0; i < st->ncolumns; i++) {
    const samspor_settings *cs = st->columns[i].s;
    column_conf cconf = {0};
    fill(cs, sp_column_options, &cconf);
    const char *ref = cconf.reference;
    if ((sp_rule_def_of(st->columns[i].rule)->needs & SP_RULE_AGE_AT) && ref &&
        !sp_streq(ref, "run_date")) {
      const sp_column *rc = find_column(st, ref);
      if (!rc || !sp_streq(rc->sql_type, "date"))
        sp_errors_add(errs, file, sp_get_line(cs, "reference"),
                      "%s: reference '%s' is neither run_date nor a date "
                      "column of this stream",
                      cs->where, ref);
    }
  }
}

/* key and cursor: columns of the stream, and what the mode needs. */
static void check_key_cursor(sp_stream *st, const stream_conf *sc,
                             const char *file, sp_errors *errs) {
  const char *const *key = sc->key.items;
  size_t nkey = sc->key.n;
  for (size_t i = 0; i < nkey; i++)
    if (!find_column(st, key[i]))
      sp_errors_add(errs, file, sp_get_line(st->s, "key"),
                    "key column '%s' of stream '%s' is not one of its "
                    "columns",
                    key[i], st->table);
  if (st->mode == SP_MODE_INCREMENTAL_DEDUP && nkey == 0)
    sp_errors_add(errs, file, st->line,
                  "stream '%s': mode incremental_dedup needs key (the "
                  "columns that identify a row)",
                  st->table);
  const char *cursor = sc->cursor;
  if (cursor) {
    const sp_column *cc = find_column(st, cursor);
    if (!cc)
      sp_errors_add(errs, file, sp_get_line(st->s, "cursor"),
                    "cursor column '%s' of stream '%s' is not one of its "
                    "columns",
                    cursor, st->table);
    else
      st->cursor_column = (int)(cc - st->columns);
    if (st->mode == SP_MODE_FULL_REFRESH)
      sp_errors_add(errs, file, sp_get_line(st->s, "cursor"),
                    "stream '%s': a cursor loads only newer rows, which "
                    "mode full_refresh would then throw away; use append or "
                    "incremental_dedup",
                    st->table);
  }
}

/* restrict_by and retention: which columns they name, of what type. */
static void check_restrict_retention(const sp_stream *st, const stream_conf *sc,
                                     const char *file, sp_errors *errs) {
  const char *restrict_by = sc->restrict_by;
  if (restrict_by) {
    const sp_column *rc = find_column(st, restrict_by);
    if (!rc)
      sp_errors_add(errs, file, sp_get_line(st->s, "restrict_by"),
                    "restrict_by column '%s' of stream '%s' is not one of its "
                    "columns",
                    restrict_by, st->table);
    else if (!sp_streq(rc->sql_type, "text"))
      sp_errors_add(errs, file, sp_get_line(st->s, "restrict_by"),
                    "restrict_by column '%s' of stream '%s' is %s; it must "
                    "be a text column holding area names",
                    restrict_by, st->table, rc->sql_type);
  }
  int has_ret = sp_is_set(st->s, "retention");
  const char *retcol = sc->retention_column;
  if (has_ret && !retcol)
    sp_errors_add(errs, file, sp_get_line(st->s, "retention"),
                  "stream '%s': retention needs retention_column (a date "
                  "column)",
                  st->table);
  if (retcol) {
    const sp_column *rc = find_column(st, retcol);
    if (!has_ret)
      sp_errors_add(errs, file, sp_get_line(st->s, "retention_column"),
                    "stream '%s': retention_column needs retention (\"6y\")",
                    st->table);
    if (!rc)
      sp_errors_add(errs, file, sp_get_line(st->s, "retention_column"),
                    "retention column '%s' of stream '%s' is not one of its "
                    "columns",
                    retcol, st->table);
    else if (!sp_streq(rc->sql_type, "date") &&
             !sp_streq(rc->sql_type, "timestamptz"))
      sp_errors_add(errs, file, sp_get_line(st->s, "retention_column"),
                    "retention column '%s' of stream '%s' is %s, not a date",
                    retcol, st->table, rc->sql_type);
  }
}

/* Build the stream's column array and validate what spans options. */
static void build_stream(sp_config *c, const sp_connector *conn, sp_stream *st,
                         sp_errors *errs) {
  const char *file = st->s->file;
  stream_conf sc = {0};
  fill(st->s, sp_stream_options, &sc);
  samspor_settings *const *cols = sc.columns.items;
  size_t ncols = sc.columns.n;
  st->table = sc.table;
  st->line = st->s->line;
  st->mode = sc.mode == 1   ? SP_MODE_APPEND
             : sc.mode == 2 ? SP_MODE_INCREMENTAL_DEDUP
                            : SP_MODE_FULL_REFRESH;
  st->cursor_column = -1;
  if (st->table && !sp_valid_ident(st->table))
    sp_errors_add(errs, file, st->line,
                  "table name '%s' in connector '%s': use lowercase letters, "
                  "digits and _, starting with a letter (at most 63)",
                  st->table, conn->name);
  if (ncols == 0 && sp_is_set(st->s, "columns"))
    sp_errors_add(errs, file, sp_get_line(st->s, "columns"),
                  "stream '%s' of connector '%s' declares no columns",
                  st->table ? st->table : "?", conn->name);

  st->columns = sp_xcalloc(ncols ? ncols : 1, sizeof(sp_column));
  st->fields = sp_xcalloc(ncols ? ncols : 1, sizeof(char *));
  for (size_t i = 0; i < ncols; i++)
    build_column(c, st, cols[i], file, errs);
  check_column_refs(st, file, errs);
  check_key_cursor(st, &sc, file, errs);
  check_restrict_retention(st, &sc, file, errs);
}

/*
 * Refuse secrets written inline in a source's settings, by what each
 * option declares it holds (SAMSPOR_OPT_URL, _HEADERS, _CONNINFO): the
 * message names file:line and the *_file or *_env that takes the secret,
 * never the secret.
 */
static void check_inline_secrets(const samspor_settings *s, sp_errors *errs) {
  char why[128];
  for (size_t i = 0; s && i < s->nvals; i++) {
    const sp_value *v = &s->vals[i];
    const samspor_option *o = v->opt;
    int line = v->line ? v->line : s->line;
    if (!v->set)
      continue;
    if ((o->flags & SAMSPOR_OPT_URL) && v->str &&
        sp_url_has_secret(v->str, why, sizeof why))
      sp_errors_add(errs, s->file, line,
                    "%s of %s holds %s; secrets are never written inline: "
                    "give the user in username and the password in "
                    "password_file or password_env, a token in token_file "
                    "or token_env, or a key header in headers_file",
                    o->name, s->where, why);
    for (size_t k = 0; (o->flags & SAMSPOR_OPT_HEADERS) && k < v->nlist; k++)
      if (sp_header_is_secret(v->list[k])) {
        const char *colon = strchr(v->list[k], ':');
        int n = colon ? (int)(colon - v->list[k]) : 0;
        sp_errors_add(errs, s->file, line,
                      "%s of %s: header '%.*s' carries a secret; secrets are "
                      "never written inline: put the line in headers_file (a "
                      "file readable only by samspor)",
                      o->name, s->where, n > 64 ? 64 : n, v->list[k]);
      }
    char cerr[256];
    if ((o->flags & SAMSPOR_OPT_CONNINFO) && v->str &&
        sp_conninfo_check(v->str, cerr, sizeof cerr) != 0) {
      char *perr = NULL;
      PQconninfoOption *po = PQconninfoParse(v->str, &perr);
      int parses = po != NULL;
      PQconninfoFree(po);
      PQfreemem(perr);
      sp_errors_add(errs, s->file, line,
                    parses ? "%s of %s holds a password; secrets are never "
                             "written inline: remove it and write "
                             "password_file or password_env next to it, or "
                             "use a ~/.pgpass or service file"
                           : "%s of %s is not a valid libpq connection "
                             "string or URI",
                    o->name, s->where);
    }
  }
}

static void build_connector(sp_config *c, sp_connector *conn,
                            samspor_settings *cs, sp_errors *errs) {
  conn->s = cs;
  fill(cs, connector_options, &conn->conf);
  fill(conn->conf.retry_group, retry_options, &conn->conf.retry);
  conn->name = conn->conf.name;
  conn->line = cs->line;
  const char *file = cs->file;
  const char *label = conn->name ? conn->name : "?";
  if (conn->name && !sp_valid_ident(conn->name))
    sp_errors_add(errs, file, sp_get_line(cs, "name"),
                  "connector name '%s': use lowercase letters, digits and "
                  "_, starting with a letter",
                  conn->name);

  const char *sched = conn->conf.schedule;
  if (sched) {
    char err[256];
    if (sp_schedule_parse(sched, &conn->schedule, err, sizeof err) != 0)
      sp_errors_add(errs, file, sp_get_line(cs, "schedule"),
                    "schedule '%s' of connector '%s': %s", sched, label, err);
  }

  const char *pname = conn->conf.plugin;
  if (pname) {
    conn->plugin = sp_plugin_set_find(&c->plugins, pname);
    if (!conn->plugin) {
      sp_buf avail;
      sp_buf_init(&avail);
      for (size_t i = 0; i < c->plugins.n; i++)
        sp_buf_printf(&avail, "%s%s", i ? ", " : "",
                      c->plugins.plugins[i].desc->name);
      sp_errors_add(errs, file, sp_get_line(cs, "plugin"),
                    "unknown plugin '%s' in connector '%s'; plugins in %s: "
                    "%s",
                    pname, label, c->plugins.dir,
                    avail.data ? avail.data : "(none)");
      sp_buf_free(&avail);
    }
  }
  const samspor_option *src_table =
      conn->plugin ? conn->plugin->desc->source_options : NULL;
  const samspor_option *stream_extra =
      conn->plugin ? conn->plugin->desc->stream_options : NULL;

  const sp_value *src = sp_settings_value(cs, "source");
  char *where = sp_xasprintf("source of connector '%s'", label);
  if (conn->plugin)
    conn->source = sp_settings_parse(src ? src->raw : NULL, src_table, NULL,
                                     where, c->basedir, errs);
  free(where);
  check_inline_secrets(conn->source, errs);

  const sp_value *sv = sp_settings_value(cs, "streams");
  const config_setting_t *raw = sv ? sv->raw : NULL;
  if (!raw)
    return;
  if (config_setting_type(raw) != CONFIG_TYPE_LIST) {
    sp_errors_add(errs, file, sp_get_line(cs, "streams"),
                  "option 'streams' in connector '%s': expected a list of "
                  "groups (( { ... } ))",
                  label);
    return;
  }
  int n = config_setting_length(raw);
  conn->streams = sp_xcalloc(n > 0 ? (size_t)n : 1, sizeof(sp_stream));
  for (int i = 0; i < n; i++) {
    const config_setting_t *e = config_setting_get_elem(raw, (unsigned)i);
    if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
      sp_errors_add(errs, file, (int)config_setting_source_line(e),
                    "stream %d of connector '%s' is not a group { ... }", i + 1,
                    label);
      continue;
    }
    const config_setting_t *t = config_setting_get_member(e, "table");
    const char *tname = t && config_setting_type(t) == CONFIG_TYPE_STRING
                            ? config_setting_get_string(t)
                            : NULL;
    char *swhere =
        tname ? sp_xasprintf("stream '%s' of connector '%s'", tname, label)
              : sp_xasprintf("stream #%d of connector '%s'", i + 1, label);
    sp_stream *st = &conn->streams[conn->nstreams++];
    st->s = sp_settings_parse(e, sp_stream_options, stream_extra, swhere,
                              c->basedir, errs);
    free(swhere);
    build_stream(c, conn, st, errs);
  }
  if (n == 0)
    sp_errors_add(errs, file, sp_get_line(cs, "streams"),
                  "connector '%s' has no streams", label);
}

static void check_maps(sp_config *c, sp_errors *errs) {
  samspor_settings *const *maps = c->conf.maps.items;
  size_t n = c->conf.maps.n;
  for (size_t i = 0; i < n; i++) {
    map_conf mc = {0};
    fill(maps[i], map_options, &mc);
    const char *re = mc.extract;
    const char *file = mc.file;
    if (re) {
      regex_t rx;
      int rc = regcomp(&rx, re, REG_EXTENDED);
      if (rc != 0) {
        char msg[256];
        regerror(rc, &rx, msg, sizeof msg);
        sp_errors_add(errs, maps[i]->file, sp_get_line(maps[i], "extract"),
                      "map '%s': extract is not a valid POSIX extended "
                      "regex: %s",
                      maps[i]->name, msg);
      } else {
        if (rx.re_nsub < 1)
          sp_errors_add(errs, maps[i]->file, sp_get_line(maps[i], "extract"),
                        "map '%s': extract needs a group ( ... ) around the "
                        "key",
                        maps[i]->name);
        regfree(&rx);
      }
    }
    if (file && access(file, R_OK) != 0)
      sp_warnings_add(errs, maps[i]->file, sp_get_line(maps[i], "file"),
                      "map '%s': file %s: %s", maps[i]->name, file,
                      strerror(errno));
  }
}

int sp_config_load(const char *path, sp_config **out, sp_errors *errs) {
  *out = NULL;
  sp_config *c = sp_xcalloc(1, sizeof *c);
  c->path = sp_xstrdup(path);
  const char *slash = strrchr(path, '/');
  c->basedir =
      slash ? sp_xstrndup(path, (size_t)(slash - path)) : sp_xstrdup(".");
  config_init(&c->cfg);
  config_set_include_dir(&c->cfg, c->basedir);
  if (config_read_file(&c->cfg, path) != CONFIG_TRUE) {
    if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO)
      sp_errors_add(errs, NULL, 0, "cannot read configuration %s: %s", path,
                    strerror(errno ? errno : ENOENT));
    else {
      /* libconfig's text is often "syntax error" itself: say it once. */
      const char *text = config_error_text(&c->cfg);
      int bare = text && strstr(text, "syntax error") != NULL;
      sp_errors_add(
          errs, config_error_file(&c->cfg) ? config_error_file(&c->cfg) : path,
          config_error_line(&c->cfg), "%s%s",
          bare ? "" : "syntax error: ", text ? text : "");
    }
    sp_config_free(c);
    return SAMSPOR_ECONFIG;
  }
  size_t before = errs->nerrors;
  c->root = sp_settings_parse(config_root_setting(&c->cfg), sp_root_options,
                              NULL, SP_ROOT_WHERE, c->basedir, errs);
  fill_root(c);

  const samspor_settings *dmn = c->conf.daemon_group;
  const char *tz = c->conf.daemon.timezone;
  if (tz && !sp_tz_valid(tz))
    sp_errors_add(errs, dmn->file, sp_get_line(dmn, "timezone"),
                  "timezone '%s' is not an IANA time zone (e.g. "
                  "Europe/Copenhagen)",
                  tz);
  const char *schema = c->conf.warehouse.schema;
  if (schema &&
      (!sp_valid_ident(schema) || strcmp(schema, "samspor") == 0 ||
       strcmp(schema, "partner") == 0 || strncmp(schema, "pg_", 3) == 0))
    sp_errors_add(errs, c->root->file,
                  sp_get_line(sp_get_group(c->root, "warehouse"), "schema"),
                  "warehouse schema '%s': use lowercase letters, digits and "
                  "_; samspor and partner are reserved",
                  schema);
  check_maps(c, errs);
  const samspor_settings *wh = c->conf.warehouse_group;
  const char *conninfo = c->conf.warehouse.conninfo;
  char cerr[256];
  if (conninfo && sp_conninfo_check(conninfo, cerr, sizeof cerr) != 0)
    sp_errors_add(errs, wh->file, sp_get_line(wh, "conninfo"), "%s", cerr);

  const char *dir = sp_plugin_dir(c->conf.plugin_dir);
  if (sp_plugin_set_load(dir, &c->plugins) != 0)
    sp_warnings_add(errs, c->root->file, sp_get_line(c->root, "plugin_dir"),
                    "plugin directory %s: %s", dir, strerror(errno));
  for (size_t i = 0; i < c->plugins.nrefused; i++)
    sp_warnings_add(errs, NULL, 0, "plugin refused: %s", c->plugins.refused[i]);

  samspor_settings *const *items = c->conf.connectors.items;
  size_t n = c->conf.connectors.n;
  c->connectors = sp_xcalloc(n ? n : 1, sizeof(sp_connector));
  for (size_t i = 0; i < n; i++) {
    sp_connector *conn = &c->connectors[c->nconnectors++];
    build_connector(c, conn, items[i], errs);
    for (size_t j = 0; j + 1 < c->nconnectors; j++)
      if (conn->name && sp_streq(c->connectors[j].name, conn->name))
        sp_errors_add(errs, items[i]->file, sp_get_line(items[i], "name"),
                      "two connectors are named '%s' (the other at line %d)",
                      conn->name, c->connectors[j].line);
  }
  if (n == 0 && sp_is_set(c->root, "connectors"))
    sp_warnings_add(errs, c->root->file, sp_get_line(c->root, "connectors"),
                    "no connectors are configured");
  /* Two streams writing one table would overwrite each other. */
  for (size_t i = 0; i < c->nconnectors; i++)
    for (size_t s = 0; s < c->connectors[i].nstreams; s++) {
      const sp_stream *a = &c->connectors[i].streams[s];
      for (size_t j = 0; j <= i; j++)
        for (size_t t = 0; t < c->connectors[j].nstreams; t++) {
          const sp_stream *b = &c->connectors[j].streams[t];
          if (b == a)
            goto next;
          if (a->table && sp_streq(a->table, b->table))
            sp_errors_add(errs, a->s->file, a->line,
                          "table '%s' is loaded by two streams (the other at "
                          "line %d); give each stream its own table",
                          a->table, b->line);
        }
    next:;
    }

  (void)sp_partner_init(&c->partner, c->conf.partner_group, c->root->file,
                        errs);

  if (errs->nerrors > before) {
    sp_config_free(c);
    return SAMSPOR_ECONFIG;
  }
  *out = c;
  return 0;
}

void sp_config_free(sp_config *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->nconnectors; i++) {
    sp_connector *conn = &c->connectors[i];
    for (size_t s = 0; s < conn->nstreams; s++) {
      sp_settings_free(conn->streams[s].s);
      free(conn->streams[s].columns);
      free(conn->streams[s].fields);
    }
    free(conn->streams);
    sp_settings_free(conn->source);
    sp_schedule_free(conn->schedule);
  }
  free(c->connectors);
  sp_partner_free(&c->partner);
  sp_settings_free(c->root);
  /* Plugins last: settings may point into their option tables. */
  sp_plugin_set_free(&c->plugins);
  config_destroy(&c->cfg);
  free(c->path);
  free(c->basedir);
  free(c);
}

const sp_connector *sp_config_connector(const sp_config *c, const char *name) {
  for (size_t i = 0; i < c->nconnectors; i++)
    if (sp_streq(c->connectors[i].name, name))
      return &c->connectors[i];
  return NULL;
}

const sp_partner *sp_config_partner(const sp_config *c) {
  return &c->partner;
}

const char *sp_config_schema(const sp_config *c) {
  return c->conf.warehouse.schema;
}

const char *sp_config_timezone(const sp_config *c) {
  return c->conf.daemon.timezone;
}
