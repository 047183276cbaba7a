# shellcheck shell=bash
# tests/integration/certs.sh: a throwaway test CA and certificates, made at
# test time with openssl (nothing secret is committed).
#
#   . "$SP_TESTDIR/certs.sh"
#   make_certs DIR
#
# writes into DIR:
#   ca.pem ca.key              the test CA
#   server.pem server.key      CN=localhost, SAN DNS:localhost, IP:127.0.0.1
#   client.pem client.key      CN=samspor-test-client (for mutual TLS)
#   other-ca.pem               a second CA that signed nothing here (to prove
#                              verification is on)
# Keys are mode 0600.
make_certs() {
	local d=$1
	mkdir -p "$d"
	(
		cd "$d"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=samspor test CA" \
			-keyout ca.key -out ca.pem >/dev/null 2>&1
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=samspor other CA" \
			-keyout other-ca.key -out other-ca.pem >/dev/null 2>&1
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
		openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
			-keyout server.key -out server.csr >/dev/null 2>&1
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 2 -extfile server.ext -out server.pem >/dev/null 2>&1
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl req -newkey rsa:2048 -nodes -subj "/CN=samspor-test-client" \
			-keyout client.key -out client.csr >/dev/null 2>&1
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-days 2 -extfile client.ext -out client.pem >/dev/null 2>&1
		chmod 644 ca.pem other-ca.pem server.pem client.pem
		rm -f ./*.csr ./*.ext ./*.srl
	)
}
