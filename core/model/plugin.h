/*
 * plugin.h — finding and loading source plugins (dlopen), with the ABI
 * check of samspor-plugin.h.  A plugin that does not fit is refused with a
 * message naming the file and the expected and found values; the others
 * keep working.
 */
#ifndef SAMSPOR_PLUGIN_LOADER_H
#define SAMSPOR_PLUGIN_LOADER_H

#include <stddef.h>

#include "base/options.h"
#include "samspor-plugin.h"

typedef struct sp_plugin {
  char *path;                 /* the .so file (owned) */
  void *dl;                   /* dlopen handle (owned) */
  const samspor_plugin *desc; /* the plugin's descriptor (in dl), or
                                 `padded` */
  /* A copy of a descriptor built before later fields were added, those
   * fields zero (owned; NULL when desc is the plugin's own). */
  samspor_plugin *padded;
} sp_plugin;

/* All plugins found in one directory. */
typedef struct sp_plugin_set {
  char *dir;          /* owned */
  sp_plugin *plugins; /* owned, sorted by name */
  size_t n;
  char **refused; /* "file: why" for each refused .so (owned) */
  size_t nrefused;
} sp_plugin_set;

/*
 * Load one plugin file.  Returns 0 and fills *out, or a negative code with
 * a message in err (SAMSPOR_EABI for a descriptor that does not fit,
 * SAMSPOR_ENOENT for a missing file or symbol).
 */
int sp_plugin_load(const char *path, sp_plugin *out, char *err, size_t errlen);
void sp_plugin_unload(sp_plugin *p);

/*
 * Load every *.so in dir.  Refused files are listed in set->refused; a
 * missing dir gives an empty set and a negative return.  Caller frees with
 * sp_plugin_set_free.
 */
int sp_plugin_set_load(const char *dir, sp_plugin_set *set);
void sp_plugin_set_free(sp_plugin_set *set);
const sp_plugin *sp_plugin_set_find(const sp_plugin_set *set, const char *name);

/* The plugin directory: $SAMSPOR_PLUGIN_DIR, else `configured` (from the
 * config's plugin_dir, may be NULL), else the compiled-in default. */
const char *sp_plugin_dir(const char *configured);

#endif
