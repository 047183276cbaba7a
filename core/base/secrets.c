#include "config.h"

#include "base/secrets.h"

#include <stdio.h>
#include <string.h>

/* Case-insensitive (ASCII) search for `needle` in s[0..len). */
static int contains(const char *s, size_t len, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++) {
    size_t j = 0;
    while (j < n) {
      char c = s[i + j];
      if (c >= 'A' && c <= 'Z')
        c = (char)(c + 32);
      if (c != needle[j])
        break;
      j++;
    }
    if (j == n)
      return 1;
  }
  return 0;
}

static int equals(const char *s, size_t len, const char *word) {
  return strlen(word) == len && contains(s, len, word);
}

int sp_secret_name(const char *name, size_t len) {
  static const char *const parts[] = {"key",     "token",   "secret",   "passw",
                                      "authori", "session", "signature"};
  if (equals(name, len, "cookie") || equals(name, len, "sig") ||
      equals(name, len, "pwd") || equals(name, len, "auth"))
    return 1;
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
    if (contains(name, len, parts[i]))
      return 1;
  return 0;
}

int sp_header_is_secret(const char *line) {
  const char *colon = strchr(line, ':');
  size_t len = colon ? (size_t)(colon - line) : strlen(line);
  while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
    len--;
  return sp_secret_name(line, len);
}

int sp_url_has_secret(const char *url, char *why, size_t whylen) {
  const char *p = strstr(url, "://");
  if (!p)
    return 0;
  p += 3;
  size_t auth = strcspn(p, "/?#");
  /* The userinfo ends at the authority's last '@'. */
  const char *at = NULL;
  for (size_t i = 0; i < auth; i++)
    if (p[i] == '@')
      at = p + i;
  if (at && memchr(p, ':', (size_t)(at - p))) {
    snprintf(why, whylen, "a password in the URL (user:password@host)");
    return 1;
  }
  const char *q = strchr(p, '?');
  if (!q)
    return 0;
  const char *end = strchr(q, '#');
  if (!end)
    end = q + strlen(q);
  for (const char *s = q + 1; s < end;) {
    size_t n = strcspn(s, "&;#");
    if (s + n > end)
      n = (size_t)(end - s);
    size_t name = strcspn(s, "=");
    if (name > n)
      name = n;
    if (name && sp_secret_name(s, name)) {
      snprintf(why, whylen, "a secret in the URL's query parameter '%.*s'",
               (int)(name < 64 ? name : 64), s);
      return 1;
    }
    s += n + (s + n < end);
  }
  return 0;
}
