#include "config.h"

#include "model/pseudonym.h"

#include "model/cpr.h"
#include "samspor-plugin.h"

#include <string.h>

#include <sodium.h>

struct sp_pseudonymiser {
  /* HMAC state after key ^ ipad, key ^ opad and "KIND\0": key-equivalent,
   * hence sodium_malloc'd and read-only like the key itself. */
  crypto_auth_hmacsha256_state st;
  int is_cpr; /* normalise with sp_cpr_parse rather than trimming */
};

sp_pseudonymiser *sp_pseudonymiser_new(const sp_key *k, const char *kind) {
  sp_pseudonymiser *p;

  if (!k || !kind || !*kind)
    return NULL;
  /* sizeof is a multiple of the struct's alignment and sodium_malloc ends
   * the block at its guard page, so the uint64_t inside stays aligned. */
  p = sodium_malloc(sizeof *p);
  if (!p)
    return NULL;
  memset(p, 0, sizeof *p);
  sp_key_hmac_init(k, &p->st);
  /* The NUL is part of the message: it separates kind from identifier, so
   * no (kind, identifier) pair can collide with another. */
  crypto_auth_hmacsha256_update(&p->st, (const unsigned char *)kind,
                                strlen(kind) + 1);
  p->is_cpr = strcmp(kind, "cpr") == 0;
  sodium_mprotect_readonly(p);
  return p;
}

/* sodium_free makes the block writable, zeroes it and unmaps it. */
void sp_pseudonymiser_free(sp_pseudonymiser *p) {
  if (p)
    sodium_free(p);
}

void sp_pseudonym_raw(const sp_pseudonymiser *p, const char *norm, size_t len,
                      unsigned char out[16]) {
  /* A copy of the precomputed state: the shared one stays untouched, so
   * this is thread-safe and costs a 208-byte copy instead of hashing the
   * two key blocks again. */
  crypto_auth_hmacsha256_state st = p->st;
  unsigned char mac[crypto_auth_hmacsha256_BYTES];

  if (len)
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)norm, len);
  crypto_auth_hmacsha256_final(&st, mac);
  memcpy(out, mac, 16);
  /* libsodium's final already clears the state, but it does not promise
   * to; the copy is key-equivalent, so wipe it ourselves.  The MAC is not:
   * it is the pseudonym. */
  sodium_memzero(&st, sizeof st);
}

void sp_uuid_format(const unsigned char in[16], char out[37]) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < 16; i++) {
    /* Hyphens before bytes 4, 6, 8 and 10: 8-4-4-4-12 hex digits. */
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hex[in[i] >> 4];
    out[o++] = hex[in[i] & 0x0f];
  }
  out[o] = '\0';
}

static int is_trim_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sp_pseudonym(const sp_pseudonymiser *p, const char *in, size_t len,
                 char out[37], const char **reason) {
  unsigned char raw[16];

  out[0] = '\0';
  if (reason)
    *reason = NULL;
  if (!in)
    len = 0;

  if (p->is_cpr) {
    sp_cpr c;
    int rc = sp_cpr_parse(in, len, &c);
    if (rc != 0) {
      if (reason)
        *reason = sp_cpr_reason(rc);
      return SAMSPOR_EDATA;
    }
    sp_pseudonym_raw(p, c.digits, 10, raw);
    sodium_memzero(&c, sizeof c);
  } else {
    size_t b = 0, e = len;
    while (b < e && is_trim_space(in[b]))
      b++;
    while (e > b && is_trim_space(in[e - 1]))
      e--;
    if (b == e) {
      if (reason)
        *reason = "empty";
      return SAMSPOR_EDATA;
    }
    sp_pseudonym_raw(p, in + b, e - b, raw);
  }

  sp_uuid_format(raw, out);
  return 0;
}
