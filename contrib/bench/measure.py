#!/usr/bin/env python3
"""measure.py [--stderr FILE] CMD [ARG...] — run CMD with its output
discarded (its stderr kept in FILE when given) and print "SECONDS
PEAK_RSS_KIB EXIT_STATUS" (wall clock, the kernel's rusage of the child).
Shared by the benchmarks of contrib/bench/."""
import resource
import subprocess
import sys
import time

args = sys.argv[1:]
err = subprocess.DEVNULL
if len(args) >= 2 and args[0] == "--stderr":
    err = open(args[1], "wb")
    args = args[2:]

t0 = time.monotonic()
rc = subprocess.call(args, stdout=subprocess.DEVNULL, stderr=err)
dt = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{dt:.3f} {rss} {rc}")
