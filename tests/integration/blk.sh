#!/usr/bin/env bash
# blk.sh: ember's virtio-blk against the test guest's driver (which also passes against QEMU's):
# reads of a known pattern, writes found in the file afterwards, a read-only drive left
# untouched, hostile chains survived, flushed data surviving SIGKILL, root= arguments.
T=blk
. "$(dirname "$0")/common.bash"
need_ember

# Every 512-byte sector i holds "EMBER-SECTOR <i>" then NULs (mkdisk, common.bash; tests/guest/README.md).

# check_written FILE W: sectors W..W+3 hold the guest's write pattern, the others are unchanged.
check_written() {
	python3 - "$1" "$2" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
w = int(sys.argv[2])
bad = []
for s in range(len(d) // 512):
    sec = d[s * 512:(s + 1) * 512]
    if w <= s < w + 4:
        head = (b"EMBER-WRITE %d" % s).ljust(32, b"\0")
        want = head + bytes((s + k) & 0xff for k in range(32, 512))
    else:
        want = (b"EMBER-SECTOR %d" % s).ljust(512, b"\0")
    if sec != want:
        bad.append(s)
print("ok" if not bad else "bad sectors: %s" % bad[:10])
PY
}

drive() { # drive ID PATH ROOT RO [CACHE [ENGINE]]
	printf '{"drive_id": "%s", "path_on_host": "%s", "is_root_device": %s, "is_read_only": %s, "cache_type": "%s", "io_engine": "%s"}' \
		"$1" "$2" "$3" "$4" "${5:-Unsafe}" "${6:-Sync}"
}

blkconfig() { # FILE ARGS DRIVES_JSON
	printf '{"boot-source": {"kernel_image_path": "%s", "boot_args": %s},\n "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},\n "drives": [%s]}\n' \
		"$GUEST_DIR/guest.elf" "$(json_str "$2")" "$3" >"$1"
}

# 1. Two drives (listed scratch first: the root drive still becomes vda), all checks,
#    with each I/O engine: Sync (preadv/pwritev) and Async (io_uring).
for engine in Sync Async; do
	mkdisk "$TMP/root.img" 2048
	mkdisk "$TMP/ro.img" 1024
	ro_sum=$(sha256sum <"$TMP/ro.img")
	ARGS="console=ttyS0 probe=blk,blk-evil blk_expect=2 blk_ro=1 blk_id=0:rootfs blk_id=1:scratch blk_capacity=0:2048 blk_capacity=1:1024 blk_write_sector=100"
	blkconfig "$TMP/c1.json" "$ARGS" "$(drive scratch "$TMP/ro.img" false true Unsafe $engine), $(drive rootfs "$TMP/root.img" true false Writeback $engine)"
	run_ember "$TMP/c1.out" 30 --no-api --config-file "$TMP/c1.json"
	if [ "$RC" -ne 0 ] || ! grep -q '^PROBE DONE pass=2 fail=0' "$TMP/c1.out"; then
		fail "$engine/blk-checks" "rc=$RC: $(grep -E '^PROBE' "$TMP/c1.out" | tr '\n' ' ')"
	else
		pass "$engine/blk-checks" "$(grep '^PROBE blk ' "$TMP/c1.out" | cut -c1-100)"
	fi
	grep -q '^PROBE blk-evil PASS' "$TMP/c1.out" && pass "$engine/blk-evil" || fail "$engine/blk-evil" "$(grep 'blk-evil' "$TMP/c1.out")"
	r=$(check_written "$TMP/root.img" 100)
	[ "$r" = ok ] && pass "$engine/writes-in-file" || fail "$engine/writes-in-file" "$r"
	[ "$(sha256sum <"$TMP/ro.img")" = "$ro_sum" ] && pass "$engine/read-only-untouched" ||
		fail "$engine/read-only-untouched" "checksum changed"
done
grep -q "root=/dev/vda rw virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6$" "$TMP/c1.out" &&
	pass cmdline-devices || fail cmdline-devices "$(grep '^CMDLINE' "$TMP/c1.out")"
pgrep -f "$TMP/c1.json" >/dev/null && fail no-leftover "ember still running" || pass no-leftover

# 2. Flushed data survives SIGKILL: kill ember the moment the guest reports its flushed writes.
mkdisk "$TMP/k.img" 512
blkconfig "$TMP/c2.json" "console=ttyS0 probe=blk,idle blk_expect=1 blk_write_sector=40" \
	"$(drive rootfs "$TMP/k.img" true false Writeback)"
"$EMBER" --no-api --config-file "$TMP/c2.json" </dev/null >"$TMP/c2.out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q '^PROBE blk ' "$TMP/c2.out" 2>/dev/null && break; sleep 0.01; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
if grep -q '^PROBE blk PASS' "$TMP/c2.out"; then
	r=$(check_written "$TMP/k.img" 40)
	[ "$r" = ok ] && pass flush-survives-sigkill || fail flush-survives-sigkill "$r"
else
	fail flush-survives-sigkill "guest did not finish its writes: $(grep PROBE "$TMP/c2.out")"
fi

# 3. Read-only root and PARTUUID root arguments.
mkdisk "$TMP/p.img" 64
blkconfig "$TMP/c3.json" "console=ttyS0 probe=boot" \
	'{"drive_id": "r", "path_on_host": "'"$TMP/p.img"'", "is_root_device": true, "is_read_only": true, "partuuid": "0eaa91a0-01"}'
run_ember "$TMP/c3.out" 20 --no-api --config-file "$TMP/c3.json"
grep -q "root=PARTUUID=0eaa91a0-01 ro virtio_mmio.device" "$TMP/c3.out" && pass root-partuuid-ro ||
	fail root-partuuid-ro "$(grep '^CMDLINE' "$TMP/c3.out")"

# 4. A drive whose file cannot be opened is refused when configured, with the path named.
blkconfig "$TMP/c4.json" "console=ttyS0" "$(drive rootfs "$TMP/missing.img" true false)"
run_ember "$TMP/c4.out" 20 --no-api --config-file "$TMP/c4.json"
[ "$RC" -eq 152 ] && grep -q "missing.img" "$TMP/c4.out" && pass missing-backing-file ||
	fail missing-backing-file "rc=$RC $(tail -1 "$TMP/c4.out")"

# 5. PATCH /drives swaps the backing file after boot; the device keeps working.
mkdisk "$TMP/a.img" 256
mkdisk "$TMP/b.img" 512
blkconfig "$TMP/c5.json" "console=ttyS0 probe=idle" "$(drive rootfs "$TMP/a.img" true false)"
"$EMBER" --api-sock "$TMP/api.sock" --config-file "$TMP/c5.json" </dev/null >"$TMP/c5.out" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q 'PROBE TICK 1' "$TMP/c5.out" 2>/dev/null && break; sleep 0.02; done
code=$(curl -s -o "$TMP/p.out" -w '%{http_code}' --unix-socket "$TMP/api.sock" -X PATCH \
	http://localhost/drives/rootfs -d '{"drive_id": "rootfs", "path_on_host": "'"$TMP/b.img"'"}')
cfg=$(curl -s --unix-socket "$TMP/api.sock" http://localhost/vm/config)
kill -TERM "$pid"; wait "$pid" 2>/dev/null
[ "$code" = 204 ] && echo "$cfg" | grep -q "b.img" && pass patch-drive-swap ||
	fail patch-drive-swap "code=$code $(cat "$TMP/p.out") cfg=$cfg"
finish
