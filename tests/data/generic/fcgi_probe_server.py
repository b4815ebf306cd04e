#!/usr/bin/python3
# A FastCGI 1.0 responder written for the generic-backend test: the part of the probe-app
# contract the test uses (size=N pattern, echo=1, status=NNN; README "The probe-app contract").
# Framing by hand, standard library only. Usage: fcgi_probe_server.py 127.0.0.1:PORT | unix:/path
import http, os, socket, struct, sys, threading, urllib.parse

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, GET_VALUES, GET_VALUES_RESULT = 1, 2, 3, 4, 5, 6, 9, 10


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise EOFError
        data += part
    return data


def record(rtype, rid, content=b""):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), 0) + content


def name_values(data):
    out, i = {}, 0
    while i < len(data):
        lengths = []
        for _ in range(2):
            n = data[i]
            if n >> 7:
                n, i = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF, i + 4
            else:
                i += 1
            lengths.append(n)
        name, value = data[i:i + lengths[0]], data[i + lengths[0]:i + sum(lengths)]
        out[name.decode("latin-1")] = value.decode("latin-1")
        i += sum(lengths)
    return out


def respond(conn, rid, params, body, keep):
    q = urllib.parse.parse_qs(params.get("QUERY_STRING", ""))
    status = int(q.get("status", ["200"])[0])
    if "size" in q:
        n = int(q["size"][0])
        payload = (b"0123456789abcdef" * (n // 16 + 1))[:n]
    elif q.get("echo") == ["1"]:
        payload = body
    else:
        payload = "".join(f"{k}={v}\n" for k, v in sorted(params.items())).encode()
    # RFC 3875 §6.3.3: the reason phrase is part of Status (nginx relays it as is).
    head = (f"Status: {status} {http.HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    out, data = [], head + payload
    for off in range(0, len(data), 65535):
        out.append(record(STDOUT, rid, data[off:off + 65535]))
    out.append(record(STDOUT, rid) + record(END, rid, struct.pack(">IB3x", 0, 0)))
    conn.sendall(b"".join(out))
    return keep


def serve(conn):
    requests = {}
    try:
        while True:
            _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", read_exact(conn, 8))
            content = read_exact(conn, clen)
            read_exact(conn, plen)
            if rtype == BEGIN:
                requests[rid] = {"keep": content[2] & 1, "params": b"", "stdin": b""}
            elif rtype == GET_VALUES:
                conn.sendall(record(GET_VALUES_RESULT, 0, b"\x0f\x01FCGI_MPXS_CONNS0"))
            elif rtype == PARAMS and rid in requests:
                requests[rid]["params"] += content
            elif rtype == STDIN and rid in requests:
                if content:
                    requests[rid]["stdin"] += content
                    continue
                r = requests.pop(rid)
                if not respond(conn, rid, name_values(r["params"]), r["stdin"], r["keep"]):
                    break
            elif rtype == ABORT and rid in requests:
                requests.pop(rid)
                conn.sendall(record(END, rid, struct.pack(">IB3x", 0, 0)))
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
