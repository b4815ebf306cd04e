#!/usr/bin/python3
# A FastCGI 1.0 responder written by hand (standard library only) for the generic-backend tests
# and as the example of certifying a backend the harness has no adapter for: the whole
# probe-app contract (README "The probe-app contract"), but only as much of FastCGI as a
# quick implementation has (no FCGI_UNKNOWN_TYPE, no FCGI_UNKNOWN_ROLE, ABORT_REQUEST only
# before the response): `certify backend --spawn` says what that costs.
# Usage: fcgi_probe_server.py 127.0.0.1:PORT | unix:/path
import hashlib, http, os, socket, sys, threading, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fcgi_wire import (ABORT, BEGIN, GET_VALUES, GET_VALUES_RESULT, PARAMS, STDERR,  # noqa: E402
                       STDIN, STDOUT, end_request, name_values, read_record, record)


def respond(conn, rid, params, body):
    q = {k: v[0] for k, v in urllib.parse.parse_qs(params.get("QUERY_STRING", "")).items()}
    status = int(q.get("status", "200"))
    step = int(q.get("chunk", "0")) or 65535
    if "size" in q:  # the pattern, made piece by piece (a 1 GiB response is never in memory)
        total = int(q["size"])
        pattern = b"0123456789abcdef" * (step // 16 + 2)  # any offset, a whole piece
        piece_of = lambda at, n: pattern[at % 16:at % 16 + n]
    else:
        if q.get("echo") != "1":  # the listing: every parameter, then the stdin digest
            body = ("".join(f"{k}={v}\n" for k, v in sorted(params.items())) +
                    f"STDIN-BYTES={len(body)}\nSTDIN-SHA256={hashlib.sha256(body).hexdigest()}\n"
                    ).encode()
        total, piece_of = len(body), lambda at, n: body[at:at + n]
    time.sleep(int(q.get("first_byte_ms", "0")) / 1000)
    if "stderr" in q:
        conn.sendall(record(STDERR, rid, b"E" * int(q["stderr"])) + record(STDERR, rid))
    # RFC 3875 §6.3.3: the reason phrase is part of Status (nginx relays it as is).
    head = (f"Status: {status} {http.HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    conn.sendall(record(STDOUT, rid, head))
    delay = int(q.get("delay_ms", "0")) / 1000
    for at in range(0, total, step):
        piece = piece_of(at, min(step, total - at))
        for off in range(0, len(piece), 65535):
            conn.sendall(record(STDOUT, rid, piece[off:off + 65535]))
        if delay:
            time.sleep(delay)
    conn.sendall(record(STDOUT, rid) + end_request(rid))


def serve(conn):
    requests = {}
    try:
        while True:
            rtype, rid, content = read_record(conn)
            if rtype == BEGIN:
                requests[rid] = {"keep": content[2] & 1, "params": b"", "stdin": b""}
            elif rtype == GET_VALUES:
                conn.sendall(record(GET_VALUES_RESULT, 0, b"\x0f\x01FCGI_MPXS_CONNS0"))
            elif rtype == PARAMS and rid in requests:
                r = requests[rid]
                r["params"] += content
                # size=N answers without reading the body (the probe contract): at once.
                if not content and "size" in urllib.parse.parse_qs(
                        name_values(r["params"]).get("QUERY_STRING", "")):
                    r["answered"] = True
                    respond(conn, rid, name_values(r["params"]), b"")
            elif rtype == STDIN and rid in requests:
                r = requests[rid]
                if content:
                    if not r.get("answered"):
                        r["stdin"] += content
                    continue
                # The end of STDIN: answer now, or, answered already, the body has been read
                # to its end (no RST over unread input) and the request is over.
                requests.pop(rid)
                if not r.get("answered"):
                    respond(conn, rid, name_values(r["params"]), r["stdin"])
                if not r["keep"]:
                    break
            elif rtype == ABORT and rid in requests:
                requests.pop(rid)
                conn.sendall(end_request(rid))
    except (EOFError, OSError):
        pass
    conn.close()


def main():
    addr = sys.argv[1]
    if addr.startswith("unix:"):
        path = addr[5:]
        if os.path.exists(path):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
    else:
        host, port = addr.rsplit(":", 1)
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), int(port)))
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
