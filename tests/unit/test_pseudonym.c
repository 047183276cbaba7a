/*
 * Unit tests for core/model/key.c and core/model/pseudonym.c: the SPEC test vector,
 * vectors computed independently with Python, normalisation per kind, key
 * file refusals and keygen.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "model/key.h"
#include "model/pseudonym.h"
#include "samspor-plugin.h"

/* ---- helpers ---------------------------------------------------------- */

/* The SPEC key: bytes 0x00, 0x01, ..., 0x1f. */
static sp_key *spec_key(void) {
  unsigned char b[32];
  sp_key *k = NULL;
  for (int i = 0; i < 32; i++)
    b[i] = (unsigned char)i;
  assert_int_equal(sp_key_from_bytes(b, sizeof b, &k), 0);
  return k;
}

static sp_key *fill_key(unsigned char first, unsigned char step) {
  unsigned char b[32];
  sp_key *k = NULL;
  for (int i = 0; i < 32; i++)
    b[i] = (unsigned char)(first + step * i);
  assert_int_equal(sp_key_from_bytes(b, sizeof b, &k), 0);
  return k;
}

/* Pseudonym of a NUL-terminated string, asserting success. */
static void pseudo_ok(const sp_pseudonymiser *p, const char *in, char out[37]) {
  const char *reason = "unset";
  int rc = sp_pseudonym(p, in, strlen(in), out, &reason);
  if (rc != 0)
    fail_msg("rejected with %s", reason ? reason : "(null)");
  assert_null(reason);
  assert_int_equal(strlen(out), SP_UUID_LEN);
}

/* Assert a rejection with `code`, an empty output, and a reason code that
 * does not quote the value. */
static void pseudo_reject(const sp_pseudonymiser *p, const char *in, size_t len,
                          const char *code) {
  char out[37];
  const char *reason = NULL;
  memset(out, 'X', sizeof out);
  assert_int_equal(sp_pseudonym(p, in, len, out, &reason), SAMSPOR_EDATA);
  assert_non_null(reason);
  assert_string_equal(reason, code);
  assert_string_equal(out, "");
  if (len >= 3)
    assert_null(memmem(reason, strlen(reason), in, len));
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  return remove(path);
}

/* A fresh directory per test, removed afterwards with all it holds. */
static int tmpdir_setup(void **state) {
  char *dir = strdup("/tmp/sp_test_key_XXXXXX");
  if (!dir || !mkdtemp(dir))
    return -1;
  *state = dir;
  return 0;
}

static int tmpdir_teardown(void **state) {
  char *dir = *state;
  int rc = nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free(dir);
  return rc;
}

static char *path_in(void **state, const char *name) {
  size_t n = strlen(*state) + strlen(name) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", (const char *)*state, name);
  return p;
}

static void write_file(const char *path, const void *data, size_t n,
                       mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, n), (ssize_t)n);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(close(fd), 0);
}

static void write_key_file(const char *path, mode_t mode) {
  unsigned char b[32];
  for (int i = 0; i < 32; i++)
    b[i] = (unsigned char)i;
  write_file(path, b, sizeof b, mode);
}

/* Load and expect refusal with `code` and a message holding each of the
 * NULL-terminated `needles`. */
static void expect_load_refused(const char *path, int code, ...) {
  char err[512];
  sp_key *k = (sp_key *)&k; /* must be reset to NULL */
  va_list ap;
  err[0] = '\0';
  assert_int_equal(sp_key_load(path, &k, err, sizeof err), code);
  assert_null(k);
  assert_non_null(strstr(err, path));
  va_start(ap, code);
  for (const char *n = va_arg(ap, const char *); n;
       n = va_arg(ap, const char *)) {
    if (!strstr(err, n))
      fail_msg("message \"%s\" lacks \"%s\"", err, n);
  }
  va_end(ap);
}

/* ---- pseudonyms ------------------------------------------------------- */

static void test_spec_vector(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "cpr");
  char out[37];
  assert_non_null(p);
  pseudo_ok(p, "010100-1234", out);
  assert_string_equal(out, "0711d47e-3a14-35b6-ef8b-dd30b026688d");
  sp_pseudonymiser_free(p);
  sp_key_free(k);
}

/*
 * Vectors computed independently of libsodium, with Python's hmac module:
 *
 *   python3 -c 'import hmac,hashlib,sys; k=bytes.fromhex(sys.argv[1]);
 *     h=hmac.new(k,sys.argv[2].encode()+b"\0"+sys.argv[3].encode(),
 *     hashlib.sha256).hexdigest()[:32];
 *     print("-".join([h[:8],h[8:12],h[12:16],h[16:20],h[20:]]))'
 *     KEYHEX KIND NORMALISED
 *
 * with KEYHEX 000102...1f (K0), ff*32 (KF) or 202122...3f (K2).  For the
 * rows with an embedded NUL or 200 x's, the Python bytes were written out.
 * `in` is what samspor is given; the Python side got the normalised form.
 */
static void test_python_vectors(void **state) {
  static const struct {
    unsigned char first, step; /* key byte i = first + step * i */
    const char *kind, *in;
    size_t len; /* 0: strlen(in) */
    const char *uuid;
  } v[] = {
      /* 29 Feb 2000, 7th digit 4: valid. */
      {0x00, 1, "cpr", "290200-4000", 0,
       "c4d76a93-cfe8-3ea5-4692-1fad4a5700d8"},
      {0xff, 0, "cpr", "311299 9999", 0,
       "ec74c778-ada8-0350-540b-cbc96e37f6e1"},
      /* 15 Jan 1858: 7th digit 5, YY 58. */
      {0x20, 1, "cpr", "150158-5001", 0,
       "e532c56b-6558-4ca3-95d8-5d846517d350"},
      {0x00, 1, "student_id", "  ABC-123\r\n", 0,
       "675afbba-935a-5045-7839-1bd7f11ed59c"},
      {0x00, 1, "cvr", "12345678", 0, "7e4bd43a-2210-1734-1860-ad61074f01cf"},
      /* The same digits as the SPEC vector, under another kind. */
      {0x00, 1, "cvr", "0101001234", 0, "f9f3118d-29c9-01bf-2969-daec9fc87c4f"},
      {0x00, 1, "email", "\thello world \t", 0,
       "cbd0c77f-a7eb-e9be-861c-378086354134"},
      {0xff, 0, "x", "a", 0, "5c93f223-204d-c95b-8c82-4f5b2ad0c163"},
      /* Inner whitespace is part of the identifier. */
      {0x00, 1, "x", "a b", 0, "c1e95d35-2fd9-b151-de55-edaa6511ee02"},
      /* A vertical tab is not trimmed (only space, tab, CR, LF). */
      {0x00, 1, "x", "\va", 0, "1668ae16-8987-ee88-a69b-0bb25587d094"},
      /* Bytes are used as they are, NUL included. */
      {0x00, 1, "x", "a\0b", 3, "6ea23ba5-c0e1-9fe5-8037-8f6ba54cad2d"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    sp_key *k = fill_key(v[i].first, v[i].step);
    sp_pseudonymiser *p = sp_pseudonymiser_new(k, v[i].kind);
    size_t len = v[i].len ? v[i].len : strlen(v[i].in);
    const char *reason = NULL;
    char out[37];
    assert_non_null(p);
    assert_int_equal(sp_pseudonym(p, v[i].in, len, out, &reason), 0);
    if (strcmp(out, v[i].uuid) != 0)
      fail_msg("vector %zu: got %s, expected %s", i, out, v[i].uuid);
    sp_pseudonymiser_free(p);
    sp_key_free(k);
  }
}

/* An identifier longer than one SHA-256 block (python: b"x"*200). */
static void test_long_identifier(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "note");
  char in[201], out[37];
  memset(in, 'x', 200);
  in[200] = '\0';
  pseudo_ok(p, in, out);
  assert_string_equal(out, "7009ff70-6db5-9d5c-9ac6-2537364fe1ca");
  sp_pseudonymiser_free(p);
  sp_key_free(k);
}

/* The precomputed state must give exactly libsodium's one-shot HMAC over
 * KIND || 0x00 || identifier, for every length around the block sizes. */
static void test_raw_matches_one_shot_hmac(void **state) {
  unsigned char kb[32], msg[300], mac[32], raw[16];
  const char *kinds[] = {"cpr", "k", "a_rather_long_kind_name_for_testing"};
  sp_key *k;
  randombytes_buf(kb, sizeof kb);
  assert_int_equal(sp_key_from_bytes(kb, sizeof kb, &k), 0);
  for (size_t ki = 0; ki < 3; ki++) {
    size_t kl = strlen(kinds[ki]) + 1;
    sp_pseudonymiser *p = sp_pseudonymiser_new(k, kinds[ki]);
    memcpy(msg, kinds[ki], kl);
    for (size_t len = 0; len + kl <= sizeof msg; len++) {
      randombytes_buf(msg + kl, len);
      crypto_auth_hmacsha256(mac, msg, kl + len, kb);
      sp_pseudonym_raw(p, (const char *)msg + kl, len, raw);
      assert_memory_equal(raw, mac, 16);
    }
    sp_pseudonymiser_free(p);
  }
  sodium_memzero(kb, sizeof kb);
  sp_key_free(k);
}

static void test_cpr_spellings_agree(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "cpr");
  const char *spellings[] = {"0101001234", "010100 1234", " 010100-1234 ",
                             "01-01-00-1234"};
  for (size_t i = 0; i < 4; i++) {
    char out[37];
    pseudo_ok(p, spellings[i], out);
    assert_string_equal(out, "0711d47e-3a14-35b6-ef8b-dd30b026688d");
  }
  sp_pseudonymiser_free(p);
  sp_key_free(k);
}

static void test_cpr_rejects(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "cpr");
  pseudo_reject(p, "", 0, "cpr_empty");
  pseudo_reject(p, NULL, 0, "cpr_empty");
  pseudo_reject(p, "101001234", 9, "cpr_nine_digits");
  pseudo_reject(p, "01010012345", 11, "cpr_length");
  pseudo_reject(p, "0101O01234", 10, "cpr_not_digits");
  pseudo_reject(p, "2902001234", 10, "cpr_bad_date");
  pseudo_reject(p, "3104801234", 10, "cpr_bad_date");
  /* Kind "cpr" is not trimmed like the other kinds: SPEC removes only
   * spaces and '-'. */
  pseudo_reject(p, "0101001234\n", 11, "cpr_not_digits");
  /* reason may be NULL. */
  {
    char out[37];
    assert_int_equal(sp_pseudonym(p, "x", 1, out, NULL), SAMSPOR_EDATA);
  }
  sp_pseudonymiser_free(p);
  sp_key_free(k);
}

static void test_other_kinds_trim(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "student_id");
  char a[37], b[37];
  pseudo_ok(p, "ABC-123", a);
  const char *same[] = {" ABC-123", "ABC-123 ", "\tABC-123\t", "ABC-123\r\n",
                        " \t\r\n ABC-123 \n\r\t "};
  for (size_t i = 0; i < 5; i++) {
    pseudo_ok(p, same[i], b);
    assert_string_equal(a, b);
  }
  /* Case, inner spaces and hyphens are kept: other kinds are used as
   * they are. */
  const char *different[] = {"abc-123", "ABC 123", "ABC123", "ABC--123"};
  for (size_t i = 0; i < 4; i++) {
    pseudo_ok(p, different[i], b);
    assert_string_not_equal(a, b);
  }
  sp_pseudonymiser_free(p);
  sp_key_free(k);
}

static void test_other_kinds_empty(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "cvr");
  pseudo_reject(p, "", 0, "empty");
  pseudo_reject(p, NULL, 0, "empty");
  pseudo_reject(p, " ", 1, "empty");
  pseudo_reject(p, " \t\r\n", 4, "empty");
  sp_pseudonymiser_free(p);
  sp_key_free(k);
}

static void test_kinds_and_keys_separate(void **state) {
  sp_key *k0 = spec_key(), *k1 = fill_key(1, 1);
  sp_pseudonymiser *a = sp_pseudonymiser_new(k0, "cpr");
  sp_pseudonymiser *b = sp_pseudonymiser_new(k0, "cpr2");
  sp_pseudonymiser *c = sp_pseudonymiser_new(k1, "cpr");
  char x[37], y[37], z[37];
  pseudo_ok(a, "0101001234", x);
  pseudo_ok(b, "0101001234", y);
  pseudo_ok(c, "0101001234", z);
  assert_string_not_equal(x, y);
  assert_string_not_equal(x, z);
  sp_pseudonymiser_free(a);
  sp_pseudonymiser_free(b);
  sp_pseudonymiser_free(c);
  sp_key_free(k0);
  sp_key_free(k1);
}

/* The pseudonymiser keeps no pointer to the key. */
static void test_pseudonymiser_outlives_key(void **state) {
  sp_key *k = spec_key();
  sp_pseudonymiser *p = sp_pseudonymiser_new(k, "cpr");
  char out[37];
  sp_key_free(k);
  pseudo_ok(p, "010100-1234", out);
  assert_string_equal(out, "0711d47e-3a14-35b6-ef8b-dd30b026688d");
  sp_pseudonymiser_free(p);
}

static void test_pseudonymiser_new_refuses(void **state) {
  sp_key *k = spec_key();
  assert_null(sp_pseudonymiser_new(NULL, "cpr"));
  assert_null(sp_pseudonymiser_new(k, NULL));
  assert_null(sp_pseudonymiser_new(k, ""));
  sp_pseudonymiser_free(NULL);
  sp_key_free(k);
}

static void test_uuid_format(void **state) {
  unsigned char b[16];
  char out[37];
  memset(b, 0, sizeof b);
  sp_uuid_format(b, out);
  assert_string_equal(out, "00000000-0000-0000-0000-000000000000");
  memset(b, 0xff, sizeof b);
  sp_uuid_format(b, out);
  assert_string_equal(out, "ffffffff-ffff-ffff-ffff-ffffffffffff");
  for (int i = 0; i < 16; i++)
    b[i] = (unsigned char)(0x11 * i);
  sp_uuid_format(b, out);
  assert_string_equal(out, "00112233-4455-6677-8899-aabbccddeeff");
}

/* ---- keys ------------------------------------------------------------- */

/* python3 -c 'import hashlib;print(hashlib.sha256(bytes(range(32)))
 *   .hexdigest()[:8])' -> 630dcd29; b"\xff"*32 -> af961376;
 *   bytes(range(32,64)) -> 72dbb733 */
static void test_key_id(void **state) {
  sp_key *k = spec_key();
  assert_string_equal(sp_key_id(k), "630dcd29");
  sp_key_free(k);
  k = fill_key(0xff, 0);
  assert_string_equal(sp_key_id(k), "af961376");
  sp_key_free(k);
  k = fill_key(0x20, 1);
  assert_string_equal(sp_key_id(k), "72dbb733");
  sp_key_free(k);
}

static void test_key_from_bytes_wrong_size(void **state) {
  unsigned char b[33] = {0};
  sp_key *k = (sp_key *)&k;
  assert_int_equal(sp_key_from_bytes(b, 31, &k), SAMSPOR_EINVAL);
  assert_null(k);
  assert_int_equal(sp_key_from_bytes(b, 33, &k), SAMSPOR_EINVAL);
  assert_int_equal(sp_key_from_bytes(NULL, 32, &k), SAMSPOR_EINVAL);
  sp_key_free(NULL);
}

static void test_key_load_ok(void **state) {
  char *path = path_in(state, "ok.key");
  char err[256] = "";
  sp_key *k = NULL;
  mode_t modes[] = {0600, 0400};
  for (int i = 0; i < 2; i++) {
    unlink(path);
    write_key_file(path, modes[i]);
    assert_int_equal(sp_key_load(path, &k, err, sizeof err), 0);
    assert_non_null(k);
    assert_string_equal(sp_key_id(k), "630dcd29");
    sp_pseudonymiser *p = sp_pseudonymiser_new(k, "cpr");
    char out[37];
    pseudo_ok(p, "010100-1234", out);
    assert_string_equal(out, "0711d47e-3a14-35b6-ef8b-dd30b026688d");
    sp_pseudonymiser_free(p);
    sp_key_free(k);
  }
  free(path);
}

static void test_key_load_wrong_size(void **state) {
  char *path = path_in(state, "size.key");
  unsigned char b[64];
  memset(b, 7, sizeof b);
  size_t sizes[] = {0, 31, 33, 64};
  for (int i = 0; i < 4; i++) {
    unlink(path);
    write_file(path, b, sizes[i], 0600);
    expect_load_refused(path, SAMSPOR_EINVAL, "exactly 32 bytes",
                        "samspor keygen", NULL);
  }
  /* A CPR number saved as the key by mistake: refused, and the message
   * names the file but never its contents. */
  unlink(path);
  write_file(path, "0101001234\n", 11, 0600);
  {
    char err[512];
    sp_key *k;
    assert_int_equal(sp_key_load(path, &k, err, sizeof err), SAMSPOR_EINVAL);
    assert_null(strstr(err, "0101001234"));
    assert_non_null(strstr(err, "11 bytes"));
  }
  free(path);
}

static void test_key_load_group_readable(void **state) {
  char *path = path_in(state, "g.key");
  write_key_file(path, 0640);
  expect_load_refused(path, SAMSPOR_EINVAL, "0640", "chmod 600", NULL);
  free(path);
}

static void test_key_load_world_readable(void **state) {
  char *path = path_in(state, "w.key");
  write_key_file(path, 0644);
  expect_load_refused(path, SAMSPOR_EINVAL, "0644", "chmod 600", NULL);
  unlink(path);
  /* Any group or other bit at all, even without read. */
  write_key_file(path, 0601);
  expect_load_refused(path, SAMSPOR_EINVAL, "0601", "chmod 600", NULL);
  unlink(path);
  write_key_file(path, 0610);
  expect_load_refused(path, SAMSPOR_EINVAL, "0610", "chmod 600", NULL);
  free(path);
}

static void test_key_load_missing(void **state) {
  char *path = path_in(state, "missing.key");
  expect_load_refused(path, SAMSPOR_ENOENT, "does not exist", "samspor keygen",
                      NULL);
  free(path);
}

static void test_key_load_directory(void **state) {
  char *path = path_in(state, "dir.key");
  assert_int_equal(mkdir(path, 0700), 0);
  expect_load_refused(path, SAMSPOR_EINVAL, "is a directory", "samspor keygen",
                      NULL);
  free(path);
}

static void test_key_load_fifo(void **state) {
  char *path = path_in(state, "fifo.key");
  assert_int_equal(mkfifo(path, 0600), 0);
  /* Must not block waiting for a writer. */
  expect_load_refused(path, SAMSPOR_EINVAL, "not a regular file", NULL);
  free(path);
}

static void test_key_load_wrong_owner(void **state) {
  char *path = path_in(state, "owner.key");
  write_key_file(path, 0600);
  /* Only root can hand a file to another user. */
  if (geteuid() != 0 || chown(path, 65534, (gid_t)-1) != 0) {
    free(path);
    skip();
  }
  expect_load_refused(path, SAMSPOR_EINVAL, "owned by uid 65534", "chown",
                      NULL);
  free(path);
}

static void test_key_load_err_may_be_null(void **state) {
  char *path = path_in(state, "none.key");
  sp_key *k;
  char err[256] = "";
  assert_int_equal(sp_key_load(path, &k, NULL, 0), SAMSPOR_ENOENT);
  /* No key_file configured. */
  assert_int_equal(sp_key_load(NULL, &k, err, sizeof err), SAMSPOR_EINVAL);
  assert_null(k);
  assert_non_null(strstr(err, "key_file"));
  assert_int_equal(sp_key_load("", &k, NULL, 0), SAMSPOR_EINVAL);
  free(path);
}

static void test_keygen_creates(void **state) {
  char *path = path_in(state, "new.key");
  char *path2 = path_in(state, "new2.key");
  char err[256] = "";
  struct stat st;
  sp_key *k = NULL, *k2 = NULL;
  /* Even a umask that would leave the owner without read access. */
  mode_t old = umask(0777);
  int rc = sp_key_generate(path, err, sizeof err);
  umask(old);
  assert_int_equal(rc, 0);
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_size, 32);
  assert_int_equal(st.st_uid, geteuid());
  assert_int_equal(sp_key_load(path, &k, err, sizeof err), 0);
  /* Random: a second key differs. */
  assert_int_equal(sp_key_generate(path2, err, sizeof err), 0);
  assert_int_equal(sp_key_load(path2, &k2, err, sizeof err), 0);
  assert_string_not_equal(sp_key_id(k), sp_key_id(k2));
  sp_key_free(k);
  sp_key_free(k2);
  free(path);
  free(path2);
}

static void test_keygen_refuses_overwrite(void **state) {
  char *path = path_in(state, "exists.key");
  char err[512] = "";
  sp_key *k = NULL;
  assert_int_equal(sp_key_generate(path, err, sizeof err), 0);
  assert_int_equal(sp_key_load(path, &k, err, sizeof err), 0);
  char id[9];
  memcpy(id, sp_key_id(k), sizeof id);
  sp_key_free(k);

  assert_int_equal(sp_key_generate(path, err, sizeof err), SAMSPOR_EINVAL);
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "already exists"));
  assert_non_null(strstr(err, "never overwrites"));
  /* The old key is untouched. */
  assert_int_equal(sp_key_load(path, &k, err, sizeof err), 0);
  assert_string_equal(sp_key_id(k), id);
  sp_key_free(k);
  free(path);
}

static void test_keygen_refuses_symlink(void **state) {
  char *link = path_in(state, "link.key");
  char *target = path_in(state, "target.key");
  char err[512] = "";
  struct stat st;
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(sp_key_generate(link, err, sizeof err), SAMSPOR_EINVAL);
  assert_non_null(strstr(err, "already exists"));
  assert_int_equal(stat(target, &st), -1);
  free(link);
  free(target);
}

static void test_keygen_missing_directory(void **state) {
  char *path = path_in(state, "no/such/dir.key");
  char err[512] = "";
  assert_int_equal(sp_key_generate(path, err, sizeof err), SAMSPOR_ENOENT);
  assert_non_null(strstr(err, path));
  free(path);
}

int main(void) {
  if (sodium_init() < 0) {
    fprintf(stderr, "sodium_init failed\n");
    return 1;
  }
#define T(f) cmocka_unit_test(f)
#define TD(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)
  const struct CMUnitTest tests[] = {
      T(test_spec_vector),
      T(test_python_vectors),
      T(test_long_identifier),
      T(test_raw_matches_one_shot_hmac),
      T(test_cpr_spellings_agree),
      T(test_cpr_rejects),
      T(test_other_kinds_trim),
      T(test_other_kinds_empty),
      T(test_kinds_and_keys_separate),
      T(test_pseudonymiser_outlives_key),
      T(test_pseudonymiser_new_refuses),
      T(test_uuid_format),
      T(test_key_id),
      T(test_key_from_bytes_wrong_size),
      TD(test_key_load_ok),
      TD(test_key_load_wrong_size),
      TD(test_key_load_group_readable),
      TD(test_key_load_world_readable),
      TD(test_key_load_missing),
      TD(test_key_load_directory),
      TD(test_key_load_fifo),
      TD(test_key_load_wrong_owner),
      TD(test_key_load_err_may_be_null),
      TD(test_keygen_creates),
      TD(test_keygen_refuses_overwrite),
      TD(test_keygen_refuses_symlink),
      TD(test_keygen_missing_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
