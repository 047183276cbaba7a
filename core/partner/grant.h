/*
 * grant.h — `samspor grant`: create or update a partner organisation's
 * login role in the warehouse.
 */
#ifndef SAMSPOR_GRANT_H
#define SAMSPOR_GRANT_H

typedef struct sp_grant_args {
  const char *role;          /* "partner" or "analyst" */
  const char *areas;         /* analyst: "A,B,..." or NULL */
  int all_areas;             /* analyst: every area */
  const char *password_file; /* or NULL: no password set */
} sp_grant_args;

/* Whether org makes a role name (letters a-z, digits, _, - or spaces,
 * starting with a letter, at most 41). */
int sp_grant_org_valid(const char *org);

/*
 * Create or update org's login role with the warehouse of the
 * configuration at path; a (checked by the caller: the role is partner or
 * analyst, areas or all_areas only and exactly for an analyst).  Returns an
 * exit status (exitcode.h), having printed what it did or why not.
 */
int sp_grant(const char *path, const char *org, const sp_grant_args *a);

#endif
