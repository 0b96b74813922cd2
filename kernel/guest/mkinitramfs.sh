#!/bin/sh
# mkinitramfs.sh BINARY OUTPUT.cpio.gz
# Build a gzip'ed newc cpio with BINARY as /init and a /dev/console node,
# without root privileges for the node (gen_init_cpio-style list via cpio
# is not available everywhere, so a fakeroot-free trick is used: the
# kernel creates /dev/console itself when devtmpfs is mounted, and opens
# it for init if present; we add the directory and let init mount it).
set -eu
bin=$1
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys"
cp "$bin" "$tmp/root/init"
chmod 0755 "$tmp/root/init"
if [ "$(id -u)" = 0 ]; then
	mknod -m 600 "$tmp/root/dev/console" c 5 1
fi
(cd "$tmp/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -9 > "$out"
