/*
 * secrets.h — finding secrets written inline where the configuration
 * declares a URL, HTTP headers or a libpq conninfo (option flags
 * SAMSPOR_OPT_URL, SAMSPOR_OPT_HEADERS, SAMSPOR_OPT_CONNINFO).  A
 * configuration file is copied, mailed, committed and printed; a secret
 * belongs in a *_file or *_env, so these are refused when the
 * configuration is loaded (conf.c), with file:line.
 *
 * Pure functions: nothing is allocated or logged, and no message quotes
 * the secret.
 */
#ifndef SAMSPOR_SECRETS_H
#define SAMSPOR_SECRETS_H

#include <stddef.h>

/*
 * Nonzero when `url` (scheme://...) carries a secret: a password in its
 * userinfo (user:password@host) or a query parameter whose name says
 * secret (see sp_secret_name()).  `why` (capacity whylen) receives a
 * phrase for the message, naming the parameter but never its value.
 */
int sp_url_has_secret(const char *url, char *why, size_t whylen);

/*
 * Nonzero when a header or query parameter of this name (len bytes, ASCII
 * case ignored) is likely to carry a secret: Authorization,
 * Proxy-Authorization, Cookie, or a name containing "key", "token",
 * "secret", "passw", "authori", "session" or "signature", or equal to
 * "sig", "pwd" or "auth".
 */
int sp_secret_name(const char *name, size_t len);

/*
 * Nonzero when the header line "Name: value" names a secret
 * (sp_secret_name() of its name).
 */
int sp_header_is_secret(const char *line);

#endif
