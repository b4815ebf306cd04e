#!/usr/bin/env python3
"""A hostile FastCGI peer, for scenarios/hostile/: what a buggy or malicious implementation
under test may do to the harness. Each mode is one behaviour; the scenario says what the
harness must do about it (end within its deadline, bounded memory, a verdict that names it).

  hostile_peer.py backend MODE ADDR           ADDR: 127.0.0.1:PORT or unix:/path
  hostile_peer.py gateway MODE HTTP_PORT BACKEND_ADDR

Backend modes (the harness's fake gateway is the other side):
  stdout-flood     answers every request with a CGI head, then 64 KiB STDOUT records forever
  stderr-flood     STDERR records of 64 KiB forever, never STDOUT or END_REQUEST
  foreign-ids      STDOUT and END_REQUEST records for every request id but the one asked, forever
  slowloris        the response, one byte a second
  ignore-sigterm   serves a correct response, and ignores SIGTERM (the harness must kill it)
  fork-holder      serves a correct response; a setsid'd child also holds the listening socket
Gateway modes (the harness's client and fake backend are the other sides):
  params-flood     every HTTP request becomes BEGIN_REQUEST and then PARAMS records forever
  request-ids      BEGIN_REQUEST + empty PARAMS + empty STDIN for ids 1..65535 over and over
  never-reads      forwards the request for a 64 MiB response and never reads the answer
  slowloris        sends the FastCGI request one byte a second
  http-flood       answers the client 200 with a chunked body that never ends
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fcgi_wire import (BEGIN, END, PARAMS, STDERR, STDIN, STDOUT, end_request,  # noqa: E402
                       name_value, read_record, record)

CHUNK = b"x" * 65535


def read_record_or_none(conn):
    """The next record, or None once the harness closed."""
    try:
        return read_record(conn)
    except EOFError:
        return None


def listen(addr):
    if addr.startswith("unix:"):
        path = addr[5:]
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    s.listen(64)
    return s


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    return s


def read_request(conn):
    """Reads one request up to its empty STDIN; returns (request_id, params bytes)."""
    request_id, params = None, b""
    while True:
        rec = read_record_or_none(conn)
        if rec is None:
            return None, params
        kind, rid, body = rec
        if kind == BEGIN:
            request_id = rid
        elif kind == PARAMS:
            params += body
        elif kind == STDIN and not body:
            return request_id, params


def correct_response(conn, request_id):
    body = b"hello from a hostile peer\n"
    head = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    conn.sendall(record(STDOUT, request_id, head + body) + record(STDOUT, request_id) +
                 end_request(request_id))


def serve_backend(mode, conn):
    try:
        request_id, _ = read_request(conn)
        if request_id is None:
            return
        if mode == "stdout-flood":
            conn.sendall(record(STDOUT, request_id, b"Status: 200 OK\r\n\r\n"))
            while True:
                conn.sendall(record(STDOUT, request_id, CHUNK))
        elif mode == "stderr-flood":
            while True:
                conn.sendall(record(STDERR, request_id, CHUNK))
        elif mode == "foreign-ids":
            rid = 0
            while True:
                rid = rid % 65535 + 1
                if rid != request_id:
                    conn.sendall(record(STDOUT, rid, b"Status: 200 OK\r\n\r\nnot yours") +
                                 end_request(rid))
        elif mode == "slowloris":
            head = b"Status: 200 OK\r\n\r\nslow"
            for byte in record(STDOUT, request_id, head) + record(END, request_id, bytes(8)):
                conn.sendall(bytes([byte]))
                time.sleep(1)
        else:  # ignore-sigterm, fork-holder: a correct answer
            correct_response(conn, request_id)
    except OSError:
        pass
    finally:
        conn.close()


def backend(mode, addr):
    server = listen(addr)
    if mode == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "fork-holder" and os.fork() == 0:
        os.setsid()  # out of the process group the harness stops
        while True:
            time.sleep(3600)  # holding `server` open: the port stays taken
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve_backend, args=(mode, conn), daemon=True).start()


def read_http_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


def serve_gateway(mode, client, backend_addr):
    try:
        if read_http_request(client) is None:
            return
        if mode == "http-flood":
            client.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
            while True:
                client.sendall(piece)
        upstream = connect(backend_addr)
        params = name_value(b"REQUEST_METHOD", b"GET") + \
            name_value(b"QUERY_STRING", b"size=67108864") + \
            name_value(b"SCRIPT_NAME", b"/probe") + name_value(b"SERVER_PROTOCOL", b"HTTP/1.1")
        request = record(BEGIN, 1, struct.pack(">HB5x", 1, 0)) + record(PARAMS, 1, params) + \
            record(PARAMS, 1) + record(STDIN, 1)
        if mode == "params-flood":
            upstream.sendall(record(BEGIN, 1, struct.pack(">HB5x", 1, 0)))
            junk = name_value(b"HTTP_X_FLOOD", b"y" * 60000)
            while True:
                upstream.sendall(record(PARAMS, 1, junk))
        elif mode == "request-ids":
            rid = 0
            while True:
                rid = rid % 65535 + 1
                upstream.sendall(record(BEGIN, rid, struct.pack(">HB5x", 1, 1)) +
                                 record(PARAMS, rid, params) + record(PARAMS, rid) +
                                 record(STDIN, rid))
        elif mode == "never-reads":
            upstream.sendall(request)
            while True:
                time.sleep(3600)
        elif mode == "slowloris":
            for byte in request:
                upstream.sendall(bytes([byte]))
                time.sleep(1)
            while True:
                time.sleep(3600)
    except OSError:
        pass
    finally:
        client.close()


def gateway(mode, http_port, backend_addr):
    server = listen("127.0.0.1:%s" % http_port)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve_gateway, args=(mode, conn, backend_addr),
                         daemon=True).start()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    role, mode = sys.argv[1], sys.argv[2]
    if role == "backend":
        backend(mode, sys.argv[3])
    elif role == "gateway":
        gateway(mode, sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
