/*
 * discover.h — `samspor discover`: the fields a source offers, a guess of
 * each one's type and format from the first records, and a `columns`
 * skeleton with privacy-safe defaults.  Never a value.
 */
#ifndef SAMSPOR_DISCOVER_H
#define SAMSPOR_DISCOVER_H

#include <stdio.h>

#include "model/plugin.h"

typedef struct sp_discover_args {
  const samspor_plugin *plugin;
  const samspor_settings *source; /* the plugin's source settings */
  const samspor_settings *stream; /* core and plugin stream settings */
  const char *connector;          /* for messages and the heading */
  const char *stream_name;        /* the stream's table, or NULL */
  long long sample;               /* records to look at */
} sp_discover_args;

/*
 * Open the source through the plugin's discover(), read up to a->sample
 * records and print the fields, the guesses and the skeleton to `out`.
 * Returns 0, or a SAMSPOR_E* code with the reason (no value) in err.
 */
int sp_discover(const sp_discover_args *a, FILE *out, char *err, size_t errlen);

#endif
