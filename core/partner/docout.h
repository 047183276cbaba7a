/*
 * docout.h — a tiny document writer shared by `samspor docs` and `samspor
 * report`: the same calls write Markdown or one self-contained HTML page
 * (inline CSS, no scripts, no external references), with every text
 * escaped for the format; and the atomic write of the finished document.
 */
#ifndef SAMSPOR_DOCOUT_H
#define SAMSPOR_DOCOUT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "model/conf.h"
#include "base/util.h"

typedef struct sp_doc {
  sp_buf b;         /* the document so far */
  int html;         /* 1: HTML, 0: Markdown */
  int in_list;      /* an item list is open */
  const char *lang; /* HTML: the page's language ("en" when NULL) */
} sp_doc;

void sp_doc_init(sp_doc *d, int html);
void sp_doc_free(sp_doc *d);

/* HTML only (nothing in Markdown): the page's head with the shared style
 * sheet plus extra_css (may be NULL), and <body>; and its end. */
void sp_doc_begin(sp_doc *d, const char *title, const char *extra_css);
void sp_doc_end(sp_doc *d);

/*
 * Text escaped for the format.  In Markdown, characters that would start
 * markup are backslash-escaped and newlines become spaces (a table cell
 * must stay on one line); in HTML, the five special characters become
 * entities (also safe inside a quoted attribute).
 */
void sp_doc_text(sp_doc *d, const char *s);
/* Formatted, then escaped. */
void sp_doc_textf(sp_doc *d, const char *fmt, ...) SP_PRINTF(2, 3);
/* Markup written as is (the caller escapes what it interpolates). */
void sp_doc_raw(sp_doc *d, const char *fmt, ...) SP_PRINTF(2, 3);

void sp_doc_heading(sp_doc *d, int level, const char *fmt, ...) SP_PRINTF(3, 4);
void sp_doc_para(sp_doc *d, const char *fmt, ...) SP_PRINTF(2, 3);
/* A list item "Label: text" (the label bold; label may be NULL). */
void sp_doc_item(sp_doc *d, const char *label, const char *fmt, ...)
    SP_PRINTF(3, 4);
void sp_doc_list_end(sp_doc *d);

/* A table: header cells, rows of n cells (NULL cells are empty), end. */
void sp_doc_table_begin(sp_doc *d, const char *const *heads, size_t n);
void sp_doc_table_row(sp_doc *d, const char *const *cells, size_t n);
void sp_doc_table_end(sp_doc *d);

/* sp_replace_file with mode 0644 less the umask, as a file a person asked
 * for would get. */
int sp_write_file_atomic(const char *path, const char *data, size_t len,
                         char *err, size_t errlen);

/*
 * The finished document: to path (atomically) when path is not NULL, else
 * to stdout.  Errors are printed as "samspor: CMD: ...".  Returns 0 or -1.
 */
int sp_doc_output(const sp_doc *d, const char *cmd, const char *path);

/*
 * A command that writes a document from the live warehouse, "NAME
 * [--html] [-o FILE]" (docs, report).  Fill in name and what ("the data
 * dictionary": for messages), html and out, then:
 *
 *   sp_doc_cmd_start takes the configuration over, connects and opens one
 *   read-only (repeatable read) transaction, so the document reads one
 *   snapshot and changes nothing.  It returns -1 to go on (c, conn, d
 *   ready), or an exit status (exitcode.h) to return at once, having said
 *   why and freed everything.
 *
 *   sp_doc_cmd_finish ends the transaction and, when rc (the code of
 *   making the document) is 0, writes d to -o FILE atomically or to
 *   stdout; otherwise it says that reading the warehouse failed (err)
 *   and writes nothing.  It frees everything and returns the exit status.
 */
typedef struct sp_doc_cmd {
  const char *name; /* the command: "docs" */
  const char *what; /* "the data dictionary" */
  int html;         /* --html */
  const char *out;  /* -o FILE, or NULL: stdout */
  sp_config *c;
  PGconn *conn;
  sp_doc d;
} sp_doc_cmd;

int sp_doc_cmd_start(sp_doc_cmd *k, sp_config *c);
int sp_doc_cmd_finish(sp_doc_cmd *k, int rc, const char *err);

/*
 * `samspor docs` and `samspor report`: the data dictionary and the
 * partners' report of configuration c (taken over and freed), as HTML when
 * html, to out (atomically) or stdout when NULL.  Return an exit status.
 */
int sp_docs_write(sp_config *c, int html, const char *out);
int sp_report_write(sp_config *c, int html, const char *out);

#endif
