#!/usr/bin/env python3
"""measure.py CMD [ARG...] — run CMD with its output discarded and print
"SECONDS PEAK_RSS_KIB EXIT_STATUS" (wall clock, the kernel's rusage of the
child).  Shared by the benchmarks of contrib/bench/."""
import resource
import subprocess
import sys
import time

t0 = time.monotonic()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{dt:.3f} {rss} {rc}")
