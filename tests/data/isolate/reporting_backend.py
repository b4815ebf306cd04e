#!/usr/bin/python3
# A backend that first says what it can see, then serves FastCGI: for tests/isolation_test.py.
# It writes a JSON report (its uid, the network interfaces it sees, and whether a TCP port
# the test holds on the machine's own loopback answers it), then becomes
# tests/data/generic/fcgi_probe_server.py, listening where the harness said.
# Usage: reporting_backend.py REPORT.json HOST_PORT ADDR
import json, os, socket, sys

report, host_port, addr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    with socket.create_connection(("127.0.0.1", host_port), timeout=2):
        reach = "connected"
except OSError as e:
    reach = type(e).__name__
seen = {"uid": os.getuid(), "interfaces": [name for _, name in socket.if_nameindex()],
        "host_port": reach}
with open(report + ".part", "w") as out:
    json.dump(seen, out)
os.rename(report + ".part", report)
server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "generic",
                      "fcgi_probe_server.py")
os.execv(sys.executable, [sys.executable, server, addr])
