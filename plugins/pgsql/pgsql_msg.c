#include "config.h"

/*
 * pgsql_msg.c — message handling for the pgsql plugin: classification,
 * the conninfo check, query positions and result column names (see
 * pgsql_msg.h).  Which server texts may be repeated is pgconn.c's rule,
 * shared with the core.
 */

#include "pgsql_msg.h"

#include "samspor-plugin.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

int pgsql_classify_sqlstate(const char *sqlstate) {
  if (!sqlstate || !*sqlstate)
    return SAMSPOR_ETEMP;
  if (!strncmp(sqlstate, "08", 2) || !strncmp(sqlstate, "57P", 3) ||
      !strncmp(sqlstate, "53", 2) || !strncmp(sqlstate, "40", 2))
    return SAMSPOR_ETEMP;
  if (!strncmp(sqlstate, "28", 2))
    return SAMSPOR_EAUTH;
  return SAMSPOR_EFAIL;
}

int pgsql_conninfo_check(const char *conninfo, char *err, size_t errlen) {
  char *perr = NULL;
  PQconninfoOption *opts, *o;
  int rc = 0;

  opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
  if (!opts) {
    /* libpq's message quotes the string, which could hold a password. */
    snprintf(err, errlen,
             perr ? "conninfo is not a valid libpq connection string or URI"
                  : "out of memory parsing conninfo");
    rc = perr ? SAMSPOR_ECONFIG : SAMSPOR_ENOMEM;
    PQfreemem(perr);
    return rc;
  }
  for (o = opts; o->keyword; o++)
    if (!strcmp(o->keyword, "password") && o->val && *o->val) {
      snprintf(err, errlen,
               "conninfo holds a password; remove it and write "
               "password_file or password_env in source, or use a "
               "~/.pgpass or service file");
      rc = SAMSPOR_ECONFIG;
    }
  PQconninfoFree(opts);
  return rc;
}

void pgsql_position(const char *query, long pos, long *line, long *col) {
  const unsigned char *p = (const unsigned char *)query;
  long ch = 1;

  *line = 1;
  *col = 1;
  for (; *p && ch < pos; p++) {
    if ((*p & 0xc0) == 0x80)
      continue; /* a UTF-8 continuation byte: not a new character */
    ch++;
    if (*p == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

/* ASCII case-insensitive equality; not strcasecmp, whose answer depends on
 * the process locale. */
static int ascii_caseeq(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
    if (x >= 'A' && x <= 'Z')
      x += 32;
    if (y >= 'A' && y <= 'Z')
      y += 32;
    if (x != y)
      return 0;
  }
  return *a == *b;
}

int pgsql_find_column(const char *const *names, size_t n, const char *want,
                      size_t *col, size_t *other) {
  size_t j, nmatch;
  int pass;

  for (pass = 0; pass < 2; pass++) {
    nmatch = 0;
    for (j = 0; j < n; j++) {
      if (!(pass == 0 ? !strcmp(names[j], want) : ascii_caseeq(names[j], want)))
        continue;
      if (nmatch++ == 0)
        *col = j;
      else if (nmatch == 2)
        *other = j;
    }
    if (nmatch == 1)
      return PGSQL_COL_FOUND;
    if (nmatch > 1)
      return PGSQL_COL_AMBIGUOUS;
  }
  return PGSQL_COL_MISSING;
}
