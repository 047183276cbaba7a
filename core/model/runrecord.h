/*
 * runrecord.h — the machine protocol between `samspor run` and the
 * `samspor sync` children it starts.
 *
 * The daemon gives each child an extra pipe as file descriptor
 * SP_RUNREC_FD and names it in the environment variable SP_RUNREC_ENV.
 * The child writes one record per stream it ran, as one line of compact
 * JSON (a newline inside a string is escaped, so a multi-line error stays
 * on its line):
 *
 *   {"v":1,"connector":"unge","stream":"youth_status","run_id":42,
 *    "status":"succeeded","exit":0,"read":200,"loaded":198,"rejected":2,
 *    "skipped":0,"deleted":0,"duplicates":0,"seconds":0.5,"error":null}
 *
 * status is "succeeded", "failed" or "skipped" (if_missing = "skip");
 * exit is the exit status that stream alone would give (cli.h SP_EXIT_*).
 * The human summary on stdout stays as it is, for people; a child run by
 * hand has no such variable and writes no record.
 *
 * The encoder and the decoder live here side by side, so that the two
 * ends cannot drift apart (tests/unit/test_runrecord.c round-trips them).
 */
#ifndef SAMSPOR_RUNRECORD_H
#define SAMSPOR_RUNRECORD_H

#include <stddef.h>

/* The descriptor the daemon passes, and the variable that announces it. */
#define SP_RUNREC_FD 3
#define SP_RUNREC_ENV "SAMSPOR_STATUS_FD"
/* The version written in "v"; a decoder refuses any other. */
#define SP_RUNREC_VERSION 1

typedef enum sp_runrec_status {
  SP_RUNREC_SUCCEEDED,
  SP_RUNREC_FAILED,
  SP_RUNREC_SKIPPED
} sp_runrec_status;

/* One stream's run, as the child reports it. */
typedef struct sp_runrec {
  char connector[128]; /* connector name */
  char stream[128];    /* the stream's table */
  long long run_id;    /* its row in samspor.sync_run; 0: none written */
  sp_runrec_status status;
  int exit_code;        /* SP_EXIT_* this stream alone would give */
  long long read;       /* records the plugin delivered (incl. rejects) */
  long long loaded;     /* rows inserted or changed */
  long long rejected;   /* rows sent to samspor.rejects */
  long long skipped;    /* rows left out on purpose (forgotten, old) */
  long long deleted;    /* rows removed by retention */
  long long duplicates; /* rows with a key seen before in the same run */
  double seconds;       /* how long the stream took */
  char error[1024];     /* why it failed or was skipped; "" when none */
} sp_runrec;

/* "succeeded", "failed", "skipped". */
const char *sp_runrec_status_name(sp_runrec_status s);

/*
 * Encode r as one line of compact JSON, without the newline.  *json is
 * malloc'd (the caller frees it).  Returns 0, or -1 when r cannot be
 * encoded (a name or error that is not UTF-8).
 */
int sp_runrec_encode(const sp_runrec *r, char **json);

/*
 * Decode one line.  Returns 0 and fills *r, or -1 with a sentence in err
 * (capacity errlen; may be NULL) saying what is wrong: not JSON, another
 * version, a missing or mistyped field, a name too long.  An error text
 * too long for r->error is cut.  Fields this version does not know are
 * ignored, so a newer child may add some.
 */
int sp_runrec_decode(const char *json, sp_runrec *r, char *err, size_t errlen);

/*
 * The child's side: the descriptor to write records to, or -1 when the
 * environment names none (a run by hand).  Removes the variable (so the
 * child's own children do not see it) and marks the descriptor
 * close-on-exec.  Call once.
 */
int sp_runrec_channel(void);

/* Write r as one line to fd.  Returns 0, or -1 (errno set) when the
 * record could not be written whole; the caller logs and goes on. */
int sp_runrec_write(int fd, const sp_runrec *r);

#endif
