#!/usr/bin/env python3
"""attack.py — try to recover suppressed cells of a partner table.

    attack.py TABLE.csv --dims area,month --totals area --counts young,neet
              [--ratio NAME:NUM:DEN:SCALE:DECIMALS ...] [--total-label "I alt"]
              [--primary-only THRESHOLD]

TABLE.csv is `psql --csv` output of `SELECT * FROM partner.<name>`.  The
attacker knows the published cells and that every total row is the sum of
the cells it totals.  For each count column it tries:

  1. differencing: a group (a total and its cells) with exactly one hidden
     cell gives that cell away;
  2. linear algebra: a hidden cell is determined exactly when its unit
     vector lies in the row space of the equations the groups give over the
     hidden cells (exact rational arithmetic, independent of samspor's own
     floating-point test);
  3. ratios: a published ratio with a published denominator gives the
     numerator back when the rounding leaves one integer possible.

--primary-only T: first replace the table's suppression by primary
suppression alone (counts 1..T hidden, read from the raw values that must
then be in the file) — the control that shows the attack works.

Prints one line per recovered cell and "recovered N" last; exit 1 when N > 0.
"""
import argparse
import csv
import math
import sys
from fractions import Fraction


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--dims", required=True)
    ap.add_argument("--totals", default="")
    ap.add_argument("--counts", required=True)
    ap.add_argument("--ratio", action="append", default=[])
    ap.add_argument("--total-label", default="I alt")
    ap.add_argument("--primary-only", type=int, default=0)
    a = ap.parse_args()
    dims = a.dims.split(",")
    totals = [d for d in a.totals.split(",") if d]
    counts = a.counts.split(",")
    rows = list(csv.DictReader(open(a.table, encoding="utf-8")))
    T = a.total_label

    def val(r, c):
        if a.primary_only:
            v = int(r[c])
            return None if 1 <= v <= a.primary_only else v
        return None if r[c] == "" else int(r[c])

    key = {tuple(r[d] for d in dims): i for i, r in enumerate(rows)}
    # groups: (total row, [cell rows]) for each totalled dimension
    groups = []
    for i, r in enumerate(rows):
        for di, d in enumerate(dims):
            if d not in totals or r[d] != T:
                continue
            members = [j for j, s in enumerate(rows)
                       if s[d] != T and all(s[e] == r[e] for e in dims if e != d)]
            if members:
                groups.append((i, members))
    recovered = []
    for c in counts:
        v = [val(r, c) for r in rows]
        hidden = [i for i in range(len(rows)) if v[i] is None]
        # 1. differencing
        for t, members in groups:
            cells = [t] + members
            unknown = [i for i in cells if v[i] is None]
            if len(unknown) == 1:
                recovered.append((c, unknown[0], "difference"))
        # 2. rank test over the rationals
        col = {i: k for k, i in enumerate(hidden)}
        eqs = []
        for t, members in groups:
            row = [Fraction(0)] * len(hidden)
            if v[t] is None:
                row[col[t]] += 1
            for m in members:
                if v[m] is None:
                    row[col[m]] -= 1
            if any(row):
                eqs.append(row)
        piv_rows = rref(eqs, len(hidden))
        for prow, pcol in piv_rows:
            if sum(1 for x in prow if x != 0) == 1:
                recovered.append((c, hidden[pcol], "linear algebra"))
    # 3. ratios
    for spec in a.ratio:
        name, num, den, scale, dec = spec.split(":")
        scale, dec = float(scale), int(dec)
        for i, r in enumerate(rows):
            if r.get(name, "") == "" or num not in counts:
                continue
            if val(r, num) is not None or val(r, den) is None:
                continue
            x, d = float(r[name]), val(r, den)
            half = 0.5 * 10 ** -dec
            lo, hi = (x - half) * d / scale, (x + half) * d / scale
            cands = [k for k in range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1)]
            if len(cands) == 1:
                recovered.append((num, i, "ratio " + name))
    seen = set()
    for c, i, how in recovered:
        if (c, i) in seen:
            continue
        seen.add((c, i))
        print("recovered %s at %s by %s" % (c, ",".join(rows[i][d] for d in dims), how))
    print("recovered %d" % len(seen))
    sys.exit(1 if seen else 0)


def rref(eqs, n):
    """Reduced row echelon form; returns [(row, pivot column)]."""
    m = [list(r) for r in eqs]
    out, r0 = [], 0
    for c in range(n):
        p = next((i for i in range(r0, len(m)) if m[i][c] != 0), None)
        if p is None:
            continue
        m[r0], m[p] = m[p], m[r0]
        pv = m[r0][c]
        m[r0] = [x / pv for x in m[r0]]
        for i in range(len(m)):
            if i != r0 and m[i][c] != 0:
                f = m[i][c]
                m[i] = [x - f * y for x, y in zip(m[i], m[r0])]
        out.append(c)
        r0 += 1
    return [(m[k], c) for k, c in enumerate(out)]


if __name__ == "__main__":
    main()
