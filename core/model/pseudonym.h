/*
 * pseudonym.h — identifiers in, pseudonyms out.
 *
 * Pseudonym = the first 16 bytes of HMAC-SHA256(key, KIND || 0x00 ||
 * normalised identifier), written as a lowercase 8-4-4-4-12 uuid (SPEC,
 * "Pseudonyms").  The derivation is fixed: a partner holding the key must
 * be able to compute the same pseudonyms for its own data.  The kind is
 * part of the message so that one key gives unrelated pseudonyms for equal
 * strings of different kinds.
 *
 * Every row of every load goes through here, so the HMAC is precomputed
 * per key and kind: an sp_pseudonymiser holds the HMAC state after the key
 * blocks and "KIND\0" were absorbed, and each call copies it and feeds only
 * the identifier.  For a CPR number that is two SHA-256 compressions per
 * pseudonym instead of four.
 *
 * An sp_pseudonymiser is immutable after sp_pseudonymiser_new and may be
 * used by several threads at once.
 */
#ifndef SAMSPOR_PSEUDONYM_H
#define SAMSPOR_PSEUDONYM_H

#include <stddef.h>

#include "model/key.h"

/* Length of a formatted pseudonym, without the NUL. */
#define SP_UUID_LEN 36

/* Opaque: the keyed HMAC state (key-equivalent, so in guarded read-only
 * memory) and how the kind is normalised. */
typedef struct sp_pseudonymiser sp_pseudonymiser;

/*
 * A pseudonymiser for identifiers of `kind` ("cpr" gets CPR normalisation;
 * any other non-empty kind is trimmed only).  It does not keep a reference
 * to k, which may be freed afterwards.  Returns a new object the caller
 * frees with sp_pseudonymiser_free, or NULL when k is NULL, kind is NULL or
 * empty, or protected memory cannot be had.
 */
sp_pseudonymiser *sp_pseudonymiser_new(const sp_key *k, const char *kind);

/* Wipe and free.  NULL is allowed. */
void sp_pseudonymiser_free(sp_pseudonymiser *p);

/*
 * The first 16 bytes of HMAC-SHA256(key, kind || 0x00 || norm[0..len)),
 * into out.  `norm` is used as given: normalising is the caller's job (or
 * sp_pseudonym's).  Cannot fail.
 */
void sp_pseudonym_raw(const sp_pseudonymiser *p, const char *norm, size_t len,
                      unsigned char out[16]);

/* Write `in` as a lowercase 8-4-4-4-12 uuid and a NUL into out. */
void sp_uuid_format(const unsigned char in[16], char out[37]);

/*
 * Normalise the `len` bytes at `in` for the pseudonymiser's kind, then
 * pseudonymise and format into out.  For kind "cpr", sp_cpr_parse()'s
 * rules; for any other kind, surrounding spaces, tabs, CRs and LFs are
 * trimmed and the rest is used byte for byte.
 *
 * Returns 0, with *reason set to NULL; or SAMSPOR_EDATA when the value does
 * not validate, with out set to "" and *reason to a static reason code for
 * the rejects table: one of sp_cpr_reason()'s codes for kind "cpr", else
 * "empty".  The code never contains the value.  reason may be NULL.
 */
int sp_pseudonym(const sp_pseudonymiser *p, const char *in, size_t len,
                 char out[37], const char **reason);

#endif
