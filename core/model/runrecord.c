#include "config.h"

#include "model/runrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

static const char *const status_names[] = {"succeeded", "failed", "skipped"};

const char *sp_runrec_status_name(sp_runrec_status s) {
  return (unsigned)s < sizeof status_names / sizeof *status_names
             ? status_names[s]
             : "failed";
}

void sp_runrec_add_reason(sp_runrec_reason *reasons, size_t *nreasons,
                          const char *reason, long long n) {
  if (strlen(reason) >= sizeof reasons[0].reason)
    reason = "other";
  for (size_t i = 0; i < *nreasons; i++)
    if (strcmp(reasons[i].reason, reason) == 0) {
      reasons[i].rows += n;
      return;
    }
  if (*nreasons == SP_RUNREC_MAX_REASONS) {
    /* The last entry becomes "other", holding its own rows too. */
    sp_runrec_reason *l = &reasons[*nreasons - 1];
    snprintf(l->reason, sizeof l->reason, "other");
    l->rows += n;
    return;
  }
  sp_runrec_reason *e = &reasons[(*nreasons)++];
  snprintf(e->reason, sizeof e->reason, "%s", reason);
  e->rows = n;
}

static int dump(json_t *o, char **json) {
  if (!o)
    return -1;
  /* Compact: one record, one line (a newline in a string is escaped). */
  *json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return *json ? 0 : -1;
}

int sp_runrec_encode(const sp_runrec *r, char **json) {
  *json = NULL;
  if (r->type == SP_RUNREC_PROGRESS)
    return dump(json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f}", "v",
                          SP_RUNREC_VERSION, "type", "progress", "connector",
                          r->connector, "stream", r->stream, "run_id",
                          (json_int_t)r->run_id, "read", (json_int_t)r->read,
                          "loaded", (json_int_t)r->loaded, "rejected",
                          (json_int_t)r->rejected, "seconds", r->seconds),
                json);
  json_t *o = json_pack(
      "{s:i, s:s, s:s, s:I, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:f, "
      "s:o}",
      "v", SP_RUNREC_VERSION, "connector", r->connector, "stream", r->stream,
      "run_id", (json_int_t)r->run_id, "status",
      sp_runrec_status_name(r->status), "exit", r->exit_code, "read",
      (json_int_t)r->read, "loaded", (json_int_t)r->loaded, "rejected",
      (json_int_t)r->rejected, "skipped", (json_int_t)r->skipped, "deleted",
      (json_int_t)r->deleted, "duplicates", (json_int_t)r->duplicates,
      "seconds", r->seconds, "error",
      r->error[0] ? json_string(r->error) : json_null());
  if (o && r->nreasons) {
    json_t *rj = json_object();
    for (size_t i = 0; i < r->nreasons; i++)
      json_object_set_new(rj, r->reasons[i].reason,
                          json_integer((json_int_t)r->reasons[i].rows));
    json_object_set_new(o, "rejects", rj);
  }
  return dump(o, json);
}

static int copy_name(char *dst, size_t cap, const char *src, const char *what,
                     char *err, size_t errlen) {
  size_t n = strlen(src);
  if (n == 0 || n >= cap) {
    if (err)
      snprintf(err, errlen, "run record: %s is empty or longer than %zu bytes",
               what, cap - 1);
    return -1;
  }
  memcpy(dst, src, n + 1);
  return 0;
}

int sp_runrec_decode(const char *json, sp_runrec *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  json_error_t je;
  json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    if (err)
      snprintf(err, errlen, "run record: not JSON: %s (column %d)", je.text,
               je.column);
    return -1;
  }
  int v = 0;
  const char *connector, *stream, *status;
  json_int_t run_id, read, loaded, rejected, skipped, deleted, dups;
  double seconds;
  json_t *error;
  int rc = -1;
  if (json_unpack_ex(o, &je, 0, "{s:i}", "v", &v) != 0) {
    if (err)
      snprintf(err, errlen, "run record: %s", je.text);
    goto out;
  }
  if (v != SP_RUNREC_VERSION) {
    if (err)
      snprintf(err, errlen, "run record: version %d, expected %d", v,
               SP_RUNREC_VERSION);
    goto out;
  }
  const char *type = "stream";
  if (json_unpack_ex(o, &je, 0, "{s?s}", "type", &type) != 0) {
    if (err)
      snprintf(err, errlen, "run record: %s", je.text);
    goto out;
  }
  if (strcmp(type, "progress") == 0) {
    if (json_unpack_ex(o, &je, 0, "{s:s, s:s, s:I, s:I, s:I, s:I, s:F}",
                       "connector", &connector, "stream", &stream, "run_id",
                       &run_id, "read", &read, "loaded", &loaded, "rejected",
                       &rejected, "seconds", &seconds) != 0) {
      if (err)
        snprintf(err, errlen, "run record: %s", je.text);
      goto out;
    }
    if (copy_name(r->connector, sizeof r->connector, connector, "connector",
                  err, errlen) != 0 ||
        copy_name(r->stream, sizeof r->stream, stream, "stream", err, errlen) !=
            0)
      goto out;
    r->type = SP_RUNREC_PROGRESS;
    r->run_id = run_id;
    r->read = read;
    r->loaded = loaded;
    r->rejected = rejected;
    r->seconds = seconds;
    rc = 0;
    goto out;
  }
  if (strcmp(type, "stream") != 0) {
    if (err)
      snprintf(err, errlen, "run record: unknown type '%.32s'", type);
    goto out;
  }
  if (json_unpack_ex(o, &je, 0,
                     "{s:s, s:s, s:I, s:s, s:i, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:F, s:o}",
                     "connector", &connector, "stream", &stream, "run_id",
                     &run_id, "status", &status, "exit", &r->exit_code, "read",
                     &read, "loaded", &loaded, "rejected", &rejected, "skipped",
                     &skipped, "deleted", &deleted, "duplicates", &dups,
                     "seconds", &seconds, "error", &error) != 0) {
    if (err)
      snprintf(err, errlen, "run record: %s", je.text);
    goto out;
  }
  if (copy_name(r->connector, sizeof r->connector, connector, "connector", err,
                errlen) != 0 ||
      copy_name(r->stream, sizeof r->stream, stream, "stream", err, errlen) !=
          0)
    goto out;
  size_t k;
  for (k = 0; k < sizeof status_names / sizeof *status_names; k++)
    if (strcmp(status, status_names[k]) == 0)
      break;
  if (k == sizeof status_names / sizeof *status_names) {
    if (err)
      snprintf(err, errlen, "run record: unknown status '%.32s'", status);
    goto out;
  }
  if (!json_is_null(error) && !json_is_string(error)) {
    if (err)
      snprintf(err, errlen, "run record: error is neither a string nor null");
    goto out;
  }
  r->status = (sp_runrec_status)k;
  r->run_id = run_id;
  r->read = read;
  r->loaded = loaded;
  r->rejected = rejected;
  r->skipped = skipped;
  r->deleted = deleted;
  r->duplicates = dups;
  r->seconds = seconds;
  if (json_is_string(error))
    snprintf(r->error, sizeof r->error, "%s", json_string_value(error));
  json_t *rejects = json_object_get(o, "rejects");
  if (rejects && !json_is_object(rejects)) {
    if (err)
      snprintf(err, errlen, "run record: rejects is not an object");
    goto out;
  }
  const char *reason;
  json_t *count;
  json_object_foreach(rejects, reason, count) {
    if (!json_is_integer(count) || json_integer_value(count) < 0) {
      if (err)
        snprintf(err, errlen, "run record: rejects of a reason is not a count");
      goto out;
    }
    sp_runrec_add_reason(r->reasons, &r->nreasons, reason,
                         (long long)json_integer_value(count));
  }
  rc = 0;
out:
  json_decref(o);
  if (rc != 0)
    memset(r, 0, sizeof *r);
  return rc;
}

int sp_runrec_channel(void) {
  const char *v = getenv(SP_RUNREC_ENV);
  if (!v)
    return -1;
  char *end;
  errno = 0;
  long fd = strtol(v, &end, 10);
  int ok = errno == 0 && end != v && *end == '\0' && fd > 2 && fd < 1024;
  unsetenv(SP_RUNREC_ENV);
  if (!ok)
    return -1;
  int flags = fcntl((int)fd, F_GETFD);
  if (flags < 0)
    return -1; /* not open: nobody to tell */
  fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
  return (int)fd;
}

int sp_runrec_write(int fd, const sp_runrec *r) {
  char *json;
  if (sp_runrec_encode(r, &json) != 0) {
    errno = EINVAL;
    return -1;
  }
  size_t len = strlen(json);
  json[len] = '\n'; /* the terminator goes; the write is counted */
  size_t off = 0;
  int rc = 0;
  while (off < len + 1) {
    ssize_t w = write(fd, json + off, len + 1 - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      rc = -1;
      break;
    }
    off += (size_t)w;
  }
  free(json);
  return rc;
}
