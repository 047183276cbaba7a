/*
 * csv_parse.h — a streaming RFC 4180 parser, independent of the plugin ABI
 * so that it can be unit tested and fuzzed on its own.
 *
 * Push style: the caller feeds byte chunks of any size (one byte at a time
 * gives the same result as the whole file at once) and the parser calls one
 * function per complete record.  The fields of a record are collected in a
 * buffer the parser owns and reuses, so there is no allocation per field or
 * per record once the buffers have grown to the longest record; memory is
 * bounded by max_record (see csv_config), never by the file size.
 *
 * What the parser accepts, and the choices RFC 4180 leaves open:
 *
 *   - A record ends at CRLF, LF or a lone CR outside quotes (the last as
 *     written by old Mac software, and as Python's csv module reads it).
 *     Inside quotes CR and LF are field data, kept exactly as written.
 *   - Line numbers count the same terminators (CRLF counts once), so for
 *     LF and CRLF files they match `grep -n` and an editor.  A record's line
 *     is the physical line where it starts.
 *   - Blank lines (a terminator right at the start of a record) are skipped
 *     wherever they are, not only at the end: a one-column file cannot then
 *     carry an empty value as an empty line, but an exporter's stray empty
 *     line no longer becomes a field-count reject.  A line with a
 *     delimiter or a pair of quotes is not blank.
 *   - A quote opens a quoted field only as the first byte of a field;
 *     elsewhere in an unquoted field it is an ordinary character (as Excel
 *     and Python read `5" screen`).  Inside a quoted field a doubled quote
 *     is one quote.  Anything but a quote, the delimiter or a terminator
 *     right after a closing quote makes the record a reject (CSV_REC_QUOTE);
 *     a quoted field still open at the end of the input makes the record
 *     from its start to the end of the input a reject
 *     (CSV_REC_UNTERMINATED).  Parsing goes on after a reject.
 *   - A UTF-8 byte order mark at the very start is skipped (UTF-8 input
 *     only: in windows-1252 or ISO 8859-1 those bytes are text).
 *   - The delimiter is given, or detected from the first non-blank line:
 *     the one of ';' ',' TAB occurring most outside quotes, ';' on a tie.
 *   - Output is always UTF-8.  UTF-8 input is validated per field and
 *     windows-1252 / ISO 8859-1 input converted with iconv; a field that
 *     does not validate or convert, or that contains a NUL byte (which
 *     PostgreSQL text cannot hold), makes its record a reject
 *     (CSV_REC_ENCODING).
 *
 * Not thread safe per parser; parsers are independent of each other.
 */
#ifndef SAMSPOR_CSV_PARSE_H
#define SAMSPOR_CSV_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Errors of the parser itself (callbacks return their own codes). */
#define CSV_ENOMEM (-1) /* out of memory; the parser can only be freed */
#define CSV_EINVAL (-2) /* invalid configuration */

#define CSV_DELIM_AUTO 0  /* csv_config.delimiter: detect */
#define CSV_NO_QUOTE (-1) /* csv_config.quote: no quoting */
#define CSV_DEFAULT_MAX_RECORD (1u << 20)
/* Field offsets are 32-bit, and conversion may triple the size. */
#define CSV_MAX_RECORD_LIMIT (1u << 30)

typedef enum csv_encoding {
  CSV_UTF8 = 0,
  CSV_WINDOWS_1252,
  CSV_ISO_8859_1
} csv_encoding;

typedef struct csv_config {
  int delimiter;         /* ';' ',' '\t' (any ASCII byte but CR, LF, NUL
                            and the quote), or CSV_DELIM_AUTO */
  int quote;             /* an ASCII byte, normally '"'; or CSV_NO_QUOTE */
  size_t max_record;     /* longest record in input bytes, terminator not
                            counted; 1..CSV_MAX_RECORD_LIMIT */
  csv_encoding encoding; /* of the input */
  uint64_t skip_lines;   /* physical lines dropped unparsed before the
                            first record (after the BOM) */
} csv_config;

/* Why a record is rejected.  Reason codes: csv_status_reason(). */
typedef enum csv_status {
  CSV_REC_OK = 0,
  CSV_REC_QUOTE,        /* "quote": text after a closing quote */
  CSV_REC_UNTERMINATED, /* "unterminated_quote": quote open at end of input */
  CSV_REC_TOO_LONG,     /* "record_too_long": longer than max_record */
  CSV_REC_ENCODING      /* "encoding": invalid bytes, or a NUL byte */
} csv_status;

/*
 * One record, given to the record function.  Everything it points to is
 * the parser's and valid only during the call.  For a rejected record
 * (status != CSV_REC_OK) there are no fields: nfields is 0.
 */
typedef struct csv_record {
  const char *data;     /* the fields' bytes back to back, UTF-8, unquoted;
                           not NUL-terminated */
  const uint32_t *ends; /* ends[i] is the offset just past field i; field i
                           starts at ends[i - 1], field 0 at 0 */
  size_t nfields;       /* number of fields; at least 1 when status is OK */
  uint64_t line;        /* physical line (1-based) where the record starts */
  csv_status status;    /* CSV_REC_OK, or why the record is rejected */
  const char *message;  /* status != OK: a sentence naming the field by its
                           number, never its content; else "" */
} csv_record;

/* Field i (0-based, < r->nfields) of a record; *len gets its length. */
static inline const char *csv_record_field(const csv_record *r, size_t i,
                                           size_t *len) {
  uint32_t start = i ? r->ends[i - 1] : 0;
  *len = r->ends[i] - start;
  return r->data + start;
}

/*
 * Called for every record, including rejected ones.  Return 0 to go on.
 * Any other value stops the parse right after this record: feed() or
 * finish() returns that value, and feeding resumes just after the record
 * (see csv_parser_feed).  Use values other than CSV_ENOMEM to tell a stop
 * from a parser failure.
 */
typedef int (*csv_record_fn)(void *user, const csv_record *rec);

typedef struct csv_parser csv_parser;

/* Defaults: ';', '"', 1 MiB, UTF-8, no skipped lines. */
void csv_config_init(csv_config *cfg);

/*
 * A new parser in *out, ready for the first input.  Returns 0, CSV_EINVAL
 * for an invalid configuration (or an encoding iconv does not know) or
 * CSV_ENOMEM.  The caller frees it with csv_parser_free().  `cfg` is
 * copied; `user` is passed to `fn` unchanged.
 */
int csv_parser_new(csv_parser **out, const csv_config *cfg, csv_record_fn fn,
                   void *user);

/*
 * Feed the next `len` bytes of the input.  Returns 0 when all of them were
 * consumed; the value a record function returned to stop, with *used set
 * to the bytes consumed up to the end of that record (feed the rest,
 * buf + *used, to resume; some of the input may be held inside the parser,
 * so resume even when *used == len); or CSV_ENOMEM.  Nothing of `buf` is
 * kept after the call.
 */
int csv_parser_feed(csv_parser *p, const void *buf, size_t len, size_t *used);

/*
 * End of input: deliver the last record if it lacks a terminator.
 * Returns 0, the value of a record function that stopped (call finish()
 * again to resume), or CSV_ENOMEM.  Calling it again when done is a no-op.
 */
int csv_parser_finish(csv_parser *p);

/* Start a new input with the same configuration, keeping the buffers. */
void csv_parser_reset(csv_parser *p);

/* The delimiter in use: the configured one, the detected one, or
 * CSV_DELIM_AUTO while detection has not decided yet. */
int csv_parser_delimiter(const csv_parser *p);

/* Physical line the parser has reached (1-based). */
uint64_t csv_parser_line(const csv_parser *p);

/* Bytes the parser's buffers hold: bounded by a small multiple of
 * max_record however long the input, which is what it is for (tests,
 * metrics). */
size_t csv_parser_memory(const csv_parser *p);

void csv_parser_free(csv_parser *p);

/* The reason code of a status ("quote", "encoding", ...); static string. */
const char *csv_status_reason(csv_status st);

/* Nonzero when [s, s+n) is valid UTF-8 (RFC 3629) without NUL bytes. */
int csv_utf8_valid(const char *s, size_t n);

#endif
