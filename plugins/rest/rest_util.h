/*
 * rest_util.h — the text side of the rest plugin: RFC 8288 Link headers,
 * Retry-After, ${cursor} substitution, query parameters, URLs fit for
 * messages, and the retry delay.
 *
 * Pure code (no libcurl, no host, no globals) so that unit tests and the
 * fuzzer can drive it directly.  Returned strings are malloc'd and the
 * caller's to free.  Errors are 0 or a negative SAMSPOR_E* code.
 */
#ifndef SAMSPOR_REST_UTIL_H
#define SAMSPOR_REST_UTIL_H

#include <stddef.h>
#include <time.h>

/*
 * The target of the first link in one Link header value whose rel
 * parameter lists "next" (RFC 8288: links separated by commas, each
 * "<URI-reference>" followed by ";"-separated parameters, values tokens
 * or quoted strings; relation types compared case-insensitively; only the
 * first rel of a link counts; a link with an anchor is about another
 * resource and is skipped; malformed links are skipped up to the next
 * comma).  The target is returned as written, possibly relative.
 * Returns 1 with *target (malloc'd, caller frees), 0 when there is no next
 * link, or SAMSPOR_ENOMEM.
 */
int rest_link_next(const char *value, size_t len, char **target);

/*
 * A Retry-After value (RFC 9110 10.2.3): delay-seconds, or an HTTP-date
 * (IMF-fixdate, also the obsolete RFC 850 and asctime forms) taken
 * relative to `now`.  Returns 0 with *seconds >= 0 (a date in the past is
 * 0; a huge number is clamped to 1e9), or -1 when value is neither.
 */
int rest_retry_after(const char *value, time_t now, double *seconds);

/* How ${cursor} is written into a template. */
typedef enum rest_escape {
  REST_ESC_URL = 1, /* percent-encoded: all but A-Z a-z 0-9 - . _ ~ */
  REST_ESC_JSON     /* the inside of a JSON string: \" \\ and \uXXXX */
} rest_escape;

/*
 * Check a template for placeholders: only ${cursor} is known.  Returns 0,
 * or SAMSPOR_EINVAL with a sentence in err naming the byte offset.
 */
int rest_template_check(const char *tmpl, char *err, size_t errlen);

/*
 * tmpl with every ${cursor} replaced by cursor (NULL: the empty string),
 * escaped as esc says.  Returns 0 with *out (malloc'd), or SAMSPOR_ENOMEM.
 * Call rest_template_check first: other ${...} are copied as they are.
 */
int rest_subst_cursor(const char *tmpl, const char *cursor, rest_escape esc,
                      char **out);

/* s percent-encoded (all but A-Z a-z 0-9 - . _ ~).  Returns 0 with *out
 * (malloc'd), or SAMSPOR_ENOMEM. */
int rest_url_encode(const char *s, char **out);

/*
 * url with query parameter name set to value (percent-encoded): every
 * earlier name=... is removed, name=value is appended, and any #fragment
 * dropped.  Returns 0 with *out (malloc'd), or SAMSPOR_ENOMEM.
 */
int rest_url_set_param(const char *url, const char *name, const char *value,
                       char **out);

/*
 * url as it may appear in a message or log: no user:password@, no
 * fragment, and every query value replaced by "..." (a value may be an
 * API key or a person's number; names are kept, since they tell a reader
 * which request it was).  Bytes outside printable ASCII become '?'.
 * Always NUL-terminates buf; a URL too long ends in "...".
 */
void rest_url_redact(const char *url, char *buf, size_t size);

#endif
