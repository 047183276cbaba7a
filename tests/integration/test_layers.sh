#!/usr/bin/env bash
# The core's layering (README, "Code layout"): every include goes to the
# same layer or one below, no module includes another around a circle, and
# the check itself catches a breach (a copy of the core with an include
# upwards and a circle added).  Plugins use no core (sp_) name: their
# shared helpers are spp_, their own carry the plugin's prefix.  No
# PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LAYERS=$SP_SRCDIR/contrib/dev/layers.py

test_core_is_layered() {
	assert_exit 0 python3 "$LAYERS" "$SP_SRCDIR/core"
	assert_match "$OUT" ' 0 breaches$' "no breach"
}

test_a_breach_is_caught() {
	cp -r "$SP_SRCDIR/core" "$T/core"
	# base including a header of the daemon layer, and a circle in model
	printf '#include "daemon/daemon.h"\n' >>"$T/core/base/util.c"
	printf '#include "model/rules.h"\n' >>"$T/core/model/cpr.c"
	printf '#include "util.h"\n' >>"$T/core/model/key.c"
	assert_exit 1 python3 "$LAYERS" "$T/core"
	assert_contains "$OUT" "base/util.c: includes daemon/daemon.h, a layer above" "upwards"
	assert_contains "$OUT" "include circle:" "the circle"
	assert_contains "$OUT" 'model/key.c: include "util.h" without its layer folder' "a bare include"
}

test_a_core_name_in_a_plugin_is_caught() {
	cp -r "$SP_SRCDIR/core" "$T/core"
	cp -r "$SP_SRCDIR/plugins" "$T/plugins"
	printf 'int sp_helper(void);\n' >>"$T/plugins/common/loaded.h"
	printf '#define SP_LIMIT 3\n' >>"$T/plugins/csv/csv_parse.h"
	assert_exit 1 python3 "$LAYERS" "$T/core" "$T/plugins"
	assert_contains "$OUT" "plugins/common/loaded.h:" "the file and line"
	assert_contains "$OUT" "sp_helper is a core name" "a function"
	assert_contains "$OUT" "SP_LIMIT is a core name" "a macro"
	assert_match "$OUT" ' 2 breaches$' "nothing else"
}

run_tests
