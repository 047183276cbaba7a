#!/usr/bin/env bash
# The Debian package, as an administrator gets it: debian/ built with
# dpkg-buildpackage -us -uc -b from a clean copy of the tree (the tracked
# files only), installed with apt-get install ./samspor_*.deb, used as the
# samspor user on the installed example configuration, and purged.
#
# Needs root (it installs a package system-wide) and dpkg-buildpackage with
# debhelper; it refuses to touch a samspor package that was installed
# before it ran, and leaves the machine as it found it (the package, the
# samspor user and /var/lib/samspor are removed again when it created
# them).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TRIPLET=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
PKG=$SP_WORK/pkg
# What was there before: only what this file created is removed.
HAD_USER=$(getent passwd samspor >/dev/null && echo 1 || true)
HAD_STATE=$([[ -e /var/lib/samspor ]] && echo 1 || true)
HAD_PACKAGE=$(dpkg-query -W -f='${Status}' samspor 2>/dev/null | grep -q 'ok installed' && echo 1 || true)

# why_not: why this machine cannot run these tests (empty when it can).
why_not() {
	if [[ $(id -u) != 0 ]]; then
		echo "not root: installing a package needs root"
	elif ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
		echo "no dpkg-buildpackage or debhelper (apt-get install dpkg-dev debhelper)"
	elif [[ -n $HAD_PACKAGE ]]; then
		echo "a samspor package is installed already; not replacing it"
	elif ! git -C "$SP_SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
		echo "$SP_SRCDIR is not a git clone: no list of its clean files"
	fi
}
WHY_NOT=$(why_not)

# The installed binary, as the samspor user, without the build tree's
# plugin directory or configuration that the harness exports.
as_samspor() { runuser -u samspor -- env -u SAMSPOR_PLUGIN_DIR -u SAMSPOR_CONFIG "$@"; }

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }

cleanup() {
	[[ -z $WHY_NOT ]] || return 0
	if dpkg-query -W -f='${Status}' samspor 2>/dev/null | grep -q 'ok installed' ||
		dpkg-query -W -f='${Status}' samspor-dev 2>/dev/null | grep -q 'ok installed'; then
		apt_get purge -y samspor samspor-dev >/dev/null 2>&1 || true
	fi
	[[ -n $HAD_STATE ]] || rm -rf /var/lib/samspor
	if [[ -z $HAD_USER ]] && getent passwd samspor >/dev/null; then
		userdel samspor 2>/dev/null || true
		getent group samspor >/dev/null && groupdel samspor 2>/dev/null || true
	fi
}
at_exit cleanup

# Build once for the file: the tracked files of the source tree (as they are
# in the work tree), copied to a directory of their own, so nothing of a
# build or a configured tree gets in.  The package build runs no tests
# (debian/rules), so this takes about a minute.
BUILD_RC=skipped
if [[ -z $WHY_NOT ]]; then
	mkdir -p "$PKG/samspor"
	# apt's _apt user reads the .deb from here.
	chmod 755 "$SP_WORK" "$PKG"
	git -C "$SP_SRCDIR" ls-files -z | (cd "$SP_SRCDIR" && tar --null -T - -cf -) | tar -C "$PKG/samspor" -xf -
	BUILD_RC=0
	(cd "$PKG/samspor" && timeout -k 10 240 dpkg-buildpackage -us -uc -b) >"$PKG/build.log" 2>&1 || BUILD_RC=$?
fi

built() {
	[[ -z $WHY_NOT ]] || t_skip "$WHY_NOT"
	[[ $BUILD_RC == 0 ]] || fail "dpkg-buildpackage exited $BUILD_RC: $(tail -n 8 "$PKG/build.log" | tr '\n' ' ')"
}

installed() {
	built
	[[ -f $SP_WORK/installed ]] || fail "the package was not installed (see test_apt_installs_the_package)"
}

test_package_holds_what_it_should() {
	built
	local deb dev
	deb=$(echo "$PKG"/samspor_*.deb)
	dev=$(echo "$PKG"/samspor-dev_*.deb)
	assert_file "$deb" "the samspor package"
	assert_file "$dev" "the samspor-dev package"
	local files
	files=$(dpkg-deb -c "$deb" | awk '{ print $NF }')$'\n'
	for f in ./usr/bin/samspor \
		"./usr/lib/$TRIPLET/samspor/plugins/csv.so" "./usr/lib/$TRIPLET/samspor/plugins/xml.so" \
		"./usr/lib/$TRIPLET/samspor/plugins/rest.so" "./usr/lib/$TRIPLET/samspor/plugins/pgsql.so" \
		./usr/share/man/man1/samspor.1.gz ./usr/share/doc/samspor/examples/samspor.conf.example \
		./usr/share/doc/samspor/examples/areas.example.csv ./lib/systemd/system/samspor.service \
		./usr/lib/sysusers.d/samspor.conf ./usr/lib/tmpfiles.d/samspor.conf ./etc/samspor/; do
		assert_contains "$files" "$f"$'\n' "samspor has $f"
	done
	assert_not_contains "$files" ".la"$'\n' "no libtool archives"
	assert_not_contains "$files" "/usr/include" "the header is in samspor-dev only"
	assert_contains "$(dpkg-deb -c "$dev")" "./usr/include/samspor/samspor-plugin.h" "samspor-dev has the plugin header"
	# The unit names the installed binary, not contrib's /usr/local/bin.
	dpkg-deb -x "$deb" "$T/x"
	assert_contains "$(cat "$T/x/lib/systemd/system/samspor.service")" $'\nExecStart=/usr/bin/samspor run\n' "ExecStart is the package's binary"
	assert_contains "$(cat "$T/x/usr/lib/sysusers.d/samspor.conf")" 'u samspor ' "a sysusers.d entry for samspor"
	assert_contains "$(cat "$T/x/usr/lib/tmpfiles.d/samspor.conf")" 'd /var/lib/samspor 0750 samspor samspor' "a tmpfiles.d entry for the state dir"
	# The binary looks for its plugins where the package puts them.
	assert_contains "$(grep -a -o "/usr/lib/$TRIPLET/samspor/plugins" "$T/x/usr/bin/samspor" | head -n 1)" \
		"/usr/lib/$TRIPLET/samspor/plugins" "the compiled-in plugin directory"
	# Debian's own checks of the control data.
	assert_exit 0 dpkg-deb -I "$deb"
	assert_match "$OUT" 'Depends: [^'$'\n'']*systemd' "depends on systemd (sysusers)"
}

test_apt_installs_the_package() {
	built
	(cd "$PKG" && apt_get install -y --no-install-recommends ./samspor_*.deb ./samspor-dev_*.deb) >"$T/apt.log" 2>&1 ||
		{ apt_get update >>"$T/apt.log" 2>&1 &&
			(cd "$PKG" && apt_get install -y --no-install-recommends ./samspor_*.deb ./samspor-dev_*.deb) >>"$T/apt.log" 2>&1; } ||
		fail "apt-get install failed: $(tail -n 8 "$T/apt.log" | tr '\n' ' ')"
	touch "$SP_WORK/installed"
	assert_eq "$(dpkg-query -W -f='${Status}' samspor)" "install ok installed" "samspor installed"
	assert_eq "$(getent passwd samspor | cut -d: -f6,7)" "/var/lib/samspor:/usr/sbin/nologin" "the samspor system user"
	[[ $(id -u samspor) -lt 1000 ]] || fail "samspor is not a system user (uid $(id -u samspor))"
	assert_eq "$(stat -c '%U:%G %a' /var/lib/samspor)" "samspor:samspor 750" "the state directory"
	assert_file /usr/include/samspor/samspor-plugin.h "the header installed"
	assert_exit 0 man -w samspor
}

test_check_runs_as_samspor_on_the_example() {
	installed
	local ex=/usr/share/doc/samspor/examples/samspor.conf.example
	assert_exit 2 as_samspor samspor -c "$ex" check
	assert_contains "$ERR" "samspor keygen /var/lib/samspor/pseudonym.key" "says how to create the key"
	# The walkthrough's step: the key, made by the samspor user in its
	# state directory.
	assert_exit 0 as_samspor samspor keygen /var/lib/samspor/pseudonym.key
	assert_eq "$(stat -c '%U %a' /var/lib/samspor/pseudonym.key)" "samspor 600" "the key is the samspor user's alone"
	assert_exit 0 as_samspor samspor -c "$ex" check
	assert_contains "$OUT" "plugins (/usr/lib/$TRIPLET/samspor/plugins): csv" "the installed plugins"
	assert_contains "$OUT" "configuration is valid" "the example is valid"
}

test_purge_removes_it() {
	installed
	assert_exit 0 apt_get purge -y samspor samspor-dev
	rm -f "$SP_WORK/installed"
	assert_eq "$(dpkg-query -W -f='${Status}' samspor 2>/dev/null || echo gone)" "gone" "no trace in dpkg"
	for f in /usr/bin/samspor "/usr/lib/$TRIPLET/samspor" /usr/share/doc/samspor /usr/share/man/man1/samspor.1.gz \
		/lib/systemd/system/samspor.service /usr/lib/sysusers.d/samspor.conf /usr/lib/tmpfiles.d/samspor.conf \
		/usr/include/samspor /etc/samspor; do
		assert_no_file "$f" "purged"
	done
	# The key is never deleted by a purge: without it the warehouse's
	# pseudonyms can never be linked to new data.
	assert_file /var/lib/samspor/pseudonym.key "the key survives the purge"
	assert_contains "$OUT$ERR" "/var/lib/samspor kept" "the purge says why the state dir stays"
}

run_tests
