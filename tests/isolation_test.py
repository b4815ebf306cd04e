#!/usr/bin/env python3
"""`certify --isolate`: the implementation under test sees only loopback and runs unprivileged.

Usage: isolation_test.py HARNESS

The story: the test holds a TCP port on the machine's own 127.0.0.1, then certifies
tests/data/isolate/reporting_backend.py, a backend that writes down its uid, the interfaces it
sees and whether that port answers it, before it serves FastCGI.
  1. Without --isolate (the control, so the test can fail): it runs as the harness (root), and
     the port answers.
  2. With --isolate as root: it runs as nobody, sees only lo, and the port is out of reach; the
     check still passes (over tcp and a unix socket) and the header says how it was isolated.
  3. With --isolate as nobody (setpriv): the harness makes a user namespace too; the backend
     sees only lo, the port is out of reach.
  4. Combinations that cannot be honoured are usage errors (exit 2), nothing run.
Exits 1 on any miss, printing what was expected and what came.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys
import shutil
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
CHECK = "backend/6.3/*"  # one quick check: the backend serves, and it started where we watch
failures = []


def expect(what, got, want):
    ok = got == want
    print("%s %s: %r%s" % ("ok  " if ok else "MISS", what, got, "" if ok else " (want %r)" % want))
    if not ok:
        failures.append(what)


def readable_by_nobody(harness, folder):
    """The harness, the catalogue and the backend copied where nobody may read them: a clean
    clone may sit in a folder only root can enter (mktemp -d)."""
    folder = pathlib.Path(folder)
    for source, target in [(ROOT / "tests" / "data" / "isolate", folder / "data" / "isolate"),
                           (ROOT / "tests" / "data" / "generic", folder / "data" / "generic"),
                           (ROOT / "scenarios" / "certify", folder / "catalogue")]:
        shutil.copytree(source, target)
    shutil.copy2(ROOT / "tests" / "data" / "fcgi_wire.py", folder / "data")
    shutil.copy2(harness, folder / "fcgi-harness")
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    out = folder / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)  # the backend writes its report as nobody
    return folder / "fcgi-harness", folder / "catalogue", folder / "data" / "isolate" / \
        "reporting_backend.py", out / "seen.json"


def certify(copy, port, *extra, as_nobody=False, transport="tcp"):
    harness, catalogue, backend, report = copy
    command = "/usr/bin/python3 %s %s %d {addr}" % (backend, report, port)
    argv = [str(harness), "certify", "backend", "--spawn", command, "--catalogue",
            str(catalogue), "--cases", CHECK, "--transport", transport, "--keep", "none", *extra]
    if as_nobody:
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    if os.path.exists(report):
        os.unlink(report)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    seen = json.loads(pathlib.Path(report).read_text()) if os.path.exists(report) else {}
    return done, seen


def main():
    harness = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("isolation_test: needs root (it certifies as root and as nobody)")
        return 1
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="fh_isolate_") as folder:
        copy = readable_by_nobody(harness, folder)

        done, seen = certify(copy, port)
        expect("control: exit status", done.returncode, 0)
        expect("control: the backend's uid", seen.get("uid"), 0)
        expect("control: the machine's port answers", seen.get("host_port"), "connected")

        for transport in ("tcp", "unix"):
            done, seen = certify(copy, port, "--isolate", transport=transport)
            expect("isolated over %s: exit status" % transport, done.returncode, 0)
            expect("isolated over %s: the header" % transport,
                   "isolated: a network namespace of its own holding only lo; the command runs "
                   "as nobody" in done.stdout, True)
            expect("isolated over %s: the backend's uid" % transport, seen.get("uid"), 65534)
            expect("isolated over %s: its interfaces" % transport, seen.get("interfaces"), ["lo"])
            expect("isolated over %s: the machine's port" % transport, seen.get("host_port"),
                   "ConnectionRefusedError")

        done, seen = certify(copy, port, "--isolate", as_nobody=True)
        expect("isolated as nobody: exit status", done.returncode, 0)
        expect("isolated as nobody: the header", "(in a user namespace)" in done.stdout, True)
        expect("isolated as nobody: its interfaces", seen.get("interfaces"), ["lo"])
        expect("isolated as nobody: the machine's port", seen.get("host_port"),
               "ConnectionRefusedError")

        for what, argv, said in [
            ("--isolate with --connect", ["certify", "backend", "--connect",
                                          "127.0.0.1:%d" % port, "--isolate"],
             "one given with --connect already runs outside it"),
            ("--user with --adapter", ["certify", "backend", "--adapter", "php-fpm", "--user",
                                       "nobody"], "--user nobody applies to a --spawn command"),
        ]:
            done = subprocess.run([harness, *argv], capture_output=True, text=True, timeout=60)
            expect(what + ": exit status", done.returncode, 2)
            expect(what + ": says why", said in done.stderr, True)
            expect(what + ": nothing run", "certifying" in done.stdout, False)
    listener.close()
    print("%d miss(es)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
