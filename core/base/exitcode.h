/*
 * exitcode.h — the process exit statuses of SPEC.md, and the mapping from
 * the SAMSPOR_E* codes of samspor-plugin.h.  Engines that end a command
 * return one of these; the command layer (core/cmd/) passes it on.
 */
#ifndef SAMSPOR_EXITCODE_H
#define SAMSPOR_EXITCODE_H

#include "samspor-plugin.h"

#define SP_EXIT_OK 0
#define SP_EXIT_FAIL 1
#define SP_EXIT_USAGE 2
#define SP_EXIT_TEMPFAIL 75

/* Map a SAMSPOR_E* code to an exit status. */
static inline int sp_exit_status(int code) {
  switch (code) {
  case SAMSPOR_OK:
    return SP_EXIT_OK;
  case SAMSPOR_ETEMP:
    return SP_EXIT_TEMPFAIL;
  case SAMSPOR_ECONFIG:
  case SAMSPOR_EINVAL:
  case SAMSPOR_EABI:
    return SP_EXIT_USAGE;
  default:
    return SP_EXIT_FAIL;
  }
}

#endif
