#include "config.h"

#include "model/plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SAMSPOR_PLUGIN_DIR
#define SAMSPOR_PLUGIN_DIR "/usr/local/lib/samspor/plugins"
#endif

/* The descriptor's first two fields are fixed for every ABI version, so
 * they can be read before anything else is trusted. */
typedef struct abi_head {
  uint32_t struct_size;
  uint32_t abi_version;
} abi_head;

int sp_plugin_load(const char *path, sp_plugin *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  /* RTLD_LOCAL: two plugins never see each other's symbols; RTLD_NOW:
   * an unresolved symbol fails here, not in the middle of a night's run. */
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    snprintf(err, errlen, "%s: cannot load: %s", path, dlerror());
    return SAMSPOR_ENOENT;
  }
  typedef const samspor_plugin *(*desc_fn)(void);
  desc_fn fn;
  /* POSIX-sanctioned way to turn dlsym's void * into a function pointer. */
  *(void **)(&fn) = dlsym(dl, SAMSPOR_DESCRIPTOR_SYMBOL);
  if (!fn) {
    snprintf(err, errlen,
             "%s: not a samspor plugin: no %s() (build it with "
             "SAMSPOR_PLUGIN_EXPORT from samspor-plugin.h)",
             path, SAMSPOR_DESCRIPTOR_SYMBOL);
    dlclose(dl);
    return SAMSPOR_ENOENT;
  }
  const samspor_plugin *d = fn();
  if (!d) {
    snprintf(err, errlen, "%s: %s() returned NULL", path,
             SAMSPOR_DESCRIPTOR_SYMBOL);
    dlclose(dl);
    return SAMSPOR_EABI;
  }
  const abi_head *h = (const abi_head *)d;
  if (h->struct_size != sizeof(samspor_plugin) &&
      h->struct_size != SAMSPOR_PLUGIN_SIZE_NO_DISCOVER) {
    snprintf(err, errlen,
             "%s: plugin descriptor size is %u bytes, this samspor expects "
             "%zu (ABI version %d); rebuild the plugin against this "
             "samspor's samspor-plugin.h",
             path, (unsigned)h->struct_size, sizeof(samspor_plugin),
             SAMSPOR_ABI_VERSION);
    dlclose(dl);
    return SAMSPOR_EABI;
  }
  if (h->abi_version != SAMSPOR_ABI_VERSION) {
    snprintf(err, errlen,
             "%s: plugin ABI version is %u, this samspor expects %d; "
             "rebuild the plugin against this samspor's samspor-plugin.h",
             path, (unsigned)h->abi_version, SAMSPOR_ABI_VERSION);
    dlclose(dl);
    return SAMSPOR_EABI;
  }
  const char *missing = !d->name      ? "name"
                        : !d->version ? "version"
                        : !d->open    ? "open"
                        : !d->read    ? "read"
                        : !d->close   ? "close"
                                      : NULL;
  if (missing) {
    snprintf(err, errlen, "%s: plugin descriptor has no %s", path, missing);
    dlclose(dl);
    return SAMSPOR_EABI;
  }
  out->path = sp_xstrdup(path);
  out->dl = dl;
  out->desc = d;
  if (h->struct_size < sizeof(samspor_plugin)) {
    out->padded = sp_xcalloc(1, sizeof *out->padded);
    memcpy(out->padded, d, h->struct_size);
    out->desc = out->padded;
  }
  return 0;
}

void sp_plugin_unload(sp_plugin *p) {
  if (p->dl)
    dlclose(p->dl);
  free(p->path);
  free(p->padded);
  memset(p, 0, sizeof *p);
}

static int by_name(const void *a, const void *b) {
  const sp_plugin *pa = a, *pb = b;
  return strcmp(pa->desc->name, pb->desc->name);
}

int sp_plugin_set_load(const char *dir, sp_plugin_set *set) {
  memset(set, 0, sizeof *set);
  set->dir = sp_xstrdup(dir);
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO;
  struct dirent *de;
  char **names = NULL;
  size_t nnames = 0;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l > 3 && strcmp(de->d_name + l - 3, ".so") == 0) {
      names = sp_xrealloc(names, (nnames + 1) * sizeof(char *));
      names[nnames++] = sp_xstrdup(de->d_name);
    }
  }
  closedir(d);
  for (size_t i = 0; i < nnames; i++) {
    char *path = sp_xasprintf("%s/%s", dir, names[i]);
    char err[1024];
    sp_plugin p;
    if (sp_plugin_load(path, &p, err, sizeof err) == 0) {
      if (sp_plugin_set_find(set, p.desc->name)) {
        snprintf(err, sizeof err, "%s: a plugin named '%s' is already loaded",
                 path, p.desc->name);
        sp_plugin_unload(&p);
      } else {
        set->plugins = sp_xrealloc(set->plugins, (set->n + 1) * sizeof p);
        set->plugins[set->n++] = p;
        err[0] = '\0';
      }
    }
    if (err[0]) {
      set->refused =
          sp_xrealloc(set->refused, (set->nrefused + 1) * sizeof(char *));
      set->refused[set->nrefused++] = sp_xstrdup(err);
    }
    free(path);
    free(names[i]);
  }
  free(names);
  if (set->n)
    qsort(set->plugins, set->n, sizeof(sp_plugin), by_name);
  return 0;
}

void sp_plugin_set_free(sp_plugin_set *set) {
  for (size_t i = 0; i < set->n; i++)
    sp_plugin_unload(&set->plugins[i]);
  for (size_t i = 0; i < set->nrefused; i++)
    free(set->refused[i]);
  free(set->plugins);
  free(set->refused);
  free(set->dir);
  memset(set, 0, sizeof *set);
}

const sp_plugin *sp_plugin_set_find(const sp_plugin_set *set,
                                    const char *name) {
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->plugins[i].desc->name, name) == 0)
      return &set->plugins[i];
  return NULL;
}

const char *sp_plugin_dir(const char *configured) {
  const char *env = getenv("SAMSPOR_PLUGIN_DIR");
  if (env && *env)
    return env;
  if (configured && *configured)
    return configured;
  return SAMSPOR_PLUGIN_DIR;
}
