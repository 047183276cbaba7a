#!/usr/bin/env python3
"""contrib/dev/layers.py [CORE_DIR [PLUGINS_DIR]] — check the core's layering.

The core is grouped in folders by layer; a file may include headers of its
own layer and of the layers below, never above, and no two modules (a .c
and its .h) may include each other, directly or around a circle.  Core
headers are included with their folder ("store/schema.h"), so the
direction is visible in every include line.  A name tells which side of
the plugin ABI it lives on: no sp_/SP_ (core) name in the plugins, whose
shared helpers are spp_/SPP_ and whose own helpers carry the plugin's
prefix.  Prints each breach and exits 1 when there is one.
"""
import os, re, sys

ORDER = ["base", "model", "store", "partner", "load", "daemon", "cmd"]
# Headers outside the layers: the plugin ABI (below everything), the
# generated config.h, and the helpers shared with the plugins.
OUTSIDE = {"samspor-plugin.h", "config.h", "pgconn.h"}

core = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "core")
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
errors = []
edges = {}
for layer in ORDER:
    d = os.path.join(core, layer)
    for name in sorted(os.listdir(d)):
        if not name.endswith((".c", ".h")):
            continue
        mod = "%s/%s" % (layer, name[:-2])
        for target in inc.findall(open(os.path.join(d, name), encoding="utf-8").read()):
            if target in OUTSIDE:
                continue
            if "/" not in target:
                errors.append("%s/%s: include \"%s\" without its layer folder" % (layer, name, target))
                continue
            tl, tmod = target.split("/", 1)
            if tl not in ORDER or not os.path.exists(os.path.join(core, target)):
                errors.append("%s/%s: include \"%s\": no such core header" % (layer, name, target))
                continue
            if ORDER.index(tl) > ORDER.index(layer):
                errors.append("%s/%s: includes %s, a layer above (%s > %s)" % (layer, name, target, tl, layer))
            tmod = "%s/%s" % (tl, tmod[:-2])
            if tmod != mod:
                edges.setdefault(mod, set()).add(tmod)
for f in sorted(os.listdir(core)):
    if f.endswith((".c", ".h")) and f not in OUTSIDE:
        errors.append("%s: a core file outside the layer folders" % f)

# plugins (PLUGINS_DIR, by default beside the core): no core names
plugins = sys.argv[2] if len(sys.argv) > 2 else os.path.join(core, "..", "plugins")
core_name = re.compile(r"\b(?:sp|SP)_[A-Za-z0-9_]+")
if os.path.isdir(plugins):
    for d, _, names in sorted(os.walk(plugins)):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            shown = os.path.relpath(path, os.path.join(plugins, ".."))
            for no, line in enumerate(open(path, encoding="utf-8"), 1):
                for m in core_name.findall(line):
                    errors.append("%s:%d: %s is a core name (plugin helpers are spp_ or the plugin's own)"
                                  % (shown, no, m))

# circles between modules
state = {}
def visit(m, path):
    state[m] = 1
    for n in sorted(edges.get(m, ())):
        if state.get(n) == 1:
            errors.append("include circle: " + " -> ".join(path[path.index(n):] + [n]) if n in path else n)
        elif not state.get(n):
            visit(n, path + [n])
    state[m] = 2
for m in sorted(edges):
    if not state.get(m):
        visit(m, [m])

for e in errors:
    print(e)
print("%d modules, %d include edges, %d breaches" % (len({m for m in edges} | {n for v in edges.values() for n in v}),
                                                      sum(len(v) for v in edges.values()), len(errors)))
sys.exit(1 if errors else 0)
