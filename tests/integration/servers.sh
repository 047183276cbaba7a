# shellcheck shell=bash
# tests/integration/servers.sh: the remote sources of the integration tests,
# real servers on 127.0.0.1 that a test file starts and that are always
# stopped again (sourced after lib.sh and certs.sh).
#
#   https_start DIR [--client-cert]
#       A python3 (standard library) HTTPS server serving the files of DIR,
#       with a test CA made by make_certs; --client-cert makes it require a
#       client certificate signed by that CA.  Fault injection through
#       DIR/.faults ("PATH STATUS [N] [RETRY_AFTER]" a line; see
#       https_server.py).  Exports HTTPS_PORT, HTTPS_CA (the CA file),
#       HTTPS_CERTS (the make_certs dir: client.pem, client.key,
#       other-ca.pem), HTTPS_LOG (one JSON object a request) and HTTPS_PID.
#
#   sftp_start DIR
#       An OpenSSH sshd on 127.0.0.1 in the foreground (-D), with a host key
#       made for it, allowing one user and only SFTP (ForceCommand
#       internal-sftp).  The user is samspor-sftp (created when missing)
#       when the tests run as root, else the current user.  Exports
#       SFTP_PORT, SFTP_USER, SFTP_KEY (its ed25519 private key),
#       SFTP_KNOWN_HOSTS (a known_hosts file: "[127.0.0.1]:PORT key"),
#       SFTP_PASSWORD (the user's password, set with chpasswd; empty when not
#       root, where password login cannot be arranged), SFTP_LOG, SFTP_PID.
#       Files in DIR are served at their absolute path:
#       sftp://127.0.0.1:$SFTP_PORT$DIR/name.  DIR and the dirs above it up
#       to the file's work dir are made traversable (o+x) for that user.
#
# Each server is stopped when the shell that started it (the test file, or
# the test when called inside one) exits, fails or is killed: by at_exit,
# and after a kill -9 of that shell by the server itself (https_server.py
# watches its owner) or by a watchdog (sshd), as lib.sh does for PostgreSQL.

# _sp_free_port: prints a TCP port of 127.0.0.1 free right now.
_sp_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# _sp_port_open PORT: true once something accepts connections on PORT.
_sp_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# _sp_srv_stop PID: stop a server this file started (TERM, then KILL).
_sp_srv_stop() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# _sp_srv_watchdog PID [DIR]: a process in its own session that kills
# server PID (and removes DIR) once the calling shell is gone without doing
# so itself (kill -9).  The server's start time guards against a reused PID.
_sp_srv_watchdog() {
	local owner=$BASHPID pid=$1 dir=${2:-} ostart pstart
	ostart=$(_sp_proc_start "$owner" || echo 0)
	pstart=$(_sp_proc_start "$pid" || echo 0)
	# shellcheck disable=SC2016 # the script gets its values as arguments
	setsid bash -c '
		owner=$1 ostart=$2 pid=$3 pstart=$4 dir=$5
		start_of() {
			local s
			s=$(cat /proc/$1/stat 2>/dev/null) || return 1
			s=${s##*) }
			set -- $s
			[[ $1 != Z ]] || return 1
			printf "%s\n" "${20}"
		}
		trap "" HUP INT
		while [[ $(start_of "$owner") == "$ostart" ]]; do
			[[ $(start_of "$pid") == "$pstart" ]] || exit 0
			sleep 1
		done
		[[ $(start_of "$pid") == "$pstart" ]] && kill -KILL "$pid"
		[[ -n $dir ]] && rm -rf "$dir"
	' sp-srv-watchdog "$owner" "$ostart" "$pid" "$pstart" "$dir" \
		</dev/null >/dev/null 2>&1 &
	echo $!
}

# https_start DIR [--client-cert]: see above.
https_start() {
	local dir=$1 client=${2:-} state pid owner certs=${HTTPS_CERTS:-}
	local -a extra=()
	[[ -d $dir ]] || { echo "https_start: no directory $dir" >&2; return 1; }
	if [[ -z $certs || ! -f $certs/ca.pem ]]; then
		certs=$SP_WORK/certs
		[[ -f $certs/ca.pem ]] || make_certs "$certs"
	fi
	if [[ $client == --client-cert ]]; then
		extra=(--client-ca "$certs/ca.pem")
	elif [[ -n $client ]]; then
		echo "https_start: unknown option $client" >&2
		return 1
	fi
	_sp_install_traps
	state=$(mktemp -d "$SP_WORK/https.XXXXXX")
	# The owner is this shell: $BASHPID after the & would be the child's.
	owner=$BASHPID
	python3 "$SP_TESTDIR/https_server.py" --dir "$dir" \
		--cert "$certs/server.pem" --key "$certs/server.key" "${extra[@]}" \
		--port-file "$state/port" --log "$state/requests.log" --owner "$owner" \
		</dev/null >"$state/server.out" 2>&1 &
	pid=$!
	at_exit "_sp_srv_stop $pid"
	for _ in $(seq 1 100); do
		[[ -s $state/port ]] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "https_start: the server exited:" >&2
			sed 's/^/  /' "$state/server.out" >&2
			return 1
		fi
		sleep 0.1
	done
	[[ -s $state/port ]] || { echo "https_start: the server did not start" >&2; return 1; }
	HTTPS_PORT=$(cat "$state/port")
	HTTPS_CA=$certs/ca.pem
	HTTPS_CERTS=$certs
	HTTPS_LOG=$state/requests.log
	HTTPS_PID=$pid
	: >>"$HTTPS_LOG"
	export HTTPS_PORT HTTPS_CA HTTPS_CERTS HTTPS_LOG HTTPS_PID
}

# https_requests [METHOD] PATH: prints how many requests of PATH (with
# METHOD, when given) the server has logged.
https_requests() {
	local method='' path
	if (($# > 1)); then method=$1; shift; fi
	path=$1
	python3 - "$HTTPS_LOG" "$method" "$path" <<-'EOF'
		import json, sys
		n = 0
		for line in open(sys.argv[1]):
		    r = json.loads(line)
		    if r.get("path") == sys.argv[3] and (not sys.argv[2] or r.get("method") == sys.argv[2]):
		        n += 1
		print(n)
	EOF
}

# _sp_sftp_user: prints the login sftp_start serves, creating it (root
# only) when missing.
_sp_sftp_user() {
	local u
	if [[ $(id -u) != 0 ]]; then
		id -un
		return 0
	fi
	u=samspor-sftp
	if ! id "$u" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$u" >/dev/null 2>&1 ||
			{ echo "sftp_start: cannot create user $u" >&2; return 1; }
	fi
	printf '%s\n' "$u"
}

# _sp_traversable DIR: let other users reach DIR (o+x on it and on its
# parents inside this file's work dir; never above it) and read what is in
# it, so that the SFTP user can read the files root wrote there.
_sp_traversable() {
	local d
	d=$(cd "$1" && pwd)
	chmod o+rx "$d"
	while [[ $d == "$SP_WORK"/* || $d == "$SP_WORK" ]]; do
		chmod o+x "$d"
		[[ $d == "$SP_WORK" ]] && break
		d=$(dirname "$d")
	done
}

# sftp_start DIR: see above.
sftp_start() {
	local dir=$1 sshd state user port pid pw=''
	[[ -d $dir ]] || { echo "sftp_start: no directory $dir" >&2; return 1; }
	sshd=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
	[[ -x $sshd ]] || { echo "sftp_start: no sshd (install openssh-server)" >&2; return 1; }
	user=$(_sp_sftp_user) || return 1
	_sp_install_traps
	# Outside the work dir, short and private: sshd insists on the modes of
	# its host key; the SFTP user must be able to read authorized_keys.
	state=$(mktemp -d "${TMPDIR:-/tmp}/sp-sftp.XXXXXX")
	at_exit "rm -rf '$state'"
	chmod 711 "$state"
	ssh-keygen -q -t ed25519 -N '' -C samspor-test-host -f "$state/host_key" >/dev/null
	ssh-keygen -q -t ed25519 -N '' -C samspor-test-client -f "$state/client_key" >/dev/null
	cp "$state/client_key.pub" "$state/authorized_keys"
	chmod 644 "$state/authorized_keys"
	if [[ $(id -u) == 0 ]]; then
		mkdir -p /run/sshd
		chmod 755 /run/sshd
		pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
		# Also unlocks the account: without PAM, sshd refuses any login
		# (public keys too) to an account whose password is locked.
		printf '%s:%s\n' "$user" "$pw" | chpasswd || pw=''
	fi
	_sp_traversable "$dir"
	for _ in 1 2 3 4 5; do
		port=$(_sp_free_port)
		cat >"$state/sshd_config" <<-EOF
			# written by tests/integration/servers.sh
			ListenAddress 127.0.0.1:$port
			HostKey $state/host_key
			PidFile none
			AuthorizedKeysFile $state/authorized_keys
			StrictModes no
			AllowUsers $user
			PermitRootLogin no
			PubkeyAuthentication yes
			PasswordAuthentication yes
			KbdInteractiveAuthentication no
			UsePAM no
			ForceCommand internal-sftp
			Subsystem sftp internal-sftp
			AllowTcpForwarding no
			AllowAgentForwarding no
			X11Forwarding no
			PermitTTY no
			LogLevel VERBOSE
		EOF
		"$sshd" -D -f "$state/sshd_config" -E "$state/sshd.log" </dev/null >/dev/null 2>&1 &
		pid=$!
		for _ in $(seq 1 100); do
			_sp_port_open "$port" && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null && _sp_port_open "$port"; then
			break
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid=
	done
	if [[ -z $pid ]]; then
		echo "sftp_start: sshd did not start:" >&2
		tail -n 20 "$state/sshd.log" 2>/dev/null | sed 's/^/  /' >&2
		return 1
	fi
	at_exit "_sp_srv_stop $pid"
	_sp_srv_watchdog "$pid" "$state" >/dev/null
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$state/host_key.pub")" >"$state/known_hosts"
	SFTP_PORT=$port
	SFTP_USER=$user
	SFTP_KEY=$state/client_key
	SFTP_KNOWN_HOSTS=$state/known_hosts
	SFTP_PASSWORD=$pw
	SFTP_LOG=$state/sshd.log
	SFTP_PID=$pid
	export SFTP_PORT SFTP_USER SFTP_KEY SFTP_KNOWN_HOSTS SFTP_PASSWORD SFTP_LOG SFTP_PID
}
