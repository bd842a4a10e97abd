#!/usr/bin/env bash
# fetch-modules.sh KDIR OUTDIR MODULE...: copy MODULEs (paths inside /lib/modules/<version>/)
# of the kernel package that tests/kernel/fetch-debian-kernel.sh unpacked into KDIR (its
# "package" file names it) into OUTDIR, flat. The .deb is downloaded with apt-get download,
# never installed; OUTDIR/stamp remembers package, version and list, so a second call is free.
set -u
kdir=$1 out=$2
shift 2
read -r pkg ver <"$kdir/package" || { echo "fetch-modules: no $kdir/package" >&2; exit 1; }
want="$pkg $ver $*"
[ -s "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$want" ] && exit 0
mkdir -p "$out"
tmp=$(mktemp -d "$out/deb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "fetch-modules: downloading $pkg $ver for its modules" >&2
(cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download "$pkg=$ver" >/dev/null) ||
	{ echo "fetch-modules: apt-get download $pkg=$ver failed" >&2; exit 2; }
dpkg-deb -x "$tmp"/*.deb "$tmp/x" || { echo "fetch-modules: dpkg-deb -x failed" >&2; exit 1; }
rm -f "$out"/*.ko "$out/stamp"
for m in "$@"; do
	cp "$tmp"/x/lib/modules/*/"$m" "$out/" || { echo "fetch-modules: $m is not in $pkg" >&2; exit 1; }
done
echo "$want" >"$out/stamp"
