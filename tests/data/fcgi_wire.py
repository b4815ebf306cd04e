"""FastCGI 1.0 records for the test programs written in Python (standard library only): the
hostile peers (hostile/hostile_peer.py) and the hand-written backend
(generic/fcgi_probe_server.py). One definition of the framing, so the two cannot drift.
Section numbers are the FastCGI 1.0 specification's.
"""
import struct

# §8: record types.
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT = 9, 10
HEADER = struct.Struct(">BBHHBx")  # §3.3: version, type, requestId, contentLength, paddingLength


def record(kind, request_id, content=b""):
    """One record, unpadded (§3.3: padding is optional)."""
    return HEADER.pack(1, kind, request_id, len(content), 0) + content


def end_request(request_id, app_status=0, protocol_status=0):
    """FCGI_END_REQUEST (§5.5)."""
    return record(END, request_id, struct.pack(">IB3x", app_status, protocol_status))


def read_exact(conn, n):
    """n bytes from a socket; EOFError when the peer closes first."""
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise EOFError
        data += part
    return data


def read_record(conn):
    """(type, request id, content) of the next record, the padding read and dropped."""
    _, kind, request_id, length, padding = HEADER.unpack(read_exact(conn, HEADER.size))
    content = read_exact(conn, length + padding)
    return kind, request_id, content[:length]


def name_value(name, value):
    """One name-value pair (§3.4): 1-byte lengths below 128, else 4 bytes with the high bit."""
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def name_values(data):
    """The pairs of a PARAMS stream (§3.4), as latin-1 text."""
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
