/*
 * admin.h — the daemon's admin socket: a Unix stream socket on which each
 * request and each response is one JSON object on one line.
 *
 *   {"cmd":"status"}                    -> {"ok":true,"daemon":{...},
 *                                           "connectors":[{...}, ...]}
 *   {"cmd":"trigger","connector":"x"}   -> {"ok":true,"state":"running",
 *                                           "message":"..."}
 *   {"cmd":"reload"}                    -> {"ok":true,"applied":true,
 *                                           "errors":[],"warnings":[]}
 *
 * A failed request answers {"ok":false,"error":"why","code":"..."} with
 * code "unknown_connector", "stopping", "bad_request", "invalid_config" or
 * "busy" (every connection slot taken: sent, unasked, to a connection over
 * the limit, which is then closed).  A connection that has not completed a
 * request line within a few seconds of connecting or of its last answer is
 * closed, so forgotten connections free their slots.
 *
 * The server half runs on the daemon's libuv loop; the client half (samspor
 * status / trigger / reload) is plain blocking socket code, since those
 * commands do nothing else.
 *
 * Exit status of the client commands: 0 done; 1 the daemon answered with
 * an error that will not go away by itself, or the socket refused us
 * (permissions); 2 usage error, an unknown connector, or (reload) a new
 * configuration the daemon refused; 75 no daemon listening on the socket,
 * or it did not answer in time, or it is stopping, or it stayed busy (every
 * connection slot taken) for the whole retry time — temporary, as SPEC.md's
 * 75 is: a script may try again.  The message tells "busy" (the daemon
 * runs) from "no samspor daemon is listening".
 */
#ifndef SAMSPOR_ADMIN_H
#define SAMSPOR_ADMIN_H

#include <stdio.h>

#include <jansson.h>
#include <uv.h>

typedef struct sp_admin sp_admin;

/*
 * Handle one request (a JSON object, borrowed).  Returns the response: a
 * new reference the server takes over (it adds "ok":true unless the
 * handler set "ok").  NULL answers an internal error.
 */
typedef json_t *(*sp_admin_fn)(void *ud, json_t *request);

/*
 * Listen on the Unix socket at path with mode 0660.  A socket file left by
 * a daemon that is gone (nothing accepts on it) is removed first.  Returns
 * 0 and *out; SAMSPOR_ETEMP when another process listens on path (another
 * daemon: refuse to start); SAMSPOR_ECONFIG when path cannot be a socket
 * (too long, a file that is not a socket, no such directory, no
 * permission to make it);
 * SAMSPOR_EIO otherwise.  On failure err says why and *out is NULL.
 * The handler is called on the loop thread, one request at a time.
 */
int sp_admin_listen(uv_loop_t *loop, const char *path, sp_admin_fn fn, void *ud,
                    sp_admin **out, char *err, size_t errlen);

/*
 * Stop listening, close every client connection and remove the socket file
 * (when it is still the one this server made).  The memory is freed in the
 * handles' close callbacks, so run the loop afterwards.  NULL is fine.
 */
void sp_admin_close(sp_admin *a);

/*
 * Client: send one request to the daemon at path and wait up to timeout_ms
 * for its one-line answer.  Returns 0 and *resp (a new reference; the
 * caller json_decref()s it), or SAMSPOR_ETEMP (no daemon listening, or no
 * answer in time), SAMSPOR_EAUTH (permission denied), SAMSPOR_EIO, with a
 * message in err.
 */
int sp_admin_request(const char *path, json_t *req, int timeout_ms,
                     json_t **resp, char *err, size_t errlen);

/*
 * The admin socket path of the configuration at path: daemon.admin_socket
 * as written, else the default.  Reads only that one setting, so that
 * `samspor status` works while the file has errors a reload would refuse.
 * Returns a freshly allocated string (caller frees).
 */
char *sp_admin_socket_path(const char *config_path);

/*
 * Send req (taken over) to the daemon of the configuration at config_path
 * (its daemon.admin_socket), waiting while the daemon answers "busy".
 * Returns an exit status (exitcode.h), after saying why on stderr as
 * "samspor: CMDNAME: ..."; on success *resp holds the answer.
 */
int sp_admin_ask(const char *config_path, const char *cmdname, json_t *req,
                 json_t **resp);

/* The exit status for an {"ok":false} answer, after saying why. */
int sp_admin_answer_error(const char *cmdname, const json_t *resp);

/*
 * Print a status response (as the daemon sends it) as a table for people.
 * Pure apart from writing to f.
 */
void sp_status_print(FILE *f, const json_t *status);

#endif
