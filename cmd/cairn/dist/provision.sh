#!/bin/sh
# Provisions the nodes of a Cairn domain from the .deb of `make dist`: the
# Vagrantfile's four VMs (c1, the controller, alone in zone "controller";
# z1, z2, z3, zone1), the same steps an operator takes on real machines,
# and cmd/cairn's network-namespace test, which runs this script unchanged.
#
#   provision.sh keys SHARED IP...        once, on the host: in SHARED, the
#                                         gossip key, the admin password,
#                                         the peers' gossip addresses, and a
#                                         CA with a certificate per IP
#   provision.sh node SHARED NAME IP      on each machine, as root: install
#                                         the .deb, write /etc/cairn/cairn.yaml
#                                         for NAME at IP, start the agent
#
# NAME c1 is the controller; any other name is a member of zone1 (three
# of them found it together). SHARED must reach every machine (Vagrant's
# /vagrant); the .deb is looked for in SHARED and its parent directory.
#
# CAIRN_ROOT (default /) installs into that directory instead of the
# system: the .deb is unpacked there (dpkg-deb -x, no user, no systemd),
# and the agent runs in the background, its pid in $CAIRN_ROOT/run/cairn.pid
# and its output in $CAIRN_ROOT/var/log/cairn.log.
#
# TLS and the gossip key are used when the installed cairn has the flags
# (-tls-cert, -gossip-key); without them the domain runs in the clear and
# the script says so.
set -eu

usage() {
	echo "usage: $0 keys SHARED IP... | node SHARED NAME IP" >&2
	exit 2
}

[ $# -ge 2 ] || usage
mode=$1
shared=$2
shift 2

keys() {
	mkdir -p "$shared"
	cd "$shared"
	[ -s gossip.key ] || openssl rand -base64 32 >gossip.key
	[ -s admin-password ] || openssl rand -hex 12 >admin-password
	if [ ! -s ca.pem ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj /CN=cairn-domain-ca -keyout ca-key.pem -out ca.pem 2>/dev/null
	fi
	peers=
	for ip in "$@"; do
		peers="${peers:+$peers,}$ip:8182"
		[ -s "$ip.pem" ] && continue
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$ip" >"$ip.ext"
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ip" \
			-keyout "$ip-key.pem" -out "$ip.csr" 2>/dev/null
		openssl x509 -req -in "$ip.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
			-extfile "$ip.ext" -out "$ip.pem" 2>/dev/null
		rm -f "$ip.csr" "$ip.ext"
	done
	echo "$peers" >peers
	chmod 0644 ./*.pem peers
	chmod 0600 ca-key.pem
	echo "keys in $shared: gossip.key, admin-password, ca.pem and a certificate for each of $*"
}

node() {
	[ $# -eq 2 ] || usage
	name=$1
	ip=$2
	root=${CAIRN_ROOT:-/}
	root=${root%/}
	case $(uname -m) in
	x86_64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) arch=$(uname -m) ;;
	esac
	deb=$(ls "$shared"/cairn_*_"$arch".deb "$shared"/../cairn_*_"$arch".deb 2>/dev/null | tail -n 1)
	[ -n "$deb" ] || { echo "no cairn_*_$arch.deb in $shared or its parent: run make dist first" >&2; exit 1; }
	if [ -z "$root" ]; then
		dpkg -i "$deb"
	else
		mkdir -p "$root"
		dpkg-deb -x "$deb" "$root"
	fi
	bin=$root/usr/bin/cairn
	etc=$root/etc/cairn
	data=$root/var/lib/cairn
	mkdir -p "$etc" "$data"

	if [ "$name" = c1 ]; then
		zone=controller expect=1 controller=true
	else
		zone=zone1 expect=3 controller=false
	fi
	scheme=http
	tls=
	if "$bin" agent -h 2>&1 | grep -q -- '-tls-cert' && [ -s "$shared/$ip.pem" ]; then
		mkdir -p "$etc/tls"
		cp "$shared/ca.pem" "$etc/tls/ca.pem"
		cp "$shared/$ip.pem" "$etc/tls/node.pem"
		cp "$shared/$ip-key.pem" "$etc/tls/node-key.pem"
		chmod 0640 "$etc/tls/node-key.pem"
		scheme=https
		tls="tls-cert: $etc/tls/node.pem
tls-key: $etc/tls/node-key.pem
tls-ca: $etc/tls/ca.pem
gossip-key: $(cat "$shared/gossip.key")"
	else
		echo "provision: this cairn has no -tls-cert/-gossip-key flags: the domain runs without TLS and gossip encryption" >&2
	fi
	retry=$(tr ',' '\n' <"$shared/peers" | sed 's/^/  - /')
	umask 027
	cat >"$etc/cairn.yaml" <<CONF
# Written by provision.sh for node $name of zone $zone at $ip.
node-id: $name
zone: $zone
data-dir: $data
http-addr: $ip:8180
advertise-http: $scheme://$ip:8180
raft-addr: $ip:8181
gossip-addr: $ip:8182
maxscale-addr: ""
controller: $controller
bootstrap-expect: $expect
retry-join:
$retry
auth: "on"
admin-password: $(cat "$shared/admin-password")
exec: "false"
${tls}
CONF
	"$bin" agent -config "$etc/cairn.yaml" -config-check
	if [ -z "$root" ]; then
		chown -R root:cairn "$etc"
		chown cairn:cairn "$data"
		systemctl enable cairn
		# --no-block: a zone's first node is ready only once its peers are.
		systemctl restart --no-block cairn
		echo "provision: $name ($zone) started by systemd: journalctl -u cairn"
	else
		mkdir -p "$root/run" "$root/var/log"
		nohup "$bin" agent -config "$etc/cairn.yaml" >"$root/var/log/cairn.log" 2>&1 </dev/null &
		echo $! >"$root/run/cairn.pid"
		echo "provision: $name ($zone) started in the background, pid $(cat "$root/run/cairn.pid")"
	fi
}

case $mode in
keys) keys "$@" ;;
node) node "$@" ;;
*) usage ;;
esac
