#include "config.h"

#include "daemon/admin.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "base/exitcode.h"
#include "model/conf.h"
#include "base/log.h"
#include "base/options.h"

/* A request longer than this is no request of ours: drop the client. */
#define ADMIN_MAX_REQUEST (64 * 1024)
/* Clients at once; more are answered "busy" and closed, so a stuck script
 * cannot make the daemon run out of descriptors. */
#define ADMIN_MAX_CLIENTS 32
/* A client that has not completed a request line this long after it
 * connected (or after its last answer) is closed: 32 forgotten connections
 * must not lock status, trigger and reload out for good. */
#define ADMIN_IDLE_MS 5000
/* How long the client commands retry an answer of "busy" (longer than
 * ADMIN_IDLE_MS, so idle connections holding every slot have been closed
 * by then). */
#define ADMIN_BUSY_WAIT_MS 10000
/* A response longer than this is refused by the client (a status of a
 * thousand connectors is ~1 MiB). */
#define ADMIN_MAX_RESPONSE (16 * 1024 * 1024)
/* How long the client commands wait for an answer.  A reload parses the
 * configuration and loads plugins on the loop thread, which takes well
 * under a second; the margin is for a machine under load. */
#define ADMIN_TIMEOUT_MS 60000

#define DEFAULT_ADMIN_SOCKET "/run/samspor/admin.sock"

/* ---- server ----------------------------------------------------------- */

typedef struct admin_client admin_client;

struct sp_admin {
  uv_pipe_t server;    /* the listening socket */
  sp_admin_fn fn;      /* request handler */
  void *ud;            /* its context */
  char *path;          /* socket path (owned) */
  dev_t dev;           /* the socket file we made, so that close removes */
  ino_t ino;           /*   only ours */
  admin_client *first; /* open client connections */
  int nclients;        /* of them, those served (not answered "busy") */
  int open_handles;    /* server + clients not yet closed: free at 0 */
  int closing;
};

struct admin_client {
  uv_pipe_t pipe;     /* the connection */
  uv_timer_t idle;    /* closes the connection when no request comes */
  sp_admin *a;        /* owner */
  sp_buf in;          /* bytes of the request line so far */
  admin_client *next; /* in a->first */
  admin_client *prev;
  int closing;
  int busy;        /* over the limit: answered "busy", not in nclients */
  int handles;     /* pipe and timer not yet closed: free at 0 */
  char rbuf[4096]; /* read buffer: one per client, no allocation per read */
};

/* One response being written; freed in its write callback. */
typedef struct admin_write {
  uv_write_t req;
  char *data; /* JSON line (owned) */
} admin_write;

static void admin_release(sp_admin *a) {
  if (--a->open_handles > 0)
    return;
  free(a->path);
  free(a);
}

static void on_client_closed(uv_handle_t *h) {
  admin_client *c = h->data;
  sp_admin *a = c->a;
  if (--c->handles > 0)
    return;
  sp_buf_free(&c->in);
  free(c);
  admin_release(a);
}

static void client_close(admin_client *c) {
  if (c->closing)
    return;
  c->closing = 1;
  sp_admin *a = c->a;
  if (c->prev)
    c->prev->next = c->next;
  else
    a->first = c->next;
  if (c->next)
    c->next->prev = c->prev;
  if (!c->busy)
    a->nclients--;
  uv_close((uv_handle_t *)&c->idle, on_client_closed);
  uv_close((uv_handle_t *)&c->pipe, on_client_closed);
}

static void on_idle(uv_timer_t *t) {
  client_close(t->data);
}

static void on_written(uv_write_t *req, int status) {
  admin_write *w = req->data;
  free(w->data);
  free(w);
}

/* Queue one JSON object as a line on the client.  Takes over resp. */
static void client_send(admin_client *c, json_t *resp) {
  char *text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                    JSON_REAL_PRECISION(9));
  json_decref(resp);
  if (!text)
    text = sp_xstrdup("{\"ok\":false,\"error\":\"response not encodable\"}");
  admin_write *w = sp_xcalloc(1, sizeof *w);
  w->data = sp_xasprintf("%s\n", text);
  free(text);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)strlen(w->data));
  if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) {
    /* The callback is never called when uv_write fails. */
    free(w->data);
    free(w);
    client_close(c);
  }
}

static json_t *error_response(const char *code, const char *msg) {
  return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "code", code);
}

static void handle_line(admin_client *c, const char *line, size_t len) {
  json_error_t jerr;
  json_t *req = json_loadb(line, len, 0, &jerr);
  json_t *resp;
  if (!req || !json_is_object(req)) {
    resp = error_response("bad_request",
                          "a request is one JSON object on one line");
  } else {
    resp = c->a->fn(c->a->ud, req);
    if (!resp)
      resp = error_response("internal", "the daemon could not answer");
    else if (!json_object_get(resp, "ok"))
      json_object_set_new(resp, "ok", json_true());
  }
  json_decref(req);
  client_send(c, resp);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  admin_client *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  admin_client *c = req->data;
  free(req);
  client_close(c);
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  admin_client *c = s->data;
  if (nread < 0) {
    /* EOF (the client is done) or an error.  Let queued responses reach
     * the client first: uv_shutdown waits for pending writes. */
    uv_read_stop(s);
    uv_shutdown_t *req = sp_xcalloc(1, sizeof *req);
    req->data = c;
    if (uv_shutdown(req, s, on_shutdown) != 0) {
      free(req);
      client_close(c);
    }
    return;
  }
  for (ssize_t i = 0; i < nread && !c->closing; i++) {
    char ch = buf->base[i];
    if (ch != '\n') {
      sp_buf_putc(&c->in, ch);
      if (c->in.len > ADMIN_MAX_REQUEST) {
        client_send(c, error_response("bad_request", "request too long"));
        uv_read_stop(s);
        client_close(c);
      }
      continue;
    }
    size_t len = c->in.len;
    if (len && c->in.data[len - 1] == '\r')
      len--;
    if (len) {
      handle_line(c, c->in.data, len);
      if (!c->closing)
        uv_timer_start(&c->idle, on_idle, ADMIN_IDLE_MS, 0);
    }
    sp_buf_reset(&c->in);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  sp_admin *a = server->data;
  if (status < 0 || a->closing)
    return;
  admin_client *c = sp_xcalloc(1, sizeof *c);
  c->a = a;
  sp_buf_init(&c->in);
  uv_pipe_init(server->loop, &c->pipe, 0);
  uv_timer_init(server->loop, &c->idle);
  c->pipe.data = c;
  c->idle.data = c;
  c->handles = 2;
  a->open_handles++;
  /* Every connection is accepted and answered: one left in the backlog
   * looks to its client like a daemon that hangs. */
  c->busy = a->nclients >= ADMIN_MAX_CLIENTS;
  if (!c->busy)
    a->nclients++;
  c->next = a->first;
  if (a->first)
    a->first->prev = c;
  a->first = c;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
    client_close(c);
    return;
  }
  if (c->busy) {
    sp_warn(NULL,
            "admin socket: %d clients at once; answering one \"busy\" (idle "
            "connections are closed after %d s)",
            ADMIN_MAX_CLIENTS, ADMIN_IDLE_MS / 1000);
    client_send(c, error_response("busy", "the daemon is busy: too many "
                                          "connections on its admin socket"));
    if (c->closing)
      return;
    /* Close once the answer is out (uv_shutdown waits for it); the timer
     * bounds a client that never reads it. */
    uv_shutdown_t *req = sp_xcalloc(1, sizeof *req);
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown) != 0) {
      free(req);
      client_close(c);
      return;
    }
    uv_timer_start(&c->idle, on_idle, ADMIN_IDLE_MS, 0);
    return;
  }
  uv_timer_start(&c->idle, on_idle, ADMIN_IDLE_MS, 0);
  uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_client_read);
}

/*
 * Is anybody accepting on the socket at path?  1 yes, 0 no (refused: a
 * stale file), -1 cannot tell (errno set).
 */
static int socket_alive(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  if (rc == 0)
    return 1;
  if (e == ECONNREFUSED)
    return 0;
  errno = e;
  return -1;
}

static void on_server_closed(uv_handle_t *h) {
  admin_release(h->data);
}

int sp_admin_listen(uv_loop_t *loop, const char *path, sp_admin_fn fn, void *ud,
                    sp_admin **out, char *err, size_t errlen) {
  struct sockaddr_un sa;
  struct stat st;
  *out = NULL;
  if (!path || !*path || strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen,
             "admin socket '%s': a Unix socket path must be 1 to %zu bytes",
             path ? path : "", sizeof sa.sun_path - 1);
    return SAMSPOR_ECONFIG;
  }
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      snprintf(err, errlen,
               "admin socket %s exists and is not a socket; not touching it",
               path);
      return SAMSPOR_ECONFIG;
    }
    int alive = socket_alive(path);
    if (alive == 1) {
      snprintf(err, errlen,
               "another samspor daemon is listening on %s (samspor status "
               "shows it); not starting a second one",
               path);
      return SAMSPOR_ETEMP;
    }
    if (alive < 0) {
      snprintf(err, errlen, "admin socket %s: %s", path, strerror(errno));
      return SAMSPOR_EIO;
    }
    /* Nobody accepts: left by a daemon that died without cleaning up. */
    if (unlink(path) != 0 && errno != ENOENT) {
      snprintf(err, errlen, "cannot remove the stale admin socket %s: %s", path,
               strerror(errno));
      return SAMSPOR_EIO;
    }
    sp_info(NULL, "removed the stale admin socket %s", path);
  }

  /* libuv reports a missing directory as "permission denied" (for
   * Windows' sake); say what is wrong. */
  char *dir = sp_xstrdup(path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    slash[slash == dir ? 1 : 0] = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
      snprintf(err, errlen,
               "admin socket %s: directory %s does not exist (under systemd, "
               "RuntimeDirectory=samspor makes /run/samspor)",
               path, dir);
      free(dir);
      return SAMSPOR_ECONFIG;
    }
  }
  free(dir);

  sp_admin *a = sp_xcalloc(1, sizeof *a);
  a->fn = fn;
  a->ud = ud;
  a->path = sp_xstrdup(path);
  uv_pipe_init(loop, &a->server, 0);
  a->server.data = a;
  a->open_handles = 1;
  /* The umask makes the socket 0660 from its first instant; the chmod
   * covers a umask that was already stricter than ours. */
  mode_t old = umask(0117);
  int rc = uv_pipe_bind(&a->server, path);
  umask(old);
  if (rc == 0 && chmod(path, 0660) != 0)
    rc = uv_translate_sys_error(errno);
  if (rc == 0 && lstat(path, &st) == 0) {
    a->dev = st.st_dev;
    a->ino = st.st_ino;
  }
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&a->server, 16, on_connection);
  if (rc != 0) {
    int code = SAMSPOR_EIO;
    if (rc == UV_EADDRINUSE) {
      /* Lost a race with a second daemon starting at the same moment. */
      snprintf(err, errlen,
               "another samspor daemon is listening on %s; not starting a "
               "second one",
               path);
      code = SAMSPOR_ETEMP;
    } else {
      snprintf(err, errlen, "cannot listen on the admin socket %s: %s", path,
               uv_strerror(rc));
      /* The configured path is unusable: fix the configuration or the
       * directory's permissions. */
      if (rc == UV_EACCES || rc == UV_EPERM || rc == UV_EROFS ||
          rc == UV_ENOENT || rc == UV_ENOTDIR)
        code = SAMSPOR_ECONFIG;
    }
    if (a->ino)
      unlink(path);
    a->closing = 1;
    uv_close((uv_handle_t *)&a->server, on_server_closed);
    return code;
  }
  *out = a;
  return 0;
}

void sp_admin_close(sp_admin *a) {
  if (!a || a->closing)
    return;
  a->closing = 1;
  struct stat st;
  /* Remove the file only if it is still ours: after a restart race it may
   * belong to the daemon that replaced us. */
  if (a->ino && lstat(a->path, &st) == 0 && st.st_dev == a->dev &&
      st.st_ino == a->ino)
    unlink(a->path);
  while (a->first)
    client_close(a->first);
  uv_close((uv_handle_t *)&a->server, on_server_closed);
}

/* ---- client ----------------------------------------------------------- */

int sp_admin_request(const char *path, json_t *req, int timeout_ms,
                     json_t **resp, char *err, size_t errlen) {
  struct sockaddr_un sa;
  *resp = NULL;
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "admin socket path %s is too long", path);
    return SAMSPOR_EIO;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return SAMSPOR_EIO;
  }
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED) {
      snprintf(err, errlen,
               "no samspor daemon is listening on %s (%s); is 'samspor run' "
               "running, with this configuration?",
               path, strerror(e));
      return SAMSPOR_ETEMP;
    }
    if (e == EACCES || e == EPERM) {
      snprintf(err, errlen,
               "%s: %s; the admin socket is for its owner and group (run as "
               "the samspor user or a member of its group)",
               path, strerror(e));
      return SAMSPOR_EAUTH;
    }
    snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
    return SAMSPOR_EIO;
  }
  char *text = json_dumps(req, JSON_COMPACT);
  char *line = sp_xasprintf("%s\n", text ? text : "{}");
  free(text);
  size_t len = strlen(line), off = 0;
  int rc = 0, send_errno = 0;
  while (off < len) {
    ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      /* A daemon over its connection limit answers "busy" and closes
       * without reading: that answer may be waiting, so read on. */
      send_errno = errno;
      break;
    }
    off += (size_t)n;
  }
  free(line);

  sp_buf in;
  sp_buf_init(&in);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!rc) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long elapsed = (long)((t1.tv_sec - t0.tv_sec) * 1000 +
                          (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (elapsed >= timeout_ms) {
      snprintf(err, errlen, "the daemon on %s did not answer within %d s", path,
               timeout_ms / 1000);
      rc = SAMSPOR_ETEMP;
      break;
    }
    struct pollfd p = {fd, POLLIN, 0};
    int pr = poll(&p, 1, (int)(timeout_ms - elapsed));
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr <= 0)
      continue; /* the time check above reports it */
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 && send_errno) {
      snprintf(err, errlen, "cannot send to %s: %s", path,
               strerror(send_errno));
      rc = SAMSPOR_ETEMP;
      break;
    }
    if (n <= 0) {
      snprintf(err, errlen,
               "the daemon on %s closed the connection without "
               "answering",
               path);
      rc = SAMSPOR_ETEMP;
      break;
    }
    sp_buf_append(&in, buf, (size_t)n);
    if (memchr(buf, '\n', (size_t)n))
      break;
    if (in.len > ADMIN_MAX_RESPONSE) {
      snprintf(err, errlen, "the answer from %s is too long", path);
      rc = SAMSPOR_EIO;
    }
  }
  close(fd);
  if (!rc) {
    json_error_t jerr;
    char *nl = memchr(in.data, '\n', in.len);
    *resp = json_loadb(in.data, (size_t)(nl - in.data), 0, &jerr);
    if (!*resp || !json_is_object(*resp)) {
      json_decref(*resp);
      *resp = NULL;
      snprintf(err, errlen, "the answer from %s is not a JSON object: %s", path,
               jerr.text);
      rc = SAMSPOR_EIO;
    }
  }
  sp_buf_free(&in);
  return rc;
}

char *sp_admin_socket_path(const char *config_path) {
  config_t cfg;
  const char *v;
  char *path = NULL;
  config_init(&cfg);
  if (config_read_file(&cfg, config_path) == CONFIG_TRUE &&
      config_lookup_string(&cfg, "daemon.admin_socket", &v) == CONFIG_TRUE)
    path = sp_xstrdup(v);
  config_destroy(&cfg);
  return path ? path : sp_xstrdup(DEFAULT_ADMIN_SOCKET);
}

/* ---- status as a table ------------------------------------------------ */

/* An ISO time from the daemon, shown with a space instead of the T. */
static const char *show_time(const json_t *v, char *buf, size_t len) {
  const char *s = json_string_value(v);
  if (!s)
    return "-";
  snprintf(buf, len, "%s", s);
  char *t = strchr(buf, 'T');
  if (t)
    *t = ' ';
  return buf;
}

static const char *show_duration(const json_t *v, char *buf, size_t len) {
  if (!json_is_number(v))
    return "-";
  double s = json_number_value(v);
  if (s < 60)
    snprintf(buf, len, "%.1fs", s);
  else
    sp_duration_format(s, buf, len);
  return buf;
}

static const char *show_count(const json_t *v, char *buf, size_t len) {
  if (!json_is_integer(v))
    return "-";
  snprintf(buf, len, "%lld", (long long)json_integer_value(v));
  return buf;
}

void sp_status_print(FILE *f, const json_t *status) {
  const json_t *dm = json_object_get(status, "daemon");
  const json_t *conns = json_object_get(status, "connectors");
  char a[64], b[64], c[64], e[64];
  if (json_is_object(dm)) {
    fprintf(f, "samspor %s daemon, pid %lld, up since %s%s\n",
            json_string_value(json_object_get(dm, "version"))
                ? json_string_value(json_object_get(dm, "version"))
                : "?",
            (long long)json_integer_value(json_object_get(dm, "pid")),
            show_time(json_object_get(dm, "started"), a, sizeof a),
            json_is_true(json_object_get(dm, "stopping")) ? " (stopping)" : "");
    fprintf(f, "configuration %s, loaded %s\n",
            json_string_value(json_object_get(dm, "config"))
                ? json_string_value(json_object_get(dm, "config"))
                : "?",
            show_time(json_object_get(dm, "config_loaded"), a, sizeof a));
    fprintf(f, "pseudonym key id %s (the generation every sync loads under)\n",
            json_string_value(json_object_get(dm, "key_id"))
                ? json_string_value(json_object_get(dm, "key_id"))
                : "unreadable");
    fprintf(f, "running %lld of at most %lld, queued %lld; times in %s\n\n",
            (long long)json_integer_value(json_object_get(dm, "running")),
            (long long)json_integer_value(json_object_get(dm, "max_parallel")),
            (long long)json_integer_value(json_object_get(dm, "queued")),
            json_string_value(json_object_get(dm, "timezone"))
                ? json_string_value(json_object_get(dm, "timezone"))
                : "?");
  }
  int w = (int)strlen("CONNECTOR");
  size_t i;
  const json_t *cj;
  json_array_foreach(conns, i, cj) {
    const char *name = json_string_value(json_object_get(cj, "name"));
    if (name && (int)strlen(name) > w)
      w = (int)strlen(name);
  }
  fprintf(f, "%-*s  %-9s  %-25s  %8s  %-17s  %9s  %9s  %s\n", w, "CONNECTOR",
          "STATE", "LAST RUN STARTED", "TOOK", "RESULT", "LOADED", "REJECTED",
          "NEXT RUN");
  if (json_array_size(conns) == 0)
    fprintf(f, "(no connectors)\n");
  json_array_foreach(conns, i, cj) {
    const json_t *last = json_object_get(cj, "last_run");
    const char *name = json_string_value(json_object_get(cj, "name"));
    const char *state = json_string_value(json_object_get(cj, "state"));
    const char *result = json_string_value(json_object_get(last, "result"));
    char lo[32], rj[32];
    fprintf(
        f, "%-*s  %-9s  %-25s  %8s  %-17s  %9s  %9s  %s\n", w,
        name ? name : "?", state ? state : "?",
        show_time(json_object_get(last, "started"), a, sizeof a),
        show_duration(json_object_get(last, "duration_seconds"), b, sizeof b),
        result ? result : "-",
        show_count(json_object_get(last, "rows_loaded"), lo, sizeof lo),
        show_count(json_object_get(last, "rows_rejected"), rj, sizeof rj),
        show_time(json_object_get(cj, "next_run"), c, sizeof c));
    /* The details a person looks for next, one line each. */
    if (state && strcmp(state, "running") == 0) {
      fprintf(f, "%*s  running since %s, pid %lld\n", w, "",
              show_time(json_object_get(cj, "running_since"), e, sizeof e),
              (long long)json_integer_value(json_object_get(cj, "pid")));
      size_t k;
      const json_t *sj;
      json_array_foreach(json_object_get(cj, "streams"), k, sj) {
        if (!json_is_true(json_object_get(sj, "running")))
          continue;
        fprintf(f,
                "%*s  %s: read %lld, loaded %lld so far (committed at the "
                "end), rejected %lld in %s; %lld rows/s\n",
                w, "", json_string_value(json_object_get(sj, "stream")),
                (long long)json_integer_value(json_object_get(sj, "read")),
                (long long)json_integer_value(json_object_get(sj, "loaded")),
                (long long)json_integer_value(json_object_get(sj, "rejected")),
                show_duration(json_object_get(sj, "seconds"), b, sizeof b),
                (long long)json_integer_value(
                    json_object_get(sj, "rows_per_second")));
      }
    }
    if (json_is_string(json_object_get(cj, "retry_at")))
      fprintf(
          f, "%*s  retry %lld of %lld at %s\n", w, "",
          (long long)json_integer_value(json_object_get(cj, "retry")),
          (long long)json_integer_value(json_object_get(cj, "retry_attempts")),
          show_time(json_object_get(cj, "retry_at"), e, sizeof e));
    const char *err = json_string_value(json_object_get(last, "error"));
    if (err && result && strcmp(result, "succeeded") != 0)
      fprintf(f, "%*s  error: %s\n", w, "", err);
    long long fails = (long long)json_integer_value(
        json_object_get(cj, "consecutive_failures"));
    if (fails > 1)
      fprintf(f, "%*s  %lld failed runs in a row; last success %s\n", w, "",
              fails,
              show_time(json_object_get(cj, "last_success"), e, sizeof e));
    if (json_is_true(json_object_get(cj, "removed")))
      fprintf(f, "%*s  removed from the configuration; finishing its run\n", w,
              "");
  }
}

/* ---- the client commands ---------------------------------------------- */

int sp_admin_ask(const char *config_path, const char *cmdname, json_t *req,
                 json_t **resp) {
  char *sock = sp_admin_socket_path(config_path);
  char err[1024];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc;
  for (;;) {
    rc = sp_admin_request(sock, req, ADMIN_TIMEOUT_MS, resp, err, sizeof err);
    if (rc != 0 ||
        !sp_streq(json_string_value(json_object_get(*resp, "code")), "busy"))
      break;
    /* The daemon is there but every connection slot is taken: idle ones
     * are closed within ADMIN_IDLE_MS, so wait a little and ask again. */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 +
                     (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (ms >= ADMIN_BUSY_WAIT_MS) {
      json_decref(*resp);
      *resp = NULL;
      snprintf(err, sizeof err,
               "the daemon on %s is running but busy: all %d connections of "
               "its admin socket were taken for %d s; try again later",
               sock, ADMIN_MAX_CLIENTS, ADMIN_BUSY_WAIT_MS / 1000);
      rc = SAMSPOR_ETEMP;
      break;
    }
    json_decref(*resp);
    *resp = NULL;
    struct timespec pause = {0, 250 * 1000000L};
    nanosleep(&pause, NULL);
  }
  json_decref(req);
  free(sock);
  if (rc != 0) {
    fprintf(stderr, "samspor: %s: %s\n", cmdname, err);
    return rc == SAMSPOR_ETEMP ? SP_EXIT_TEMPFAIL : SP_EXIT_FAIL;
  }
  return SP_EXIT_OK;
}

int sp_admin_answer_error(const char *cmdname, const json_t *resp) {
  const char *msg = json_string_value(json_object_get(resp, "error"));
  const char *code = json_string_value(json_object_get(resp, "code"));
  fprintf(stderr, "samspor: %s: %s\n", cmdname, msg ? msg : "failed");
  if (sp_streq(code, "unknown_connector") || sp_streq(code, "invalid_config"))
    return SP_EXIT_USAGE;
  if (sp_streq(code, "stopping"))
    return SP_EXIT_TEMPFAIL;
  return SP_EXIT_FAIL;
}
