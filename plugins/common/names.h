/*
 * names.h — a list of distinct field names, as `samspor discover` collects
 * them in the xml and rest plugins (header-only: each plugin compiles it
 * in).  Plugin-side: returns SAMSPOR_ENOMEM rather than aborting.
 */
#ifndef SAMSPOR_PLUGIN_NAMES_H
#define SAMSPOR_PLUGIN_NAMES_H

#include <stdlib.h>
#include <string.h>

#include "samspor-plugin.h"

typedef struct spp_names {
  char **v; /* owned */
  size_t n, cap;
} spp_names;

/* Add name unless it is there already or the list holds max names. */
static inline int spp_names_add(spp_names *c, const char *name, size_t max) {
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->v[i], name))
      return 0;
  if (c->n == max)
    return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    char **nv = realloc(c->v, cap * sizeof *nv);
    if (!nv)
      return SAMSPOR_ENOMEM;
    c->v = nv;
    c->cap = cap;
  }
  if (!(c->v[c->n] = strdup(name)))
    return SAMSPOR_ENOMEM;
  c->n++;
  return 0;
}

static inline void spp_names_free(spp_names *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->v[i]);
  free(c->v);
  c->v = NULL;
  c->n = c->cap = 0;
}

#endif
