#!/bin/sh
# Installs every Debian package zmqscope needs to build, test, demo and bench.
# Idempotent: when everything is present it does nothing and prints nothing.
set -eu

PKGS="make gcc clang libclang-rt-dev llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev \
libmicrohttpd-dev libcmocka-dev libzmq3-dev \
python3 python3-zmq python3-msgpack python3-prometheus-client \
prometheus curl util-linux libcap2-bin bpftrace binutils \
libmsgpack-dev libncurses-dev tmux man-db groff lintian dpkg-dev \
libyaml-dev libcrypt-dev libgnutls28-dev openssl apache2-utils"
# The loop-kind fixtures of tests/integration/test_loops.py.
PKGS="$PKGS libczmq-dev python3-tornado python3-ipykernel python3-jupyter-client"

# npm's zeromq 6 for the zeromq.js fixture, under the build directory, with the
# machine's own node and npm (none are installed for it).
node_dir="$(dirname "$0")/../${BUILD:-build}/node"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
	[ ! -d "$node_dir/node_modules/zeromq" ]; then
	echo "install-deps: npm install zeromq@6 into $node_dir"
	mkdir -p "$node_dir"
	npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error zeromq@6 >/dev/null
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing; run as root (sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# The tests start their own Prometheus on loopback: keep the package's
# postinst from starting a system one on :9090 (policy-rc.d exit 101 means
# "do not start services"), unless the machine already has a policy.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod +x "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
