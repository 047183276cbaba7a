#!/usr/bin/env bash
# The attacker itself (tests/integration/attack.py), no PostgreSQL: the
# published cases of tests/data/disclosure-cases.json with their exact
# intervals, and small hand-made partner tables in psql's CSV form — a
# published zero that pins two hidden cells, the same with zeros hidden
# (narrowed, not determined), a published share that gives a count back,
# the primary-suppression control, and a safe rectangle.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CASES=$SP_SRCDIR/tests/data/disclosure-cases.json

test_scipy_is_there() {
	"$ATTACK_PY" -c 'import scipy.optimize; scipy.optimize.milp' 2>"$T/err" ||
		fail "$ATTACK_PY has no scipy.optimize.milp (apt-get install python3-scipy): $(tail -n 1 "$T/err")"
}

test_cases_file_intervals_exact() {
	assert_exit 0 "$ATTACK_PY" "$ATTACK" --cases "$CASES"
	assert_contains "$OUT" "ok published-zero-bound: h [1, 1], r [1, 1]" "the published-zero case"
	assert_contains "$OUT" "ok rectangle: A|x [0, 11], A|y [2, 13], B|x [0, 11], B|y [6, 17]" "the rectangle"
	assert_match "$OUT" $'\n''[0-9]+ cases, 0 failed$' "every case as expected"
	assert_not_contains "$OUT" "FAIL" "no case failed"
}

test_cases_mismatch_is_reported() {
	# The same file with one expected interval made wrong.
	"$ATTACK_PY" - "$CASES" "$T/bad.json" <<-'PY'
		import json, sys
		d = json.load(open(sys.argv[1]))
		for c in d["cases"]:
		    if c["name"] == "rectangle":
		        c["expected"]["A|x"] = [0, 10]
		json.dump(d, open(sys.argv[2], "w"))
	PY
	assert_exit 1 "$ATTACK_PY" "$ATTACK" --cases "$T/bad.json"
	assert_contains "$OUT" "FAIL rectangle: A|x expected [0, 10] got [0, 11]" "names the mismatch"
}

# housing.csv: total 9, one cell 7, one 0, two hidden.
housing() {
	cat >"$T/housing.csv" <<-'EOF'
		area,year,moves_in,moves_in_suppressed
		A,2025,7,f
		B,2025,0,f
		C,2025,,t
		D,2025,,t
		I alt,2025,9,f
	EOF
}

test_published_zero_pins_two_hidden_cells() {
	housing
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/housing.csv" --dims area,year --totals area --counts moves_in
	assert_contains "$OUT" "determined moves_in at C,2025 = 1" "C is 1: a 0 would have been shown"
	assert_contains "$OUT" "determined moves_in at D,2025 = 1" "D is 1"
	assert_contains "$OUT" "recovered 2 narrowed 0" "the summary"
}

test_zeros_hidden_narrows_but_does_not_determine() {
	housing
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/housing.csv" --dims area,year --totals area --counts moves_in \
		--zeros-hidden --width 5
	assert_not_contains "$OUT" "determined" "nothing determined"
	assert_contains "$OUT" "narrowed moves_in at C,2025 to [0, 2]" "C in [0, 2]"
	assert_contains "$OUT" "narrowed moves_in at D,2025 to [0, 2]" "D in [0, 2]"
	assert_contains "$OUT" "recovered 0 narrowed 2" "the summary"
	# a width of 2 or less: [0, 2] is wide enough
	assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/housing.csv" --dims area,year --totals area --counts moves_in \
		--zeros-hidden --width 2
	assert_contains "$OUT" "recovered 0 narrowed 0" "width 2: safe"
}

# A two-way table (area x status, totals both ways) with a rectangle of
# four hidden cells A|x=3, A|y=10, B|x=8, B|y=9.
rectangle() {
	cat >"$T/rect.csv" <<-'EOF'
		area,status,month,people
		A,x,2025-01,
		A,y,2025-01,
		A,z,2025-01,12
		A,I alt,2025-01,25
		B,x,2025-01,
		B,y,2025-01,
		B,z,2025-01,15
		B,I alt,2025-01,32
		I alt,x,2025-01,11
		I alt,y,2025-01,19
		I alt,z,2025-01,27
		I alt,I alt,2025-01,57
	EOF
}

test_safe_rectangle() {
	rectangle
	assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/rect.csv" --dims area,status,month --totals area,status \
		--counts people --width 5 --all
	assert_contains "$OUT" "interval people at A,x,2025-01 is [1, 10]" "A|x: 1 to 10"
	assert_contains "$OUT" "interval people at B,y,2025-01 is [7, 16]" "B|y: 7 to 16"
	assert_contains "$OUT" "recovered 0 narrowed 0" "nothing recovered"
	# Without the row totals' help the column total alone leaks: hide only
	# A|x and A|y (the row pair), B's row published.
	sed -e 's/^B,x,2025-01,$/B,x,2025-01,8/' -e 's/^B,y,2025-01,$/B,y,2025-01,9/' "$T/rect.csv" >"$T/pair.csv"
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/pair.csv" --dims area,status,month --totals area,status --counts people
	assert_contains "$OUT" "determined people at A,x,2025-01 = 3" "the column total gives A|x"
	assert_contains "$OUT" "recovered 2 narrowed 0" "both cells of the pair"
}

test_published_share_and_subset() {
	# neet <= young; neet's share of young published to one decimal.
	cat >"$T/neet.csv" <<-'EOF'
		area,month,young,young_suppressed,neet,neet_suppressed,neet_share,neet_share_suppressed
		A,2025-01,48,f,,t,14.6,f
		B,2025-01,790,f,,t,,t
		I alt,2025-01,838,f,141,f,16.8,f
	EOF
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/neet.csv" --dims area,month --totals area --counts young,neet \
		--subset neet:young --ratio neet_share:neet:young:100:1
	assert_contains "$OUT" "determined neet at A,2025-01 = 7" "the share gives A's count"
	assert_contains "$OUT" "determined neet at B,2025-01 = 134" "and the total B's"
	# Without the share: a wide interval each.
	assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/neet.csv" --dims area,month --totals area --counts young,neet \
		--subset neet:young
	assert_contains "$OUT" "recovered 0 narrowed 0" "no share, no leak"
}

test_primary_only_control() {
	# Raw counts: primary suppression alone (1..5) leaves B's 3 to its total.
	cat >"$T/raw.csv" <<-'EOF'
		area,month,people
		A,2025-01,20
		B,2025-01,3
		C,2025-01,30
		I alt,2025-01,53
	EOF
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/raw.csv" --dims area,month --totals area --counts people --primary-only 5
	assert_contains "$OUT" "determined people at B,2025-01 = 3" "primary alone gives the cell away"
}

test_contradiction_is_an_error() {
	# neet above young in a row, with --subset neet:young
	cat >"$T/bad.csv" <<-'EOF'
		area,month,young,neet
		A,2025-01,5,9
		B,2025-01,,
		I alt,2025-01,40,20
	EOF
	assert_exit 2 "$ATTACK_PY" "$ATTACK" "$T/bad.csv" --dims area,month --totals area --counts young,neet \
		--subset neet:young
	assert_contains "$ERR" "contradict" "says the figures contradict the model"
}

test_hidden_zero_gives_itself_away() {
	# Zeros are published, yet B's young must be 0: the attacker says so
	# and goes on with hidden counts >= 0.
	cat >"$T/zero.csv" <<-'EOF'
		area,month,young,neet
		A,2025-01,5,
		B,2025-01,,
		I alt,2025-01,5,2
	EOF
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/zero.csv" --dims area,month --totals area --counts young,neet \
		--subset neet:young
	assert_contains "$ERR" "a hidden cell must be 0" "explains the retry"
	assert_contains "$OUT" "determined young at B,2025-01 = 0" "the hidden 0"
	assert_contains "$OUT" "determined neet at A,2025-01 = 2" "and what follows from it"
}

run_tests
