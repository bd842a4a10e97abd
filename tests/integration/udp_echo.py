#!/usr/bin/env python3
# udp_echo.py: UDP echo server for the net tests: udp_echo.py ADDR PORT COUNTFILE; on SIGTERM writes "<datagrams> <bytes>" and exits.
import os, signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.1)
stop = False
def term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, term)
open(sys.argv[3] + ".ready", "w").close()
n = b = 0
while not stop:
    try:
        d, a = s.recvfrom(65536)
    except socket.timeout:
        continue
    n += 1
    b += len(d)
    s.sendto(d, a)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write("%d %d\n" % (n, b))
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
