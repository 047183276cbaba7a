/*
 * control.c — the answers of `samspor run` on its control socket
 * (admin.c carries the requests): status (the daemon, each connector and
 * its streams, as JSON), trigger (queue a run now) and reload.
 */
#include "config.h"

#include "daemon/daemon_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"
#include "base/util.h"
#include "model/schedule.h"

static json_t *json_time(const sp_daemon *d, double t) {
  if (t <= 0)
    return json_null();
  char buf[SP_TIME_BUFLEN];
  sp_dm_fmt_time(d, t, buf, sizeof buf);
  return json_string(buf);
}

/* ---- status and trigger ----------------------------------------------- */

static const char *job_state(const sp_job *j) {
  if (j->child)
    return "running";
  if (j->queued)
    return "queued";
  if (j->retry_at > 0)
    return "retrying";
  if (!job_enabled(j))
    return "disabled";
  return "idle";
}

static json_t *job_json(const sp_daemon *d, const sp_job *j) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(j->name));
  json_object_set_new(o, "state", json_string(job_state(j)));
  json_object_set_new(o, "enabled", json_boolean(job_enabled(j)));
  if (!j->conn)
    json_object_set_new(o, "removed", json_true());
  json_object_set_new(o, "schedule",
                      j->conn && j->conn->schedule
                          ? json_string(sp_schedule_text(j->conn->schedule))
                          : json_null());
  json_object_set_new(o, "next_run", json_time(d, j->due));
  if (j->child) {
    json_object_set_new(o, "running_since",
                        json_time(d, (double)j->child->started));
    json_object_set_new(o, "pid", json_integer(j->child->proc.pid));
    json_object_set_new(o, "reason",
                        json_string(sp_dm_reason_names[j->reason]));
  }
  if (j->queued)
    json_object_set_new(o, "queued_since", json_time(d, j->queued_at));
  if (j->retry_at > 0) {
    json_object_set_new(o, "retry_at", json_time(d, j->retry_at));
    json_object_set_new(o, "retry", json_integer(j->attempt));
    json_object_set_new(
        o, "retry_attempts",
        json_integer(j->conn ? j->conn->conf.retry.attempts : 0));
  }
  if (j->have_last) {
    json_t *l = json_object();
    json_object_set_new(l, "started", json_time(d, (double)j->last_start));
    json_object_set_new(l, "finished", json_time(d, (double)j->last_end));
    json_object_set_new(l, "duration_seconds",
                        json_real(round(j->last_duration * 1000) / 1000));
    json_object_set_new(l, "result", json_string(j->last_result));
    json_object_set_new(l, "exit_status",
                        j->last_exit >= 0 ? json_integer(j->last_exit)
                                          : json_null());
    json_object_set_new(l, "signal",
                        j->last_signal ? json_integer(j->last_signal)
                                       : json_null());
    json_object_set_new(l, "rows_loaded",
                        j->last_loaded >= 0 ? json_integer(j->last_loaded)
                                            : json_null());
    json_object_set_new(l, "rows_rejected",
                        j->last_rejected >= 0 ? json_integer(j->last_rejected)
                                              : json_null());
    json_object_set_new(l, "run_id",
                        j->last_run_id > 0 ? json_integer(j->last_run_id)
                                           : json_null());
    json_object_set_new(
        l, "error", j->last_error ? json_string(j->last_error) : json_null());
    json_object_set_new(
        l, "source",
        json_string(j->last_from_warehouse ? "warehouse" : "daemon"));
    json_object_set_new(o, "last_run", l);
  } else {
    json_object_set_new(o, "last_run", json_null());
  }
  /* Per stream: the running load's progress, the last run's end. */
  json_t *sa = json_array();
  for (size_t k = 0; k < j->nstreams; k++) {
    const sp_stream_state *t = &j->streams[k];
    json_t *so = json_object();
    json_object_set_new(so, "stream", json_string(t->name));
    json_object_set_new(so, "running", json_boolean(t->running));
    if (t->running) {
      json_object_set_new(so, "run_id", json_integer(t->run_id));
      json_object_set_new(so, "read", json_integer(t->read));
      json_object_set_new(so, "loaded", json_integer(t->loaded));
      json_object_set_new(so, "rejected", json_integer(t->rejected));
      json_object_set_new(so, "seconds",
                          json_real(round(t->seconds * 10) / 10));
      json_object_set_new(
          so, "rows_per_second",
          json_integer(
              t->seconds > 0 ? (json_int_t)((double)t->read / t->seconds) : 0));
    }
    json_object_set_new(so, "last_result",
                        t->last_result ? json_string(t->last_result)
                                       : json_null());
    if (t->last_result) {
      json_object_set_new(so, "last_rows_loaded", json_integer(t->last_loaded));
      json_object_set_new(so, "last_rows_rejected",
                          json_integer(t->last_rejected));
      json_t *ro = json_object();
      for (size_t r = 0; r < t->nreasons; r++)
        json_object_set_new(ro, t->reasons[r].reason,
                            json_integer(t->reasons[r].rows));
      json_object_set_new(so, "last_rejects", ro);
    }
    json_array_append_new(sa, so);
  }
  json_object_set_new(o, "streams", sa);
  json_object_set_new(o, "last_success", json_time(d, (double)j->last_success));
  json_object_set_new(o, "failures_total",
                      json_integer((json_int_t)j->failures_total));
  json_object_set_new(o, "consecutive_failures",
                      json_integer((json_int_t)j->consecutive));
  return o;
}

static json_t *status_json(const sp_daemon *d) {
  json_t *dm = json_object();
  json_object_set_new(dm, "pid", json_integer(getpid()));
  json_object_set_new(dm, "version", json_string(PACKAGE_VERSION));
  json_object_set_new(dm, "started", json_time(d, (double)d->started));
  json_object_set_new(dm, "config", json_string(d->config_path));
  json_object_set_new(dm, "config_loaded",
                      json_time(d, (double)d->config_loaded));
  json_object_set_new(dm, "timezone", json_string(d->tz));
  json_object_set_new(dm, "key_id",
                      d->key_id[0] ? json_string(d->key_id) : json_null());
  json_object_set_new(dm, "max_parallel", json_integer(max_parallel(d)));
  json_object_set_new(dm, "running", json_integer(d->running));
  json_object_set_new(dm, "queued", json_integer((json_int_t)d->nqueue));
  json_object_set_new(dm, "stopping", json_boolean(d->stopping));
  json_t *arr = json_array();
  for (size_t i = 0; i < d->njobs; i++)
    json_array_append_new(arr, job_json(d, d->jobs[i]));
  json_t *o = json_object();
  json_object_set_new(o, "ok", json_true());
  json_object_set_new(o, "daemon", dm);
  json_object_set_new(o, "connectors", arr);
  return o;
}

static json_t *trigger_json(sp_daemon *d, const char *name) {
  sp_job *j = name ? sp_dm_find_job(d, name) : NULL;
  if (!j) {
    sp_buf names;
    sp_buf_init(&names);
    for (size_t i = 0; i < d->njobs; i++)
      if (d->jobs[i]->conn)
        sp_buf_printf(&names, "%s%s", names.len ? ", " : "", d->jobs[i]->name);
    char *msg =
        sp_xasprintf("no connector named '%s'; connectors: %s",
                     name ? name : "", names.data ? names.data : "(none)");
    json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "code",
                          "unknown_connector");
    free(msg);
    sp_buf_free(&names);
    return o;
  }
  sp_logctx ctx = {j->name, NULL, 0};
  request_result r = sp_dm_request_run(j, REASON_TRIGGER);
  const char *msg;
  switch (r) {
  case REQ_STOPPING:
    return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
                     "the daemon is stopping", "code", "stopping");
  case REQ_RUNNING_RERUN:
    msg = "running now; it runs again when this run ends";
    break;
  case REQ_ALREADY_QUEUED:
    msg = "queued already; it runs when a slot is free";
    break;
  default:
    sp_info(&ctx, "triggered through the admin socket");
    sp_dm_pump(d);
    sp_dm_arm_timer(d);
    sp_dm_notify_status(d);
    msg = j->child ? "started" : "queued: it runs when a slot is free";
    break;
  }
  char *full = sp_xasprintf("%s: %s", j->name, msg);
  json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 1, "state", job_state(j),
                        "message", full);
  free(full);
  return o;
}

json_t *sp_dm_on_request(void *ud, json_t *req) {
  sp_daemon *d = ud;
  const char *cmd = json_string_value(json_object_get(req, "cmd"));
  if (sp_streq(cmd, "status"))
    return status_json(d);
  if (sp_streq(cmd, "trigger"))
    return trigger_json(d,
                        json_string_value(json_object_get(req, "connector")));
  if (sp_streq(cmd, "reload")) {
    if (d->stopping)
      return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
                       "the daemon is stopping", "code", "stopping");
    return sp_dm_reload(d, "samspor reload");
  }
  return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
                   "unknown request; known: status, trigger, reload", "code",
                   "bad_request");
}
