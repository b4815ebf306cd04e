#!/usr/bin/python3
# A tiny HTTP/1.1 -> FastCGI gateway written for the generic-gateway test, standard library
# only. Its config file (rendered by the harness from a template) has two lines:
#   listen = 127.0.0.1:PORT
#   backend = 127.0.0.1:PORT | unix:/path
#   document_root = /path   (optional: SCRIPT_FILENAME = document_root + path, which php-fpm,
#                            php-cgi and fcgiwrap need to find the script)
# One FastCGI connection per request (no FCGI_KEEP_CONN); the response is buffered.
import http.server, socket, struct, sys


def record(rtype, content=b""):
    return struct.pack(">BBHHBx", 1, rtype, 1, len(content), 0) + content


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode("latin-1"), value.encode("latin-1")
    return length(len(name)) + length(len(value)) + name + value


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)))
    return s


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path, _, query = self.path.partition("?")
        params = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": self.command,
                  "SCRIPT_NAME": path, "REQUEST_URI": self.path, "QUERY_STRING": query,
                  "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body))}
        if self.server.document_root:
            params["DOCUMENT_ROOT"] = self.server.document_root
            params["SCRIPT_FILENAME"] = self.server.document_root + path
        stream = b"".join(pair(k, v) for k, v in params.items())
        out = record(1, struct.pack(">HB5x", 1, 0)) + record(4, stream) + record(4)
        for off in range(0, len(body), 65535):
            out += record(5, body[off:off + 65535])
        conn = connect(self.server.backend)
        conn.sendall(out + record(5))
        stdout, data = b"", b""
        while True:
            part = conn.recv(65536)
            if not part:
                break
            data += part
            while len(data) >= 8:
                _, rtype, _, clen, plen = struct.unpack(">BBHHBx", data[:8])
                if len(data) < 8 + clen + plen:
                    break
                if rtype == 6:
                    stdout += data[8:8 + clen]
                data = data[8 + clen + plen:]
                if rtype == 3:
                    conn.close()
                    return self.reply(stdout)
        conn.close()
        self.send_error(502)

    def reply(self, stdout):
        head, _, payload = stdout.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode("latin-1").split("\r\n") if line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for k, v in headers:
            if k.lower() != "status":
                self.send_header(k, v.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = handle_any


def main():
    conf = dict(line.split("=", 1) for line in open(sys.argv[1]).read().splitlines()
                if "=" in line and not line.startswith("#"))
    conf = {k.strip(): v.strip() for k, v in conf.items()}
    host, port = conf["listen"].rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.backend = conf["backend"]
    server.document_root = conf.get("document_root", "")
    server.serve_forever()


if __name__ == "__main__":
    main()
