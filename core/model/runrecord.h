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
 * An optional "rejects" object counts the rejected rows per reason
 * ({"cpr":2}); the reasons are the fixed words of samspor.rejects.reason,
 * never a value.
 *
 * While a stream loads, the child also sends progress records, at most
 * one every few seconds:
 *
 *   {"v":1,"type":"progress","connector":"unge","stream":"youth_status",
 *    "run_id":42,"read":100000,"loaded":99990,"rejected":10,
 *    "seconds":12.5}
 *
 * "loaded" there counts the rows sent to the warehouse so far; they are
 * committed when the stream ends.  A record without "type" (or with
 * "type":"stream") is a stream's final record.
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

/* What a record is: a stream's end, or progress while it loads. */
typedef enum sp_runrec_type {
  SP_RUNREC_STREAM,
  SP_RUNREC_PROGRESS
} sp_runrec_type;

/* At most this many reasons are kept per record; the rest are counted
 * under "other". */
#define SP_RUNREC_MAX_REASONS 16

/* Rejected rows of one reason. */
typedef struct sp_runrec_reason {
  char reason[48]; /* samspor.rejects.reason: a fixed word, never a value */
  long long rows;
} sp_runrec_reason;

/* One stream's run (or its progress), as the child reports it.  A
 * progress record fills connector, stream, run_id, read, loaded,
 * rejected and seconds only. */
typedef struct sp_runrec {
  sp_runrec_type type;
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
  size_t nreasons;      /* entries of reasons in use */
  sp_runrec_reason reasons[SP_RUNREC_MAX_REASONS]; /* rejected per reason */
} sp_runrec;

/*
 * Count n rejected rows of reason in reasons[0..*nreasons) (capacity
 * SP_RUNREC_MAX_REASONS): a new entry, or the last one, renamed "other",
 * once all are taken.
 */
void sp_runrec_add_reason(sp_runrec_reason *reasons, size_t *nreasons,
                          const char *reason, long long n);

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
