#!/usr/bin/env bash
# fetch-debian-kernel.sh [OUTDIR]: download a Debian kernel (default: cloud) and unpack it for tests.
#
#   KERNEL_FLAVOUR=cloud-amd64 (default) or amd64: which Debian kernel, i.e. the
#   metapackage linux-image-$KERNEL_FLAVOUR. Note: cloud-amd64 is built without
#   CONFIG_X86_MPPARSE (it can only learn the CPUs from ACPI); amd64 has it
#   (but an xz payload, slow to decompress in an emulated guest).
#
# Produces, in OUTDIR (default $BUILD/kernel, BUILD defaults to "build"):
#   vmlinuz   the bzImage from /boot/vmlinuz-* of linux-image-<ver>-$KERNEL_FLAVOUR
#   vmlinux   the ELF kernel decompressed from the bzImage payload (carries a PVH note)
#   version   the kernel version string from the bzImage setup header
#   package   the name and version of the .deb it came from
#   config    the kernel's /boot/config-*
#
# Idempotent: if all outputs exist it only prints the version. The package is
# only downloaded (apt-get download into a temp dir), never installed.
#
# Exit status: 0 ok; 2 the package could not be downloaded (no network / apt
# does not know it: callers may SKIP on this); 1 any other failure.
set -euo pipefail

OUTDIR=${1:-${BUILD:-build}/kernel}
FLAVOUR=${KERNEL_FLAVOUR:-cloud-amd64}
META=linux-image-$FLAVOUR

die() { echo "fetch-debian-kernel: error: $*" >&2; exit "${2:-1}"; }
nonet() { echo "fetch-debian-kernel: cannot download: $*" >&2; exit 2; }
say() { echo "fetch-debian-kernel: $*" >&2; }

if [ -s "$OUTDIR/vmlinuz" ] && [ -s "$OUTDIR/vmlinux" ] && [ -s "$OUTDIR/version" ] && [ -e "$OUTDIR/config" ] &&
	grep -Eq "^linux-image-[0-9][^ ]*-[0-9]+-$FLAVOUR " "$OUTDIR/package" 2>/dev/null; then
	say "already present in $OUTDIR"
	cat "$OUTDIR/version"
	exit 0
fi

for tool in apt-get apt-cache dpkg-deb python3 readelf; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (install apt/dpkg/python3/binutils)"
done

# Resolve the metapackage to the real, versioned image package, e.g.
# linux-image-6.1.0-56-cloud-amd64 (apt-cache depends shows the candidate's deps).
resolve() {
	apt-cache depends "$META" 2>/dev/null |
		sed -n "s/^ *Depends: *\(linux-image-[0-9][^ ]*-$FLAVOUR\)\$/\1/p" | head -n1
}
pkg=$(resolve || true)
if [ -z "$pkg" ]; then
	say "apt-cache does not know $META; running apt-get update"
	apt-get update -qq >&2 || nonet "apt-get update failed (no network, or not root?)"
	pkg=$(resolve || true)
	[ -n "$pkg" ] || nonet "apt knows no package $META even after apt-get update"
fi
say "$META depends on $pkg"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ember-kernel.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# apt-get download drops privileges to _apt, which cannot write to a root-only
# temp dir; as root, download without the sandbox (only the .deb is written).
APT_DL=(apt-get download -q)
[ "$(id -u)" -eq 0 ] && APT_DL+=(-o APT::Sandbox::User=root)

if ! (cd "$TMP" && "${APT_DL[@]}" "$pkg" >&2); then
	say "apt-get download failed; retrying after apt-get update"
	apt-get update -qq >&2 || nonet "apt-get update failed (no network, or not root?)"
	pkg=$(resolve || true)   # stale lists may have named a version the mirror dropped
	[ -n "$pkg" ] || nonet "apt knows no package $META after apt-get update"
	(cd "$TMP" && "${APT_DL[@]}" "$pkg" >&2) || nonet "apt-get download $pkg failed (no network?)"
fi
deb=$(ls "$TMP"/*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "apt-get download produced no .deb"
say "downloaded $(basename "$deb")"

dpkg-deb -x "$deb" "$TMP/root" || die "dpkg-deb -x $deb failed"
vmlinuz=$(ls "$TMP"/root/boot/vmlinuz-* 2>/dev/null | head -n1)
[ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in $(basename "$deb")"

mkdir -p "$TMP/out"
cp "$vmlinuz" "$TMP/out/vmlinuz"
cp "$TMP"/root/boot/config-* "$TMP/out/config" 2>/dev/null || : >"$TMP/out/config"
dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb" >"$TMP/out/package"

# Parse the setup header (Documentation/arch/x86/boot.rst) and decompress the payload.
python3 - "$TMP/out/vmlinuz" "$TMP/out/vmlinux" "$TMP/out/version" <<'PY' || die "payload extraction failed"
import struct, subprocess, sys

src, dst, verfile = sys.argv[1:4]
img = open(src, "rb").read()

def fail(msg):
    sys.stderr.write("fetch-debian-kernel: error: %s\n" % msg)
    sys.exit(1)

if len(img) < 0x270 or img[0x202:0x206] != b"HdrS":
    fail("%s is not a bzImage (no 'HdrS' at 0x202)" % src)
if struct.unpack_from("<H", img, 0x1fe)[0] != 0xAA55:
    fail("boot_flag at 0x1fe is not 0xAA55")
proto = struct.unpack_from("<H", img, 0x206)[0]
if proto < 0x208:
    fail("boot protocol %#x < 2.08: no payload_offset/payload_length" % proto)
setup_sects = img[0x1f1] or 4
xloadflags = struct.unpack_from("<H", img, 0x236)[0]
payload_offset, payload_length = struct.unpack_from("<II", img, 0x248)
pm_start = (setup_sects + 1) * 512
start = pm_start + payload_offset
end = start + payload_length
if end > len(img):
    fail("payload [%#x, %#x) beyond end of file (%#x)" % (start, end, len(img)))
payload = img[start:end]

# Kernel version string: pointer at 0x20e, relative to 0x200.
kv = struct.unpack_from("<H", img, 0x20e)[0]
version = ""
if kv:
    version = img[kv + 0x200:kv + 0x200 + 256].split(b"\0")[0].decode("ascii", "replace")

sys.stderr.write(
    "fetch-debian-kernel: bzImage protocol %d.%02d setup_sects=%d xloadflags=%#x "
    "payload_offset=%#x payload_length=%#x (file offset %#x)\n"
    % (proto >> 8, proto & 0xff, setup_sects, xloadflags, payload_offset, payload_length, start))

# Magic -> (name, command). arch/x86/boot/compressed/Makefile appends the
# uncompressed size as 4 little-endian bytes ("_with_size") to every format
# except gzip, whose own trailer (ISIZE) already ends with it.
formats = [
    (b"\x02\x21\x4c\x18", "lz4", ["lz4", "-d", "-c"]),
    (b"\x1f\x8b", "gzip", ["gzip", "-d", "-c"]),
    (b"\xfd7zXZ\x00", "xz", ["xz", "-d", "-c", "--single-stream"]),
    (b"\x28\xb5\x2f\xfd", "zstd", ["zstd", "-d", "-c", "-q"]),
    (b"BZh", "bzip2", ["bzip2", "-d", "-c"]),
    (b"\x5d\x00\x00", "lzma", ["xz", "--format=lzma", "-d", "-c"]),
    (b"\x89LZO", "lzo", ["lzop", "-d", "-c"]),
]
for magic, name, cmd in formats:
    if payload.startswith(magic):
        break
else:
    fail("unknown payload compression, magic %s" % payload[:6].hex())

expect = struct.unpack_from("<I", payload, len(payload) - 4)[0]
data = payload if name == "gzip" else payload[:-4]
sys.stderr.write("fetch-debian-kernel: payload is %s, uncompressed size %d\n" % (name, expect))
try:
    r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
except FileNotFoundError:
    fail("'%s' not found: install it to decompress a %s payload" % (cmd[0], name))
out = r.stdout
if r.returncode != 0:
    fail("%s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr.decode(errors="replace").strip()))
if len(out) & 0xffffffff != expect:
    fail("decompressed %d bytes, header says %d" % (len(out), expect))
if out[:4] != b"\x7fELF" or out[4] != 2 or out[5] != 1 or struct.unpack_from("<H", out, 18)[0] != 62:
    fail("decompressed payload is not a little-endian ELF64 x86-64 file")
open(dst, "wb").write(out)
open(verfile, "w").write(version + "\n")
PY

# The PVH entry note: Xen ELF note type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY).
notes=$(readelf -n "$TMP/out/vmlinux") || die "readelf -n failed on vmlinux"
if ! grep -Eiq '^[[:space:]]*Xen[[:space:]].*(\(0x0*12\)|PHYS32)' <<<"$notes"; then
	echo "$notes" >&2
	die "vmlinux has no Xen note type 0x12 (XEN_ELFNOTE_PHYS32_ENTRY): no PVH entry"
fi

mkdir -p "$OUTDIR"
for f in vmlinuz vmlinux package config version; do
	mv -f "$TMP/out/$f" "$OUTDIR/$f.tmp.$$"
done
# Rename the version file last: its presence marks a complete fetch.
for f in vmlinuz vmlinux package config version; do
	mv -f "$OUTDIR/$f.tmp.$$" "$OUTDIR/$f"
done
say "wrote $OUTDIR/vmlinuz, $OUTDIR/vmlinux (ELF64 with PVH note) from $(tr '\n' ' ' <"$OUTDIR/package")"
cat "$OUTDIR/version"
