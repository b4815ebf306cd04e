#!/usr/bin/python3
"""Every misbehaviour the fakes can be told to have is caught by the catalogue.

For each backend fault verb and key, and each gateway key and bug emulation, this test either
certifies the fake (as a standalone `serve` process, exactly as a third-party implementation is
certified) with that one misbehaviour and requires the check that names it to FAIL (or
NON-STRICT / INFORMATIONAL where the catalogue grades it so), or lists it as a legal variation
and requires the certification to pass every MUST and SHOULD check. A key or verb of the
vocabulary that is in neither table fails the test: nothing goes unclassified.

Usage: certify_coverage_test.py FCGI_HARNESS_BINARY [--only NAME] [--full] [--jobs N]
A misbehaviour is certified against the checks that must catch it (--full: against the whole
catalogue, printing every check that caught it; a long run); a legal variation always against
the whole catalogue but the slowest checks. At the end: the misbehaviours no check caught.
--jobs N (default 2): certifications run N at a time (each a harness of its own, with its own
ports and folder; most of a certification is waiting on a deadline); printed in table order.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

BINARY = os.path.abspath(sys.argv[1])
# Dozens of certifications: none of them belongs in the step summary of the CI running this.
os.environ.pop("GITHUB_STEP_SUMMARY", None)
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
FULL = "--full" in sys.argv
JOBS = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 2

# Checks too slow to run dozens of times (each is run by the plain certification in CI).
SLOW = ["backend/6.2/response-1gib", "gateway/rfc9110-15.6.5/backend-silent-timeout"]

# party, name, YAML of the fake's keys, the checks that must catch it: {id: grades accepted}.
# An empty dict: a legal variation, certified clean.
FAILS = {"FAIL"}
BACKEND = [
    # Fault verbs (faults[].do), each at a trigger that makes it a misbehaviour.
    ("close", "faults: [{at: params_complete, do: close}]",
     {"backend/5.3/stdin-only-terminator": FAILS}),
    ("shutdown", "faults: [{at: headers_sent, do: shutdown}]",
     {"backend/3.3/stdout-terminated": FAILS}),
    ("reset", "faults: [{at: {body_bytes: 1000}, do: reset}]",
     {"backend/6.2/slow-reader-nothing-lost": FAILS}),
    ("stall", "faults: [{at: params_complete, do: stall, stall_ms: 2500}]",
     {"backend/5.4/abort-before-stdin": FAILS}),
    ("stall_reading", "faults: [{at: begin_request, do: stall_reading, stall_ms: 2500}]",
     {"backend/5.4/abort-before-stdin": FAILS}),
    ("stall_writing", "faults: [{at: headers_sent, do: stall_writing, stall_ms: 2500}]",
     {"backend/5.4/abort-after-stdin": FAILS}),
    ("end_request", "faults: [{at: {body_bytes: 100}, do: end_request}]",
     {"backend/3.3/response-records-well-formed": FAILS}),
    ("overloaded", "faults: [{at: params_complete, do: overloaded}]",
     {"backend/5.3/stdin-only-terminator": FAILS}),
    ("send_record", "faults: [{at: headers_sent, do: send_record, record: {type: 99, length: 8}}]",
     {"backend/3.3/response-records-well-formed": FAILS}),
    ("send_record inactive id",
     "faults: [{at: headers_sent, do: send_record, record: {type: stdout, length: 8, "
     "request_id: inactive}}]",
     {"backend/3.3/response-records-well-formed": FAILS}),
    # Keys.
    ("content_length more", "content_length: {more: 100}",
     {"backend/rfc3875-6.3/content-length-true": FAILS}),
    ("content_length fewer", "content_length: {fewer: 100}",
     {"backend/rfc3875-6.3/content-length-true": FAILS}),
    ("stdout_terminator", "stdout_terminator: false", {"backend/3.3/stdout-terminated": FAILS}),
    ("end_request never", "end_request: never", {"backend/3.3/stdout-terminated": FAILS}),
    ("end_request_delay_ms", "end_request_delay_ms: 1500",
     {"backend/5.5/end-request-prompt": FAILS}),
    ("keep_conn ignore_clear", "keep_conn: ignore_clear",
     {"backend/5.1/keep-conn-clear-closes": FAILS}),
    ("keep_conn ignore_set", "keep_conn: ignore_set",
     {"backend/5.1/keep-conn-set-serves-next": FAILS}),
    ("linger", "linger: false", {"backend/seed-001/lingering-close": FAILS}),
    ("ignore_late_stdin_terminator", "ignore_late_stdin_terminator: true",
     {"backend/seed-004/late-stdin-terminator": FAILS}),
    ("exit_after_requests listener close",
     "{workers: 1, exit_after_requests: 100, listener: close, respawn_after_ms: 20}",
     {"backend/seed-002/recycling-loses-nothing": FAILS}),
    # Legal variations: a correct backend may do each of these. First the fake as it comes.
    ("as it comes", "{}", {}),
    ("record_size", "record_size: 7", {}),
    ("padding", "padding: 255", {}),
    ("padding align8", "padding: align8", {}),
    ("segments", "{segments: [1, 2, 3], segment_delay_ms: 0}", {}),
    ("stderr_interleave", "stderr_interleave: {bytes: 10, every: 1000}", {}),
    ("mpxs_conns", "mpxs_conns: true", {}),
    ("workers", "workers: 1", {}),
    ("exit_after_requests listener keep",
     "{workers: 1, exit_after_requests: 100, listener: keep, respawn_after_ms: 20}", {}),
    ("receive_buffer", "receive_buffer: 4KiB", {}),
]
GATEWAY = [
    ("lighttpd_2796", "{bug: lighttpd_2796, stream_response_body: 2}",
     {"gateway/seed-000/slow-client-resumes": FAILS}),
    ("fail_on_stdin_write_error", "{bug: fail_on_stdin_write_error, personality: apache}",
     {"gateway/seed-001/complete-response-despite-epipe": FAILS}),
    ("nginx_empty_200", "{bug: nginx_empty_200, personality: nginx}",
     {"gateway/seed-001/no-empty-200": FAILS}),
    ("stdin_terminator missing", "stdin_terminator: missing",
     {"gateway/5.3/stdin-terminated-once": FAILS}),
    ("stdin_terminator doubled", "stdin_terminator: doubled",
     {"gateway/5.3/stdin-terminated-once": FAILS}),
    ("wait_for_backend_close", "wait_for_backend_close: true",
     {"gateway/5.5/end-request-ends-response": FAILS}),
    ("stream_response_body 0", "stream_response_body: 0",
     {"gateway/seed-003/live-stream": FAILS, "gateway/6.2/streams-response": {"INFORMATIONAL"}}),
    ("abort", "abort: {at: params_sent, do: close}",
     {"gateway/rfc3875-4.1/meta-variables": FAILS}),
    # Legal variations. First the fake as it comes.
    ("as it comes", "{}", {}),
    ("personality nginx", "personality: nginx", {}),
    ("personality apache", "personality: apache", {}),
    ("personality lighttpd", "personality: lighttpd", {}),
    ("personality haproxy", "personality: haproxy", {}),
    ("personality caddy", "personality: caddy", {}),
    ("keep_conn", "keep_conn: true", {}),
    ("stream_response_body 1", "stream_response_body: 1", {}),
    ("stream_response_body 2", "stream_response_body: 2", {}),
    ("backend_read", "backend_read: {pause_ms: 100, bytes_per_read: 64KiB, every_ms: 1}", {}),
    ("body_pace", "body_pace: {bytes: 64KiB, every_ms: 1}", {}),
    ("stdin_record_size", "stdin_record_size: 1000", {}),
    ("stdin_segments", "stdin_segments: [3, 5, 4096]", {}),
    ("record_padding", "record_padding: cycle", {}),
    ("params_record_size", "params_record_size: 5", {}),
    ("extra_params", "extra_params: [{name: X_EXTRA, value: x}]", {}),
    ("probes", "probes: [get_values]", {}),
    ("connect_timeout_ms", "connect_timeout_ms: 1000", {}),
]
# The keys of real programs and of addressing: not behaviours of a fake.
NOT_BEHAVIOUR = {"kind", "knobs", "command", "config", "ready", "ready_path", "grace_ms",
                 "stop_signal", "user", "process_faults", "syscall_faults", "transport", "address",
                 "respawn_after_ms",  # part of the exit_after_requests rows
                 "segment_delay_ms",  # part of the segments row
                 "listener",          # part of the exit_after_requests rows
                 "backend_timeout_ms"}  # set on every gateway row (3000 ms)


def keys_of(yaml_text):
    """The top-level keys a row's YAML sets, and the fault verbs it uses."""
    text = yaml_text.strip()
    if text.startswith("{"):
        text = text[1:-1]
    keys, verbs = set(), set()
    depth = 0
    token = ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == ":" and depth == 0:
            keys.add(token.strip().strip(","))
            token = ""
            continue
        token += ch
        if depth == 0 and ch == ",":
            token = ""
    for part in yaml_text.split("do:")[1:]:
        verbs.add(part.split(",")[0].split("}")[0].strip())
    return keys, verbs


def vocabulary():
    schema = json.loads(subprocess.run([BINARY, "schema"], check=True, capture_output=True,
                                       text=True).stdout)
    topology = schema["properties"]["topology"]["properties"]
    backend = topology["backend"]["properties"]
    gateway = topology["gateway"]["properties"]
    verbs = {v["properties"]["do"]["enum"][0] for v in backend["faults"]["items"]["oneOf"]}
    bugs = set(gateway["bug"]["anyOf"][0]["enum"])
    return (set(backend) - {"faults"}) - NOT_BEHAVIOUR, verbs, \
        (set(gateway) - {"bug"}) - NOT_BEHAVIOUR, bugs


def unclassified():
    backend_keys, verbs, gateway_keys, bugs = vocabulary()
    seen_backend, seen_verbs, seen_gateway, seen_bugs = set(), set(), set(), set()
    for _, yaml_text, _ in BACKEND:
        k, v = keys_of(yaml_text)
        seen_backend |= k
        seen_verbs |= v
    for _, yaml_text, _ in GATEWAY:
        k, _ = keys_of(yaml_text)
        seen_gateway |= k
        if "bug:" in yaml_text:
            seen_bugs.add(yaml_text.split("bug:")[1].split(",")[0].strip(" }"))
    return ([f"backend key {k}" for k in sorted(backend_keys - seen_backend)] +
            [f"backend verb {v}" for v in sorted(verbs - seen_verbs)] +
            [f"gateway key {k}" for k in sorted(gateway_keys - seen_gateway)] +
            [f"gateway bug {b}" for b in sorted(bugs - seen_bugs)])


def certify(party, yaml_text, workdir, cases):
    workdir = tempfile.mkdtemp(dir=workdir)
    result = os.path.join(workdir, "result.json")
    if party == "backend":
        serve = f"{BINARY} serve backend --listen {{addr}} --set '{yaml_text}'"
        args = ["certify", "backend", "--spawn", serve]
    else:
        serve = (f"{BINARY} serve gateway --listen 127.0.0.1:{{http_port}} "
                 f"--backend {{backend_addr}} --set 'backend_timeout_ms: 3000' "
                 f"--set '{yaml_text}'")
        args = ["certify", "gateway", "--spawn", serve]
    for case in cases:
        args += ["--cases", case]
    for slow in SLOW:
        if not cases:
            args += ["--exclude", slow]
    args += ["--json", result, "--keep", "none"]
    run = subprocess.run([BINARY] + args, capture_output=True, text=True, cwd=workdir,
                         timeout=900)
    if run.returncode == 2 or not os.path.exists(result):
        raise RuntimeError(f"certify {party} with {yaml_text!r} did not run:\n{run.stderr}")
    with open(result) as f:
        rows = json.load(f)["scenarios"]
    return {r["certify"]["id"] + (f"[{r['variant']}]" if r.get("variant") else ""):
            (r["verdict"], r["certify"]["level"]) for r in rows}


def main():
    problems = unclassified()
    for p in problems:
        print(f"UNCLASSIFIED  {p}: add it to a table of tests/certify_coverage_test.py")
    uncaught = []
    with tempfile.TemporaryDirectory(prefix="fh-coverage-") as workdir, \
            concurrent.futures.ThreadPoolExecutor(max_workers=JOBS) as pool:
        runs = []
        for party, rows in (("backend", BACKEND), ("gateway", GATEWAY)):
            for name, yaml_text, expected in rows:
                if ONLY and ONLY != name:
                    continue
                cases = sorted(expected) if expected and not FULL else []
                runs.append((party, name, expected,
                             pool.submit(certify, party, yaml_text, workdir, cases)))
        for party, name, expected, run in runs:
            verdicts = run.result()
            caught = sorted(i for i, (v, _) in verdicts.items() if v != "PASS")
            if expected:
                missing = [i for i, grades in expected.items()
                           if verdicts.get(i, ("absent", ""))[0] not in grades]
                status = "caught" if not missing else "NOT CAUGHT"
                print(f"{status:11s} {party} {name}: " +
                      (", ".join(f"{i} {verdicts[i][0]}" for i in caught) or "nothing"))
                if missing:
                    uncaught.append(f"{party} {name}")
                    for i in missing:
                        print(f"    expected {i} to be {'/'.join(sorted(expected[i]))}, got "
                              f"{verdicts.get(i, ('absent',))[0]}")
            else:
                bad = [i for i, (v, level) in verdicts.items()
                       if level in ("MUST", "SHOULD") and v in ("FAIL", "ERROR")]
                status = "clean" if not bad else "FALSE FAIL"
                print(f"{status:11s} {party} {name} (legal): " +
                      (", ".join(f"{i} {verdicts[i][0]}" for i in caught) or "all PASS"))
                if bad:
                    problems.append(f"legal {party} {name} fails {', '.join(bad)}")
            sys.stdout.flush()
    print(f"\nmisbehaviours no check catches: {', '.join(uncaught) if uncaught else 'none'}")
    for p in problems:
        print(f"problem: {p}")
    return 1 if uncaught or problems else 0


if __name__ == "__main__":
    sys.exit(main())
