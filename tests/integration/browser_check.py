#!/usr/bin/env python3
"""Render a report page in a real headless browser (Debian's chromium) and
check its layout.

    browser_check.py PAGE --width 1280 [--width 1920] --shots DIR

For each width: a test-only copy of the page gets a small script that
opens every <details>, measures, and writes the measurements into the DOM
(<pre id="sp-measure">), which `chromium --dump-dom` prints; the page
itself stays script-free.  Then a full-page screenshot of the page itself
is kept in DIR (PAGE-WIDTH.png).  Prints what is wrong ("; "-separated,
nothing when all is well) and exits 1 when anything is:

  - a table box (.data) scrolls sideways (scrollWidth > clientWidth), or a
    table reaches past the page's right edge;
  - a table cell (td) wraps onto a second line ("2025-/01");
  - a chart (svg) is not visible: no size, hidden, or past the right edge.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

PROBE = r"""<script>
(function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var vw = document.documentElement.clientWidth, out = {vw: vw, boxes: [], tables: [], cells: [], svgs: []};
  document.querySelectorAll('.data').forEach(function (b, i) {
    out.boxes.push({i: i, sw: b.scrollWidth, cw: b.clientWidth});
  });
  document.querySelectorAll('table').forEach(function (t, i) {
    var r = t.getBoundingClientRect();
    out.tables.push({i: i, right: r.right, width: r.width});
  });
  document.querySelectorAll('td').forEach(function (td) {
    if (td.closest('.full') && !td.nextElementSibling) return; // the reason may wrap
    var range = document.createRange();
    range.selectNodeContents(td);
    var tops = {};
    Array.prototype.forEach.call(range.getClientRects(), function (r) {
      if (r.width > 0) tops[Math.round(r.top)] = 1;
    });
    if (Object.keys(tops).length > 1) out.cells.push(td.textContent);
  });
  document.querySelectorAll('svg').forEach(function (s, i) {
    var r = s.getBoundingClientRect(), st = getComputedStyle(s);
    out.svgs.push({i: i, w: r.width, h: r.height, right: r.right,
                   shown: st.display !== 'none' && st.visibility !== 'hidden'});
  });
  out.height = document.documentElement.scrollHeight;
  var pre = document.createElement('pre');
  pre.id = 'sp-measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser, args, timeout=120):
    base = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--hide-scrollbars", "--no-first-run", "--disable-extensions",
            "--disable-dev-shm-usage", "--virtual-time-budget=5000"]
    # Its own profile: nothing of another run, nothing left behind.
    with tempfile.TemporaryDirectory() as prof:
        return subprocess.run(base + ["--user-data-dir=" + prof] + args,
                              capture_output=True, timeout=timeout)


def measure(browser, page, width):
    html = open(page, encoding="utf-8").read()
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.html")
        with open(probe, "w", encoding="utf-8") as f:
            f.write(html.replace("</body>", PROBE + "</body>", 1))
        r = run(browser, ["--window-size=%d,1000" % width, "--dump-dom",
                          "file://" + probe])
    m = re.search(r'<pre id="sp-measure">(.*?)</pre>', r.stdout.decode("utf-8", "replace"), re.S)
    if not m:
        raise SystemExit("chromium wrote no measurements (exit %d): %s"
                         % (r.returncode, r.stderr.decode("utf-8", "replace")[-400:]))
    import html as h
    return json.loads(h.unescape(m.group(1)))


def problems(m, width):
    errs = []
    vw = m["vw"]
    for b in m["boxes"]:
        if b["sw"] > b["cw"] + 1:
            errs.append("%dpx: table box %d scrolls sideways (%d > %d)" % (width, b["i"], b["sw"], b["cw"]))
    for t in m["tables"]:
        if t["right"] > vw + 1:
            errs.append("%dpx: table %d reaches %.0f, past the page (%d)" % (width, t["i"], t["right"], vw))
    for c in m["cells"][:3]:
        errs.append("%dpx: a cell wraps: %r" % (width, c))
    if not m["svgs"]:
        errs.append("%dpx: no chart" % width)
    for s in m["svgs"]:
        if not s["shown"] or s["w"] < 100 or s["h"] < 50:
            errs.append("%dpx: chart %d not visible (%.0fx%.0f)" % (width, s["i"], s["w"], s["h"]))
        elif s["right"] > vw + 1:
            errs.append("%dpx: chart %d reaches %.0f, past the page (%d)" % (width, s["i"], s["right"], vw))
    return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("page")
    ap.add_argument("--width", type=int, action="append", required=True)
    ap.add_argument("--shots", required=True)
    a = ap.parse_args()
    browser = chromium()
    if not browser:
        print("no chromium")
        sys.exit(2)
    os.makedirs(a.shots, exist_ok=True)
    errs = []
    stem = os.path.splitext(os.path.basename(a.page))[0]
    for w in a.width:
        m = measure(browser, a.page, w)
        errs += problems(m, w)
        shot = os.path.join(a.shots, "%s-%d.png" % (stem, w))
        height = max(600, min(int(m.get("height", 1000)), 16000))
        run(browser, ["--window-size=%d,%d" % (w, height), "--screenshot=" + shot,
                      "file://" + os.path.abspath(a.page)])
        if not os.path.exists(shot) or os.path.getsize(shot) < 1000:
            errs.append("%dpx: no screenshot" % w)
    if errs:
        print("; ".join(errs[:8]))
        sys.exit(1)


main()
