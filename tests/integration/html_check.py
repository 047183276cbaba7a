#!/usr/bin/env python3
"""Check that an HTML page samspor wrote is well-formed and self-contained.

    html_check.py FILE [--need TAG,TAG...] [--svg N] [--no-bridged-gaps]
                       [--csv N]

Prints what is wrong ("; "-separated, nothing when all is well) and exits 1
when anything is: an unbalanced or unclosed element, an external reference
(src=, an href that is neither a #fragment nor a CSV file in a data: URL,
any http(s):// or url(), a script, @import, javascript:), a data: CSV that
is not percent-encoded UTF-8 with a byte order mark or has rows of
different lengths, other than N such links (--csv), a TAG of --need missing, a number of <svg> other
than N, or (--no-bridged-gaps) a chart line drawn across a missing point:
every segment of a <path> in a <g class="series"> must join neighbouring
times, the x step being the smallest distance between two of its points.
"""
import argparse
import re
import sys
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "link", "input"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.csv = [], [], {}, []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for k, v in attrs:
            v = v or ""
            if k == "href" and v.startswith("data:text/csv;charset=utf-8,"):
                self.csv.append(v)
            elif k == "src" or (k == "href" and not v.startswith("#")):
                self.errors.append("external reference %s=%s" % (k, v[:80]))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unbalanced </%s> (open: %s)" % (tag, self.stack[-3:]))
        else:
            self.stack.pop()


def bridged_gaps(text):
    errors = []
    for svg in re.findall(r"<svg.*?</svg>", text, re.S):
        series = "".join(re.findall(r'<g class="series">.*?</g>', svg, re.S))
        xs = sorted({float(x) for x in re.findall(r'<circle cx="([0-9.]+)"', series)})
        if len(xs) < 2:
            continue
        step = min(b - a for a, b in zip(xs, xs[1:]))
        for d in re.findall(r'<path d="([^"]+)"', series):
            for sub in re.split(r"\s*M\s*", d):
                pts = [float(v) for v in re.findall(r"([0-9.]+) [0-9.]+", sub)]
                for a, b in zip(pts, pts[1:]):
                    if abs((b - a) - step) > 0.2:
                        errors.append("a line spans %.1f (step %.1f): bridges a gap" % (b - a, step))
    return errors


def check_csv(url):
    import csv, io, urllib.parse
    body = url.split(",", 1)[1]
    if re.search(r"[^A-Za-z0-9%._~-]", body):
        return "a data: URL that is not percent-encoded"
    try:
        text = urllib.parse.unquote_to_bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return "a CSV that is not UTF-8"
    if not text.startswith("\ufeff"):
        return "a CSV without a byte order mark"
    text = text[1:]
    sep = ";" if text.split("\r\n", 1)[0].count(";") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    if len(rows) < 2 or len({len(r) for r in rows}) != 1:
        return "a CSV with rows of different lengths"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--need", default="html,head,style,body")
    ap.add_argument("--svg", type=int)
    ap.add_argument("--no-bridged-gaps", action="store_true")
    ap.add_argument("--csv", type=int)
    a = ap.parse_args()
    try:
        text = open(a.file, "rb").read().decode("utf-8")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s" % e)
        sys.exit(1)
    p = Page()
    p.feed(text)
    p.close()
    if p.stack:
        p.errors.append("unclosed: %s" % p.stack)
    low = text.lower()
    for bad in ("http://", "https://", "src=", "url(", "<script", "@import", "javascript:"):
        if bad in low:
            p.errors.append("found %r" % bad)
    for need in filter(None, a.need.split(",")):
        if need not in p.tags:
            p.errors.append("no <%s>" % need)
    if a.svg is not None and p.tags.get("svg", 0) != a.svg:
        p.errors.append("%d <svg>, expected %d" % (p.tags.get("svg", 0), a.svg))
    for url in p.csv:
        why = check_csv(url)
        if why:
            p.errors.append(why)
    if a.csv is not None and len(p.csv) != a.csv:
        p.errors.append("%d CSV links, expected %d" % (len(p.csv), a.csv))
    if a.no_bridged_gaps:
        p.errors += bridged_gaps(text)
    if p.errors:
        print("; ".join(p.errors[:5]))
        sys.exit(1)


main()
