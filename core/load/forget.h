/*
 * forget.h — `samspor forget`: erase people from the warehouse and keep
 * them out of future loads.
 */
#ifndef SAMSPOR_FORGET_H
#define SAMSPOR_FORGET_H

#include <stdio.h>

#include "model/conf.h"

/*
 * Read identifiers of kind, one a line, from in; in one transaction delete
 * every row of every warehouse table whose pseudonym column of that kind
 * matches, and record the pseudonyms so future loads skip them.  Frees c.
 * Returns an exit status (exitcode.h): 1 also when a line was not a valid
 * identifier (the others are erased).
 */
int sp_forget(sp_config *c, const char *kind, FILE *in);

#endif
