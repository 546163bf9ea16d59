#!/bin/sh
# Installs every Debian package zmqscope needs to build, test, demo and bench.
# Idempotent: when everything is present it does nothing and prints nothing.
set -eu

PKGS="make gcc clang libclang-rt-dev llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev \
libmicrohttpd-dev libcmocka-dev libzmq3-dev \
python3 python3-zmq python3-msgpack python3-prometheus-client \
prometheus curl util-linux libcap2-bin bpftrace binutils"

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
apt-get update -qq
# prometheus' postinst starts a service; with no init running here that is
# harmless, and policy-rc.d keeps it from binding :9090 where one does run.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
