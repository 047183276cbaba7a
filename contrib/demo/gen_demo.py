#!/usr/bin/env python3
"""Synthetic data for the Amagerplanen demo: all five sources of
config/amagerplanen.conf, generated from a fixed seed.

    gen_demo.py --out DIR [--seed 2026] [--areas config/amagerplanen-areas.csv]
                [--households 1150] [--expected FILE] [--identifiers FILE]

Writes, under DIR:
  incoming/ungedatabasen/unge_2026-10.csv   Ungedatabasen (Windows-1252, ';',
                                            decimal comma, dd-mm-yyyy)
  incoming/skoler/testresultater_2026-10.xml national tests and absence
  incoming/aktiviteter/aktiviteter_2026-10.csv the plan's registrations
  rest/export.json                          tenancies and rent-arrears cases,
                                            served by contrib/demo/rest_server.py
  jobcenter.sql                             the jobcenter's table (psql -f)

Every person is made up: households at the synthetic addresses of the areas
map, Danish first and last names drawn from short lists, CPR numbers of a
valid format (a real birth date DDMMYY, a 7th digit whose century fits the
CPR office's table, the last digit odd for men and even for women) with
random serial digits.  A few rows of each source are deliberately bad (a
CPR number whose date does not exist or has nine digits, an address outside
the plan, a malformed number or date, a missing flag): samspor must reject
exactly those.

--expected FILE writes, as JSON, the raw (unsuppressed) aggregates of every
cell of the five partner indicators, computed here independently of samspor
from the valid rows, with the same definitions as the indicator queries of
amagerplanen.conf: {"neet": [{"area": ..., "month": ..., "young": ...,
"neet": ...}, ...], "school": [...], ...}.  Hidden sums are included.

--identifiers FILE writes every identifying value used ("kind<TAB>value" a
line: cpr in both spellings, name, address), for privacy scans.

The same arguments give the same bytes.  Standard library only.
"""

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
from decimal import Decimal
from xml.sax.saxutils import escape

MONTHS = ["%04d-%02d" % (2025 + (i // 12), i % 12 + 1) for i in range(22)]  # 2025-01..2026-10
SCHOOL_YEARS = [2023, 2024, 2025]  # 2023/24 .. 2025/26
DATA_END = dt.date(2026, 10, 31)
AREA_WEIGHTS = {"Urbanplanen": 0.44, "Hørgården": 0.27, "Remisevænget": 0.23,
                "Gyldenrisparken": 0.06}
SUBJECTS = ["Dansk", "Læsning", "Matematik"]
SCHOOLS = ["Sundby Skole", "Amager Fælled Skole", "Lergravsparkens Skole",
           "Skolen på Amagerbro"]
ACTIVITIES = {  # name: weekdays it runs (0 = Monday), hours a session
    "Lektiecafé": ([0, 2], "2"),
    "Kvindenetværk": ([3], "2,5"),
    "Jobvejledning": ([1], "1,5"),
    "Sprogcafé": ([4], "2"),
    "Ungeklub": ([2, 4], "3"),
}
NEET_STATUSES = ("ledig", "andet")

FIRST_MALE = ["Mads", "Mikkel", "Emil", "Oliver", "Noah", "Ahmad", "Jonas",
              "Frederik", "Mohammed", "Lucas", "Ali", "Rasmus", "Kasper",
              "Yusuf", "Magnus", "Søren", "Bjørn", "Anders", "Omar", "Malthe",
              "Villads", "Hassan", "Christian", "Niels", "Torben", "Jørgen"]
FIRST_FEMALE = ["Emma", "Sofie", "Ida", "Freja", "Fatima", "Maja", "Laura",
                "Sara", "Amalie", "Aisha", "Clara", "Mathilde", "Zainab",
                "Nanna", "Signe", "Åse", "Karoline", "Mille", "Leyla", "Astrid",
                "Hanne", "Birgitte", "Mette", "Nour", "Asmaa", "Lone"]
MIDDLE = ["", "", "", "Marie ", "Louise ", "Bach ", "Skov ", "Juul ",
          "Kjær ", "Dam ", "Vestergaard "]
LAST = ["Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen",
        "Larsen", "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen",
        "Kristensen", "Olsen", "Thomsen", "Poulsen", "Johansen", "Møller",
        "Mortensen", "Hussein", "Yilmaz", "Khan", "Abdi", "Østergaard",
        "Ærenlund", "Kaya", "Nguyen", "Lund", "Holm", "Dahl", "Jama", "Celik"]
FLOORS = ["st. tv", "st. th", "1. tv", "1. th", "2. tv", "2. th", "3. tv",
          "3. th", "4. tv", "4. th", "5. mf"]
UNKNOWN_ADDRESSES = ["Amagerbrogade 412, 3. th", "Strandlodsvej 97, st. tv",
                     "Englandsvej 301, 2. th", "Holmbladsgade 188, 1. tv"]


def month_start(m):
    return dt.date(int(m[:4]), int(m[5:7]), 1)


def month_end(m):
    d = month_start(m)
    nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def next_month(m):
    y, mo = int(m[:4]), int(m[5:7])
    return "%04d-%02d" % (y + (mo == 12), mo % 12 + 1)


def month_back(m, n):
    i = int(m[:4]) * 12 + int(m[5:7]) - 1 - n
    return "%04d-%02d" % (i // 12, i % 12 + 1)


def age_at(ref, born):
    """Whole years at ref (as samspor's age rule and PostgreSQL's age())."""
    return ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))


def school_year_of(month):
    """'2025/26' for 2025-08 .. 2026-07."""
    d = month_start(month)
    y = d.year if d.month >= 8 else d.year - 1
    return "%d/%02d" % (y, (y + 1) % 100)


def fmt_dkk(x):
    """12345.5 -> '12.345,50' (decimal comma, dot thousands)."""
    s = "%.2f" % x
    whole, frac = s.split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return ".".join(groups) + "," + frac


def norm_cpr(s):
    return re.sub(r"[\s-]", "", s)


class Gen:
    def __init__(self, seed, areas_file, households):
        self.rnd = random.Random(seed)
        self.areas = {}  # area -> [address keys]
        self.lookup = {}  # case-folded key -> area
        for line in open(areas_file, encoding="utf-8"):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            k, v = line.split(";", 1)
            self.areas.setdefault(v, []).append(k)
            self.lookup[" ".join(k.casefold().split())] = v
        missing = set(AREA_WEIGHTS) - set(self.areas)
        if missing:
            sys.exit("gen_demo.py: areas %s not in %s" % (sorted(missing), areas_file))
        self.used_cpr = set()
        self.people = []
        self.households = []
        self.identifiers = []
        self.make_population(households)

    # ---- people -------------------------------------------------------

    def cpr_for(self, born, female):
        r = self.rnd
        while True:
            d7 = r.choice("0123") if born.year < 2000 else r.choice("456789")
            last2 = r.randrange(100)
            last = r.randrange(0, 10, 2) if female else r.randrange(1, 10, 2)
            cpr = "%02d%02d%02d%s%02d%d" % (born.day, born.month, born.year % 100,
                                           d7, last2, last)
            if cpr not in self.used_cpr:
                self.used_cpr.add(cpr)
                return cpr

    def person(self, born, female, last, address=None, area=None):
        r = self.rnd
        first = r.choice(FIRST_FEMALE if female else FIRST_MALE)
        name = "%s %s%s" % (first, r.choice(MIDDLE), last)
        p = {"cpr": self.cpr_for(born, female), "name": name, "born": born,
             "female": female, "address": address, "area": area}
        self.identifiers.append(("name", name))
        self.identifiers.append(("cpr", p["cpr"]))
        self.identifiers.append(("cpr", dashed(p["cpr"])))
        return p

    def birth(self, y0, y1):
        start = dt.date(y0, 1, 1).toordinal()
        return dt.date.fromordinal(self.rnd.randint(start, dt.date(y1, 12, 31).toordinal()))

    def make_population(self, n):
        r = self.rnd
        names = list(AREA_WEIGHTS)
        weights = [AREA_WEIGHTS[a] for a in names]
        for h in range(n):
            area = r.choices(names, weights)[0]
            address = "%s, %s" % (r.choice(self.areas[area]), r.choice(FLOORS))
            self.identifiers.append(("address", address))
            last = r.choice(LAST)
            members = []
            kind = r.random()
            if kind < 0.28:  # one adult
                members.append(self.person(self.birth(1945, 1996), r.random() < 0.55, last, address, area))
            elif kind < 0.40:  # a young adult on their own
                members.append(self.person(self.birth(1997, 2007), r.random() < 0.5, last, address, area))
            else:  # a family
                mother = self.person(self.birth(1968, 1998), True, last, address, area)
                members.append(mother)
                if r.random() < 0.6:
                    members.append(self.person(self.birth(mother["born"].year - 6, mother["born"].year + 4),
                                               False, last if r.random() < 0.7 else r.choice(LAST), address, area))
                for _ in range(r.choice([1, 1, 2, 2, 2, 3, 3, 4])):
                    y0 = max(mother["born"].year + 19, 1995)
                    y1 = min(mother["born"].year + 42, 2025)
                    if y0 > y1:
                        continue
                    members.append(self.person(self.birth(y0, y1), r.random() < 0.5, last, address, area))
            for p in members:
                # a stable disposition that drives the monthly states
                p["ability"] = r.gauss(-0.15, 0.8)
                p["held_back"] = r.random() < 0.05
                p["danish_need"] = r.random() < 0.3
            self.people.extend(members)
            self.households.append({"area": area, "address": address, "members": members})

    def fresh_person(self, born=None, female=None):
        """Someone in a bad row or a former tenant: not in the population."""
        r = self.rnd
        born = born or self.birth(1950, 2000)
        female = r.random() < 0.5 if female is None else female
        return self.person(born, female, r.choice(LAST))

    # ---- 1. Ungedatabasen -------------------------------------------------

    def youth(self):
        r = self.rnd
        rows = []
        for p in self.people:
            ages = [age_at(month_end(m), p["born"]) for m in MONTHS]
            if not any(15 <= a <= 29 for a in ages):
                continue
            state = None
            for i, m in enumerate(MONTHS):
                a = ages[i]
                if not 15 <= a <= 29:
                    continue
                # NEET falls slowly over the plan period (the plan works).
                trend = 1.0 - 0.012 * i
                if a < 18:
                    w = [85, 3, 5 * trend, 7 * trend]
                elif a < 25:
                    w = [45, 30, 15 * trend, 10 * trend]
                else:
                    w = [20, 55, 15 * trend, 10 * trend]
                if p["area"] == "Gyldenrisparken":
                    w[2] *= 0.6
                    w[3] *= 0.6
                if state is None or r.random() < 0.12:
                    state = r.choices(["uddannelse", "beskæftigelse", "ledig", "andet"], w)[0]
                benefit = ""
                if state == "ledig" and a >= 18:
                    benefit = fmt_dkk(r.randint(600000, 1300000) / 100)
                inst = {"uddannelse": r.choice(["Amager Gymnasium", "TEC", "FGU Amager", "KU"]),
                        "beskæftigelse": r.choice(["Supermarked A/S", "Københavns Kommune", "Lager I/S"]),
                        "ledig": "Ungecenter Amager", "andet": ""}[state]
                rows.append({"cpr": dashed(p["cpr"]), "navn": p["name"], "adresse": p["address"],
                             "postnr": "2300", "statusdato": month_end(m).strftime("%d-%m-%Y"),
                             "status": state, "institution": inst, "ydelse_kr": benefit,
                             "_date": month_end(m), "_month": m, "_bad": False})
        # deliberately bad rows
        for kind in ["cpr_date", "cpr_nine", "address", "number", "date", "cpr_date", "address", "date"]:
            q = self.fresh_person(self.birth(1998, 2008))
            m = r.choice(MONTHS)
            row = {"cpr": dashed(q["cpr"]), "navn": q["name"], "adresse": "%s, 1. th" % r.choice(self.areas["Urbanplanen"]),
                   "postnr": "2300", "statusdato": month_end(m).strftime("%d-%m-%Y"), "status": "ledig",
                   "institution": "", "ydelse_kr": "8.400,00", "_bad": kind}
            if kind == "cpr_date":
                row["cpr"] = "3002%02d-%s" % (r.randint(0, 9), q["cpr"][6:])  # 30 February
            elif kind == "cpr_nine":
                row["cpr"] = q["cpr"][1:]  # a leading zero lost in a spreadsheet
            elif kind == "address":
                row["adresse"] = r.choice(UNKNOWN_ADDRESSES)
                self.identifiers.append(("address", row["adresse"]))
            elif kind == "number":
                row["ydelse_kr"] = "ca. 8400"
            elif kind == "date":
                row["statusdato"] = "31-%02d-2025" % r.choice([4, 6, 9, 11])
            rows.append(row)
        r.shuffle(rows)
        rows.sort(key=lambda x: x.get("_date", dt.date(2026, 1, 1)))
        return rows

    # ---- 2. Skoler ---------------------------------------------------------

    def school(self):
        r = self.rnd
        rows = []
        for s in SCHOOL_YEARS:
            sy = "%d/%02d" % (s, (s + 1) % 100)
            for p in self.people:
                grade = s - p["born"].year - 6 - (1 if p["held_back"] else 0)
                if not 0 <= grade <= 9:
                    continue
                absence = round(max(0.0, r.gauss(6.5 + (2 if p["ability"] < -0.5 else 0), 4.0)), 1)
                school = r.choice(SCHOOLS)
                for subj in SUBJECTS:
                    if r.random() > 0.93:
                        continue  # absent on the test day
                    tdate = dt.date(s + 1, r.randint(2, 4), r.randint(1, 28))
                    result = round(p["ability"] + r.gauss(0, 0.5), 2)
                    rows.append({"CPR": p["cpr"], "Navn": p["name"], "Adresse": p["address"],
                                 "Skole": school, "Skoleaar": sy, "Klassetrin": str(grade), "Fag": subj,
                                 "Testdato": tdate.isoformat(), "Resultat": "%.2f" % result,
                                 "Fravaer": "%.1f" % absence, "_bad": False})
        for kind in ["cpr_date", "address", "number", "grade", "date", "cpr_date"]:
            q = self.fresh_person(self.birth(2012, 2017))
            row = {"CPR": q["cpr"], "Navn": q["name"], "Adresse": "%s, 2. tv" % r.choice(self.areas["Hørgården"]),
                   "Skole": SCHOOLS[0], "Skoleaar": "2024/25", "Klassetrin": "4", "Fag": "Dansk",
                   "Testdato": "2025-03-11", "Resultat": "-0.40", "Fravaer": "5.0", "_bad": kind}
            if kind == "cpr_date":
                row["CPR"] = "31%02d%s" % (r.choice([4, 6, 9, 11]), q["cpr"][4:])  # 31 April, ...
            elif kind == "address":
                row["Adresse"] = r.choice(UNKNOWN_ADDRESSES)
                self.identifiers.append(("address", row["Adresse"]))
            elif kind == "number":
                row["Resultat"] = "-0,4.1"
            elif kind == "grade":
                row["Klassetrin"] = "fjerde"
            elif kind == "date":
                row["Testdato"] = "2025-02-30"
            rows.append(row)
        r.shuffle(rows)
        return rows

    # ---- 3. Boligselskaber ---------------------------------------------------

    def housing(self):
        r = self.rnd
        tenancies, cases = [], []
        n = 0
        for h in self.households:
            adults = [p for p in h["members"] if age_at(dt.date(2026, 6, 30), p["born"]) >= 18]
            tenant = min(adults, key=lambda p: p["born"]) if adults else h["members"][0]
            adult = adult_from(tenant["born"])
            if r.random() < 0.33 or adult > dt.date(2022, 12, 31):
                move_in = dt.date.fromordinal(r.randint(max(adult, dt.date(2023, 1, 1)).toordinal(),
                                                        DATA_END.toordinal()))
                # the tenancy before it at the same address
                prev = self.fresh_person(self.birth(1940, 1985))
                p_in = dt.date.fromordinal(r.randint(max(adult_from(prev["born"]), dt.date(1995, 1, 1)).toordinal(),
                                                     (move_in - dt.timedelta(days=400)).toordinal()))
                p_out = move_in - dt.timedelta(days=r.randint(1, 60))
                n += 1
                tenancies.append(self.tenancy(n, prev, h["address"], r.randint(1, 5), p_in, p_out))
            else:
                move_in = dt.date.fromordinal(r.randint(max(adult, dt.date(1995, 1, 1)).toordinal(),
                                                        dt.date(2022, 12, 31).toordinal()))
            move_out = None
            if r.random() < 0.05:
                move_out = dt.date.fromordinal(r.randint(max(move_in, dt.date(2025, 1, 1)).toordinal() + 1,
                                                         DATA_END.toordinal() + 1))
                if move_out > DATA_END:
                    move_out = DATA_END
            n += 1
            t = self.tenancy(n, tenant, h["address"], len(h["members"]), move_in, move_out)
            tenancies.append(t)
        # rent-arrears cases: per tenancy and year it ran, now and then
        c = 0
        for t in tenancies:
            if t["_bad"]:
                continue
            mi = dt.date.fromisoformat(t["move_in"])
            mo = dt.date.fromisoformat(t["move_out"]) if t["move_out"] else DATA_END
            for y in (2023, 2024, 2025, 2026):
                lo = max(mi, dt.date(y, 1, 1))
                hi = min(mo, dt.date(y, 12, 31), DATA_END)
                if lo > hi or r.random() >= 0.07:
                    continue
                opened = dt.date.fromordinal(r.randint(lo.toordinal(), hi.toordinal()))
                ev = None
                if r.random() < 0.14:
                    ev = opened + dt.timedelta(days=r.randint(60, 200))
                    if ev > DATA_END:
                        ev = None
                c += 1
                cases.append({"case_id": "R-%d-%05d" % (y, c), "tenancy_id": t["tenancy_id"],
                              "tenant": dict(t["tenant"]), "unit": dict(t["unit"]),
                              "opened": opened.isoformat(), "amount_dkk": round(r.uniform(2500, 40000), 2),
                              "eviction_date": ev.isoformat() if ev else None,
                              "modified": opened.isoformat(), "_bad": False})
        for kind in ["cpr_date", "address", "date", "format", "missing", "cpr_nine"]:
            q = self.fresh_person()
            n += 1
            t = self.tenancy(n, q, "%s, st. th" % r.choice(self.areas["Remisevænget"]), 2,
                             dt.date(2024, 5, 1), None)
            t["_bad"] = kind
            if kind == "cpr_date":
                t["tenant"]["cpr"] = "2902%s-%s" % ("23", q["cpr"][6:])  # 29 February 2023/1923
            elif kind == "cpr_nine":
                t["tenant"]["cpr"] = q["cpr"][:9]
            elif kind == "address":
                t["unit"]["address"] = r.choice(UNKNOWN_ADDRESSES)
                self.identifiers.append(("address", t["unit"]["address"]))
            elif kind == "date":
                t["move_in"] = "2024-02-30"
            elif kind == "format":
                t["move_in"] = "01/05/2024"
            elif kind == "missing":
                t["move_in"] = None
            tenancies.append(t)
        for kind in ["cpr_date", "address", "number"]:
            q = self.fresh_person()
            c += 1
            case = {"case_id": "R-2025-%05d" % c, "tenancy_id": "AB-9%04d" % c,
                    "tenant": {"cpr": dashed(q["cpr"]), "name": q["name"]},
                    "unit": {"address": "%s, 3. tv" % r.choice(self.areas["Urbanplanen"]), "postal_code": "2300"},
                    "opened": "2025-06-02", "amount_dkk": 9100.0, "eviction_date": None,
                    "modified": "2025-06-02", "_bad": kind}
            if kind == "cpr_date":
                case["tenant"]["cpr"] = "0013%s" % q["cpr"][4:]  # month 13, day 00
            elif kind == "address":
                case["unit"]["address"] = r.choice(UNKNOWN_ADDRESSES)
                self.identifiers.append(("address", case["unit"]["address"]))
            elif kind == "number":
                case["amount_dkk"] = "9.100,00 kr"
            cases.append(case)
        r.shuffle(tenancies)
        r.shuffle(cases)
        return tenancies, cases

    def tenancy(self, n, tenant, address, size, move_in, move_out):
        return {"tenancy_id": "AB-%05d" % n,
                "tenant": {"cpr": dashed(tenant["cpr"]), "name": tenant["name"]},
                "unit": {"address": address, "postal_code": "2300"},
                "household_size": size,
                "move_in": move_in.isoformat(),
                "move_out": move_out.isoformat() if move_out else None,
                "modified": (move_out or move_in).isoformat(), "_bad": False}

    # ---- 4. Jobcenter --------------------------------------------------------

    def jobcenter(self):
        r = self.rnd
        rows = []
        benefits_young = ["uddannelseshjælp", "uddannelseshjælp", "kontanthjælp"]
        benefits = ["kontanthjælp", "kontanthjælp", "dagpenge", "sygedagpenge", "ressourceforløbsydelse"]
        self.jc_state = {}
        for p in self.people:
            state = None
            for i, m in enumerate(MONTHS):
                a = age_at(month_start(m), p["born"])
                if not 18 <= a <= 66:
                    continue
                if state is None:
                    w = [50, 10 if a < 30 else 3, 32, 15] if p["female"] else [58, 10 if a < 30 else 3, 24, 15]
                    state = r.choices(["work", "edu", "benefit", "other"], w)[0]
                    benefit = r.choice(benefits_young if a < 30 else benefits)
                else:
                    x = r.random()
                    if state == "benefit":
                        if x < 0.035:
                            state = "work"
                        elif x < 0.05:
                            state = "edu"
                    elif state == "work" and x < 0.012:
                        state = "benefit"
                        benefit = "dagpenge"
                    elif state == "edu" and x < 0.03:
                        state = r.choice(["work", "benefit"])
                    elif state == "other" and x < 0.01:
                        state = "benefit"
                on_benefit = state == "benefit"
                course = on_benefit and p["danish_need"] and r.random() < 0.5
                opd = dt.datetime(month_start(m).year, month_start(m).month, 1) + dt.timedelta(
                    days=r.randint(33, 40), seconds=r.randint(0, 86399))
                rows.append({"cpr": p["cpr"], "navn": p["name"], "adresse": p["address"],
                             "maaned": month_start(m).isoformat(),
                             "ydelse": benefit if on_benefit else None,
                             "ydelse_kr": "%.2f" % (r.randint(500000, 1500000) / 100) if on_benefit else None,
                             "beskaeftiget": state == "work", "i_uddannelse": state == "edu",
                             "danskuddannelse": course,
                             "opdateret": opd.strftime("%Y-%m-%d %H:%M:%S+00"),
                             "_month": m, "_bad": False})
                self.jc_state[(p["cpr"], m)] = state
        for kind in ["cpr_date", "address", "missing", "cpr_date", "address"]:
            q = self.fresh_person(self.birth(1970, 1995))
            row = {"cpr": q["cpr"], "navn": q["name"], "adresse": "%s, 4. th" % r.choice(self.areas["Hørgården"]),
                   "maaned": "2025-09-01", "ydelse": "kontanthjælp", "ydelse_kr": "11000.00",
                   "beskaeftiget": False, "i_uddannelse": False, "danskuddannelse": False,
                   "opdateret": "2025-10-05 03:00:00+00", "_bad": kind}
            if kind == "cpr_date":
                row["cpr"] = "3102%s" % q["cpr"][4:]  # 31 February
            elif kind == "address":
                row["adresse"] = r.choice(UNKNOWN_ADDRESSES)
                self.identifiers.append(("address", row["adresse"]))
            elif kind == "missing":
                row["beskaeftiget"] = None
            rows.append(row)
        r.shuffle(rows)
        return rows

    # ---- 5. Aktiviteter ------------------------------------------------------

    def activities(self, youth_rows, school_rows):
        r = self.rnd
        neet = {(norm_cpr(x["cpr"]), x["_month"]) for x in youth_rows
                if not x["_bad"] and x["status"] in NEET_STATUSES}
        behind = {(x["CPR"], x["Skoleaar"]) for x in school_rows
                  if not x["_bad"] and float(x["Resultat"]) < 0}
        rows = []
        for m in MONTHS:
            d0, d1 = month_start(m), month_end(m)
            days = [d0 + dt.timedelta(days=i) for i in range((d1 - d0).days + 1)]
            if m.endswith("-07"):
                continue  # summer break
            sy = school_year_of(m)
            for p in self.people:
                a = age_at(d0, p["born"])
                st = self.jc_state.get((p["cpr"], m))
                chances = {}
                if 6 <= a <= 16:
                    behind_now = (p["cpr"], sy) in behind or (p["cpr"], school_year_of(month_back(m, 12))) in behind
                    chances["Lektiecafé"] = 0.35 if behind_now else 0.07
                if 13 <= a <= 17:
                    chances["Ungeklub"] = 0.12
                if 18 <= a <= 29:
                    chances["Jobvejledning"] = 0.25 if (p["cpr"], m) in neet else 0.01
                elif 30 <= a <= 64 and st == "benefit":
                    chances["Jobvejledning"] = 0.05
                if p["female"] and 18 <= a <= 64:
                    chances["Kvindenetværk"] = 0.28 if st == "benefit" else 0.015
                if a >= 18 and p["danish_need"]:
                    chances["Sprogcafé"] = 0.15 if st == "benefit" else 0.03
                for act, pr in chances.items():
                    if r.random() >= pr:
                        continue
                    wd, hours = ACTIVITIES[act]
                    sessions = [d for d in days if d.weekday() in wd]
                    for d in sorted(r.sample(sessions, min(len(sessions), r.randint(1, 3)))):
                        rows.append({"cpr": dashed(p["cpr"]), "navn": p["name"], "adresse": p["address"],
                                     "aktivitet": act, "dato": d.isoformat(), "timer": hours,
                                     "_month": m, "_bad": False})
        for kind in ["cpr_date", "address", "date", "number", "cpr_nine", "date"]:
            q = self.fresh_person(self.birth(1980, 2010))
            row = {"cpr": dashed(q["cpr"]), "navn": q["name"], "adresse": "%s, 1. tv" % r.choice(self.areas["Urbanplanen"]),
                   "aktivitet": "Sprogcafé", "dato": "2025-11-14", "timer": "2", "_bad": kind}
            if kind == "cpr_date":
                row["cpr"] = "00%s" % dashed(q["cpr"])[2:]  # day 00
            elif kind == "cpr_nine":
                row["cpr"] = q["cpr"][1:]
            elif kind == "address":
                row["adresse"] = r.choice(UNKNOWN_ADDRESSES)
                self.identifiers.append(("address", row["adresse"]))
            elif kind == "date":
                row["dato"] = r.choice(["2025-13-05", "14.11.2025"])
            elif kind == "number":
                row["timer"] = "to"
            rows.append(row)
        rows.sort(key=lambda x: (x["dato"], x["aktivitet"], x["cpr"]))
        return rows


def adult_from(born):
    """The day someone turns 18."""
    try:
        return born.replace(year=born.year + 18)
    except ValueError:  # born 29 February
        return dt.date(born.year + 18, 3, 1)


def dashed(cpr):
    return cpr[:6] + "-" + cpr[6:]


# ---- writers ----------------------------------------------------------------

def write_csv(path, header, rows, encoding, newline):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding=encoding, newline="") as f:
        f.write(";".join(header) + newline)
        for row in rows:
            f.write(";".join(csv_field(row[h]) for h in header) + newline)
    os.replace(tmp, path)


def csv_field(v):
    v = "" if v is None else str(v)
    if any(c in v for c in ';"\r\n'):
        v = '"' + v.replace('"', '""') + '"'
    return v


def write_xml(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tags = ["CPR", "Navn", "Adresse", "Skole", "Skoleaar", "Klassetrin", "Fag", "Testdato", "Resultat", "Fravaer"]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<Testresultater udtraek="%s" kilde="Nationale test, elever i Amagerplanens boligafdelinger">\n'
                % DATA_END.isoformat())
        for row in rows:
            f.write("  <Testresultat>")
            for t in tags:
                f.write("<%s>%s</%s>" % (t, escape(row[t]), t))
            f.write("</Testresultat>\n")
        f.write("</Testresultater>\n")
    os.replace(tmp, path)


def copy_text(v):
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write_sql(path, rows):
    cols = ["cpr", "navn", "adresse", "maaned", "ydelse", "ydelse_kr", "beskaeftiget",
            "i_uddannelse", "danskuddannelse", "opdateret"]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("-- Jobcenter (synthetic): one row per adult resident and month.\n")
        f.write("SET client_min_messages = warning;\nBEGIN;\nDROP TABLE IF EXISTS borger_maaned;\n")
        f.write("CREATE TABLE borger_maaned (id bigint PRIMARY KEY, cpr text NOT NULL, navn text, adresse text,\n"
                "  maaned date NOT NULL, ydelse text, ydelse_kr numeric(10, 2), beskaeftiget boolean,\n"
                "  i_uddannelse boolean, danskuddannelse boolean, opdateret timestamptz NOT NULL);\n")
        f.write("COPY borger_maaned (id, %s) FROM stdin;\n" % ", ".join(cols))
        for i, row in enumerate(rows, 1):
            f.write("%d\t%s\n" % (i, "\t".join(copy_text(row[c]) for c in cols)))
        f.write("\\.\nCOMMIT;\nANALYZE borger_maaned;\n")
    os.replace(tmp, path)


def strip(rows):
    return [{k: v for k, v in x.items() if not k.startswith("_")} for x in rows]


# ---- the expected indicators, from the valid rows ---------------------------

def expected(g, youth, school, tenancies, cases, jc, acts):
    def area_of(address):
        key = re.match(r"^([^,]+)", address).group(1)
        return g.lookup[" ".join(key.casefold().split())]

    def born_of(cpr):
        c = norm_cpr(cpr)
        d, m, yy, d7 = int(c[:2]), int(c[2:4]), int(c[4:6]), int(c[6])
        if d7 <= 3:
            y = 1900 + yy
        elif d7 in (4, 9):
            y = 2000 + yy if yy <= 36 else 1900 + yy
        else:
            y = 2000 + yy if yy <= 57 else 1800 + yy
        return dt.date(y, m, d)

    def female(cpr):
        return int(norm_cpr(cpr)[-1]) % 2 == 0

    out = {}
    # neet
    cells = {}
    youth_neet = set()
    for x in youth:
        if x["_bad"]:
            continue
        d = dt.datetime.strptime(x["statusdato"], "%d-%m-%Y").date()
        if not 15 <= age_at(d, born_of(x["cpr"])) <= 29:
            continue
        k = (area_of(x["adresse"]), d.strftime("%Y-%m"))
        c = cells.setdefault(k, [set(), set()])
        c[0].add(norm_cpr(x["cpr"]))
        if x["status"] not in ("uddannelse", "beskæftigelse"):
            c[1].add(norm_cpr(x["cpr"]))
            youth_neet.add((norm_cpr(x["cpr"]), k[1]))
    out["neet"] = [{"area": k[0], "month": k[1], "young": len(v[0]), "neet": len(v[1])}
                   for k, v in sorted(cells.items())]
    # school
    cells = {}
    behind = set()
    for x in school:
        if x["_bad"] or not 0 <= int(x["Klassetrin"]) <= 9:
            continue
        k = (area_of(x["Adresse"]), x["Skoleaar"], x["Klassetrin"], x["Fag"])
        c = cells.setdefault(k, [set(), set(), Decimal(0)])
        c[0].add(norm_cpr(x["CPR"]))
        if Decimal(x["Resultat"]) < 0:
            c[1].add(norm_cpr(x["CPR"]))
            behind.add((norm_cpr(x["CPR"]), x["Skoleaar"]))
        c[2] += Decimal(x["Fravaer"])
    out["school"] = [{"area": k[0], "school_year": k[1], "grade": k[2], "subject": k[3],
                      "pupils": len(v[0]), "below_average": len(v[1]), "absence_sum": str(v[2])}
                     for k, v in sorted(cells.items())]
    # women
    jc_ok = [x for x in jc if not x["_bad"]]
    state = {(x["cpr"], x["maaned"][:7]): x for x in jc_ok}
    act_month = {(norm_cpr(x["cpr"]), x["dato"][:7]) for x in acts if not x["_bad"]}
    cells = {}
    women_target = set()
    for x in jc_ok:
        m = x["maaned"][:7]
        if not (female(x["cpr"]) and 18 <= age_at(month_start(m), born_of(x["cpr"])) <= 64
                and not x["beskaeftiget"] and x["ydelse"] is not None):
            continue
        women_target.add((x["cpr"], m))
        k = (area_of(x["adresse"]), m)
        c = cells.setdefault(k, [set(), set(), set()])
        c[0].add(x["cpr"])
        if (x["cpr"], m) in act_month:
            c[1].add(x["cpr"])
        n = state.get((x["cpr"], next_month(m)))
        if n is not None and (n["beskaeftiget"] or n["i_uddannelse"]):
            c[2].add(x["cpr"])
    out["women"] = [{"area": k[0], "month": k[1], "women": len(v[0]), "in_activities": len(v[1]),
                     "into_work_or_education": len(v[2])} for k, v in sorted(cells.items())]
    # housing
    ten = [t for t in tenancies if not t["_bad"]]
    cas = [c for c in cases if not c["_bad"]]
    last = max(max(max(t["move_in"], t["move_out"] or t["move_in"]) for t in ten)[:4],
               max(c["opened"] for c in cas)[:4])
    years = range(2023, int(last) + 1)
    areas = sorted({area_of(t["unit"]["address"]) for t in ten} | {area_of(c["unit"]["address"]) for c in cas})
    rows = []
    for a in areas:
        for y in years:
            lo, hi = "%d-01-01" % y, "%d-12-31" % y
            ta = [t for t in ten if area_of(t["unit"]["address"]) == a]
            ca = [c for c in cas if area_of(c["unit"]["address"]) == a]
            rows.append({
                "area": a, "year": str(y),
                "residents": sum(t["household_size"] for t in ta
                                 if t["move_in"] <= hi and (t["move_out"] is None or t["move_out"] >= lo)),
                "moves_in": sum(1 for t in ta if t["move_in"][:4] == str(y)),
                "moves_out": sum(1 for t in ta if t["move_out"] and t["move_out"][:4] == str(y)),
                "arrears": len({c["tenancy_id"] for c in ca if c["opened"][:4] == str(y)}),
                "evictions": sum(1 for c in ca if c["eviction_date"] and c["eviction_date"][:4] == str(y)),
            })
    out["housing"] = rows
    # activities
    cells = {}
    for x in acts:
        if x["_bad"]:
            continue
        m = x["dato"][:7]
        p = norm_cpr(x["cpr"])
        k = (x["aktivitet"], area_of(x["adresse"]), m)
        c = cells.setdefault(k, [set(), set(), set(), set()])
        c[0].add(p)
        if (p, m) in youth_neet:
            c[1].add(p)
        if (p, m) in women_target:
            c[2].add(p)
        if (p, school_year_of(m)) in behind or (p, school_year_of(month_back(m, 12))) in behind:
            c[3].add(p)
    out["activities"] = [{"activity": k[0], "area": k[1], "month": k[2], "participants": len(v[0]),
                          "young_neet": len(v[1]), "women_target": len(v[2]), "children_behind": len(v[3])}
                         for k, v in sorted(cells.items())]
    return out


def oldest_retained(youth, cases, jc, acts):
    """The oldest value of a retention column (status_date, opened, month,
    activity_date) among the rows written; a malformed value is a reject,
    never loaded, so it does not count."""
    def parse(v, fmt):
        try:
            return dt.datetime.strptime(v[:10], fmt).date()
        except (TypeError, ValueError):
            return None
    dates = [parse(x.get("statusdato"), "%d-%m-%Y") for x in youth]
    dates += [parse(x.get("opened"), "%Y-%m-%d") for x in cases]
    dates += [parse(x.get("maaned"), "%Y-%m-%d") for x in jc]
    dates += [parse(x.get("dato"), "%Y-%m-%d") for x in acts]
    return min(d for d in dates if d)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--areas", default=os.path.join(here, "..", "..", "config", "amagerplanen-areas.csv"))
    ap.add_argument("--households", type=int, default=1150)
    ap.add_argument("--expected")
    ap.add_argument("--identifiers")
    a = ap.parse_args()

    g = Gen(a.seed, a.areas, a.households)
    youth = g.youth()
    school = g.school()
    tenancies, cases = g.housing()
    jc = g.jobcenter()
    acts = g.activities(youth, school)

    out = a.out
    write_csv(os.path.join(out, "incoming", "ungedatabasen", "unge_2026-10.csv"),
              ["cpr", "navn", "adresse", "postnr", "statusdato", "status", "institution", "ydelse_kr"],
              youth, "windows-1252", "\r\n")
    write_xml(os.path.join(out, "incoming", "skoler", "testresultater_2026-10.xml"), school)
    write_csv(os.path.join(out, "incoming", "aktiviteter", "aktiviteter_2026-10.csv"),
              ["cpr", "navn", "adresse", "aktivitet", "dato", "timer"], acts, "utf-8", "\n")
    os.makedirs(os.path.join(out, "rest"), exist_ok=True)
    with open(os.path.join(out, "rest", "export.json.tmp"), "w", encoding="utf-8") as f:
        json.dump({"tenancies": strip(tenancies), "arrears_cases": strip(cases)}, f,
                  ensure_ascii=False, indent=0)
    os.replace(os.path.join(out, "rest", "export.json.tmp"), os.path.join(out, "rest", "export.json"))
    write_sql(os.path.join(out, "jobcenter.sql"), jc)
    # The data are fixed months; demo.sh widens the reference's retention so
    # that none of them ages out, whatever day the demo runs.
    with open(os.path.join(out, "oldest-date"), "w", encoding="utf-8") as f:
        f.write(oldest_retained(youth, cases, jc, acts).isoformat() + "\n")

    if a.expected:
        with open(a.expected, "w", encoding="utf-8") as f:
            json.dump(expected(g, youth, school, tenancies, cases, jc, acts), f, ensure_ascii=False, indent=1)
    if a.identifiers:
        with open(a.identifiers, "w", encoding="utf-8") as f:
            for kind, v in sorted(set(g.identifiers)):
                f.write("%s\t%s\n" % (kind, v))
    bad = lambda rows: sum(1 for x in rows if x["_bad"])
    print("people %d in %d households; rows (bad): ungedatabasen %d (%d), skoler %d (%d), "
          "tenancies %d (%d), arrears cases %d (%d), jobcenter %d (%d), aktiviteter %d (%d)"
          % (len(g.people), len(g.households), len(youth), bad(youth), len(school), bad(school),
             len(tenancies), bad(tenancies), len(cases), bad(cases), len(jc), bad(jc), len(acts), bad(acts)))


if __name__ == "__main__":
    main()
