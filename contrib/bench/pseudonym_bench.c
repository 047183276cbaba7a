/*
 * pseudonym_bench.c — how many CPR numbers one core turns into pseudonyms
 * per second, and what precomputing the keyed HMAC state buys.
 *
 * Every row of every nightly load passes through sp_pseudonym(), so it must
 * not be what limits a sync: the target is at least 1,000,000 a second on
 * one core.  The benchmark generates synthetic CPR numbers ("DDMMYY-SSSS",
 * valid dates, no real person's number) and times, best of a few rounds:
 *
 *   (a) reference: sp_cpr_parse, then libsodium's one-shot
 *       crypto_auth_hmacsha256 over "cpr\0" + digits, then sp_uuid_format;
 *       the one-shot call hashes the two key blocks again every time
 *       (four SHA-256 compressions);
 *   (b) sp_pseudonym() with an sp_pseudonymiser: the same work, but the
 *       HMAC state after the key blocks and "cpr\0" is copied instead
 *       (two compressions);
 *
 * and the same two without parsing and formatting (HMAC only), to show the
 * HMAC's share.  (a) and (b) must produce the same pseudonyms; the
 * benchmark checks this and fails otherwise.
 *
 * Build from the top of the source tree (optimised, as shipped):
 *
 *   mkdir -p /tmp/pz && : > /tmp/pz/config.h
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -I/tmp/pz -Icore \
 *       core/base/util.c core/model/cpr.c core/model/key.c \
 *       core/model/pseudonym.c \
 *       contrib/bench/pseudonym_bench.c \
 *       $(pkg-config --cflags --libs libsodium) -o /tmp/pz/pseudonym_bench
 *
 * (in an autotools build tree, use -I. for the real config.h instead).
 *
 * Run, pinned to one core for stable figures:
 *
 *   taskset -c 0 /tmp/pz/pseudonym_bench [COUNT [ROUNDS]]
 *
 * COUNT defaults to 5000000 identifiers, ROUNDS to 3.  Exit status 0 when
 * (b) reaches 1,000,000 a second, 1 when it does not or on a mismatch.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "model/cpr.h"
#include "model/key.h"
#include "model/pseudonym.h"
#include "base/util.h"

#define ID_STRIDE 12 /* "DDMMYY-SSSS" and a NUL */
#define TARGET_PER_SEC 1e6

/* splitmix64: a fast deterministic generator, so every run times the same
 * identifiers.  The state is the caller's. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Fill ids with n synthetic CPR numbers with valid dates, across every 7th
 * digit and so every century, and check each with sp_cpr_parse. */
static char *make_ids(size_t n) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  char *ids = sp_xmalloc(n * ID_STRIDE);
  uint64_t s = 20260101;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = next_rand(&s);
    int d7 = (int)(r % 10), yy = (int)(r / 10 % 100);
    int month = (int)(r / 1000 % 12) + 1;
    int serial = (int)(r / 12000 % 1000);
    int year = d7 <= 3                ? 1900 + yy
               : (d7 == 4 || d7 == 9) ? (yy <= 36 ? 2000 : 1900) + yy
                                      : (yy <= 57 ? 2000 : 1800) + yy;
    int days = dim[month - 1] + (month == 2 && leap(year));
    int day = (int)(r / 12000000 % (uint64_t)days) + 1;
    char *id = ids + i * ID_STRIDE;
    sp_cpr c;
    /* By hand rather than snprintf: 5 million calls would dominate the
     * setup time, and gcc cannot see that the fields fit. */
    id[0] = (char)('0' + day / 10);
    id[1] = (char)('0' + day % 10);
    id[2] = (char)('0' + month / 10);
    id[3] = (char)('0' + month % 10);
    id[4] = (char)('0' + yy / 10);
    id[5] = (char)('0' + yy % 10);
    id[6] = '-';
    id[7] = (char)('0' + d7);
    id[8] = (char)('0' + serial / 100);
    id[9] = (char)('0' + serial / 10 % 10);
    id[10] = (char)('0' + serial % 10);
    id[11] = '\0';
    if (sp_cpr_parse(id, 11, &c) != 0) {
      fprintf(stderr, "pseudonym_bench: generated an invalid CPR number\n");
      exit(1);
    }
  }
  return ids;
}

/* Sum of the output, so the compiler cannot drop the work and so the two
 * methods can be compared. */
static uint64_t mix(uint64_t acc, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    acc = acc * 31 + p[i];
  return acc;
}

typedef struct bench_ctx {
  const char *ids;           /* n identifiers, ID_STRIDE apart */
  char *norm;                /* the same, normalised: 10 digits each */
  size_t n;                  /* how many */
  const unsigned char *key;  /* raw key, for the reference */
  const sp_pseudonymiser *p; /* precomputed state, kind "cpr" */
} bench_ctx;

static uint64_t run_reference(const bench_ctx *b) {
  unsigned char msg[14] = "cpr", mac[crypto_auth_hmacsha256_BYTES];
  char out[37];
  uint64_t acc = 0;
  for (size_t i = 0; i < b->n; i++) {
    sp_cpr c;
    if (sp_cpr_parse(b->ids + i * ID_STRIDE, 11, &c) != 0)
      abort();
    memcpy(msg + 4, c.digits, 10);
    crypto_auth_hmacsha256(mac, msg, sizeof msg, b->key);
    sp_uuid_format(mac, out);
    acc = mix(acc, (const unsigned char *)out, SP_UUID_LEN);
  }
  return acc;
}

static uint64_t run_precomputed(const bench_ctx *b) {
  char out[37];
  const char *reason;
  uint64_t acc = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (sp_pseudonym(b->p, b->ids + i * ID_STRIDE, 11, out, &reason) != 0)
      abort();
    acc = mix(acc, (const unsigned char *)out, SP_UUID_LEN);
  }
  return acc;
}

static uint64_t run_reference_hmac_only(const bench_ctx *b) {
  unsigned char msg[14] = "cpr", mac[crypto_auth_hmacsha256_BYTES];
  uint64_t acc = 0;
  for (size_t i = 0; i < b->n; i++) {
    memcpy(msg + 4, b->norm + i * 10, 10);
    crypto_auth_hmacsha256(mac, msg, sizeof msg, b->key);
    acc = mix(acc, mac, 16);
  }
  return acc;
}

static uint64_t run_precomputed_hmac_only(const bench_ctx *b) {
  unsigned char raw[16];
  uint64_t acc = 0;
  for (size_t i = 0; i < b->n; i++) {
    sp_pseudonym_raw(b->p, b->norm + i * 10, 10, raw);
    acc = mix(acc, raw, 16);
  }
  return acc;
}

/* Best rate of `rounds` runs, in identifiers a second; *acc gets the
 * checksum of the last run. */
static double best_rate(uint64_t (*fn)(const bench_ctx *), const bench_ctx *b,
                        int rounds, uint64_t *acc) {
  double best = 0;
  for (int r = 0; r < rounds; r++) {
    double t0 = sp_now_mono();
    *acc = fn(b);
    double rate = (double)b->n / (sp_now_mono() - t0);
    if (rate > best)
      best = rate;
  }
  return best;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000000;
  int rounds = argc > 2 ? atoi(argv[2]) : 3;
  unsigned char key[SP_KEY_BYTES];
  sp_key *k;
  uint64_t acc_a, acc_b, acc_ah, acc_bh;

  if (n == 0 || rounds < 1) {
    fprintf(stderr, "usage: pseudonym_bench [COUNT [ROUNDS]]\n");
    return 2;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "pseudonym_bench: sodium_init failed\n");
    return 1;
  }
  randombytes_buf(key, sizeof key);
  if (sp_key_from_bytes(key, sizeof key, &k) != 0) {
    fprintf(stderr, "pseudonym_bench: cannot make a key\n");
    return 1;
  }

  bench_ctx b = {.n = n, .key = key};
  b.ids = make_ids(n);
  b.norm = sp_xmalloc(n * 10);
  for (size_t i = 0; i < n; i++) {
    sp_cpr c;
    sp_cpr_parse(b.ids + i * ID_STRIDE, 11, &c);
    memcpy(b.norm + i * 10, c.digits, 10);
  }
  b.p = sp_pseudonymiser_new(k, "cpr");
  if (!b.p) {
    fprintf(stderr, "pseudonym_bench: cannot make a pseudonymiser\n");
    return 1;
  }

  printf("pseudonym_bench: %zu synthetic CPR numbers, best of %d rounds, "
         "libsodium %s\n",
         n, rounds, sodium_version_string());
  double a = best_rate(run_reference, &b, rounds, &acc_a);
  double pb = best_rate(run_precomputed, &b, rounds, &acc_b);
  double ah = best_rate(run_reference_hmac_only, &b, rounds, &acc_ah);
  double bh = best_rate(run_precomputed_hmac_only, &b, rounds, &acc_bh);

  printf("(a) parse + crypto_auth_hmacsha256 + format: %12.0f /s\n", a);
  printf("(b) sp_pseudonym, precomputed state:         %12.0f /s\n", pb);
  printf("    ratio (b)/(a):                           %12.2f\n", pb / a);
  printf("    HMAC only, one-shot:                     %12.0f /s\n", ah);
  printf("    HMAC only, sp_pseudonym_raw:             %12.0f /s\n", bh);
  printf("    ratio:                                   %12.2f\n", bh / ah);

  int rc = 0;
  if (acc_a != acc_b) {
    printf("MISMATCH: (a) and (b) gave different pseudonyms\n");
    rc = 1;
  }
  if (pb < TARGET_PER_SEC) {
    printf("BELOW TARGET: (b) is under %.0f /s\n", TARGET_PER_SEC);
    rc = 1;
  }

  sodium_memzero(key, sizeof key);
  sp_pseudonymiser_free((sp_pseudonymiser *)b.p);
  sp_key_free(k);
  free((char *)b.ids);
  free(b.norm);
  return rc;
}
