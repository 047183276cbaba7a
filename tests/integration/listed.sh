#!/usr/bin/env bash
# tests/integration/listed.sh: every integration test file is a test that make check
# runs.  Makefile.am lists them one by one (so that make check reports each);
# a new tests/integration/test_*.sh missing from that list would never run.
# Run by tests/integration/run.sh with SP_LISTED_TESTS (the list) and SRC_DIR.
set -euo pipefail
missing=0
for f in "$SRC_DIR"/tests/integration/test_*.sh; do
	name=tests/integration/${f##*/}
	case " ${SP_LISTED_TESTS} " in
	*" $name "*) ;;
	*)
		echo "not ok - $name is not in INTEGRATION_TESTS of Makefile.am"
		missing=$((missing + 1))
		;;
	esac
done
if ((missing)); then
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "ok - every tests/integration/test_*.sh is listed in Makefile.am"
echo "1 passed, 0 failed, 0 skipped"
