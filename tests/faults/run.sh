#!/usr/bin/env bash
# tests/faults/run.sh: run the fault tier.
#
#   tests/faults/run.sh [FILE...]
#
# Runs every tests/faults/test_*.sh (or the FILEs given) through
# tests/integration/run.sh: the same environment (BUILD_DIR, SAMSPOR,
# SAMSPOR_PLUGIN_DIR, SP_FILE_TIMEOUT), the same per-file time limit, the
# same closing "N passed, N failed, N skipped", under the summary line
# "== faults summary".  A fault file may take 420 s (SP_FILE_TIMEOUT): it
# loads several large exports, on a machine contrib/test.sh keeps busy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if (($# == 0)); then
	set -- "$here"/test_*.sh
fi
export SP_FILE_TIMEOUT=${SP_FILE_TIMEOUT:-420}
SP_SUITE=faults exec "$here/../integration/run.sh" "$@"
