#!/usr/bin/python3
"""`serve` puts our fakes into other people's setups: an ordinary HTTP load driver (ab) gets
the probe contract from

  1. ab -> real nginx -> `fcgi-harness serve backend`, and
  2. ab -> `fcgi-harness serve gateway` -> real php-fpm (the PHP probe app),
  3. for scale, ab -> nginx -> the same php-fpm,

each with every response the probe body (ab's "Failed requests: 0" counts a length that
differs from the first response's, and one response is fetched and compared byte for byte).
nginx and php-fpm start from the repository's own templates (harness/peers/templates), on
loopback ports picked at run time; every process is stopped and reaped at the end.

Usage: serve_ab_test.py FCGI_HARNESS_BINARY [REQUESTS]   (prints ab's figures)
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = os.path.abspath(sys.argv[1])
REQUESTS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(SOURCE, "harness", "peers", "templates")
SIZE = 4096
PATTERN = (b"0123456789abcdef" * (SIZE // 16 + 1))[:SIZE]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(template, target, values):
    text = open(os.path.join(TEMPLATES, template)).read()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    left = re.findall(r"\{[a-z_.]+\}", text)
    if left:
        sys.exit(f"{template}: placeholders left unrendered: {sorted(set(left))}")
    open(target, "w").write(text)


def wait_for_port(port, what, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


class Processes:
    """Starts each program in its own process group; stop() ends and reaps them all."""

    def __init__(self, log_dir):
        self.procs, self.log_dir = [], log_dir

    def start(self, name, argv):
        log = open(os.path.join(self.log_dir, name + ".log"), "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop(self):
        for _, proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_nginx(procs, name, run_dir, upstream_port):
    """nginx from the repository's template (keep-conn off, nginx's default) in front of the
    FastCGI upstream; returns its HTTP port once it listens."""
    http_port = free_port()
    for sub in ("tmp", "docroot"):
        os.makedirs(os.path.join(run_dir, sub), exist_ok=True)
    render("gateway-nginx.conf", os.path.join(run_dir, "nginx.conf"),
           {"run_dir": run_dir, "upstream": f"127.0.0.1:{upstream_port}",
            "http_listen": f"127.0.0.1:{http_port}", "fastcgi_keep_conn": "off",
            "fastcgi_buffering": "on", "fastcgi_request_buffering": "on",
            "fastcgi_read_timeout": "10s"})
    nginx = procs.start(name, ["nginx", "-p", run_dir, "-c", os.path.join(run_dir, "nginx.conf"),
                               "-e", os.path.join(run_dir, "error.log")])
    wait_for_port(http_port, name, nginx)
    return http_port


def ab(port, label):
    url = f"http://127.0.0.1:{port}/probe?size={SIZE}"
    body = urllib.request.urlopen(url, timeout=10).read()
    if body != PATTERN:
        sys.exit(f"{label}: GET {url}: the body is not the probe pattern ({len(body)} bytes)")
    out = subprocess.run(["ab", "-q", "-n", str(REQUESTS), "-c", "16", url],
                         capture_output=True, text=True, timeout=300).stdout
    figures = {k: re.search(rf"^{k}:\s+(.+)$", out, re.M) for k in
               ("Complete requests", "Failed requests", "Non-2xx responses",
                "Requests per second", "Document Length")}
    got = {k: (m.group(1).strip() if m else None) for k, m in figures.items()}
    print(f"{label}: {got['Complete requests']} complete, {got['Failed requests']} failed, "
          f"{got['Requests per second']}, document {got['Document Length']}")
    ok = (got["Complete requests"] == str(REQUESTS) and got["Failed requests"] == "0"
          and got["Non-2xx responses"] is None and got["Document Length"] == f"{SIZE} bytes")
    if not ok:
        sys.exit(f"{label}: ab did not get {REQUESTS} whole probe responses:\n{out}")


def main():
    for program in ("nginx", "php-fpm8.2", "ab"):
        if not shutil.which(program):
            sys.exit(f"{program} is not installed (ci/install-peers.sh installs it)")
    run_dir = tempfile.mkdtemp(prefix="fh-serve-ab-")
    procs = Processes(run_dir)
    try:
        for sub in ("tmp", "docroot"):
            os.makedirs(os.path.join(run_dir, sub))
        # 1. ab -> nginx -> serve backend
        backend_port = free_port()
        backend = procs.start("serve-backend",
                              [BINARY, "serve", "backend", "--listen", f"127.0.0.1:{backend_port}"])
        wait_for_port(backend_port, "serve backend", backend)
        http_port = start_nginx(procs, "nginx", run_dir, backend_port)
        ab(http_port, "ab -> nginx -> serve backend")
        # 2. ab -> serve gateway -> php-fpm (the PHP probe app at docroot/probe)
        fpm_port, gateway_port = free_port(), free_port()
        shutil.copy(os.path.join(SOURCE, "harness", "peers", "apps", "probe.php"),
                    os.path.join(run_dir, "docroot", "probe"))
        render("backend-php-fpm.conf", os.path.join(run_dir, "php-fpm.conf"),
               {"run_dir": run_dir, "listen": f"127.0.0.1:{fpm_port}", "pm.max_children": "4",
                "pm.max_requests": "0", "document_root": os.path.join(run_dir, "docroot")})
        fpm = procs.start("php-fpm", ["php-fpm8.2", "-F", "-R", "-n", "-y",
                                      os.path.join(run_dir, "php-fpm.conf")])
        wait_for_port(fpm_port, "php-fpm", fpm)
        gateway = procs.start("serve-gateway",
                              [BINARY, "serve", "gateway", "--listen", f"127.0.0.1:{gateway_port}",
                               "--backend", f"127.0.0.1:{fpm_port}", "--document-root",
                               os.path.join(run_dir, "docroot")])
        wait_for_port(gateway_port, "serve gateway", gateway)
        ab(gateway_port, "ab -> serve gateway -> php-fpm")
        # For scale: the same php-fpm behind the same nginx configuration as in 1 (nginx's
        # default, fastcgi_keep_conn off; with it on and keepalive 8 > pm.max_children 4, idle
        # kept connections pin php-fpm's workers: docs/certification-results.md).
        fpm_dir = os.path.join(run_dir, "nginx-php-fpm")
        os.makedirs(os.path.join(fpm_dir, "docroot"))
        shutil.copy(os.path.join(run_dir, "docroot", "probe"), os.path.join(fpm_dir, "docroot"))
        fpm_http_port = start_nginx(procs, "nginx-php-fpm", fpm_dir, fpm_port)
        ab(fpm_http_port, "ab -> nginx -> php-fpm (for scale)")
    finally:
        procs.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    print("serve: both chains answered ab with the probe contract")


if __name__ == "__main__":
    main()
