/*
 * A deliberately mismatched plugin: built with -DBAD_ABI_VERSION it claims
 * a newer ABI version, with -DOLD_ABI_VERSION=N an older one (a plugin
 * built before the ABI was bumped to N + 1: its descriptor has the same
 * size, so only the version tells), with -DBAD_STRUCT_SIZE a descriptor of another
 * size.  The loader must refuse both and name the expected and found
 * values.
 */
#include "config.h"

#include "samspor-plugin.h"

static int bad_open(const samspor_open_args *a, void **h) {
  (void)a;
  *h = 0;
  return SAMSPOR_EFAIL;
}
static int bad_read(void *h) {
  (void)h;
  return SAMSPOR_EFAIL;
}
static void bad_close(void *h) {
  (void)h;
}

static const samspor_plugin bad = {
#ifdef BAD_STRUCT_SIZE
    .struct_size = sizeof(samspor_plugin) + 8,
#elif defined(OLD_STRUCT_SIZE)
    /* built before `discover` was added: it still loads */
    .struct_size = SAMSPOR_PLUGIN_SIZE_NO_DISCOVER,
#else
    .struct_size = sizeof(samspor_plugin),
#endif
#if defined(BAD_ABI_VERSION)
    .abi_version = SAMSPOR_ABI_VERSION + 1,
#elif defined(OLD_ABI_VERSION)
    .abi_version = OLD_ABI_VERSION,
#else
    .abi_version = SAMSPOR_ABI_VERSION,
#endif
#ifdef OLD_STRUCT_SIZE
    .name = "old",
#else
    .name = "bad",
#endif
    .version = "0",
    .description = "a plugin that does not fit",
    .open = bad_open,
    .read = bad_read,
    .close = bad_close,
};

SAMSPOR_PLUGIN_EXPORT(bad)
