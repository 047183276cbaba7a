/*
 * key.h — the pseudonymisation key: loading, generating, identifying.
 *
 * The key is 32 bytes that decide every pseudonym in the warehouse; anyone
 * holding it can re-identify the people in it.  So it lives only in
 * sodium_malloc'd memory (guard pages, mlocked where the system allows,
 * read-only after loading), it is never copied out, never logged, and the
 * file it comes from is refused unless only its owner, the user running
 * samspor, can read it.  What is logged and recorded with every run is the
 * *key id*: the first 8 hex digits of SHA-256 of the key, enough to notice
 * that a key was changed without revealing it.
 *
 * Functions may assume sodium_init() has succeeded (the core calls it at
 * startup).  A loaded key is immutable and may be shared between threads.
 */
#ifndef SAMSPOR_KEY_H
#define SAMSPOR_KEY_H

#include <stddef.h>

#define SP_KEY_BYTES 32

/* Opaque: the 32 key bytes and the key id, in guarded read-only memory. */
typedef struct sp_key sp_key;

/*
 * Load the key file at `path`: it must be a regular file of exactly 32
 * bytes, owned by the effective uid, with no group or other permission
 * bits (0600, 0400 or stricter).  Returns 0 and sets *out (the caller
 * frees it with sp_key_free), or SAMSPOR_ENOENT (no such file),
 * SAMSPOR_EINVAL (path NULL or empty, or the file is refused: not a
 * regular file, wrong owner, mode or size),
 * SAMSPOR_EIO (could not be read) or SAMSPOR_ENOMEM, with *out NULL and a
 * sentence naming the path and how to fix it written into err (errlen
 * bytes; err may be NULL).
 */
int sp_key_load(const char *path, sp_key **out, char *err, size_t errlen);

/*
 * A key from `n` raw bytes, for tests and benchmarks.  Returns 0 and sets
 * *out (caller frees with sp_key_free), SAMSPOR_EINVAL when n is not 32, or
 * SAMSPOR_ENOMEM.  The caller should wipe its copy of `bytes`.
 */
int sp_key_from_bytes(const unsigned char *bytes, size_t n, sp_key **out);

/*
 * `samspor keygen`: write 32 random bytes to a new file at `path`, mode
 * 0600, and fsync it and its directory.  Never overwrites: an existing
 * path (even a dangling symlink) is refused.  Returns 0, or
 * SAMSPOR_EINVAL (path exists), SAMSPOR_ENOENT (directory missing) or
 * SAMSPOR_EIO, with a sentence in err; on failure no file is left behind.
 */
int sp_key_generate(const char *path, char *err, size_t errlen);

/* The key id: 8 lowercase hex digits, NUL-terminated.  Borrowed from the
 * key: valid until sp_key_free(k). */
const char *sp_key_id(const sp_key *k);

/*
 * Start an HMAC-SHA256 keyed with k in *st (libsodium's
 * crypto_auth_hmacsha256_state), for the pseudonymiser.  This, rather than
 * an accessor, is how the key is used, so the raw bytes never leave key.c;
 * *st is key-equivalent and must live in wiped memory.  Returns 0.
 */
struct crypto_auth_hmacsha256_state;
int sp_key_hmac_init(const sp_key *k, struct crypto_auth_hmacsha256_state *st);

/*
 * A 32-byte subkey of k for one purpose, named by an 8-byte context
 * ("rowdgst1"): libsodium's crypto_kdf, so that no two uses of the key
 * share an output.  out is key-equivalent: wipe it after use.
 */
void sp_key_derive(const sp_key *k, unsigned long long id,
                   const char context[8], unsigned char out[32]);

/* Wipe and free a key.  NULL is allowed. */
void sp_key_free(sp_key *k);

#endif
