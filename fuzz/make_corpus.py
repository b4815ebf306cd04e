#!/usr/bin/env python3
"""Builds the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the repo's test data and
from captures of real peers.

  fuzz/make_corpus.py ARTIFACTS_DIR

ARTIFACTS_DIR holds what `fcgi-harness run scenarios/wire scenarios/real/observe-*.yaml
--keep all --artifacts DIR` kept: capture.pcapng files (nginx, apache, php-fpm and the fakes on
the wire) and strace logs. From them: each captured frame (target wire, frame mode), each TCP
stream's two directions (fcgi_records, http_response), every PARAMS body (name_values) and the
strace logs (strace_lines). The scenario files and the bad-input corpus seed scenario_loader.
tshark (apt tshark) splits the streams. Seeds are named by content hash: rerunning adds, never
duplicates.
"""
import hashlib
import pathlib
import struct
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 64 * 1024
FRAMES_PER_CAPTURE = 24
LINKTYPE_INDEX = {1: 0, 113: 1, 101: 2, 228: 3, 229: 4, 0: 5, 276: 6}  # as fuzz/wire.cpp


def put(target, data, limit=MAX_SEED):
    if not data:
        return
    data = data[:limit]
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def pcapng_frames(path):
    """(linktype, frame bytes) of every Enhanced Packet Block (pcapng, little-endian)."""
    data = path.read_bytes()
    at, linktypes = 0, []
    while at + 12 <= len(data):
        block_type, length = struct.unpack_from("<II", data, at)
        if length < 12:
            break
        if block_type == 1:  # Interface Description Block
            linktypes.append(struct.unpack_from("<H", data, at + 8)[0])
        elif block_type == 6:  # Enhanced Packet Block
            interface, _, _, captured = struct.unpack_from("<IIII", data, at + 8)
            yield linktypes[interface] if interface < len(linktypes) else 1, \
                data[at + 28:at + 28 + captured]
        at += length


def tcp_streams(path):
    """{stream: (port, client->server bytes, server->client bytes)} via tshark."""
    ids = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, text=True).stdout.split()
    out = {}
    for stream in sorted(set(ids), key=int):
        text = subprocess.run(["tshark", "-r", str(path), "-qz", "follow,tcp,raw," + stream],
                              capture_output=True, text=True).stdout
        halves, port = [b"", b""], 0
        for line in text.splitlines():
            if line.startswith("Node 1:"):
                port = int(line.rsplit(":", 1)[1])
            stripped = line.strip()
            if not stripped or not all(c in "0123456789abcdef" for c in stripped):
                continue
            halves[1 if line.startswith("\t") else 0] += bytes.fromhex(stripped)
        out[stream] = (port, halves[0], halves[1])
    return out


def fastcgi_params(stream):
    """Concatenated PARAMS content of a gateway -> backend byte stream."""
    at, params = 0, b""
    while at + 8 <= len(stream):
        _, kind, _, length, padding = struct.unpack_from(">BBHHB", stream, at)
        if kind == 4:
            params += stream[at + 8:at + 8 + length]
        at += 8 + length + padding
    return params


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    artifacts = pathlib.Path(sys.argv[1])
    for capture in sorted(artifacts.rglob("capture.pcapng")):
        # A few frames per capture, cut at 2 KiB (a cut frame is a case too): the repo stays small.
        for n, (linktype, frame) in enumerate(pcapng_frames(capture)):
            if n < FRAMES_PER_CAPTURE:
                put("wire", bytes([0, LINKTYPE_INDEX.get(linktype, 0)]) + frame, 2048)
        for port, to_server, to_client in tcp_streams(capture).values():
            looks_fastcgi = to_server[:2] == b"\x01\x01"  # version 1, BEGIN_REQUEST
            if looks_fastcgi:
                put("fcgi_records", b"\x00" + to_server)
                put("fcgi_records", b"\x07" + to_client)
                put("name_values", fastcgi_params(to_server))
            elif to_client.startswith(b"HTTP/1."):
                put("http_response", b"\x0f\x00" + to_client)
                put("http_response", b"\x00\x01" + to_client[:to_client.find(b"\r\n\r\n") + 4])
    for log in sorted(artifacts.rglob("*-syscalls.log")):
        put("strace_lines", log.read_bytes())
    for scenario in sorted((ROOT / "scenarios").rglob("*.yaml")):
        put("scenario_loader", scenario.read_bytes())
    for scenario in sorted((ROOT / "tests" / "data" / "bad-scenarios").glob("*.yaml")):
        put("scenario_loader", scenario.read_bytes())
    for target in sorted(p.name for p in CORPUS.iterdir()):
        print("%-16s %4d seed(s)" % (target, len(list((CORPUS / target).iterdir()))))


if __name__ == "__main__":
    main()
