/*
 * maps.h — lookup maps for rule `lookup` (SPEC.md, "Configuration": maps).
 *
 * A map is a UTF-8 file of "key<delimiter>value" lines, named in the
 * configuration's root `maps` group with its `file`, an optional `extract`
 * regex, an optional `default` and the `delimiter` (";").  The use that
 * matters: an address becomes the housing area it lies in, and the address
 * itself never reaches the warehouse.
 *
 * Keys are compared normalised (sp_map_normalise): case-folded and with
 * white space collapsed, because the same address is typed "Prøvegade 10",
 * "PRØVEGADE  10" and "prøvegade 10 " by different clerks.
 *
 * A loaded map is immutable: lookups may run from several threads at once
 * as long as each passes its own scratch buffer.
 *
 * Privacy: an address is personal data.  No message here ever quotes a key,
 * a value or a line of the file; errors name the map, the file and the line
 * number only.
 */
#ifndef SAMSPOR_MAPS_H
#define SAMSPOR_MAPS_H

#include <stddef.h>

#include "samspor-plugin.h"
#include "base/util.h"

typedef struct sp_map sp_map;

/* What a map is made of; the strings are only read during sp_map_open. */
typedef struct sp_map_spec {
  const char *name;      /* map name, for messages */
  const char *file;      /* the key;value file */
  const char *extract;   /* POSIX ERE whose first group is the key, or NULL */
  const char *def;       /* value for unmapped keys, or NULL: reject them */
  const char *delimiter; /* between key and value; NULL means ";" */
} sp_map_spec;

/*
 * Normalise `len` bytes at `in` for use as a map key: ASCII letters and the
 * Latin-1 capitals U+00C0..U+00DE (except U+00D7, the multiplication sign)
 * folded to lower case, every run of white space (space, tab, CR, LF, VT,
 * FF, U+00A0 no-break space) turned into one space, and leading and
 * trailing white space removed.  Other bytes, invalid UTF-8 included, are
 * copied unchanged.  `out` needs room for `len` bytes (the result is never
 * longer); it is not NUL-terminated.  Returns the length written.
 */
size_t sp_map_normalise(const char *in, size_t len, char *out);

/*
 * Read and index the map described by spec.  Returns 0 and sets *out (the
 * caller frees it with sp_map_free); or, with *out NULL and one sentence in
 * err (errlen bytes, err may be NULL):
 *   SAMSPOR_ENOENT / SAMSPOR_EIO  the file cannot be opened or read;
 *   SAMSPOR_ECONFIG  a bad line (no delimiter, empty key, not UTF-8, a NUL
 *                    byte, one key given two different values), a bad
 *                    extract regex, an empty delimiter or a default that is
 *                    not UTF-8.  The message names the file and the line,
 *                    never its content.
 * Blank lines and lines whose first non-blank character is '#' are
 * skipped; a UTF-8 byte order mark is ignored; the line is split at the
 * first delimiter, the value trimmed of surrounding white space.  A key
 * listed twice with the same value is accepted.
 */
int sp_map_open(const sp_map_spec *spec, sp_map **out, char *err,
                size_t errlen);

/*
 * sp_map_open with the spec taken from a member of the root `maps` option
 * (settings with file, extract, default and delimiter; its name is the
 * member's name).  Same results.
 */
int sp_map_load(const samspor_settings *ms, sp_map **out, char *err,
                size_t errlen);

/* Free a map.  NULL is allowed. */
void sp_map_free(sp_map *m);

/* Number of distinct keys. */
size_t sp_map_size(const sp_map *m);

/* The map's contents (keys, values, default; its settings are the
 * caller's), fed to absorb: a map changed in any entry feeds other bytes. */
void sp_map_absorb(const sp_map *m, sp_absorb_fn absorb, void *ud);

/* The map's name, borrowed from the map. */
const char *sp_map_name(const sp_map *m);

/* Results of sp_map_lookup.  DEFAULT: not in the map (or extract did not
 * match) and the map has a default. */
#define SP_MAP_FOUND 0
#define SP_MAP_DEFAULT 1
#define SP_MAP_UNMAPPED 2 /* not in the map, and no default */

/*
 * Look the `len` bytes at `in` up: apply extract (no match: unmapped),
 * normalise, probe.  `in` must not contain a NUL byte (the caller rejects
 * those first: POSIX regexec stops at one).  `scratch` is the caller's
 * reusable buffer, so a lookup allocates nothing once it has grown (the
 * C library's regexec may still allocate for an extract other than the
 * common "^([^X]+)" form, which is matched without it).
 *
 * Returns SP_MAP_FOUND or SP_MAP_DEFAULT with *val and *vlen set to the value
 * (borrowed from the map, valid until sp_map_free; NUL-terminated; an
 * empty value means SQL NULL), or SP_MAP_UNMAPPED with *val NULL.
 */
int sp_map_lookup(const sp_map *m, const char *in, size_t len, sp_buf *scratch,
                  const char **val, size_t *vlen);

/*
 * Only the extract step, through the C library's regexec even where
 * sp_map_lookup takes its fast path: for the fuzzer, which checks that the
 * two agree.  Returns 1 and the group's offset and length, or 0 for no
 * match (or a map without extract).  `in` must be NUL-terminated.
 */
int sp_map_extract_regex(const sp_map *m, const char *in, size_t *off,
                         size_t *len);

/* The extract step as sp_map_lookup does it; same results as above. */
int sp_map_extract(const sp_map *m, const char *in, size_t len, size_t *off,
                   size_t *olen);

#endif
