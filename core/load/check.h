/*
 * check.h — `samspor check`: validate a configuration, load its plugins
 * and the key, print a summary a person can read; with connect, reach the
 * warehouse and every source, loading nothing.
 */
#ifndef SAMSPOR_CHECK_H
#define SAMSPOR_CHECK_H

typedef struct sp_check_opts {
  int connect; /* also reach the warehouse and every source */
  int offline; /* missing referenced files are warnings, not errors */
} sp_check_opts;

/* Check the configuration at path.  Returns an exit status (exitcode.h). */
int sp_check(const char *path, const sp_check_opts *o);

#endif
