/*
 * loaded.h — the files a file-based plugin (csv, xml) has loaded, kept as
 * the stream's plugin state so that in append mode a file already loaded
 * (same name, size and modification time) is not loaded again.  The core
 * stores the text (samspor.sync_state.plugin_state) and hands it back to
 * the next run; it is a JSON list, one object per file:
 *
 *   [{"name":"unge_2026-01-05.csv","size":123,"mtime":1767600000},...]
 *
 * The csv and xml plugins write the same text, so either reads the other's
 * state.  Compiled into each plugin that uses it, like transport.c, so
 * everything here is hidden.
 *
 * Ownership: an spp_loaded filled by spp_loaded_parse() owns its array and
 * names until spp_loaded_free(); spp_loaded_json() returns a string the
 * caller frees.  Only spp_loaded_skip() reports through the host, with
 * the plugin's name and wording given by the caller, as only it knows
 * which plugin is refusing what.
 */
#ifndef SAMSPOR_LOADED_H
#define SAMSPOR_LOADED_H

#include <stddef.h>

#include "transport.h"

/* Files remembered in append mode: a daily export is remembered for
 * years; older ones are no longer in the directory in practice, and the
 * state stays small enough to store on every run. */
#define SPP_LOADED_MAX 1000

/* One file loaded by an earlier run. */
typedef struct spp_loaded_file {
  char *name; /* owned; the bytes of the name, which need not be UTF-8 */
  long long size, mtime;
} spp_loaded_file;

/* The files of a stored state, in the order stored (oldest first). */
typedef struct spp_loaded {
  spp_loaded_file *v; /* owned, n entries */
  size_t n;
} spp_loaded;

/*
 * Parse a stored state into *out (which need not be initialised; on every
 * return it is either empty or, on 0, the caller's to spp_loaded_free()).
 * Keys of an object may come in any order; other keys with a string or
 * number value are ignored.  Returns 0; 1 when the text is not such a list
 * (e.g. a state the plugin did not write, which the caller refuses rather
 * than guess at: loading every file again would duplicate rows); or
 * SAMSPOR_ENOMEM.
 */
int spp_loaded_parse(const char *json, spp_loaded *out);

/* Free what s owns and leave it empty (s itself is the caller's).  Safe on
 * an empty or zeroed spp_loaded, and twice. */
void spp_loaded_free(spp_loaded *s);

/* Nonzero when f is in s: same name, size and mtime.  A file whose mtime
 * is unknown (an https server without Last-Modified) is never in it, since
 * a new version could not be told apart. */
int spp_loaded_has(const spp_loaded *s, const spp_file *f);

/*
 * The state after a complete read of files[0..n): the entries of `old`
 * (NULL when not in append mode) whose name is not among those files, so
 * that the skipping goes on working, then those files; and of all these
 * only the last SPP_LOADED_MAX.  A name that is not valid UTF-8 has each
 * byte >= 0x80 written as \u00XX (spp_loaded_parse() turns them back into
 * the bytes), so that the text is always valid UTF-8 and the same name
 * always gives the same text.  Returns a malloc'd string (the caller
 * frees it) or NULL when out of memory.
 */
char *spp_loaded_json(const spp_loaded *old, const spp_file *files, size_t n);

/*
 * What csv and xml do at open in append mode: parse the stored state
 * a->state into *loaded and drop from files[0..*nfiles) (compacting it,
 * freeing the name and url of each dropped file) those loaded before,
 * logging each at INFO.  Without a state, with a->full or when the
 * stream's mode is not "append", nothing is done: there is nothing to
 * skip.  Otherwise *append is set to 1.  `plugin` ("csv") starts every
 * message; `written` says what the plugin expected the state to be ("the
 * list csv writes"), for the refusal of a state it cannot read.  Returns
 * 0, or SAMSPOR_ENOMEM or SAMSPOR_EDATA after host->error.
 */
int spp_loaded_skip(const samspor_open_args *a, const char *plugin,
                    const char *written, spp_loaded *loaded, int *append,
                    spp_file *files, size_t *nfiles);

#endif
