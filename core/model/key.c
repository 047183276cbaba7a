#include "config.h"

#include "model/key.h"

#include "samspor-plugin.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sodium.h>

/*
 * Lives in sodium_malloc'd memory: guard pages around it, mlocked so it is
 * not swapped out, and read-only once filled, so a stray write elsewhere
 * faults instead of silently changing every pseudonym.
 */
struct sp_key {
  unsigned char bytes[SP_KEY_BYTES]; /* the secret */
  char id[9];                        /* key id: 8 hex digits and NUL */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    SP_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (!err || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Computed once, at load: sp_key_id() is then a plain read that cannot
 * fail, and the hash of the secret exists only briefly on the stack. */
static void compute_id(sp_key *k) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, k->bytes, sizeof k->bytes);
  sodium_bin2hex(k->id, sizeof k->id, h, 4);
  sodium_memzero(h, sizeof h);
}

static sp_key *key_alloc(void) {
  /* sizeof is a multiple of the struct's alignment, and sodium_malloc puts
   * the block flush against its trailing guard page, so it stays aligned. */
  sp_key *k = sodium_malloc(sizeof *k);
  if (k)
    memset(k, 0, sizeof *k);
  return k;
}

/* Read exactly n bytes unless the file ends first.  Returns the number of
 * bytes read, or -1 with errno set. */
static ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, (const char *)buf + done, n - done);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    done += (size_t)w;
  }
  return 0;
}

/*
 * The checks run on the open descriptor (fstat), not on the path, so the
 * file that is checked is the file that is read even if the path is
 * swapped in between.  Symlinks are followed: /etc/samspor/pseudonym.key
 * may well be a link managed by configuration management, and what matters
 * is who can read the file it points to.
 */
int sp_key_load(const char *path, sp_key **out, char *err, size_t errlen) {
  struct stat st;
  sp_key *k = NULL;
  unsigned char extra;
  int rc = SAMSPOR_EIO;
  int fd;

  *out = NULL;
  if (!path || !*path) {
    set_err(err, errlen,
            "no key file given; set pseudonym.key_file, and create the key "
            "with: samspor keygen FILE");
    return SAMSPOR_EINVAL;
  }
  /* O_NONBLOCK: opening a FIFO put where the key should be must not hang
   * the daemon; fstat then refuses it. */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) {
      set_err(err, errlen,
              "key file %s does not exist; restore it from backup, or for a "
              "new installation create one with: samspor keygen %s",
              path, path);
      return SAMSPOR_ENOENT;
    }
    if (e == EACCES) {
      set_err(err, errlen,
              "cannot read key file %s: permission denied; the key must be "
              "owned by uid %u, the user running samspor (chown %u %s; "
              "chmod 600 %s)",
              path, (unsigned)geteuid(), (unsigned)geteuid(), path, path);
      return SAMSPOR_EIO;
    }
    set_err(err, errlen, "cannot open key file %s: %s", path, strerror(e));
    return SAMSPOR_EIO;
  }

  if (fstat(fd, &st) != 0) {
    set_err(err, errlen, "cannot stat key file %s: %s", path, strerror(errno));
    goto done;
  }
  rc = SAMSPOR_EINVAL;
  if (S_ISDIR(st.st_mode)) {
    set_err(err, errlen,
            "key file %s is a directory; give the path of the key file "
            "itself, or create a new key with: samspor keygen FILE",
            path);
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    set_err(err, errlen,
            "key file %s is not a regular file; the key must be a plain file "
            "of 32 bytes made by: samspor keygen FILE",
            path);
    goto done;
  }
  if (st.st_uid != geteuid()) {
    set_err(err, errlen,
            "key file %s is owned by uid %u, but samspor runs as uid %u; the "
            "key must belong to the user running samspor: chown %u %s",
            path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(),
            path);
    goto done;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    set_err(err, errlen,
            "key file %s has mode %04o, so group or others can access it; "
            "the key must be readable by its owner only: chmod 600 %s",
            path, (unsigned)(st.st_mode & 07777), path);
    goto done;
  }
  if (st.st_size != SP_KEY_BYTES) {
    /* Not "just regenerate": a new key changes every pseudonym, so the
     * first advice is to find the right file. */
    set_err(err, errlen,
            "key file %s is %lld bytes, but a key is exactly %d bytes; "
            "restore the right file, or for a new installation move it away "
            "and regenerate with: samspor keygen %s",
            path, (long long)st.st_size, SP_KEY_BYTES, path);
    goto done;
  }

  k = key_alloc();
  if (!k) {
    set_err(err, errlen,
            "cannot allocate protected memory for the key from %s "
            "(sodium_malloc failed; check the memlock limit)",
            path);
    rc = SAMSPOR_ENOMEM;
    goto done;
  }
  /* Straight into the guarded block: no copy of the key on the stack. */
  ssize_t got = read_full(fd, k->bytes, sizeof k->bytes);
  if (got < 0) {
    set_err(err, errlen, "cannot read key file %s: %s", path, strerror(errno));
    rc = SAMSPOR_EIO;
    goto done;
  }
  /* The size was checked by fstat; a different count means the file was
   * being rewritten under us.  Never use a key that might be half old. */
  if (got != SP_KEY_BYTES || read_full(fd, &extra, 1) != 0) {
    sodium_memzero(&extra, sizeof extra);
    set_err(err, errlen,
            "key file %s changed size while being read; make sure nothing "
            "is writing it and try again",
            path);
    rc = SAMSPOR_EIO;
    goto done;
  }

  compute_id(k);
  sodium_mprotect_readonly(k);
  *out = k;
  k = NULL;
  rc = 0;

done:
  if (k)
    sodium_free(k);
  close(fd);
  return rc;
}

int sp_key_from_bytes(const unsigned char *bytes, size_t n, sp_key **out) {
  sp_key *k;
  *out = NULL;
  if (!bytes || n != SP_KEY_BYTES)
    return SAMSPOR_EINVAL;
  k = key_alloc();
  if (!k)
    return SAMSPOR_ENOMEM;
  memcpy(k->bytes, bytes, SP_KEY_BYTES);
  compute_id(k);
  sodium_mprotect_readonly(k);
  *out = k;
  return 0;
}

/* Make the new directory entry durable too: a key that vanishes after a
 * power cut, once data was pseudonymised with it, is unrecoverable.
 * Returns 0 or -1 with errno set. */
static int fsync_parent(const char *path) {
  char *copy = sp_xstrdup(path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;
  free(copy);
  if (fd < 0)
    return -1;
  /* EINVAL: the file system cannot sync directories; nothing more to do. */
  if (fsync(fd) != 0 && errno != EINVAL)
    rc = -1;
  close(fd);
  return rc;
}

int sp_key_generate(const char *path, char *err, size_t errlen) {
  unsigned char buf[SP_KEY_BYTES];
  int fd, e;

  /* O_EXCL also refuses a symlink, dangling or not, so keygen can never be
   * tricked into writing a key somewhere else. */
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) {
    e = errno;
    if (e == EEXIST) {
      set_err(err, errlen,
              "%s already exists; samspor keygen never overwrites a key, "
              "since every pseudonym made with it would become unlinkable. "
              "To replace it, move the old file away first and keep it",
              path);
      return SAMSPOR_EINVAL;
    }
    if (e == ENOENT) {
      set_err(err, errlen,
              "cannot create key file %s: its directory does not exist", path);
      return SAMSPOR_ENOENT;
    }
    set_err(err, errlen, "cannot create key file %s: %s", path, strerror(e));
    return SAMSPOR_EIO;
  }

  randombytes_buf(buf, sizeof buf);
  /* The umask can only clear bits; a umask such as 0700 would leave a key
   * its own owner cannot read.  Set exactly 0600. */
  if (fchmod(fd, 0600) != 0 || write_full(fd, buf, sizeof buf) != 0 ||
      fsync(fd) != 0) {
    e = errno;
    sodium_memzero(buf, sizeof buf);
    close(fd);
    unlink(path);
    set_err(err, errlen, "cannot write key file %s: %s", path, strerror(e));
    return SAMSPOR_EIO;
  }
  sodium_memzero(buf, sizeof buf);
  if (close(fd) != 0 || fsync_parent(path) != 0) {
    e = errno;
    unlink(path);
    set_err(err, errlen, "cannot write key file %s: %s", path, strerror(e));
    return SAMSPOR_EIO;
  }
  return 0;
}

const char *sp_key_id(const sp_key *k) {
  return k->id;
}

int sp_key_hmac_init(const sp_key *k, struct crypto_auth_hmacsha256_state *st) {
  return crypto_auth_hmacsha256_init(st, k->bytes, sizeof k->bytes);
}

void sp_key_derive(const sp_key *k, unsigned long long id,
                   const char context[8], unsigned char out[32]) {
  _Static_assert(SP_KEY_BYTES == crypto_kdf_KEYBYTES, "a kdf master key");
  crypto_kdf_derive_from_key(out, 32, id, context, k->bytes);
}

/* sodium_free makes the block writable again, zeroes it, checks its canary
 * and unmaps it with its guard pages. */
void sp_key_free(sp_key *k) {
  if (k)
    sodium_free(k);
}
