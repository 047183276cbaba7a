/*
 * fuzz_cpr.c — libFuzzer target for sp_cpr_parse() and sp_pseudonym() on
 * arbitrary bytes: CPR numbers arrive from partners' CSV, XML and JSON
 * exports, so every byte sequence must be rejected or accepted cleanly.
 *
 * Besides memory and UB errors (ASan, UBSan), it checks that
 *   - an accepted CPR number has 10 digits, a date that the C library's
 *     timegm() agrees is real, a year in 1858..2057, the gender of its last
 *     digit, and that parsing its digits again gives the same result;
 *   - it was accepted iff the input, spaces and '-' removed, is 10 digits
 *     (an independent check of the normalisation);
 *   - a rejection leaves *out all zero and a known reason code;
 *   - sp_pseudonym agrees with sp_cpr_parse, and its pseudonym equals
 *     libsodium's one-shot HMAC-SHA256 over "cpr\0" + digits;
 *   - for another kind, the pseudonym is that of the trimmed input, or
 *     "empty" when nothing is left.
 *
 * Build and run (from the top of the source tree):
 *
 *   mkdir -p /tmp/pz && : > /tmp/pz/config.h
 *   clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I/tmp/pz -Icore \
 *       core/base/util.c core/model/cpr.c core/model/key.c core/model/pseudonym.c \
 *       tests/fuzz/fuzz_cpr.c $(pkg-config --cflags --libs libsodium) \
 *       -o /tmp/pz/fuzz_cpr
 *   mkdir -p /tmp/pz/corpus && /tmp/pz/fuzz_cpr -max_total_time=60 \
 *       /tmp/pz/corpus
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "model/cpr.h"
#include "model/key.h"
#include "model/pseudonym.h"
#include "samspor-plugin.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

/*
 * The fuzzing state.  libFuzzer's interface passes no context pointer, so
 * the one key and the pseudonymisers made in LLVMFuzzerInitialize live at
 * file scope: the one exception to the house rule, in a test harness only.
 * Making them per input would time sodium_malloc's mmap calls instead of
 * the code under test.
 */
typedef struct fuzz_state {
  unsigned char key[SP_KEY_BYTES];
  sp_pseudonymiser *cpr;   /* kind "cpr" */
  sp_pseudonymiser *other; /* kind "id": trimming only */
} fuzz_state;

static fuzz_state fs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  sp_key *k;
  if (sodium_init() < 0)
    abort();
  for (int i = 0; i < SP_KEY_BYTES; i++)
    fs.key[i] = (unsigned char)i;
  CHECK(sp_key_from_bytes(fs.key, sizeof fs.key, &k) == 0);
  fs.cpr = sp_pseudonymiser_new(k, "cpr");
  fs.other = sp_pseudonymiser_new(k, "id");
  CHECK(fs.cpr && fs.other);
  sp_key_free(k);
  return 0;
}

static int is_known_code(int rc) {
  return rc == SP_CPR_EMPTY || rc == SP_CPR_NINE_DIGITS ||
         rc == SP_CPR_LENGTH || rc == SP_CPR_NOT_DIGITS ||
         rc == SP_CPR_BAD_DATE;
}

/* The date is real iff timegm() leaves it unchanged. */
static int real_date(int year, int month, int day) {
  struct tm tm = {0};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = 12;
  timegm(&tm);
  return tm.tm_year == year - 1900 && tm.tm_mon == month - 1 &&
         tm.tm_mday == day;
}

static void check_cpr(const uint8_t *data, size_t size) {
  static const sp_cpr zero;
  sp_cpr c, again;
  char out[37];
  const char *reason;
  int rc = sp_cpr_parse((const char *)data, size, &c);

  /* Independent normalisation: drop spaces and '-', need 10 digits. */
  size_t digits = 0;
  int only_digits = 1;
  for (size_t i = 0; i < size; i++) {
    if (data[i] == ' ' || data[i] == '-')
      continue;
    if (data[i] >= '0' && data[i] <= '9')
      digits++;
    else
      only_digits = 0;
  }

  if (rc == 0) {
    CHECK(only_digits && digits == 10);
    CHECK(strlen(c.digits) == 10);
    for (int i = 0; i < 10; i++)
      CHECK(c.digits[i] >= '0' && c.digits[i] <= '9');
    CHECK(c.year >= 1858 && c.year <= 2057);
    CHECK(c.year % 100 == (c.digits[4] - '0') * 10 + (c.digits[5] - '0'));
    CHECK(real_date(c.year, c.month, c.day));
    CHECK(c.male == (c.digits[9] - '0') % 2);
    CHECK(sp_cpr_parse(c.digits, 10, &again) == 0);
    CHECK(memcmp(&c, &again, sizeof c) == 0);
  } else {
    CHECK(is_known_code(rc));
    CHECK(memcmp(&c, &zero, sizeof c) == 0);
    CHECK(!(only_digits && digits == 10) || rc == SP_CPR_BAD_DATE);
    if (only_digits && digits == 9)
      CHECK(rc == SP_CPR_NINE_DIGITS);
  }

  int prc = sp_pseudonym(fs.cpr, (const char *)data, size, out, &reason);
  if (rc == 0) {
    unsigned char msg[14] = "cpr", mac[crypto_auth_hmacsha256_BYTES];
    char want[37];
    CHECK(prc == 0 && reason == NULL && strlen(out) == SP_UUID_LEN);
    memcpy(msg + 4, c.digits, 10);
    crypto_auth_hmacsha256(mac, msg, sizeof msg, fs.key);
    sp_uuid_format(mac, want);
    CHECK(strcmp(out, want) == 0);
  } else {
    CHECK(prc == SAMSPOR_EDATA && out[0] == '\0');
    CHECK(reason && strcmp(reason, sp_cpr_reason(rc)) == 0);
  }
}

static int trim_space(uint8_t b) {
  return b == ' ' || b == '\t' || b == '\r' || b == '\n';
}

static void check_other(const uint8_t *data, size_t size) {
  char out[37], want[37];
  unsigned char raw[16];
  const char *reason;
  size_t b = 0, e = size;
  while (b < e && trim_space(data[b]))
    b++;
  while (e > b && trim_space(data[e - 1]))
    e--;

  int rc = sp_pseudonym(fs.other, (const char *)data, size, out, &reason);
  if (b == e) {
    CHECK(rc == SAMSPOR_EDATA && reason && strcmp(reason, "empty") == 0);
    CHECK(out[0] == '\0');
    return;
  }
  CHECK(rc == 0 && reason == NULL);
  sp_pseudonym_raw(fs.other, (const char *)data + b, e - b, raw);
  sp_uuid_format(raw, want);
  CHECK(strcmp(out, want) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy of exactly `size` bytes, so ASan catches any read past
   * the length the functions were given. */
  uint8_t *copy = malloc(size ? size : 1);
  CHECK(copy);
  if (size)
    memcpy(copy, data, size);
  check_cpr(copy, size);
  check_other(copy, size);
  free(copy);
  return 0;
}
