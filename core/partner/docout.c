/*
 * docout.c — the document writer of `samspor docs` and `samspor report`:
 * Markdown or self-contained HTML, escaped; and the atomic write.
 */
#include "config.h"

#include "partner/docout.h"
#include "base/exitcode.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/schema.h"
#include "store/warehouse.h"

void sp_doc_init(sp_doc *d, int html) {
  sp_buf_init(&d->b);
  d->html = html;
  d->in_list = 0;
  d->lang = NULL;
}

void sp_doc_free(sp_doc *d) {
  sp_buf_free(&d->b);
}

static const char html_style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "max-width:75em;margin:2em auto;padding:0 1em;color:#222;"
    "line-height:1.45}\n"
    "h1{border-bottom:2px solid #444}\n"
    "h2{border-bottom:1px solid #aaa;margin-top:2em}\n"
    "table{border-collapse:collapse;margin:1em 0;width:100%}\n"
    "th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#eee}\n"
    "tr:nth-child(even) td{background:#fafafa}\n"
    "@media print{body{max-width:none}h2{page-break-before:auto}}\n";

void sp_doc_begin(sp_doc *d, const char *title, const char *extra_css) {
  if (!d->html)
    return;
  sp_buf_puts(&d->b, "<!DOCTYPE html>\n<html lang=\"");
  sp_doc_text(d, d->lang ? d->lang : "en");
  sp_buf_puts(&d->b, "\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                     "<meta name=\"viewport\" content=\"width=device-width, "
                     "initial-scale=1\"/>\n"
                     "<title>");
  sp_doc_text(d, title);
  sp_buf_puts(&d->b, "</title>\n<style>\n");
  sp_buf_puts(&d->b, html_style);
  if (extra_css)
    sp_buf_puts(&d->b, extra_css);
  sp_buf_puts(&d->b, "</style>\n</head>\n<body>\n");
}

void sp_doc_end(sp_doc *d) {
  sp_doc_list_end(d);
  if (d->html)
    sp_buf_puts(&d->b, "</body>\n</html>\n");
}

/* Whether s has an '_' that could close emphasis (one not followed by a
 * letter or digit); without one, an '_' opening a word is plain text. */
static int underscore_closer(const char *s) {
  for (const char *p = s; p && *p; p++)
    if (*p == '_' && p > s && !isspace((unsigned char)p[-1]) &&
        !isalnum((unsigned char)p[1]))
      return 1;
  return 0;
}

void sp_doc_text(sp_doc *d, const char *s) {
  int closer = d->html ? 0 : underscore_closer(s);
  for (const char *p = s ? s : ""; *p; p++) {
    char c = *p;
    if (c == '\r' || c == '\n' || c == '\t') {
      sp_buf_putc(&d->b, ' ');
      continue;
    }
    if (d->html) {
      switch (c) {
      case '&':
        sp_buf_puts(&d->b, "&amp;");
        break;
      case '<':
        sp_buf_puts(&d->b, "&lt;");
        break;
      case '>':
        sp_buf_puts(&d->b, "&gt;");
        break;
      case '"':
        sp_buf_puts(&d->b, "&quot;");
        break;
      case '\'':
        sp_buf_puts(&d->b, "&#39;");
        break;
      default:
        sp_buf_putc(&d->b, c);
      }
    } else {
      /* '*' before a space and '_' inside a word start nothing, and
       * cron expressions and column names read better unescaped. */
      int esc =
          strchr("\\`[]<>|", c) != NULL || (c == '*' && p[1] && p[1] != ' ') ||
          (c == '_' && (p == s || !isalnum((unsigned char)p[-1])) && closer) ||
          (c == '#' && p == s);
      if (esc)
        sp_buf_putc(&d->b, '\\');
      sp_buf_putc(&d->b, c);
    }
  }
}

static char *vfmt(const char *fmt, va_list ap) SP_PRINTF(1, 0);
static char *vfmt(const char *fmt, va_list ap) {
  sp_buf t;
  sp_buf_init(&t);
  sp_buf_vprintf(&t, fmt, ap);
  if (!t.data)
    return sp_xstrdup("");
  return t.data;
}

void sp_doc_textf(sp_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *t = vfmt(fmt, ap);
  va_end(ap);
  sp_doc_text(d, t);
  free(t);
}

void sp_doc_raw(sp_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sp_buf_vprintf(&d->b, fmt, ap);
  va_end(ap);
}

void sp_doc_list_end(sp_doc *d) {
  if (!d->in_list)
    return;
  sp_buf_puts(&d->b, d->html ? "</ul>\n" : "\n");
  d->in_list = 0;
}

void sp_doc_heading(sp_doc *d, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *t = vfmt(fmt, ap);
  va_end(ap);
  sp_doc_list_end(d);
  if (d->html) {
    sp_buf_printf(&d->b, "<h%d>", level);
    sp_doc_text(d, t);
    sp_buf_printf(&d->b, "</h%d>\n", level);
  } else {
    for (int i = 0; i < level; i++)
      sp_buf_putc(&d->b, '#');
    sp_buf_putc(&d->b, ' ');
    sp_doc_text(d, t);
    sp_buf_puts(&d->b, "\n\n");
  }
  free(t);
}

void sp_doc_para(sp_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *t = vfmt(fmt, ap);
  va_end(ap);
  sp_doc_list_end(d);
  sp_buf_puts(&d->b, d->html ? "<p>" : "");
  sp_doc_text(d, t);
  sp_buf_puts(&d->b, d->html ? "</p>\n" : "\n\n");
  free(t);
}

void sp_doc_item(sp_doc *d, const char *label, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *t = vfmt(fmt, ap);
  va_end(ap);
  if (!d->in_list) {
    if (d->html)
      sp_buf_puts(&d->b, "<ul>\n");
    d->in_list = 1;
  }
  sp_buf_puts(&d->b, d->html ? "<li>" : "- ");
  if (label) {
    sp_buf_puts(&d->b, d->html ? "<strong>" : "**");
    sp_doc_text(d, label);
    sp_buf_puts(&d->b, d->html ? ":</strong> " : ":** ");
  }
  sp_doc_text(d, t);
  sp_buf_puts(&d->b, d->html ? "</li>\n" : "\n");
  free(t);
}

void sp_doc_table_begin(sp_doc *d, const char *const *heads, size_t n) {
  sp_doc_list_end(d);
  if (d->html) {
    sp_buf_puts(&d->b, "<table>\n<thead><tr>");
    for (size_t i = 0; i < n; i++) {
      sp_buf_puts(&d->b, "<th>");
      sp_doc_text(d, heads[i]);
      sp_buf_puts(&d->b, "</th>");
    }
    sp_buf_puts(&d->b, "</tr></thead>\n<tbody>\n");
  } else {
    for (size_t i = 0; i < n; i++) {
      sp_buf_puts(&d->b, "| ");
      sp_doc_text(d, heads[i]);
      sp_buf_putc(&d->b, ' ');
    }
    sp_buf_puts(&d->b, "|\n");
    for (size_t i = 0; i < n; i++)
      sp_buf_puts(&d->b, "|---");
    sp_buf_puts(&d->b, "|\n");
  }
}

void sp_doc_table_row(sp_doc *d, const char *const *cells, size_t n) {
  sp_buf_puts(&d->b, d->html ? "<tr>" : "");
  for (size_t i = 0; i < n; i++) {
    const char *c = cells[i] ? cells[i] : "";
    if (d->html) {
      sp_buf_puts(&d->b, "<td>");
      sp_doc_text(d, c);
      sp_buf_puts(&d->b, "</td>");
    } else {
      sp_buf_puts(&d->b, "| ");
      sp_doc_text(d, c);
      sp_buf_putc(&d->b, ' ');
    }
  }
  sp_buf_puts(&d->b, d->html ? "</tr>\n" : "|\n");
}

void sp_doc_table_end(sp_doc *d) {
  sp_buf_puts(&d->b, d->html ? "</tbody>\n</table>\n" : "\n");
}

/* ---- output ----------------------------------------------------------- */

int sp_write_file_atomic(const char *path, const char *data, size_t len,
                         char *err, size_t errlen) {
  mode_t um = umask(0);
  umask(um);
  return sp_replace_file(path, data, len, 0644 & ~um, err, errlen);
}

int sp_doc_output(const sp_doc *d, const char *cmd, const char *path) {
  if (path) {
    char err[1024];
    if (sp_write_file_atomic(path, d->b.data ? d->b.data : "", d->b.len, err,
                             sizeof err) != 0) {
      fprintf(stderr, "samspor: %s: %s\n", cmd, err);
      return -1;
    }
    return 0;
  }
  if (d->b.len)
    fwrite(d->b.data, 1, d->b.len, stdout);
  return fflush(stdout) != 0 ? -1 : 0;
}

/* ---- the document commands -------------------------------------------- */

int sp_doc_cmd_start(sp_doc_cmd *k, sp_config *c) {
  k->c = c;
  k->conn = NULL;

  char err[1024];
  int rc = sp_warehouse_connect(k->c, &k->conn, err, sizeof err);
  /* One read-only snapshot: nothing changes, the counts agree. */
  if (!rc)
    rc = sp_pg_exec(k->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (rc) {
    fprintf(stderr,
            "samspor: %s: %s\nsamspor: %s: %s is written from the live "
            "warehouse; nothing was written\n",
            k->name, err, k->name, k->what);
    PQfinish(k->conn);
    sp_config_free(k->c);
    return sp_exit_status(rc);
  }
  sp_doc_init(&k->d, k->html);
  return -1;
}

int sp_doc_cmd_finish(sp_doc_cmd *k, int rc, const char *err) {
  if (PQstatus(k->conn) == CONNECTION_OK)
    PQclear(PQexec(k->conn, "ROLLBACK"));
  int status = SP_EXIT_OK;
  if (rc) {
    fprintf(stderr,
            "samspor: %s: reading the warehouse failed: %s; nothing was "
            "written\n",
            k->name, err);
    status = sp_exit_status(rc);
  } else if (sp_doc_output(&k->d, k->name, k->out) != 0) {
    status = SP_EXIT_FAIL;
  }
  sp_doc_free(&k->d);
  PQfinish(k->conn);
  sp_config_free(k->c);
  return status;
}
