#!/usr/bin/env bash
# The samspor command line and configuration, through the real binary:
# help and usage, exit codes, check on valid and broken configurations
# (every error with its line, all of them in one run), secrets, the plugin
# ABI check with deliberately mismatched plugins, keygen, pseudonym,
# schedule, plugins, man.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A minimal valid configuration in $T/samspor.conf; extra text is appended
# inside the connector's stream columns via $1 (optional).
write_conf() {
	mkdir -p "$T/in"
	cat >"$T/samspor.conf" <<-EOF
		warehouse: { conninfo = "host=/nonexistent dbname=warehouse"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = (
		  {
		    name = "unge";
		    plugin = "csv";
		    schedule = "30 2 * * *";
		    source = { url = "$T/in/unge_*.csv"; delimiter = ";"; };
		    streams = (
		      { table = "youth_status";
		        mode = "incremental_dedup";
		        key = ["person", "status_date"];
		        columns = (
		          { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		          { name = "status"; from = "status"; type = "text"; },
		          { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; }
		        ); }
		    );
		  }
		);
	EOF
}

test_version() {
	assert_exit 0 "$SAMSPOR" version
	assert_contains "$OUT" "plugin ABI 2" "version names the ABI"
	assert_contains "$OUT" "libsodium" "version names libraries"
}

test_help() {
	assert_exit 0 "$SAMSPOR" --help
	assert_contains "$OUT" "check [--connect]" "help lists check"
	assert_contains "$OUT" "Exit status" "help explains exit status"
	for cmd in check sync run status trigger reload keygen pseudonym forget schedule plugins docs version; do
		assert_exit 0 "$SAMSPOR" "$cmd" --help
		assert_contains "$OUT" "usage: samspor" "$cmd --help shows usage"
	done
}

test_help_command() {
	assert_exit 0 "$SAMSPOR" sync --help
	local direct=$OUT
	assert_exit 0 "$SAMSPOR" help sync
	assert_eq "$OUT" "$direct" "help sync is sync --help"
	assert_exit 0 "$SAMSPOR" help
	assert_contains "$OUT" "Commands:" "help alone lists the commands"
	assert_exit 2 "$SAMSPOR" help sycn
	assert_contains "$ERR" "did you mean 'sync'" "help of a misspelt command"
}

test_did_you_mean() {
	assert_exit 2 "$SAMSPOR" sycn
	assert_contains "$ERR" "unknown command 'sycn'; did you mean 'sync'?" "transposition"
	assert_exit 2 "$SAMSPOR" stauts
	assert_contains "$ERR" "did you mean 'status'?" "status"
	assert_exit 2 "$SAMSPOR" chek
	assert_contains "$ERR" "did you mean 'check'?" "a letter left out"
	assert_exit 2 "$SAMSPOR" frobnicate
	assert_not_contains "$ERR" "did you mean" "no guess for another word"
}

# Every help text, the list and each command's, fits an 80-column terminal.
test_help_width() {
	assert_exit 0 "$SAMSPOR" --help
	local long cmds cmd
	long=$(awk 'length > 80' <<<"$OUT")
	assert_eq "$long" "" "samspor --help within 80 columns"
	cmds=$(sed -n '/^Commands:/,/^$/p' <<<"$OUT" | awk '/^  [a-z]/ {print $1}')
	assert_contains "$cmds" "completion" "commands read from the list"
	for cmd in $cmds; do
		assert_exit 0 "$SAMSPOR" "$cmd" --help
		long=$(awk 'length > 80' <<<"$OUT")
		assert_eq "$long" "" "$cmd --help within 80 columns"
	done
}

# The bash completion script, sourced in a real bash, completes commands,
# each command's options and file arguments.
test_bash_completion() {
	assert_exit 0 "$SAMSPOR" completion bash
	printf '%s\n' "$OUT" >"$T/samspor.bash"
	touch "$T/key.new"
	complete_words() {
		bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _samspor; printf "%s\n" "${COMPREPLY[@]}"' _ "$T/samspor.bash" "$@"
	}
	local r
	r=$(complete_words samspor sy)
	assert_eq "$r" "sync" "command completed"
	r=$(complete_words samspor check --c)
	assert_contains "$r" "--connect" "check's option"
	r=$(complete_words samspor -c x.conf rekey --new)
	assert_eq "$r" "--new-key" "option after -c FILE"
	r=$(complete_words samspor rekey --new-key "$T/key.n")
	assert_eq "$r" "$T/key.new" "a FILE argument completes files"
	r=$(complete_words samspor help ch)
	assert_eq "$r" "check" "help completes commands"
	assert_exit 2 "$SAMSPOR" completion zsh
	assert_contains "$ERR" "only bash" "unknown shell"
}

test_usage_errors() {
	assert_exit 2 "$SAMSPOR"
	assert_exit 2 "$SAMSPOR" frobnicate
	assert_contains "$ERR" "unknown command 'frobnicate'" "unknown command named"
	assert_exit 2 "$SAMSPOR" check --bogus
	assert_contains "$ERR" "unknown option --bogus" "unknown option named"
	assert_contains "$ERR" "see 'samspor check --help'" "points to the command's help"
	# Options and operands in any order.
	assert_exit 0 "$SAMSPOR" schedule -n 1 "0 3 * * *" --from 2027-06-01T00:00:00+02:00
	assert_eq "$OUT" "2027-06-01T03:00:00+02:00" "option before and after the operand"
	assert_exit 2 "$SAMSPOR" keygen
	assert_exit 2 "$SAMSPOR" trigger
}

test_docs_help_and_usage() {
	assert_exit 0 "$SAMSPOR" docs --help
	assert_contains "$OUT" "usage: samspor [-c FILE] docs [--html] [-o FILE]" "docs --help shows usage"
	assert_contains "$OUT" "--html" "docs --help explains --html"
	assert_exit 2 "$SAMSPOR" docs --bogus
	assert_exit 2 "$SAMSPOR" docs extra
	# Without a reachable warehouse: a temporary failure, nothing written.
	write_conf
	assert_exit 75 "$SAMSPOR" -c "$T/samspor.conf" docs -o "$T/dict.md"
	assert_no_file "$T/dict.md"
}

test_check_valid() {
	write_conf
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	assert_exit 0 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$OUT" "unge (plugin csv" "summary names connector and plugin"
	assert_contains "$OUT" "schedule: 30 2 * * *" "summary shows schedule"
	assert_contains "$OUT" "next run 20" "summary shows next run"
	assert_contains "$OUT" "warehouse.youth_status (incremental_dedup; key person, status_date" "summary shows target table"
	assert_contains "$OUT" "key id" "summary shows key id"
	assert_contains "$OUT" "configuration is valid" "says valid"
}

test_free_text_must_be_kept_explicitly() {
	write_conf
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	assert_exit 0 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "column 'status' of stream 'youth_status' of connector 'unge' keeps free text without saying so" "implicit free text warned"
	assert_contains "$OUT" "WITHOUT rule = \"keep\"" "summary marks it"
	sed -i 's/from = "status"; type = "text"/from = "status"; rule = "keep"; type = "text"/' "$T/samspor.conf"
	assert_exit 0 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_not_contains "$ERR" "keeps free text" "explicit keep not warned"
	assert_contains "$OUT" "free text: can hold names; kept as rule = \"keep\" says" "summary still says free text can hold names"
}

test_check_example_config() {
	# Meant for another machine: its key and files are not here.
	assert_exit 2 "$SAMSPOR" check -c "$SP_SRCDIR/config/samspor.conf.example"
	assert_match "$ERR" "error: samspor.conf.example:[0-9]+: .*samspor keygen" "missing key is an error, with its line"
	assert_exit 0 "$SAMSPOR" check --offline -c "$SP_SRCDIR/config/samspor.conf.example"
	assert_contains "$ERR" "samspor keygen" "missing key explained as a warning with --offline"
}

# check passing means sync will run: what the plugin and sync refuse,
# check refuses, each at its file:line; a missing map or CA is an error
# (a warning with --offline); any single-character delimiter is taken.
test_check_refuses_what_sync_would() {
	write_conf
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	sed -i 's/delimiter = ";";/delimiter = "|";/' "$T/samspor.conf"
	assert_exit 0 "$SAMSPOR" check -c "$T/samspor.conf"
	sed -i 's/delimiter = "|";/delimiter = "||";/' "$T/samspor.conf"
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "samspor.conf:8: csv: delimiter must be one ASCII character" "bad delimiter at its line"
	sed -i 's/delimiter = "||";/delimiter = "|";\n\t\t\t\tquote = "|";/' "$T/samspor.conf"
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "samspor.conf:9: csv: quote must be" "quote equal to the delimiter, at the quote's line"
	write_conf
	sed -i 's|delimiter = ";";|delimiter = ";"; ca_file = "nope.pem";|' "$T/samspor.conf"
	printf 'maps: { areas = { file = "areas-typo.csv"; }; };\n' >>"$T/samspor.conf"
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_match "$ERR" "error: samspor.conf:8: ca_file of source of connector 'unge': .*nope.pem: No such file" "missing CA"
	assert_match "$ERR" "error: samspor.conf:21: file of 'areas': .*areas-typo.csv: No such file" "misspelt map path"
	assert_not_contains "$OUT" "configuration is valid" "not called valid"
	assert_exit 0 "$SAMSPOR" check --offline -c "$T/samspor.conf"
	assert_match "$ERR" "warning: samspor.conf:21: file of 'areas': .*not checked: --offline" "--offline: a warning"
}

test_check_misspelt_option() {
	write_conf
	sed -i 's/delimiter = ";"/delimter = ";"/' "$T/samspor.conf"
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "samspor.conf:8: unknown option 'delimter' in source of connector 'unge'; valid options: url" "misspelt option with line and valid options"
	assert_contains "$ERR" "delimiter" "valid options listed"
}

test_check_reports_all_errors() {
	mkdir -p "$T/in"
	cat >"$T/samspor.conf" <<-EOF
		warehouse: { conninfo = "dbname=w"; password = "hunter2"; };
		pseudonym: { key_file = "$T/key"; };
		daemon: { max_parallel = "two"; };
		connectors = (
		  { name = "a"; plugin = "csv"; timeout = "soon";
		    source = { url = "$T/in/x.csv"; };
		    streams = ( { table = "t1"; key = ["nope"];
		      columns = ( { name = "c"; rule = "keep"; type = "text"; } ); } ); },
		  { name = "a"; plugin = "nosuch"; source = { }; streams = ( { table = "t2";
		      columns = ( { name = "c"; from = "c"; type = "text"; } ); } ); },
		  { name = "b"; plugin = "csv"; schedule = "61 * * * *"; source = { url = "x"; };
		    streams = ( { table = "t3"; mode = "sometimes";
		      columns = ( { name = "p"; from = "p"; rule = "pseudonym"; } ); } ); }
		);
	EOF
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "samspor.conf:1: secret 'password' written inline" "inline secret"
	assert_not_contains "$ERR" "hunter2" "secret value never shown"
	assert_contains "$ERR" "samspor.conf:3: option 'max_parallel'" "wrong type"
	assert_contains "$ERR" "samspor.conf:5: option 'timeout' in connector 'a': 'soon' is not a duration" "bad duration"
	assert_contains "$ERR" "missing required option 'from' (string) in column 'c'" "missing from"
	assert_contains "$ERR" "key column 'nope' of stream 't1' is not one of its columns" "bad key"
	assert_contains "$ERR" "two connectors are named 'a'" "duplicate connector"
	assert_contains "$ERR" "unknown plugin 'nosuch' in connector 'a'; plugins in" "unknown plugin"
	assert_contains "$ERR" "schedule '61 * * * *' of connector 'b'" "bad schedule"
	assert_contains "$ERR" "'sometimes' is not one of full_refresh|append|incremental_dedup" "bad mode"
	assert_contains "$ERR" "rule pseudonym needs kind" "pseudonym without kind"
	assert_contains "$ERR" "10 errors" "all errors counted in one run"
}

test_check_syntax_error() {
	printf 'warehouse: { conninfo = "x" }\nconnectors = ( ;\n' >"$T/bad.conf"
	assert_exit 2 "$SAMSPOR" check -c "$T/bad.conf"
	assert_match "$ERR" "bad.conf:[0-9]+: syntax error" "syntax error with line"
	assert_not_contains "$ERR" "syntax error: syntax error" "libconfig's text said once"
}

test_check_missing_file() {
	assert_exit 2 "$SAMSPOR" check -c "$T/none.conf"
	assert_contains "$ERR" "cannot read configuration" "missing file named"
}

test_secret_file_permissions() {
	write_conf
	printf 's3cret\n' >"$T/pw"
	chmod 644 "$T/pw"
	sed -i "s|dbname=warehouse\";|dbname=warehouse\"; password_file = \"$T/pw\";|" "$T/samspor.conf"
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "readable by group or others" "group-readable secret refused"
	assert_contains "$ERR" "chmod 600" "fix explained"
	chmod 600 "$T/pw"
	assert_exit 0 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_not_contains "$OUT$ERR" "s3cret" "secret never printed"
}

test_password_in_conninfo_refused() {
	write_conf
	sed -i 's|dbname=warehouse|dbname=warehouse password=hunter2|' "$T/samspor.conf"
	assert_exit 2 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "conninfo holds a password" "inline password refused"
	assert_not_contains "$ERR" "hunter2" "password not echoed"
}

# The ABI check: a plugin of a newer or an older ABI version (built for
# version 1, before option offsets) and one with a descriptor of another
# size are refused by name; csv keeps working beside them.
test_mismatched_plugins_refused() {
	local bad=${SAMSPOR_TEST_PLUGIN_DIR:-$BUILD_DIR/tests/plugins/.libs}
	[[ -f $bad/badabi.so ]] || fail "badabi.so not built in $bad"
	mkdir -p "$T/plugins"
	[[ -f $bad/oldabi.so ]] || fail "oldabi.so not built in $bad"
	cp "$SAMSPOR_PLUGIN_DIR/csv.so" "$bad/badabi.so" "$bad/badsize.so" "$bad/oldabi.so" "$T/plugins/"
	SAMSPOR_PLUGIN_DIR=$T/plugins assert_exit 0 "$SAMSPOR" plugins
	assert_contains "$OUT" "csv" "csv still listed"
	assert_contains "$ERR" "badabi.so: plugin ABI version is 3, this samspor expects 2" "ABI version mismatch named"
	assert_contains "$ERR" "oldabi.so: plugin ABI version is 1, this samspor expects 2" "old ABI plugin refused"
	assert_match "$ERR" "badsize.so: plugin descriptor size is [0-9]+ bytes, this samspor expects [0-9]+" "size mismatch named"
	# A plugin built before `discover` was added at the end still loads.
	cp "$bad/oldsize.so" "$T/plugins/"
	SAMSPOR_PLUGIN_DIR=$T/plugins assert_exit 0 "$SAMSPOR" plugins old
	assert_contains "$OUT" "old 0" "descriptor without discover accepted"
	assert_not_contains "$ERR" "oldsize.so" "not refused"
	SAMSPOR_PLUGIN_DIR=$T/plugins assert_exit 2 "$SAMSPOR" discover --plugin old x
	assert_contains "$ERR" "plugin old cannot list the fields" "no discover in an old plugin"
	rm "$T/plugins/oldsize.so"
	write_conf
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	SAMSPOR_PLUGIN_DIR=$T/plugins assert_exit 0 "$SAMSPOR" check -c "$T/samspor.conf"
	assert_contains "$ERR" "plugin refused" "check warns about refused plugins"
	# A file that is not a plugin at all.
	printf 'not an elf' >"$T/plugins/junk.so"
	SAMSPOR_PLUGIN_DIR=$T/plugins assert_exit 0 "$SAMSPOR" plugins
	assert_contains "$ERR" "junk.so: cannot load" "junk refused"
}

test_plugin_exports_one_symbol() {
	local syms so
	for so in csv xml rest pgsql; do
		syms=$(nm -D --defined-only "$SAMSPOR_PLUGIN_DIR/$so.so" | awk '{print $3}' | grep -v '^_' || true)
		assert_eq "$syms" "samspor_plugin_descriptor" "$so.so exports exactly one symbol"
	done
}

test_plugins_lists_options() {
	assert_exit 0 "$SAMSPOR" plugins csv
	assert_contains "$OUT" "source options" "source options listed"
	assert_contains "$OUT" "url  (file path; required)" "url documented"
	assert_contains "$OUT" "encoding" "encoding documented"
	assert_exit 2 "$SAMSPOR" plugins nosuch
}

test_keygen() {
	assert_exit 0 "$SAMSPOR" keygen "$T/k1"
	assert_eq "$(stat -c %a "$T/k1")" "600" "key mode 0600"
	assert_eq "$(stat -c %s "$T/k1")" "32" "key is 32 bytes"
	assert_contains "$ERR" "key id" "key id printed"
	local before
	before=$(sha256sum <"$T/k1")
	assert_exit 2 "$SAMSPOR" keygen "$T/k1"
	assert_contains "$ERR" "exists" "refuses to overwrite"
	assert_eq "$(sha256sum <"$T/k1")" "$before" "old key untouched"
}

# SPEC's test vector through the command: key bytes 0x00..0x1f.
test_pseudonym_vector() {
	write_conf
	python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(32)))' >"$T/key"
	chmod 600 "$T/key"
	assert_exit 0 bash -c "printf '010100-1234\n0101001234\nnot-a-cpr\n' | '$SAMSPOR' -c '$T/samspor.conf' pseudonym --kind cpr"
	assert_eq "$OUT" "0711d47e-3a14-35b6-ef8b-dd30b026688d
0711d47e-3a14-35b6-ef8b-dd30b026688d
invalid" "test vector, normalisation, invalid"
	assert_exit 2 "$SAMSPOR" -c "$T/samspor.conf" pseudonym
	assert_contains "$ERR" "--kind" "kind required"
	chmod 644 "$T/key"
	assert_exit 2 bash -c "echo 010100-1234 | '$SAMSPOR' -c '$T/samspor.conf' pseudonym --kind cpr"
	assert_contains "$ERR" "chmod 600" "group-readable key refused"
}

test_schedule_command() {
	assert_exit 0 "$SAMSPOR" schedule "30 2 * * *" --tz Europe/Copenhagen --from 2027-03-27T12:00:00+01:00 -n 2
	assert_eq "$OUT" "2027-03-28T03:00:00+02:00
2027-03-29T02:30:00+02:00" "spring-forward gap runs at its end"
	assert_exit 0 "$SAMSPOR" schedule @nightly --from 2027-10-30T12:00:00+02:00 -n 1
	assert_eq "$OUT" "2027-10-31T03:30:00+01:00" "@nightly"
	assert_exit 2 "$SAMSPOR" schedule "61 * * * *"
	assert_contains "$ERR" "out of range" "bad expression explained"
	assert_exit 2 "$SAMSPOR" schedule "@daily" --tz Mars/Olympus
}

test_man_page() {
	assert_exit 0 "$SAMSPOR" -c /dev/null man
	assert_contains "$OUT" ".TH SAMSPOR 1" "roff header"
	assert_contains "$OUT" "key_file" "core options in man page"
	assert_contains "$OUT" "Plugin csv" "plugin options in man page"
	assert_contains "$OUT" ".SH EXAMPLES" "examples"
	assert_contains "$OUT" ".nh" "hyphenation off"
	# Every minus sign is \- (typed as printed), outside comments.
	local bare
	bare=$(grep -v '^\.\\"' <<<"$OUT" | grep -n '[^\\]-\|^-' || true)
	assert_eq "$bare" "" "no bare hyphen in the man page"
	if command -v groff >/dev/null; then
		printf '%s\n' "$OUT" >"$T/samspor.1"
		local warn
		warn=$(groff -man -ww -z "$T/samspor.1" 2>&1)
		assert_eq "$warn" "" "groff has no warning"
	fi
}

test_logging_levels() {
	write_conf
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	# sync against an unreachable warehouse logs an error line in logfmt.
	assert_exit 75 "$SAMSPOR" -c "$T/samspor.conf" sync
	assert_match "$ERR" "ts=[0-9-]+T[0-9:.]+Z level=error" "logfmt line with UTC time"
	sed -i 's/^pseudonym:/log: { format = "json"; };\npseudonym:/' "$T/samspor.conf"
	assert_exit 75 "$SAMSPOR" -c "$T/samspor.conf" sync
	assert_contains "$ERR" '{"ts":"' "json log line"
	assert_contains "$ERR" '"level":"error"' "json level"
}

run_tests
