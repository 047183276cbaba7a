#include "config.h"

#include "model/cpr.h"

#include <string.h>

#include <sodium.h>

/* Gregorian leap year.  1900 and 1800 are not leap years, 2000 is: the
 * century table decides which one a "29 02 00" lands in. */
static int is_leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2 && is_leap(year))
    return 29;
  return days[month - 1];
}

/*
 * The CPR office's century table: the 7th digit (the first of the serial
 * number) together with YY gives the century.
 *
 *   7th digit   YY 00-36   YY 37-57   YY 58-99
 *   0-3         19YY       19YY       19YY
 *   4, 9        20YY       19YY       19YY
 *   5-8         20YY       20YY       18YY
 */
static int century(int digit7, int yy) {
  if (digit7 <= 3)
    return 1900;
  if (digit7 == 4 || digit7 == 9)
    return yy <= 36 ? 2000 : 1900;
  if (yy <= 57)
    return 2000;
  return 1800;
}

int sp_cpr_parse(const char *s, size_t len, sp_cpr *out) {
  size_t ndigits = 0;
  int rc = 0;

  memset(out, 0, sizeof *out);
  if (!s)
    len = 0;

  /* One pass over all the input, even past the 10th digit: whether a
   * non-digit appears decides the code, and "not digits" says more than
   * "wrong length" about "0101O01234".  Only the first 10 digits are kept,
   * so the output buffer cannot overflow whatever the input length. */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '-')
      continue;
    if (c < '0' || c > '9') {
      rc = SP_CPR_NOT_DIGITS;
      break;
    }
    if (ndigits < 10)
      out->digits[ndigits] = (char)c;
    ndigits++;
  }

  if (rc == 0) {
    if (ndigits == 0)
      rc = SP_CPR_EMPTY;
    else if (ndigits == 9)
      rc = SP_CPR_NINE_DIGITS;
    else if (ndigits != 10)
      rc = SP_CPR_LENGTH;
  }

  if (rc == 0) {
    const char *d = out->digits;
    int day = (d[0] - '0') * 10 + (d[1] - '0');
    int month = (d[2] - '0') * 10 + (d[3] - '0');
    int yy = (d[4] - '0') * 10 + (d[5] - '0');
    int year = century(d[6] - '0', yy) + yy;

    if (month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month)) {
      rc = SP_CPR_BAD_DATE;
    } else {
      out->day = day;
      out->month = month;
      out->year = year;
      out->male = (d[9] - '0') % 2;
    }
  }

  /* A rejected value must not survive in the caller's struct: the caller
   * may log or keep it around without knowing what it holds. */
  if (rc != 0)
    sodium_memzero(out, sizeof *out);
  return rc;
}

const char *sp_cpr_reason(int code) {
  switch (code) {
  case SP_CPR_EMPTY:
    return "cpr_empty";
  case SP_CPR_NINE_DIGITS:
    return "cpr_nine_digits";
  case SP_CPR_LENGTH:
    return "cpr_length";
  case SP_CPR_NOT_DIGITS:
    return "cpr_not_digits";
  case SP_CPR_BAD_DATE:
    return "cpr_bad_date";
  default:
    return "cpr_unknown";
  }
}

const char *sp_cpr_reason_text(int code) {
  switch (code) {
  case SP_CPR_EMPTY:
    return "The CPR number is empty.";
  case SP_CPR_NINE_DIGITS:
    return "The CPR number has 9 digits instead of 10; a leading zero was "
           "probably dropped by a spreadsheet. Fix the source (store the "
           "column as text): samspor does not guess the missing digit.";
  case SP_CPR_LENGTH:
    return "The CPR number does not have 10 digits.";
  case SP_CPR_NOT_DIGITS:
    return "The CPR number contains a character other than digits, spaces "
           "and '-'.";
  case SP_CPR_BAD_DATE:
    return "The first six digits of the CPR number are not a real date "
           "(DDMMYY, century from the 7th digit).";
  default:
    return "Unknown CPR validation result.";
  }
}
