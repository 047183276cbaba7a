#!/usr/bin/env python3
"""variants.py BASE OUTDIR [--seed S] — the inputs of bench_sync.sh's runs
from one gen_csv.py export (Windows-1252, ';', CRLF):

  danish.csv   the export with its status and institution values turned
               into realistic (synthetic) Danish phrases, as a real
               Ungedatabase extract carries them; every run loads this file
  reexport.csv the same rows in another order (a re-export, not the
               identical file)
  changed.csv  1% of the rows with a changed amount, 0.5% new rows (a
               person's status on a date after the export's range), 0.5%
               vanished, shuffled

Deterministic for a given seed. Holds the export in memory (about 1 GiB of
Python strings at 5M rows); it is not part of any timed run.
"""

import csv
import random
import sys

PHRASES = {
    "uddannelse": [
        "Påbegyndt erhvervsuddannelse (EUD), grundforløb 1",
        "I gang med ungdomsuddannelse – gymnasial (STX/HF)",
        "Optaget på videregående uddannelse, professionsbachelor",
        "Forberedende grunduddannelse (FGU), almen grunduddannelse",
        "Elev i lærepraktik med uddannelsesaftale",
        "Danskuddannelse for voksne udlændinge, modul 3",
    ],
    "beskæftigelse": [
        "Ordinær beskæftigelse på fuld tid",
        "Ordinær beskæftigelse på deltid (under 15 timer ugentligt)",
        "Ansat i fleksjob hos offentlig arbejdsgiver",
        "Løntilskud, privat virksomhed",
        "Selvstændig erhvervsdrivende (enkeltmandsvirksomhed)",
    ],
    "ledig": [
        "Modtager af uddannelseshjælp, åbenlyst uddannelsesparat",
        "Modtager af uddannelseshjælp, aktivitetsparat",
        "Ledig, dagpengemodtager under 30 år",
        "Kontanthjælp, jobparat – i virksomhedspraktik",
    ],
    "andet": [
        "Ingen registreret aktivitet i perioden",
        "Udrejst af Danmark (midlertidigt)",
        "Barsel eller forældreorlov",
        "Sygemeldt med sygedagpenge, opfølgning hos jobcenter",
    ],
}
INSTITUTIONS = [
    "Københavns Kommune, Beskæftigelses- og Integrationsforvaltningen",
    "Jobcenter København, Ungeindsatsen Amager",
    "TEC – Teknisk Erhvervsskole Center, afdeling Amager",
    "Københavns Professionshøjskole, Campus Sigurdsgade",
    "FGU Hovedstaden, skoleafdeling Amager Vest",
    "Ørestad Gymnasium",
    "Supermarked Nord A/S, butik Amagerbrogade",
    "",
]


def main(argv):
    base, out = argv[0], argv[1]
    seed = int(argv[3]) if len(argv) > 3 and argv[2] == "--seed" else 7
    rng = random.Random(seed)
    with open(base, encoding="windows-1252", newline="") as f:
        rd = csv.reader(f, delimiter=";")
        header = next(rd)
        rows = []
        for fields in rd:
            if len(fields) == 8 and fields[4] in PHRASES:
                fields[4] = rng.choice(PHRASES[fields[4]])
                fields[6] = rng.choice(INSTITUTIONS)
            rows.append(fields)

    def write(name, rs):
        with open("%s/%s" % (out, name), "w", encoding="windows-1252",
                  newline="") as f:
            w = csv.writer(f, delimiter=";", lineterminator="\r\n")
            w.writerow(header)
            w.writerows(rs)

    write("danish.csv", rows)
    order = list(range(len(rows)))
    rng.shuffle(order)
    write("reexport.csv", (rows[i] for i in order))
    n = len(rows)
    picks = rng.sample(range(n), n // 50)  # 2%: 1% changed, 0.5% new, 0.5% gone
    changed = set(picks[: n // 100])
    new = picks[n // 100: n // 100 + n // 200]
    gone = set(picks[n // 100 + n // 200:])
    result = []
    for i, r in enumerate(rows):
        if i in gone:
            continue
        if i in changed and len(r) == 8:
            r = list(r)
            r[7] = "%d,%02d" % (rng.randrange(1000, 20000), rng.randrange(100))
        result.append(r)
    for i in new:
        r = list(rows[i])
        if len(r) == 8:
            d, m, y = r[5].split("-")
            r[5] = "%s-%s-%d" % (d if (d, m) != ("29", "02") else "28", m,
                                 int(y) + 4)
        result.append(r)
    rng.shuffle(result)
    write("changed.csv", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
