/*
 * xml_state.h — the xml plugin's state: the files a stream has loaded
 * (name, size, modification time), kept by the core with the stream's
 * cursor, so that in append mode a file already loaded is not loaded
 * again.  The text is the csv plugin's, a JSON list:
 *
 *   [{"name":"elever_2026-01-05.xml","size":123,"mtime":1767600000},...]
 *
 * so that the two plugins (and a later shared implementation in
 * plugins/common) read each other's state.
 */
#ifndef SAMSPOR_XML_STATE_H
#define SAMSPOR_XML_STATE_H

#include <stddef.h>

#include "transport.h"

/* Files remembered in append mode: a daily export is remembered for
 * years; older ones are no longer in the directory in practice. */
#define XML_STATE_MAX 1000

typedef struct xml_seen {
  char *name; /* owned */
  long long size, mtime;
} xml_seen;

typedef struct xml_state {
  xml_seen *v; /* owned, n entries */
  size_t n;
} xml_state;

/*
 * Parse a stored state.  Returns 0 with *out (free with xml_state_free),
 * 1 when the text is not such a list, or SAMSPOR_ENOMEM.
 */
int xml_state_parse(const char *json, xml_state *out);
void xml_state_free(xml_state *s);

/* Nonzero when f is in s: same name, size and mtime.  A file whose mtime
 * is unknown (an https server without Last-Modified) is never in it, since
 * a new version could not be told apart. */
int xml_state_has(const xml_state *s, const sp_file *f);

/*
 * The state after a complete read of files[0..n): those files, after the
 * entries of `old` (NULL when not in append mode) whose name is not among
 * them, and of all these only the last XML_STATE_MAX.  Returns a malloc'd
 * string (caller frees) or NULL when out of memory.
 */
char *xml_state_json(const xml_state *old, const sp_file *files, size_t n);

#endif
