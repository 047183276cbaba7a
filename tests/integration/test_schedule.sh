#!/usr/bin/env bash
# Schedules through the real binary: `samspor schedule EXPR --from TIME -n N`
# across both DST changes of 2027 and 2028 in Europe/Copenhagen, month
# ends, leap days, steps and ranges, and rejected expressions.  Expected
# offsets were checked independently with Python's zoneinfo.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

sched() { assert_exit 0 "$SAMSPOR" schedule "$@" --tz Europe/Copenhagen; }

test_spring_forward_2027_runs_at_end_of_gap() {
	sched "30 2 * * *" --from 2027-03-27T12:00:00+01:00 -n 2
	assert_eq "$OUT" "2027-03-28T03:00:00+02:00
2027-03-29T02:30:00+02:00" "skipped 02:30 runs at 03:00"
}

test_autumn_2027_repeated_time_runs_once() {
	sched "30 2 * * *" --from 2027-10-30T12:00:00+02:00 -n 2
	assert_eq "$OUT" "2027-10-31T02:30:00+02:00
2027-11-01T02:30:00+01:00" "first occurrence only"
}

test_spring_forward_2028() {
	sched "30 2 * * *" --from 2028-03-25T12:00:00+01:00 -n 1
	assert_eq "$OUT" "2028-03-26T03:00:00+02:00" "2028 gap"
	sched "*/15 2 * * *" --from 2028-03-26T00:00:00+01:00 -n 2
	assert_eq "$OUT" "2028-03-26T03:00:00+02:00
2028-03-27T02:00:00+02:00" "a gap's minutes collapse to one run"
}

test_autumn_2028_steps_in_the_repeated_hour() {
	sched "*/30 2 * * *" --from 2028-10-29T00:00:00+02:00 -n 3
	assert_eq "$OUT" "2028-10-29T02:00:00+02:00
2028-10-29T02:30:00+02:00
2028-10-30T02:00:00+01:00" "repeated hour not run twice"
}

test_nightly_shorthand_is_clear_of_dst() {
	sched @nightly --from 2027-03-27T12:00:00+01:00 -n 2
	assert_eq "$OUT" "2027-03-28T03:30:00+02:00
2027-03-29T03:30:00+02:00" "@nightly = 30 3 * * *"
}

test_month_ends() {
	sched "0 0 31 * *" --from 2027-04-01T00:00:00+02:00 -n 2
	assert_eq "$OUT" "2027-05-31T00:00:00+02:00
2027-07-31T00:00:00+02:00" "months without a 31st are skipped"
}

test_leap_days() {
	sched "0 0 29 2 *" --from 2027-01-01T00:00:00+01:00 -n 2
	assert_eq "$OUT" "2028-02-29T00:00:00+01:00
2032-02-29T00:00:00+01:00" "29 February in leap years"
}

test_steps_ranges_and_names() {
	sched "0 9-17/4 * * mon-fri" --from 2027-01-01T00:00:00+01:00 -n 4
	assert_eq "$OUT" "2027-01-01T09:00:00+01:00
2027-01-01T13:00:00+01:00
2027-01-01T17:00:00+01:00
2027-01-04T09:00:00+01:00" "range with step, weekdays only"
}

test_strictly_after_from() {
	sched "0 3 * * *" --from 2027-06-01T03:00:00+02:00 -n 1
	assert_eq "$OUT" "2027-06-02T03:00:00+02:00" "a time equal to --from is not printed"
}

test_rejected_expressions() {
	assert_exit 2 "$SAMSPOR" schedule "* * *"
	assert_contains "$ERR" "expected 5 fields, found 3" "field count"
	assert_exit 2 "$SAMSPOR" schedule "0 24 * * *"
	assert_contains "$ERR" "24 is out of range 0-23" "hour range"
	assert_exit 2 "$SAMSPOR" schedule "*/0 * * * *"
	assert_contains "$ERR" "field 1 (minute)" "zero step names its field"
	assert_exit 2 "$SAMSPOR" schedule "@often"
	assert_contains "$ERR" "@often" "unknown shorthand named"
	assert_exit 2 "$SAMSPOR" schedule "0 0 30 2 *"
	assert_contains "$ERR" "never runs" "impossible date"
}

run_tests
