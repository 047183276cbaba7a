#!/usr/bin/python3
"""attack.py — an interval attacker on a partner table (integer programming).

    attack.py TABLE.csv --dims area,month --totals area --counts young,neet
              [--subset SUB:SUP ...] [--ratio NAME:NUM:DEN:SCALE:DECIMALS ...]
              [--total-label "I alt"] [--zeros-hidden] [--width W]
              [--primary-only THRESHOLD] [--all]
    attack.py --cases disclosure-cases.json

TABLE.csv is `psql --csv` output (or COPY ... WITH CSV HEADER) of
`SELECT * FROM partner.<name>`; a hidden cell is an empty field of a count
column.

The attacker (the partner) knows:

  * every published figure of the table;
  * its structure: every total row is the sum of the cells it totals, for
    every totalled dimension (--totals).  A total row has the total label
    (--total-label, default "I alt") in a totalled dimension column; the
    cells it totals are the rows that agree with it on every other
    dimension and do not have the total label in that one;
  * that counts are non-negative integers;
  * that a hidden count is >= 1 when zeros are published (the default: a 0
    would have been shown); with --zeros-hidden its lower bound is 0;
  * subset relations between count columns of the same row (--subset
    SUB:SUP, repeatable): SUB <= SUP in every row;
  * every published ratio and its rounding (--ratio
    NAME:NUM:DEN:SCALE:DECIMALS): a published value v in column NAME means
        v - h <= SCALE * NUM / DEN <= v + h,   h = 0.5 * 10^-DECIMALS,
    i.e. the linear constraints SCALE*NUM - (v+h)*DEN <= 0 and
    SCALE*NUM - (v-h)*DEN >= 0 (and DEN >= 1: the ratio was defined),
    used whether NUM and DEN are hidden or not.

For every hidden cell it computes the exact interval [min, max] of the
values consistent with all of that, by integer linear programming over all
count columns of the table jointly (scipy.optimize.milp, HiGHS): one
minimisation and one maximisation per hidden cell.  The hidden cells are
first split into independent blocks (cells linked by a constraint over two
or more hidden cells); a block's published values go to the right-hand
side.

A hidden cell is "determined" when min == max, "narrow" when
max - min < W (--width, the protection width, default 5).  One line is
printed per such cell:

    determined COUNT at DIMVALUES = v
    narrowed COUNT at DIMVALUES to [a, b]

and last "recovered N narrowed M".  Exit status 1 when N + M > 0, else 0;
2 on a usage error or when the published figures contradict the model.
--all prints the interval of every hidden cell too (wide ones included).

--primary-only T: first replace the table's suppression by primary
suppression alone (counts 1..T hidden, read from the raw values that must
then be in the file) — the control that shows the attack works.  The raw
values also check the attacker: each must lie in its interval.

--cases FILE: run the attacker on every case of a disclosure-cases.json
(cells with ids, published flags and values; relations parts/whole;
optional subsets [sub, sup] pairs; optional shares {num, den, value,
decimals, scale}; zeros_published) and compare with each case's expected
intervals exactly.  One line per case; exit 1 on any mismatch.
"""
import argparse
import csv
import json
import math
import sys
from decimal import Decimal
from fractions import Fraction

try:
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix
except ImportError as e:  # pragma: no cover
    sys.exit("attack.py: needs numpy and scipy >= 1.9 (Debian: python3-scipy; "
             "run it with /usr/bin/python3): %s" % e)

INF = math.inf


class Inconsistent(Exception):
    """The published figures contradict the attacker's model (published:
    among the published figures alone)."""

    def __init__(self, msg, published=False):
        super().__init__(msg)
        self.published = published


# ---------------------------------------------------------------------------
# The model: cells, known values, linear constraints
# ---------------------------------------------------------------------------

class Model:
    """Cells (any hashable key), each with a published value or hidden;
    linear constraints lb <= sum(coef * cell) <= ub over them."""

    def __init__(self, hidden_lower, name=str):
        self.name = name         # cell -> its name in messages
        self.value = {}          # cell -> int, or None when hidden
        self.lower = {}          # cell -> a lower bound above hidden_lower
        self.cons = []           # (dict cell -> coef, lb, ub)
        self.hidden_lower = hidden_lower

    def cell(self, key, value):
        self.value[key] = value

    def at_least(self, key, lb):
        self.lower[key] = max(self.lower.get(key, lb), lb)

    def add(self, coefs, lb, ub):
        merged = {}
        for k, c in coefs:
            merged[k] = merged.get(k, 0) + c
        self.cons.append(({k: c for k, c in merged.items() if c != 0}, lb, ub))

    def intervals(self, width=None):
        """{hidden cell: (min, max)}; max is INF when unbounded.

        Exact, except with width: a cell whose values seen in the feasible
        solutions found so far already span >= width is not narrow, whatever
        its exact interval, and is not solved; it gets that seen range (a
        sub-interval of the exact one).  Determined and narrow cells always
        get their exact interval."""
        hidden = [k for k, v in self.value.items() if v is None]
        idx = {k: i for i, k in enumerate(hidden)}
        # Substitute published values: a constraint keeps its hidden cells.
        rows = []
        for coefs, lb, ub in self.cons:
            const = 0
            h = {}
            for k, c in coefs.items():
                v = self.value.get(k)
                if v is None:
                    h[idx[k]] = c
                else:
                    const += c * v
            lb2, ub2 = lb - const, ub - const
            if not h:
                if lb2 > 0 or ub2 < 0:
                    raise Inconsistent("a constraint over published cells fails: %s"
                                       % ", ".join("%s = %s" % (self.name(k), self.value[k]) for k in coefs),
                                       published=True)
                continue
            rows.append((h, lb2, ub2))
        # Blocks: union-find over constraints with >= 2 hidden cells.
        parent = list(range(len(hidden)))

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for h, _, _ in rows:
            ks = list(h)
            for k in ks[1:]:
                a, b = find(ks[0]), find(k)
                if a != b:
                    parent[a] = b
        blocks = {}
        for i in range(len(hidden)):
            blocks.setdefault(find(i), []).append(i)
        block_rows = {}
        for r in rows:
            block_rows.setdefault(find(next(iter(r[0]))), []).append(r)
        out = {}
        for root, members in blocks.items():
            res = solve_block(members, block_rows.get(root, []),
                              [max(self.hidden_lower, self.lower.get(hidden[i], 0))
                               for i in members], width,
                              [self.name(hidden[i]) for i in members])
            for i, iv in zip(members, res):
                out[hidden[i]] = iv
        return out


def solve_block(members, rows, lower, width, names):
    """Exact integer [min, max] of each of the block's cells."""
    n = len(members)
    local = {g: i for i, g in enumerate(members)}
    lo = np.array(lower, dtype=float)
    hi = np.full(n, INF)
    data, ri, ci, lbs, ubs = [], [], [], [], []
    for r, (h, lb, ub) in enumerate(rows):
        if len(h) == 1:
            # a bound on one cell
            (g, c), = h.items()
            i = local[g]
            # exact: lb <= c*x <= ub over the integers
            a = -INF if lb == -INF else Fraction(lb) / c
            b = INF if ub == INF else Fraction(ub) / c
            if c < 0:
                a, b = (-INF if b == INF else b), (INF if a == -INF else a)
            if a != -INF:
                lo[i] = max(lo[i], math.ceil(a))
            if b != INF:
                hi[i] = min(hi[i], math.floor(b))
            continue
        for g, c in h.items():
            data.append(float(c))
            ri.append(len(lbs))
            ci.append(local[g])
        lbs.append(float(lb))
        ubs.append(float(ub))
    if np.any(lo > hi):
        raise Inconsistent("no value fits the bounds of %s" % names[int(np.argmax(lo > hi))])
    cons = []
    if lbs:
        A = csr_matrix((data, (ri, ci)), shape=(len(lbs), n))
        cons = [LinearConstraint(A, np.array(lbs), np.array(ubs))]
    if not cons:
        return [(int(lo[i]), hi[i] if hi[i] == INF else int(hi[i])) for i in range(n)]
    bounds = Bounds(lo, hi)
    integrality = np.ones(n)
    seen_lo = np.full(n, INF)
    seen_hi = np.full(n, -INF)
    res = [None] * n

    def run(i, sign):
        c = np.zeros(n)
        c[i] = sign
        # mip_rel_gap 0: exact, not HiGHS's 1e-4.  presolve off: the HiGHS
        # of Debian 12's scipy 1.10 reported a maximum of 1 for a cell that
        # a row and a column, both with hidden totals, leave unbounded
        # (found by test_disclosure's random tables).
        r = milp(c, constraints=cons, bounds=bounds, integrality=integrality,
                 options={"presolve": False, "mip_rel_gap": 0})
        if r.status == 2:
            raise Inconsistent("no integer solution for the block of %s" % names[i])
        if r.status == 3 or (r.status == 4 and sign < 0):
            # unbounded; HiGHS may say "infeasible or unbounded" (4) for a
            # maximum, but the minimum just solved shows the block feasible
            return None
        if r.status != 0:
            raise RuntimeError("milp failed (%s) for %s: %s" % (r.status, names[i], r.message))
        x = np.round(r.x)
        np.minimum(seen_lo, x, out=seen_lo)
        np.maximum(seen_hi, x, out=seen_hi)
        return int(round(r.x[i]))

    for i in range(n):
        if width is not None and seen_hi[i] - seen_lo[i] >= width:
            res[i] = (int(seen_lo[i]), int(seen_hi[i]))  # not narrow
            continue
        a = run(i, 1.0)
        if width is not None and seen_hi[i] - seen_lo[i] >= width:
            res[i] = (int(seen_lo[i]), int(seen_hi[i]))  # not narrow
            continue
        b = run(i, -1.0)
        res[i] = (a, INF if b is None else b)
    return res


def ratio_constraints(model, num, den, value, decimals, scale):
    """Add SCALE*NUM/DEN rounded to DECIMALS == value, as integer rows."""
    d = int(decimals)
    v = Fraction(Decimal(str(value)).quantize(Decimal(1).scaleb(-d)))
    h = Fraction(1, 2 * 10 ** d)
    s = Fraction(str(scale))
    hi, lo = v + h, v - h
    # clear denominators: integer coefficients, exact feasibility
    m = math.lcm(s.denominator, hi.denominator, lo.denominator)
    model.add([(num, int(s * m)), (den, -int(hi * m))], -INF, 0)
    model.add([(num, int(s * m)), (den, -int(lo * m))], 0, INF)
    model.at_least(den, 1)


# ---------------------------------------------------------------------------
# --cases
# ---------------------------------------------------------------------------

def run_cases(path):
    doc = json.load(open(path, encoding="utf-8"))
    bad = 0
    for case in doc["cases"]:
        m = Model(1 if case.get("zeros_published", True) else 0)
        truth = {}
        for c in case["cells"]:
            truth[c["id"]] = c["value"]
            m.cell(c["id"], c["value"] if c["published"] else None)
        for r in case["relations"]:
            m.add([(p, 1) for p in r["parts"]] + [(r["whole"], -1)], 0, 0)
        for sub, sup in case.get("subsets", []):
            m.add([(sub, 1), (sup, -1)], -INF, 0)
        for s in case.get("shares", []):
            ratio_constraints(m, s["num"], s["den"], s["value"], s["decimals"], s["scale"])
        try:
            got = m.intervals()
        except Inconsistent as e:
            print("FAIL %s: inconsistent: %s" % (case["name"], e))
            bad += 1
            continue
        want = {k: tuple(v) for k, v in case["expected"].items()}
        have = {k: (lo, hi) for k, (lo, hi) in got.items()}
        wrong = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        outside = sorted(k for k, (lo, hi) in have.items() if not lo <= truth[k] <= hi)
        if wrong or outside:
            bad += 1
            print("FAIL %s: %s" % (case["name"], "; ".join(
                ["%s expected %s got %s" % (k, fmt(want.get(k)), fmt(have.get(k))) for k in wrong]
                + ["%s true value %s outside %s" % (k, truth[k], fmt(have[k])) for k in outside])))
        else:
            print("ok %s: %s" % (case["name"], ", ".join(
                "%s %s" % (k, fmt(have[k])) for k in sorted(have))))
    print("%d cases, %d failed" % (len(doc["cases"]), bad))
    return 1 if bad else 0


def fmt(iv):
    if iv is None:
        return "nothing"
    return "[%s, %s]" % (iv[0], "inf" if iv[1] == INF else iv[1])


# ---------------------------------------------------------------------------
# A table
# ---------------------------------------------------------------------------

def run_table(a):
    if not a.dims or not a.counts:
        sys.stderr.write("attack.py: TABLE needs --dims and --counts\n")
        return 2
    dims = [d for d in a.dims.split(",") if d]
    totals = [d for d in a.totals.split(",") if d]
    counts = [c for c in a.counts.split(",") if c]
    subsets = []
    for spec in a.subset:
        sub, _, sup = spec.partition(":")
        if not sub or not sup:
            sys.stderr.write("attack.py: --subset %s: expected SUB:SUP\n" % spec)
            return 2
        subsets.append((sub, sup))
    ratios = []
    for spec in a.ratio:
        parts = spec.split(":")
        if len(parts) != 5:
            sys.stderr.write("attack.py: --ratio %s: expected NAME:NUM:DEN:SCALE:DECIMALS\n" % spec)
            return 2
        ratios.append(parts)
    for _, num, den, _, _ in ratios:
        for c in (num, den):
            if c not in counts:
                counts.append(c)
    for sub, sup in subsets:
        for c in (sub, sup):
            if c not in counts:
                counts.append(c)
    with open(a.table, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if rows:
        missing = [c for c in dims + counts if c not in rows[0]]
        if missing:
            sys.stderr.write("attack.py: %s: no column %s\n" % (a.table, ", ".join(missing)))
            return 2
    bad_totals = [d for d in totals if d not in dims]
    if bad_totals:
        sys.stderr.write("attack.py: --totals %s: not in --dims\n" % ",".join(bad_totals))
        return 2
    T = a.total_label

    raw = {}

    def val(i, c):
        s = rows[i][c]
        if a.primary_only:
            v = int(s)
            raw[(c, i)] = v
            return None if 1 <= v <= a.primary_only else v
        return None if s == "" else int(s)

    m = Model(0 if a.zeros_hidden else 1,
              lambda k: "%s at %s" % (k[0], ",".join(rows[k[1]][d] for d in dims)))
    for i in range(len(rows)):
        for c in counts:
            m.cell((c, i), val(i, c))
    # totals: (total row, [cell rows]) for each totalled dimension
    by_rest = {}
    for j, s in enumerate(rows):
        for d in totals:
            if s[d] != T:
                by_rest.setdefault((d, tuple(s[e] for e in dims if e != d)), []).append(j)
    for i, r in enumerate(rows):
        for d in totals:
            if r[d] != T:
                continue
            members = by_rest.get((d, tuple(r[e] for e in dims if e != d)), [])
            if not members:
                continue
            for c in counts:
                m.add([((c, j), 1) for j in members] + [((c, i), -1)], 0, 0)
    for sub, sup in subsets:
        for i in range(len(rows)):
            m.add([((sub, i), 1), ((sup, i), -1)], -INF, 0)
    for name, num, den, scale, dec in ratios:
        if name not in (rows[0] if rows else {}):
            sys.stderr.write("attack.py: %s: no ratio column %s\n" % (a.table, name))
            return 2
        for i, r in enumerate(rows):
            if r[name] == "":
                continue
            if a.primary_only and (m.value[(num, i)] is None or m.value[(den, i)] is None):
                continue  # primary suppression would have hidden it
            ratio_constraints(m, (num, i), (den, i), r[name], dec, scale)
    # An earlier release of the same table: a cell hidden now that it
    # showed is guessed unchanged (the attacker's strongest guess; if the
    # guesses contradict what is published now, something changed and the
    # attacker drops them).
    guesses = []
    if a.previous:
        with open(a.previous, encoding="utf-8", newline="") as f:
            before = {tuple(r[d] for d in dims): r for r in csv.DictReader(f)}
        for i, r in enumerate(rows):
            p = before.get(tuple(r[d] for d in dims))
            if p is None:
                continue
            for c in counts:
                if m.value[(c, i)] is None and p.get(c, "") != "":
                    guesses.append(((c, i), int(p[c])))
    if guesses:
        base = list(m.cons)
        for key, v in guesses:
            m.add([(key, 1)], v, v)
        try:
            m.intervals(None)
            sys.stderr.write("attack.py: %d hidden cells guessed unchanged from %s\n"
                             % (len(guesses), a.previous))
        except Inconsistent:
            sys.stderr.write("attack.py: the earlier release's values contradict this one; "
                             "guesses dropped\n")
            m.cons = base
    try:
        try:
            iv = m.intervals(None if a.all else a.width)
        except Inconsistent as e:
            if m.hidden_lower == 0 or e.published:
                raise
            # a hidden 0 (not the model's, but then the attacker knows it)
            sys.stderr.write("attack.py: %s: %s with hidden counts >= 1; a hidden cell "
                             "must be 0: retrying with hidden counts >= 0\n" % (a.table, e))
            m.hidden_lower = 0
            iv = m.intervals(None if a.all else a.width)
    except Inconsistent as e:
        sys.stderr.write("attack.py: %s: the published figures contradict the model: %s\n"
                         % (a.table, e))
        return 2
    det = nar = 0
    bad = 0

    def where(i):
        return ",".join(rows[i][d] for d in dims)

    truth = {}
    if a.truth:
        with open(a.truth, encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                truth[tuple(r[d] for d in dims)] = r
    order = sorted(iv, key=lambda k: (counts.index(k[0]), k[1]))
    misled = 0
    for k in order:
        lo, hi = iv[k]
        c, i = k
        t = truth.get(tuple(rows[i][d] for d in dims))
        if t is not None and t.get(c, "") != "" and not lo <= int(t[c]) <= hi:
            # a wrong guess (--previous): the attacker is misled, not informed
            misled += 1
            print("misled on %s at %s: %s misses the true value" % (c, where(i), fmt((lo, hi))))
            continue
        if (c, i) in raw and not lo <= raw[(c, i)] <= hi:
            print("ERROR %s at %s: raw value %d outside [%s, %s]" % (c, where(i), raw[(c, i)], lo, hi))
            bad += 1
        if lo == hi:
            det += 1
            print("determined %s at %s = %d" % (c, where(i), lo))
        elif hi - lo < a.width:
            nar += 1
            print("narrowed %s at %s to [%d, %d]" % (c, where(i), lo, hi))
        elif a.all:
            print("interval %s at %s is %s" % (c, where(i), fmt((lo, hi))))
    if misled:
        print("misled %d" % misled)
    print("recovered %d narrowed %d" % (det, nar))
    if bad:
        return 2
    return 1 if det + nar else 0


def main():
    ap = argparse.ArgumentParser(description="Interval attacker on a partner table.")
    ap.add_argument("table", nargs="?")
    ap.add_argument("--cases", metavar="FILE")
    ap.add_argument("--dims")
    ap.add_argument("--totals", default="")
    ap.add_argument("--counts")
    ap.add_argument("--subset", action="append", default=[], metavar="SUB:SUP")
    ap.add_argument("--ratio", action="append", default=[], metavar="NAME:NUM:DEN:SCALE:DECIMALS")
    ap.add_argument("--total-label", default="I alt")
    ap.add_argument("--zeros-hidden", action="store_true")
    ap.add_argument("--width", type=int, default=5)
    ap.add_argument("--primary-only", type=int, default=0, metavar="T")
    ap.add_argument("--all", action="store_true", help="print every hidden cell's interval")
    ap.add_argument("--truth", metavar="RAW.csv",
                    help="the true counts (the test's knowledge, not the attacker's): "
                         "an interval that misses the true value is a wrong guess, "
                         "not a disclosure")
    ap.add_argument("--previous", metavar="PREV.csv",
                    help="an earlier release of the table: cells hidden now that it "
                         "showed are guessed unchanged")
    a = ap.parse_args()
    if a.width < 1:
        ap.error("--width must be >= 1")
    if a.cases:
        if a.table:
            ap.error("--cases takes no TABLE")
        return run_cases(a.cases)
    if not a.table:
        ap.error("TABLE or --cases FILE")
    return run_table(a)


if __name__ == "__main__":
    sys.exit(main())
