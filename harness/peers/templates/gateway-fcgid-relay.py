#!/usr/bin/python3
# fcgi-harness: the application mod_fcgid spawns when the backend is an address. mod_fcgid
# hands its app a listening unix socket on fd 0 (FastCGI 1.0 §2.2, FCGI_LISTENSOCK_FILENO) and
# cannot proxy itself (real-peers.md §2), so this relays each accepted connection byte for byte
# to the upstream given as argv[1] ("127.0.0.1:9000", "[::1]:9000" or "unix:/path"). A FIN
# is passed on as a half-close and an RST as an RST, so the backend's faults reach mod_fcgid.
import socket, struct, sys, threading


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


def pump(src, dst, done):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                dst.shutdown(socket.SHUT_WR)
                break
            dst.sendall(data)
    except ConnectionResetError:
        # RST for RST: SO_LINGER 0, then close.
        dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        dst.close()
    except OSError:
        pass
    done.release()


def serve(conn, upstream):
    try:
        up = connect(upstream)
    except OSError:
        conn.close()
        return
    done = threading.Semaphore(0)
    threading.Thread(target=pump, args=(conn, up, done), daemon=True).start()
    threading.Thread(target=pump, args=(up, conn, done), daemon=True).start()
    done.acquire()
    done.acquire()
    up.close()
    conn.close()


def main():
    listener = socket.socket(fileno=0)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, sys.argv[1]), daemon=True).start()


if __name__ == "__main__":
    main()
