#!/bin/sh
# Builds BUILD/zmqscope_VERSION_ARCH.deb from an already built BUILD/zmqscope.
#   build-deb.sh BUILD VERSION
# The dependencies come from dpkg-shlibdeps on the binary itself.
set -eu
BUILD=$(cd "$1" && pwd)
VERSION=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ARCH=$(dpkg --print-architecture)
STAGE=$BUILD/deb/zmqscope
OUT=$BUILD/zmqscope_${VERSION}_${ARCH}.deb

rm -rf "$BUILD/deb"
mkdir -p "$STAGE/DEBIAN"
umask 022

install -D -m 0755 "$BUILD/zmqscope" "$STAGE/usr/sbin/zmqscope"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/usr/sbin/zmqscope"
install -d "$STAGE/usr/share/man/man8"
gzip -9n < "$ROOT/docs/zmqscope.8" > "$STAGE/usr/share/man/man8/zmqscope.8.gz"
# The unit in deploy/ runs a `make install`ed /usr/local/sbin/zmqscope.
install -d "$STAGE/lib/systemd/system"
sed -e 's#/usr/local/sbin/zmqscope#/usr/sbin/zmqscope#g' \
	-e 's#^\(\# Install: \).*#\1apt install ./zmqscope.deb \&\& systemctl enable --now zmqscope#' \
	"$ROOT/deploy/zmqscope.service" > "$STAGE/lib/systemd/system/zmqscope.service"
chmod 0644 "$STAGE/lib/systemd/system/zmqscope.service"
install -D -m 0644 "$ROOT/deploy/bash-completion/zmqscope" \
	"$STAGE/usr/share/bash-completion/completions/zmqscope"
install -D -m 0644 "$ROOT/deploy/grafana/zmqscope.json" "$STAGE/usr/share/zmqscope/zmqscope.json"
install -D -m 0644 "$ROOT/deploy/prometheus/zmqscope-rules.yml" \
	"$STAGE/usr/share/zmqscope/zmqscope-rules.yml"
install -D -m 0644 "$ROOT/deploy/prometheus/zmqscope-rules.test.yml" \
	"$STAGE/usr/share/zmqscope/zmqscope-rules.test.yml"
install -D -m 0644 "$ROOT/deploy/debian/copyright" "$STAGE/usr/share/doc/zmqscope/copyright"
sed "s/@VERSION@/$VERSION/" "$ROOT/deploy/debian/changelog" | gzip -9n \
	> "$STAGE/usr/share/doc/zmqscope/changelog.gz"

# dpkg-shlibdeps wants a debian/control to read; give it a minimal one.
mkdir -p "$BUILD/deb/src/debian"
printf 'Source: zmqscope\n\nPackage: zmqscope\nArchitecture: any\n' > "$BUILD/deb/src/debian/control"
DEPENDS=$(cd "$BUILD/deb/src" && dpkg-shlibdeps -O "$STAGE/usr/sbin/zmqscope" |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
	-e "s/@DEPENDS@/$DEPENDS/" "$ROOT/deploy/debian/control.in" > "$STAGE/DEBIAN/control"
(cd "$STAGE" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
