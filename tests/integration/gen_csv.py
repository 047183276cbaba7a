#!/usr/bin/env python3
"""Generate a synthetic Ungedatabase-style CSV export, for tests and benchmarks.

    gen_csv.py --rows N [--seed S] [--encoding windows-1252] [--bad-rate 0.01]
               [--out FILE] [--print-identifiers FILE] [--stats FILE]
               [--areas-map FILE] [--newline crlf|lf] [--gzip]

Writes the header

    cpr;navn;adresse;postnr;status;statusdato;institution;ydelse_kr

and N data rows. Every person is made up: CPR numbers have the valid format
(a real calendar date, a 7th digit whose century matches the CPR office's
table, ages 15-29 as of 2026) but are drawn from a deterministic permutation,
not from anyone; names are combinations from small lists; addresses are in
Amager's social-housing areas with generic street names. Each person has 1-6
status rows on distinct dates, so (cpr, statusdato) is unique among the
valid rows.

--bad-rate R turns about R of the rows bad: most get an invalid CPR (a date
that does not exist, 9 digits, letters), about a tenth instead get the wrong
number of fields. --stats FILE writes the exact counts as JSON.

--print-identifiers FILE writes every identifying value used (CPR numbers as
written, names, addresses), one "kind<TAB>value" a line, so that a privacy
test can check none of them reached the warehouse or the logs.

--areas-map FILE writes "address,area" for every street and number used
(the address up to its first comma), for the `lookup` column rule.

Output is streamed: memory does not grow with N. The same arguments give the
same bytes.
"""

import argparse
import csv
import datetime
import gzip
import io
import json
import math
import random
import sys

HEADER = ["cpr", "navn", "adresse", "postnr", "status", "statusdato",
          "institution", "ydelse_kr"]

FIRST_MALE = ["Mads", "Mikkel", "Emil", "Oliver", "Noah", "Ahmad", "Jonas",
              "Frederik", "Mohammed", "Lucas", "Ali", "Rasmus", "Kasper",
              "Yusuf", "Magnus", "Søren", "Bjørn", "Anders", "Omar", "Malthe"]
FIRST_FEMALE = ["Emma", "Sofie", "Ida", "Freja", "Fatima", "Maja", "Laura",
                "Sara", "Amalie", "Aisha", "Clara", "Mathilde", "Zainab",
                "Nanna", "Signe", "Åse", "Karoline", "Mille", "Leyla", "Astrid"]
LAST = ["Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen",
        "Larsen", "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen",
        "Kristensen", "Olsen", "Thomsen", "Poulsen", "Johansen", "Møller",
        "Mortensen", "Hussein", "Yilmaz", "Khan", "Abdi", "Østergaard",
        "Ærenlund", "Kaya", "Nguyen", "Lund", "Holm", "Dahl"]

# Area -> generic street names in it (plausible, not a real register).
AREAS = [
    ("Urbanplanen", ["Urbanvænget", "Planvej", "Parkhusstien"]),
    ("Hørgården", ["Hørgårdsvej", "Hørgårdsstien"]),
    ("Remisevænget", ["Remisevænget", "Remisestien"]),
    ("Højdevang", ["Højdevangs Allé", "Højdevangsparken"]),
    ("Ørestad", ["Ørestadsvej", "Fælledkanten"]),
    ("Gyldenrisparken", ["Gyldenrisvej", "Risparkstien"]),
]
STREET_NUMBERS = 60
FLOORS = ["st. tv", "st. th", "1. tv", "1. th", "2. tv", "2. th", "3. tv",
          "3. th", "4. mf", "5. tv"]

STATUSES = ["uddannelse", "beskæftigelse", "ledig", "andet"]
STATUS_WEIGHTS = [45, 30, 18, 7]
INSTITUTIONS = {
    "uddannelse": ["Amager Gymnasium", "TEC Amager", "Københavns Tekniske Skole",
                   "KU Amager", "Sprogcenter \"Amager\"; hold 2",
                   "FGU Hovedstaden, Amager", "Københavns Professionshøjskole"],
    "beskæftigelse": ["Amager Byggeservice ApS", "Supermarked Nord A/S",
                      "Københavns Kommune", "Lager og Logistik I/S", "Café Fælleden"],
    "ledig": ["Jobcenter København", "Ungecenter Amager"],
    "andet": [""],
}
STATUS_FROM = datetime.date(2023, 1, 1)
STATUS_DAYS = (datetime.date(2025, 12, 31) - STATUS_FROM).days + 1

# Ages 15-29 on 2026-06-30: born 1996-07-01 .. 2011-06-30.
BIRTH_FROM = datetime.date(1996, 7, 1)
BIRTH_DAYS = (datetime.date(2011, 6, 30) - BIRTH_FROM).days + 1
# 7th digit consistent with the century (SPEC.md's table):
#   19YY for YY 96-99: 0-3, 4, 9 (4 and 9 give 19YY for YY 37-99);
#   20YY for YY 00-11: 4-9 (4 and 9 give 20YY for YY 00-36, 5-8 for 00-57).
DIGIT7_19 = "012349"
DIGIT7_20 = "456789"
# Every person gets a distinct index < PERSON_SPACE, mapped to a CPR by a
# bijection: day (BIRTH_DAYS) x 7th digit (6) x last three digits (1000).
PERSON_SPACE = BIRTH_DAYS * 6 * 1000


def person_cpr(index, mult, offset):
    """CPR digits (10) of person number `index`: a permutation of the space."""
    n = (index * mult + offset) % PERSON_SPACE
    day, rest = divmod(n, 6000)
    d7, last3 = divmod(rest, 1000)
    born = BIRTH_FROM + datetime.timedelta(days=day)
    digits = DIGIT7_19 if born.year < 2000 else DIGIT7_20
    return "%02d%02d%02d%s%03d" % (born.day, born.month, born.year % 100,
                                   digits[d7], last3)


def bad_cpr(rng):
    """An invalid CPR: a date that does not exist, 9 digits, or letters."""
    kind = rng.randrange(3)
    if kind == 0:
        day, month = rng.choice([(31, 2), (30, 2), (31, 4), (32, 1), (0, 5),
                                 (15, 13), (10, 0)])
        return "%02d%02d%02d-%04d" % (day, month, rng.randrange(100),
                                      rng.randrange(10000))
    if kind == 1:
        return "%09d" % rng.randrange(10 ** 9)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    s = list("%010d" % rng.randrange(10 ** 10))
    s[rng.randrange(10)] = rng.choice(letters)
    s[rng.randrange(10)] = rng.choice(letters)
    return "".join(s[:6]) + "-" + "".join(s[6:])


def amount(rng, status):
    """ydelse_kr: decimal comma, thousands '.' in about half the large ones."""
    if status == "beskæftigelse":
        return "" if rng.random() < 0.7 else "0,00"
    if status == "andet" and rng.random() < 0.5:
        return ""
    ore = rng.randrange(0, 1800000)
    kr, o = divmod(ore, 100)
    if kr >= 1000 and rng.random() < 0.5:
        return "%d.%03d,%02d" % (kr // 1000, kr % 1000, o)
    return "%d,%02d" % (kr, o)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, required=True, help="number of data rows")
    p.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    p.add_argument("--encoding", default="windows-1252",
                   help="output encoding: windows-1252 (default), utf-8, "
                        "utf-8-sig (with BOM), iso-8859-1")
    p.add_argument("--bad-rate", type=float, default=0.0,
                   help="fraction of bad rows (default 0)")
    p.add_argument("--out", default="-", help="output file (default stdout)")
    p.add_argument("--newline", choices=["crlf", "lf"], default="crlf",
                   help="line ending (default crlf, as Windows exports)")
    p.add_argument("--gzip", action="store_true", help="gzip the output")
    p.add_argument("--print-identifiers", metavar="FILE",
                   help="write every identifying value used, kind<TAB>value")
    p.add_argument("--stats", metavar="FILE", help="write counts as JSON")
    p.add_argument("--areas-map", metavar="FILE",
                   help="write address,area for every street and number")
    a = p.parse_args(argv)
    if a.rows < 0:
        p.error("--rows must be >= 0")
    if not 0.0 <= a.bad_rate <= 1.0:
        p.error("--bad-rate must be between 0 and 1")
    if a.rows > PERSON_SPACE:
        p.error("--rows too large")
    return a


def open_out(path, encoding, compress):
    """(text stream, closer) for `path` ('-' = stdout) in `encoding`, no
    newline mapping; closer() flushes and closes all but stdout itself."""
    raw = sys.stdout.buffer if path == "-" else open(path, "wb")
    inner = raw
    if compress:
        inner = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    text = io.TextIOWrapper(inner, encoding=encoding, newline="")

    def closer():
        text.flush()
        text.detach()
        if inner is not raw:
            inner.close()      # writes the gzip trailer, leaves raw open
        if raw is sys.stdout.buffer:
            raw.flush()
        else:
            raw.close()
    return text, closer


def write_areas_map(path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("address,area\n")
        for area, streets in AREAS:
            for street in streets:
                for no in range(1, STREET_NUMBERS + 1):
                    f.write("%s %d,%s\n" % (street, no, area))


def generate(a):
    rng = random.Random(a.seed)
    # The permutation of the person space: a multiplier coprime to it.
    prng = random.Random("persons:%d" % a.seed)
    while True:
        mult = prng.randrange(PERSON_SPACE // 3, PERSON_SPACE)
        if math.gcd(mult, PERSON_SPACE) == 1:
            break
    offset = prng.randrange(PERSON_SPACE)

    out, close_out = open_out(a.out, a.encoding, a.gzip)
    w = csv.writer(out, delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL,
                   lineterminator="\r\n" if a.newline == "crlf" else "\n")
    ids = None
    if a.print_identifiers:
        ids = open(a.print_identifiers, "w", encoding="utf-8", newline="\n")
    seen_names = set()      # bounded: first x last names
    seen_addresses = set()  # bounded: streets x numbers x floors

    w.writerow(HEADER)
    stats = {"rows": a.rows, "persons": 0, "bad_cpr": 0, "bad_field_count": 0}
    streets = [(area, s) for area, ss in AREAS for s in ss]
    # Precomputed: the dd-mm-yyyy of every status day, and the statuses
    # repeated by weight (one choice() instead of choices()).
    day_text = []
    for d in range(STATUS_DAYS):
        date = STATUS_FROM + datetime.timedelta(days=d)
        day_text.append("%02d-%02d-%04d" % (date.day, date.month, date.year))
    weighted = [st for st, w in zip(STATUSES, STATUS_WEIGHTS) for _ in range(w)]
    batch = []
    person = 0
    row = 0
    rand = rng.random
    randrange = rng.randrange
    choice = rng.choice
    while row < a.rows:
        cpr = person_cpr(person, mult, offset)
        person += 1
        male = int(cpr[9]) % 2 == 1
        first = choice(FIRST_MALE if male else FIRST_FEMALE)
        if rand() < 0.15:
            first = "%s %s" % (first, choice(LAST))   # a middle name
        name = "%s %s" % (first, choice(LAST))
        _, street = streets[randrange(len(streets))]
        addr = "%s %d, %s" % (street, randrange(1, STREET_NUMBERS + 1), choice(FLOORS))
        written = cpr[:6] + "-" + cpr[6:] if rand() < 0.9 else cpr
        if ids is not None:
            ids.write("cpr\t%s\n" % written)
            if name not in seen_names:
                seen_names.add(name)
                ids.write("name\t%s\n" % name)
            if addr not in seen_addresses:
                seen_addresses.add(addr)
                ids.write("address\t%s\n" % addr)
        n = min(randrange(1, 7), a.rows - row)
        days = sorted(rng.sample(range(STATUS_DAYS), n))
        for day in days:
            status = choice(weighted)
            fields = [written, name, addr, "2300", status, day_text[day],
                      choice(INSTITUTIONS[status]), amount(rng, status)]
            if a.bad_rate > 0 and rand() < a.bad_rate:
                if rand() < 0.1:
                    stats["bad_field_count"] += 1
                    if rand() < 0.5:
                        fields.pop()
                    else:
                        fields.append("ekstra")
                else:
                    stats["bad_cpr"] += 1
                    fields[0] = bad_cpr(rng)
                    if ids is not None:
                        ids.write("cpr\t%s\n" % fields[0])
            batch.append(fields)
            row += 1
        if len(batch) >= 4096:
            w.writerows(batch)
            batch.clear()
    w.writerows(batch)
    close_out()
    if ids is not None:
        ids.close()
    stats["persons"] = person
    return stats


def main(argv):
    a = parse_args(argv)
    try:
        stats = generate(a)
    except BrokenPipeError:
        return 1
    if a.areas_map:
        write_areas_map(a.areas_map)
    if a.stats:
        with open(a.stats, "w", encoding="utf-8") as f:
            json.dump(stats, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
