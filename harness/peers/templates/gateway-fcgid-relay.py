#!/usr/bin/python3
# fcgi-harness: the application mod_fcgid spawns when the backend is an address. mod_fcgid
# hands its app a listening unix socket on fd 0 (FastCGI 1.0 §2.2, FCGI_LISTENSOCK_FILENO) and
# cannot proxy itself (real-peers.md §2), so this relays each accepted connection byte for byte
# to the upstream given as argv[1] ("127.0.0.1:9000", "[::1]:9000" or "unix:/path"). A FIN
# is passed on as a half-close and an RST as an RST, so the backend's faults reach mod_fcgid.
import select, socket, struct, sys, threading


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
        return s
    host, port = addr.rsplit(":", 1)
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect((host.strip("[]"), int(port)))
    return s


def reset(sock):
    """RST for RST: SO_LINGER 0, then close."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def serve(conn, upstream):
    # One thread per connection pair, both directions in one select loop: a close here takes
    # effect at once (with a thread per direction, a recv blocked in the other thread kept the
    # socket open, so a backend's RST reached mod_fcgid only at its own timeout).
    try:
        up = connect(upstream)
    except OSError:
        reset(conn)
        return
    peer = {conn: up, up: conn}
    open_reads = {conn, up}
    try:
        while open_reads:
            ready, _, _ = select.select(list(open_reads), [], [])
            for src in ready:
                try:
                    data = src.recv(65536)
                except ConnectionResetError:
                    reset(peer[src])
                    src.close()
                    return
                if data:
                    peer[src].sendall(data)
                else:  # FIN: pass it on as a half-close
                    open_reads.discard(src)
                    try:
                        peer[src].shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
    except OSError:
        pass
    up.close()
    conn.close()


def main():
    listener = socket.socket(fileno=0)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, sys.argv[1]), daemon=True).start()


if __name__ == "__main__":
    main()
