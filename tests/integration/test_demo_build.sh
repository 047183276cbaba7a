#!/usr/bin/env bash
# contrib/demo.sh's build step, in copies of the tree: a source tree that
# the README's own ./configure && make configured in place is used as it is
# (configure refuses a second, out-of-tree build of it), and every way the
# build step can fail says what failed and what to do: the demo never
# exits non-zero without a message.  The copies hold only what the build
# step reads, with a stub Makefile: nothing is compiled.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# tree DIR: a copy of the source tree's scripts, configured in place (its
# config.status), not built.
tree() {
	mkdir -p "$1/contrib" "$1/core" "$1/plugins"
	cp "$SP_SRCDIR/contrib/demo.sh" "$1/contrib/"
	# The real configure when the tree has one (it is what refused the
	# out-of-tree build); else the demo would run autogen.sh.
	[[ -x $SP_SRCDIR/configure ]] && cp "$SP_SRCDIR/configure" "$1/"
	touch "$1/config.status"
}

# demo DEMO_DIR TREE: run TREE's contrib/demo.sh with DEMO_DIR; it must fail.
demo() {
	assert_exit 1 env -u SAMSPOR_DEMO_BUILD SAMSPOR_NO_APT=1 SAMSPOR_DEMO_QUIET=1 TMPDIR="$T" \
		SAMSPOR_DEMO_DIR="$1" bash "$2/contrib/demo.sh"
}

test_in_tree_build_is_used() {
	tree "$T/src"
	# The README's ./configure && make left a Makefile and a samspor there.
	printf 'all:\n\t@echo made >made.txt\n' >"$T/src/Makefile"
	ln -s "$SAMSPOR" "$T/src/samspor"
	mkdir -p "$T/src/plugins"
	ln -s "$SAMSPOR_PLUGIN_DIR" "$T/src/plugins/.libs"
	# A demo dir that cannot be made stops the demo right after the build:
	# the failure of a plain command is named too.
	touch "$T/notadir"
	demo "$T/notadir/demo" "$T/src"
	assert_contains "$OUT" "using the build in the source tree $T/src" "uses the in-tree build"
	assert_not_contains "$OUT" "build-demo" "no second build"
	assert_file "$T/src/made.txt" "make ran in the source tree"
	assert_no_file "$T/src/build-demo" "no build-demo"
	assert_contains "$ERR" "demo: stopped: " "the failing command is named"
	assert_contains "$ERR" "(contrib/demo.sh line " "with its line"
}

test_failed_in_tree_make_is_shown() {
	tree "$T/src"
	printf 'all:\n\t@echo "core/sync.c:1: error: something broke" >&2; exit 3\n' >"$T/src/Makefile"
	demo "$T/demo" "$T/src"
	assert_contains "$ERR" "demo: make in $T/src failed (exit 2)" "names the failed step"
	assert_contains "$ERR" "core/sync.c:1: error: something broke" "shows the compiler's words"
	assert_contains "$ERR" "(all of it in $T/samspor-demo-build." "keeps the whole log, and says where"
	assert_no_file "$T/demo" "stops before the demo starts"
}

test_configured_but_no_makefile_says_what_to_do() {
	tree "$T/src"
	demo "$T/demo" "$T/src"
	assert_contains "$ERR" "is configured in place" "says why"
	assert_contains "$ERR" "cd $T/src && ./configure && make" "says what to do"
}

run_tests
