/*
 * rekey.h — `samspor rekey`: rotate the pseudonymisation key, every stream
 * table rebuilt at once under the new key.
 */
#ifndef SAMSPOR_REKEY_H
#define SAMSPOR_REKEY_H

#include "model/conf.h"

typedef struct sp_rekey_opts {
  const char *new_key;   /* the new key file (required) */
  int drop_unreloadable; /* rotate even streams that may not reload all */
} sp_rekey_opts;

/* Rotate the warehouse of configuration c (freed here) to o->new_key.
 * Returns an exit status (exitcode.h). */
int sp_rekey(sp_config *c, const sp_rekey_opts *o);

#endif
