/*
 * options.h — the option-table engine.  One samspor_option table per group
 * (core or plugin) drives parsing from libconfig, defaults, validation,
 * secrets, `samspor plugins`, the man page and the data dictionary.
 *
 * Idea from Fluent Bit's flb_config_map and PgBouncer's CF_ABS rows.
 * Values are parsed into a generic settings object first (the tables of a
 * stream come from the core and a plugin); sp_options_fill() then copies
 * them into the caller's typed struct at each option's offset, so no struct
 * layout is shared between the core and a dlopen'd plugin.
 */
#ifndef SAMSPOR_OPTIONS_H
#define SAMSPOR_OPTIONS_H

#include <stdio.h>

#include <libconfig.h>

#include "samspor-plugin.h"
#include "base/util.h"

/* Internal flag: the generic pass leaves this option to the caller (a
 * connector's `source` and `streams` need the plugin's table first). */
#define SP_OPT_DEFER 0x100u
/* Internal flag: a STRING option that also takes an integer (a column's
 * `from`, which is a header name or a 1-based position). */
#define SP_OPT_INTOK 0x200u
/* Internal flag: the option shapes no stored value (a description, the
 * retention, the reject limits, row-level access), so a stream's row
 * fingerprint leaves it out: changing it rewrites no row. */
#define SP_OPT_INERT 0x400u

/* The `where` of the top-level group: its members are named without it. */
#define SP_ROOT_WHERE "the configuration"

/*
 * Collected errors and warnings: "file:line: message" strings.  Parsing
 * goes on after an error so that one run reports all of them.
 */
typedef struct sp_errors {
  char **errors; /* owned strings */
  size_t nerrors;
  char **warnings; /* owned strings */
  size_t nwarnings;
} sp_errors;

void sp_errors_init(sp_errors *e);
void sp_errors_free(sp_errors *e);
void sp_errors_add(sp_errors *e, const char *file, int line, const char *fmt,
                   ...) SP_PRINTF(4, 5);
void sp_warnings_add(sp_errors *e, const char *file, int line, const char *fmt,
                     ...) SP_PRINTF(4, 5);
/* Print every error ("error: ...") and warning to f. */
void sp_errors_print(const sp_errors *e, FILE *f);

/* One parsed option value.  Which members are meaningful depends on type. */
typedef struct sp_value {
  const samspor_option *opt; /* the declaration */
  int set;                   /* written in the configuration */
  int line;                  /* its line, 0 for a default */
  char *str;   /* STRING/ENUM/PATH/DURATION text; resolved secret */
  long long i; /* INT; BOOL as 0/1 */
  double f;    /* FLOAT; DURATION in seconds */
  char **list; /* STRLIST items (owned), NULL-terminated */
  size_t nlist;
  long long *ilist;         /* INTLIST items (owned) */
  samspor_settings *group;  /* GROUP (always present, defaults if unset) */
  samspor_settings **items; /* GROUPLIST / MAP members (owned) */
  size_t nitems;
  const config_setting_t *raw; /* ANY and deferred options: the setting */
  char *secret_from;           /* SECRET: "file /path" or "env NAME" */
  char *secret_problem; /* SECRET: why it could not be read yet, or NULL */
} sp_value;

struct samspor_settings {
  const samspor_option *tables[2]; /* the declaring tables */
  sp_value *vals;                  /* one per declared option */
  size_t nvals;
  char *name;       /* MAP member name, or the group's label */
  char *where;      /* "connector 'x'" for messages */
  const char *file; /* config file of the group (libconfig owns it) */
  int line;         /* line of the group */
};

/*
 * Parse `group` (may be NULL: all defaults) against one or two option
 * tables.  Relative PATH values and *_file secrets are taken relative to
 * `basedir`.  `where` names the group in messages ("connector 'x'").
 * Errors and warnings are appended to errs; the returned settings (never
 * NULL, caller frees with sp_settings_free) hold whatever could be parsed.
 */
samspor_settings *sp_settings_parse(const config_setting_t *group,
                                    const samspor_option *table,
                                    const samspor_option *extra,
                                    const char *where, const char *basedir,
                                    sp_errors *errs);
void sp_settings_free(samspor_settings *s);

/*
 * Every value of s and of its groups, in a fixed order and without
 * ambiguity, fed to absorb (a hash's update): two settings that differ in
 * anything but a secret or an SP_OPT_INERT option feed different bytes.  For a
 * fingerprint of what a stream does (sync.c's row digests).
 */
void sp_settings_absorb(const samspor_settings *s, sp_absorb_fn absorb,
                        void *ud);

/* The value of option `name`, or NULL when `name` is not declared. */
const sp_value *sp_settings_value(const samspor_settings *s, const char *name);

/* Getters (the same ones plugins get through samspor_host). */
const char *sp_get_string(const samspor_settings *s, const char *name);
long long sp_get_int(const samspor_settings *s, const char *name);
double sp_get_float(const samspor_settings *s, const char *name);
int sp_get_bool(const samspor_settings *s, const char *name);
double sp_get_duration(const samspor_settings *s, const char *name);
size_t sp_get_list(const samspor_settings *s, const char *name,
                   const char *const **items);
int sp_is_set(const samspor_settings *s, const char *name);
const samspor_settings *sp_get_group(const samspor_settings *s,
                                     const char *name);
/* GROUPLIST/MAP members; returns their number. */
size_t sp_get_items(const samspor_settings *s, const char *name,
                    samspor_settings *const **items);
/* Line of the option in the config, or of its group when unset. */
int sp_get_line(const samspor_settings *s, const char *name);

/*
 * Fill the typed struct `out` from s: each option of `table` declared with
 * SAMSPOR_AT is written at its offset (types: see samspor-plugin.h).
 * `table` must be one of the tables s was parsed with.  Returns 0 or
 * SAMSPOR_EINVAL.  Plugins get it as host->fill.
 */
int sp_options_fill(const samspor_settings *s, const samspor_option *table,
                    void *out);

/*
 * Check a table (and its sub-tables) for mistakes the compiler cannot see:
 * a name declared twice, an ENUM default not among its choices, an ANY
 * option with an offset, a member whose size does not fit its type (an
 * int for a STRING).  Appends one line per problem to `problems`
 * (names prefixed with `prefix`); returns 0 or -1.  The unit tests run it
 * on every table of the core and of the plugins.
 */
int sp_options_check(const samspor_option *table, const char *prefix,
                     sp_buf *problems);
/* Whether `name` is an option of `table` (not of its sub-tables). */
int sp_options_declared(const samspor_option *table, const char *name);

/*
 * Durations: a sequence of <number><unit> with units s, m, h, d, w, y
 * ("90s", "1h30m", "6y"); a year is 365 days.  Returns 0 and the seconds,
 * or -1.
 */
int sp_duration_parse(const char *s, double *seconds);
/* "1h30m" style text for a number of seconds, into buf. */
void sp_duration_format(double seconds, char *buf, size_t len);

/* Name of a type for people: "string", "duration", ... */
const char *sp_opt_type_name(samspor_opt_type t);

/*
 * Describe a table for people (samspor plugins, --help): one block per
 * option with type, default, required/secret and range, indented by
 * `indent`, nested tables included.  `prefix` is prepended to names
 * ("source." "streams[].").
 */
void sp_options_describe(FILE *f, const samspor_option *table,
                         const char *prefix, int indent);
/* The same as roff for the man page. */
/* `s` as roff text: minus signs as \-, a leading . or ' made literal. */
void sp_roff_escape(FILE *f, const char *s);
void sp_options_roff(FILE *f, const samspor_option *table, const char *prefix);

#endif
