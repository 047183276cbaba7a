/*
 * cpr.h — normalising and validating Danish CPR numbers (personnummer).
 *
 * The rules are the SPEC's ("Pseudonyms"): remove spaces and '-', then the
 * result must be exactly 10 digits whose first six are a real calendar date
 * DDMMYY, with the century taken from the 7th digit by the CPR office's
 * table.  The modulus-11 check is deliberately not made: numbers issued
 * since 2007 may fail it.  Nothing else is tolerated (no tabs, dots or
 * other separators), because a lenient parser would pseudonymise two
 * spellings of one number differently in some partner's linkage code.
 *
 * Pure functions, no allocation, no state: safe from any thread.
 *
 * Privacy: the reason codes and texts never contain the value.  Callers
 * report the code, never the input.
 */
#ifndef SAMSPOR_CPR_H
#define SAMSPOR_CPR_H

#include <stddef.h>

/* A CPR number that passed validation. */
typedef struct sp_cpr {
  char digits[11]; /* the normalised 10 digits, NUL-terminated */
  int year;        /* full birth year from the century table: 1858..2057 */
  int month;       /* 1..12 */
  int day;         /* 1..31, valid for month and year */
  int male;        /* 1 when the last digit is odd, 0 when even */
} sp_cpr;

/* Why a value is not a CPR number.  Negative, so that sp_cpr_parse()
 * follows the project's "0 or a negative code" convention. */
enum {
  SP_CPR_EMPTY = -1,       /* nothing left after removing spaces and '-' */
  SP_CPR_NINE_DIGITS = -2, /* 9 digits: most likely a leading zero dropped
                              by Excel.  A code of its own so the source can
                              be fixed; the zero is never guessed back,
                              since a wrong guess links the wrong person */
  SP_CPR_LENGTH = -3,      /* digits only, but not 10 (nor 9) of them */
  SP_CPR_NOT_DIGITS = -4,  /* a character other than a digit, space or '-' */
  SP_CPR_BAD_DATE = -5     /* DDMMYY is not a real date in its century */
};

/*
 * Normalise and validate the `len` bytes at `s` (need not be
 * NUL-terminated; may contain any bytes).  Returns 0 and fills *out, or a
 * negative SP_CPR_* code with *out zeroed, so no fragment of a rejected
 * value lingers in it.  `s` may be NULL when `len` is 0.
 */
int sp_cpr_parse(const char *s, size_t len, sp_cpr *out);

/*
 * Stable machine code for an SP_CPR_* value, for the rejects table:
 * "cpr_empty", "cpr_nine_digits", "cpr_length", "cpr_not_digits",
 * "cpr_bad_date"; "cpr_unknown" for any other value.  Static storage.
 */
const char *sp_cpr_reason(int code);

/* One sentence explaining an SP_CPR_* value to a person, without the value.
 * Static storage. */
const char *sp_cpr_reason_text(int code);

#endif
