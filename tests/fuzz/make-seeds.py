#!/usr/bin/env python3
"""make-seeds.py: write the seed corpora of fuzz_mmio, fuzz_blk, fuzz_vsock, fuzz_net, fuzz_mmds,
fuzz_loader and fuzz_snapshot.

Deterministic: the same files every time (they are committed). Each
device seed is a valid setup and one valid request in the input format
described at the top of the target's source, so that fuzzing starts
deep in the device; the loader's are tiny images it accepts. The other
targets' seeds are written by hand.
Usage: tests/fuzz/make-seeds.py [corpus dir, default tests/fuzz/corpus]
"""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def u8(v):
    return struct.pack("<B", v & 0xff)


def u16(v):
    return struct.pack("<H", v & 0xffff)


def u32(v):
    return struct.pack("<I", v & 0xffffffff)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)



def crc64_xz(data):
    """CRC-64/XZ written from its definition, apart from ember's C (a second opinion)."""
    crc = 0xffffffffffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xc96c5795d7870f42 if crc & 1 else 0)
    return crc ^ 0xffffffffffffffff


def snapshot_file(records, major=1, minor=0):
    """An ember snapshot state file (src/snapshot/format.h) of (type, kind, index, id, data)."""
    body = b""
    for typ, kind, index, ident, data in records:
        body += u16(typ) + u16(kind) + u32(index) + u64(len(data))
        body += ident.encode().ljust(64, b"\0") + data + b"\0" * (-len(data) % 8)
    return (b"EMBERSNP" + u16(major) + u16(minor) + u32(len(records)) + u64(len(body)) +
            u64(crc64_xz(body)) + body)

def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_mmio: a device byte, then operations (tests/fuzz/fuzz_mmio.c) ----

def mmio_w(off, val):
    return u8(0) + u16(off) + u32(val)


def mmio_r(off, size_code=0):
    return u8(1 | size_code << 3) + u16(off)


def mmio_seeds():
    ACK, DRV, FOK, DOK = 1, 2, 8, 4
    # The driver's bring-up macro, a read request, the ioeventfd, the interrupt acknowledged.
    write("fuzz_mmio", "bring_up_read",
          u8(0) + u8(4) + u8(3) + u8(8) + u8(5) + u8(0) + u8(1) + u8(2) + u8(3) + u8(7))
    # The same register by register, reading identity, features and config space on the way.
    regs = (mmio_r(0x000) + mmio_r(0x004) + mmio_r(0x008) + mmio_w(0x070, ACK) +
            mmio_w(0x070, ACK | DRV) + mmio_w(0x014, 1) + mmio_r(0x010) +
            mmio_w(0x024, 1) + mmio_w(0x020, 1) + mmio_w(0x070, ACK | DRV | FOK) +
            mmio_r(0x070) + mmio_w(0x030, 0) + mmio_r(0x034) + mmio_w(0x038, 16) +
            mmio_w(0x080, 0) + mmio_w(0x090, 0x1000) + mmio_w(0x0a0, 0x2000) +
            mmio_w(0x044, 1) + mmio_w(0x070, ACK | DRV | FOK | DOK) +
            mmio_r(0x100, 3) + mmio_r(0x108) + mmio_r(0x10c, 1) + mmio_r(0x0fc))
    write("fuzz_mmio", "registers", u8(0) + regs)
    # A read-only drive: a write request notified by a QueueNotify write.
    write("fuzz_mmio", "ro_write_notify_reg",
          u8(1) + u8(4) + u8(0) + u8(4) + u8(5) + u8(1) + u8(3) + u8(1) + mmio_w(0x050, 0) + u8(7))
    # DRIVER_OK taken back without a reset: the device needs one; then the reset.
    write("fuzz_mmio", "needs_reset",
          u8(0) + u8(4) + u8(1) + u8(4) + u8(2) + u8(ACK | DRV | FOK) + u8(3) + u8(2) + u8(0))


# ---- fuzz_blk: drive and driver bytes, then requests (tests/fuzz/fuzz_blk.c) ----

def blk_seg(writable, length, big=False):
    return u8((1 if writable else 0) | (2 if big else 0)) + u16(length)


def blk_req(ctl, rtype, sector, segs):
    return u8(ctl) + u32(rtype) + u64(sector) + u8(len(segs) - 1) + b"".join(segs)


def blk_seeds():
    EVENT_IDX, INDIRECT = 1, 2
    q256 = 8 << 2
    R, W = False, True
    for name, dev, ctl, rtype, sector, segs in [
        ("sync_read", 4, 1, 0, 8, [blk_seg(R, 16), blk_seg(W, 4096), blk_seg(W, 1)]),
        ("sync_write", 4, 1, 1, 16, [blk_seg(R, 16), blk_seg(R, 1024), blk_seg(W, 1)]),
        ("aio_read", 5, 1, 0, 3, [blk_seg(R, 16), blk_seg(W, 512), blk_seg(W, 512), blk_seg(W, 1)]),
        ("aio_write_reg_notify", 5, 1 | 8, 1, 4096, [blk_seg(R, 16), blk_seg(R, 4096), blk_seg(W, 1)]),
        ("indirect_flush", 4, 1 | 2, 4, 0, [blk_seg(R, 16), blk_seg(W, 1)]),
        ("get_id_long", 1, 1, 8, 0, [blk_seg(R, 16), blk_seg(W, 20), blk_seg(W, 1)]),
        ("ro_write", 2, 1, 1, 0, [blk_seg(R, 16), blk_seg(R, 512), blk_seg(W, 1)]),
        ("size_max_read", 0, 1, 0, 0, [blk_seg(R, 16), blk_seg(W, (1 << 20) // 64, True), blk_seg(W, 1)]),
        ("aio_reset_inflight", 5, 1 | 16, 0, 0, [blk_seg(R, 16), blk_seg(W, 8192), blk_seg(W, 1)]),
    ]:
        write("fuzz_blk", name, u8(dev) + u8(EVENT_IDX | INDIRECT | q256) + blk_req(ctl, rtype, sector, segs))


# ---- fuzz_vsock: driver byte, then operations (tests/fuzz/fuzz_vsock.c) ----

V_REQUEST, V_RESPONSE, V_RST, V_SHUTDOWN, V_RW, V_CREDIT_UPDATE, V_CREDIT_REQUEST = range(1, 8)
HOST_PORT0 = 1 << 30   # the first host port ember gives a host-initiated connection


def vs_tx(op, src, dst, length=0, payload=0, flags=0, buf_alloc=65536, fwd_cnt=0, shape=0, nseg=0, extra=b""):
    return (u8(0) + u8(shape) + u16(op) + u32(src) + u32(dst) + u32(length) + u32(flags) +
            u32(buf_alloc) + u32(fwd_cnt) + u16(payload) + u8(nseg) + extra)


def vs_rx(count, size, nseg=1):
    return u8(1) + u8(count - 1) + u32(size) + u8(nseg - 1)


def vs_connect(port, mode=0):
    return u8(2) + u32(port) + u8(mode)


def vs_host(kind, host, arg=b""):
    return u8(kind | host << 3) + arg


def vsock_seeds():
    pump = u8(7)
    # The guest connects to a host listener (uds_path_1024); data both ways, then a full shutdown.
    write("fuzz_vsock", "guest_connect",
          u8(1) + vs_rx(8, 44 + 4096) + vs_tx(V_REQUEST, 5000, 1024) + u8(6) +
          vs_host(3, 0, u16(100)) + pump + vs_tx(V_RW, 5000, 1024, 50, 50) +
          vs_host(4, 0) + vs_tx(V_SHUTDOWN, 5000, 1024, flags=3) + pump)
    # A host program connects to the guest's port 5001; the guest answers; data to the guest.
    write("fuzz_vsock", "host_connect",
          u8(0) + vs_rx(8, 44 + 4096, 2) + vs_connect(5001) + pump +
          vs_tx(V_RESPONSE, 5001, HOST_PORT0) + vs_host(3, 0, u16(200)) + pump +
          vs_tx(V_CREDIT_REQUEST, 5001, HOST_PORT0) + vs_tx(V_RST, 5001, HOST_PORT0))
    # A guest with little credit: ember stops at it, asks for more, goes on when it comes.
    write("fuzz_vsock", "credit",
          u8(1) + vs_rx(16, 44 + 1024) + vs_tx(V_REQUEST, 5002, 1025, buf_alloc=100) + u8(6) +
          vs_host(3, 0, u16(1000)) + pump + vs_tx(V_CREDIT_UPDATE, 5002, 1025, buf_alloc=4096, fwd_cnt=100) +
          pump + vs_host(5, 0) + pump)
    # Packets ember must drop or refuse: a short header, a foreign CID, len past the buffer, a seqpacket.
    write("fuzz_vsock", "malformed",
          u8(0) + vs_rx(8, 44) + vs_tx(V_RW, 1, 2, shape=4, extra=u8(20)) +
          vs_tx(V_REQUEST, 7, 1024, shape=1, extra=u64(4) + u64(2) + u16(1)) +
          vs_tx(V_RW, 7, 1024, length=100, payload=10, nseg=2) +
          vs_tx(V_REQUEST, 8, 1024, shape=1, extra=u64(3) + u64(2) + u16(2)) + pump)
    # Snapshot transport resets: the event in 8-byte buffers until they run out, a 3-byte
    # buffer given back empty, an 8-byte one; a host program connects again afterwards.
    def reset(post=None):
        return u8(7 | 64) + u8(0 if post is None else 1 | (post - 1) << 1)
    write("fuzz_vsock", "transport_reset",
          u8(1) + vs_rx(8, 44 + 4096) + vs_tx(V_REQUEST, 5003, 1024) + u8(6) +
          vs_connect(5004) + pump + vs_tx(V_RESPONSE, 5004, HOST_PORT0) +
          vs_host(3, 0, u16(100)) + pump + reset() + reset() + reset() + reset() + reset() +
          reset(3) + reset(8) + vs_connect(5005) + pump + vs_tx(V_RESPONSE, 5005, HOST_PORT0 + 1) + pump)
    # A writable buffer before the packet's readable ones: the device needs a reset.
    write("fuzz_vsock", "writable_first",
          u8(1) + vs_rx(2, 64) + vs_tx(V_REQUEST, 9, 1024, shape=16) + vs_tx(V_REQUEST, 9, 1024) + pump)


# ---- fuzz_net: interface and driver bytes, then operations (tests/fuzz/fuzz_net.c) ----

def net_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    return u8(flags) + u8(gso) + u16(hdr_len) + u16(gso_size) + u16(csum_start) + u16(csum_offset) + u16(0)


def net_tx(length, hdr=None, nseg=1, flags=16):
    return u8(0 | flags) + (hdr or net_hdr()) + u32(length) + u8(nseg - 1)


def net_rx(count, size, nseg=1, flags=0):
    return u8(1 | flags) + u8(count - 1) + u32(size) + u8(nseg - 1)


def net_host(length, flags=0, gso=0):
    return u8(2) + u8(flags) + u8(gso) + u32(length)


def net_seeds():
    EVENT_IDX, MRG, CSUM, GUEST_CSUM, HOST_GSO, GUEST_GSO, MTU = 1, 4, 8, 16, 32, 64, 128
    pump = u8(3)
    # A frame in two buffers to the tap, and one with its header in a buffer of its own.
    write("fuzz_net", "tx_plain", u8(2) + u8(EVENT_IDX) + net_tx(60, nseg=2) + net_tx(1514, flags=16 | 4 | 32))
    # A TCP segmentation frame with a partial checksum, to a tap that takes offloads.
    write("fuzz_net", "tx_gso",
          u8(1) + u8(CSUM | HOST_GSO | GUEST_CSUM | GUEST_GSO) +
          net_tx(9000, net_hdr(1, 1, 54, 1448, 34, 16), nseg=3))
    # Frames to the guest, one buffer each.
    write("fuzz_net", "rx_plain", u8(2) + u8(0) + net_rx(4, 2048) + net_host(1514) + net_host(60) + pump)
    # Merged buffers: a 1500-byte frame in 512-byte buffers.
    write("fuzz_net", "rx_mrg",
          u8(0) + u8(MRG | EVENT_IDX) + net_rx(8, 512, 2) + net_host(1500, 2) + pump)
    # An MTU of 1400 both ways: the longer frames are dropped, the others go.
    write("fuzz_net", "mtu",
          u8(4) + u8(MTU) + net_tx(1500, flags=0) + net_tx(1000) + net_rx(2, 2048) +
          net_host(1500) + net_host(1000) + pump)
    # The config space: the MAC read, rewritten in part, read back; the MTU; a read past the end.
    cfg_r = lambda off, code: u8(3 | 8) + u8(off) + u8(code)
    write("fuzz_net", "config",
          u8(6) + u8(MTU) + cfg_r(0, 2) + u8(3 | 8 | 16) + u8(4) + u8(1) + u64(0xbeef) +
          cfg_r(0, 3) + cfg_r(8, 2) + cfg_r(10, 2))
    # Malformed frames: a writable buffer, an unknown gso_type, too short; a refused rx buffer.
    write("fuzz_net", "malformed",
          u8(0) + u8(0) + net_tx(100, flags=8) + net_tx(100, net_hdr(0, 0x33, 0, 100)) + net_tx(10) +
          net_rx(1, 2048, 1, 4) + net_host(100) + pump)


# ---- fuzz_mmds: a guest talking to the MMDS stack (tests/fuzz/fuzz_mmds.c; numbers big-endian) ----

def mm_seg(port, tflags, payload=b"", auto=True, syn_opts=False):
    op = 1 | ((1 if auto else 0) << 2) | ((1 if syn_opts else 0) << 3)
    return u8(op) + u8(port) + u8(tflags) + struct.pack(">H", len(payload)) + payload


def mm_take(n):
    return u8(2) + u8(n)


def mm_session(port, request, close=True):
    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
    out = mm_seg(port, SYN, syn_opts=True) + mm_take(4) + mm_seg(port, ACK)
    out += mm_seg(port, ACK | PSH, request) + mm_take(16)
    if close:
        out += mm_seg(port, ACK | FIN) + mm_take(4)
    return out


def mmds_seeds():
    arp = (b"\xff" * 6 + bytes([2, 0, 0, 0, 0, 7]) + struct.pack(">H", 0x0806) +
           struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + bytes([2, 0, 0, 0, 0, 7]) +
           bytes([169, 254, 0, 2]) + b"\x00" * 6 + bytes([169, 254, 169, 254]))
    write("fuzz_mmds", "arp", u8(0) + u8(0) + struct.pack(">H", len(arp)) + arp + mm_take(1))
    write("fuzz_mmds", "v1_get", u8(0) + mm_session(
        0, b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n"
           b"User-Agent: Wget\r\nConnection: close\r\n\r\n"))
    write("fuzz_mmds", "v1_json_keepalive", u8(0) + mm_session(
        1, b"GET /latest HTTP/1.1\r\nAccept: application/json\r\n\r\nGET /big HTTP/1.1\r\n\r\n",
        close=False) + mm_take(8))
    write("fuzz_mmds", "v2_token", u8(1) + mm_session(
        2, b"PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n",
        close=False) + u8(3) + struct.pack(">H", 61) +
        mm_seg(2, 0x18, b"GET / HTTP/1.1\r\nX-metadata-token: 00\r\n\r\n") + mm_take(8))
    write("fuzz_mmds", "garbage", u8(0) + mm_session(3, b"\x00\x01 nonsense\r\n\r\n") +
          mm_seg(3, 0x10, b"late", auto=False) + u8(0) + u8(4) + b"\x00\x00\x00\x01" +
          u8(0) + mm_take(8))


# ---- fuzz_loader: a kernel image, also loaded as the initrd (tests/fuzz/fuzz_loader.c) ----

def elf64(entry, segments, notes=b""):
    """An x86-64 ELF64 executable: PT_LOADs of (paddr, data, memsz), then one PT_NOTE if @notes."""
    phnum = len(segments) + (1 if notes else 0)
    off = 64 + 56 * phnum
    ph, body = b"", b""
    for paddr, data, memsz in segments:
        ph += struct.pack("<IIQQQQQQ", 1, 5, off + len(body), paddr, paddr, len(data), memsz, 0x1000)
        body += data
    if notes:
        ph += struct.pack("<IIQQQQQQ", 4, 4, off + len(body), 0, 0, len(notes), len(notes), 4)
        body += notes
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, 64, 0, 0, 64, 56, phnum, 0, 0, 0)
    return eh + ph + body


def bzimage(relocatable=True, pref=0x200000, payload=b"\x90" * 64):
    """A bzImage of boot protocol 2.15 with one setup sector and a 64-bit entry."""
    h = bytearray(1024)
    h[0x1f1] = 1                                   # setup_sects
    h[0x1f4:0x1f8] = u32(len(payload) // 16)       # syssize
    h[0x1fe:0x200] = u16(0xaa55)                   # boot_flag
    h[0x200:0x202] = bytes([0xeb, 0x66])           # jump: the header ends at 0x268
    h[0x202:0x206] = b"HdrS"
    h[0x206:0x208] = u16(0x020f)                   # version
    h[0x211] = 0x01                                # loadflags: LOADED_HIGH
    h[0x22c:0x230] = u32(0x7fffffff)               # initrd_addr_max
    h[0x230:0x234] = u32(0x200000)                 # kernel_alignment
    h[0x234] = 1 if relocatable else 0
    h[0x236:0x238] = u16(0x01)                     # xloadflags: XLF_KERNEL_64
    h[0x258:0x260] = u64(pref)                     # pref_address
    h[0x260:0x264] = u32(0x1000)                   # init_size
    return bytes(h) + payload


def loader_seeds():
    code = b"\xf4" * 16                             # hlt
    write("fuzz_loader", "elf_vmlinux", elf64(0x100000, [(0x100000, code, 0x2000)]))
    pvh_note = u32(4) + u32(4) + u32(18) + b"Xen\0" + u32(0x100010)
    write("fuzz_loader", "elf_pvh", elf64(0x100000, [(0x100000, code, 0x1000)], pvh_note))
    write("fuzz_loader", "bzimage", bzimage())
    write("fuzz_loader", "bzimage_fixed", bzimage(relocatable=False))


def snapshot_seeds():
    cfg = b'{"machine-config":{"vcpu_count":1,"mem_size_mib":128}}'
    recs = [(1, 0, 0, "", cfg), (3, 0, 0, "", bytes(range(40))), (4, 0, 0, "", bytes(200)),
            (5, 5, 0, "rootfs", b"\x01" * 13), (5, 7, 0, "vsock", b"\x02" * 24)]
    write("fuzz_snapshot", "full", snapshot_file(recs))
    write("fuzz_snapshot", "empty", snapshot_file([]))
    write("fuzz_snapshot", "minor1_new_type", snapshot_file(recs[:1] + [(9, 0, 0, "x", b"new")],
                                                           minor=1))


if __name__ == "__main__":
    mmio_seeds()
    blk_seeds()
    vsock_seeds()
    net_seeds()
    mmds_seeds()
    loader_seeds()
    snapshot_seeds()
