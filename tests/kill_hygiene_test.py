#!/usr/bin/env python3
"""SIGKILL the harness at random moments of real-peer runs; nothing it started may survive.

The story, told once per kill:
  1. `fcgi-harness run` starts on real gateways and backends (nginx, php-fpm, apache, caddy,
     haproxy ...), with TMPDIR a folder of this test's own;
  2. at a random moment it gets SIGKILL (no handler runs, no destructor, no atexit);
  3. within a settle time, no process it started is alive and its temporary folders and cgroups
     are gone.
This test is a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every process the harness
started, however it forked, is re-parented to this test when its parent dies, not to PID 1:
survivors are counted as this test's descendants, without trusting the harness's own marks.

Then the case a watchdog cannot cover: the harness *and* its watchdog are killed at once (an
OOM kill of both, say). The next harness start must remove what they left, and must not touch a
bystander harness running at the same time: the bystander's run still passes.

Usage: kill_hygiene_test.py HARNESS KILLS [--seed N] [--orphan-rounds N] SCENARIO...
Exit 0 when every round left 0 survivors and 0 leftovers; prints one line per round.
"""
import argparse
import ctypes
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
SETTLE_S = 5.0  # the watchdog needs well under a second; a daemon's own exit is not counted on
CGROUP_FOLDER = "fcgi-harness"
SHARED_CACHE = "fcgi-harness-cache"


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d" % ctypes.get_errno())


def proc_stat(pid):
    """(state, ppid, comm) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    close = text.rfind(")")
    fields = text[close + 2:].split()
    return fields[0], int(fields[1]), text[text.find("(") + 1:close]


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def descendants(keep=()):
    """Live (non-zombie) descendants of this test, except the pids in `keep` and theirs."""
    parent_of = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat and stat[0] not in ("Z", "X"):
                parent_of[int(name)] = (stat[1], stat[2])
    me = os.getpid()
    out = []
    for pid in parent_of:
        if pid == me:
            continue
        p = pid
        while p in parent_of and p != me and p not in keep:
            p = parent_of[p][0]
        if p == me and pid not in keep:
            out.append((pid, parent_of[pid][1]))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def cgroup_parent():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return os.path.join(left.split()[4], CGROUP_FOLDER)
    return None


def leftovers(tmpdir, harness_pid):
    """Temporary entries and cgroups the killed harness (pid) left."""
    found = [os.path.join(tmpdir, e) for e in os.listdir(tmpdir) if e != SHARED_CACHE]
    parent = cgroup_parent()
    if parent and os.path.isdir(parent):
        found += [os.path.join(parent, e) for e in os.listdir(parent)
                  if e.startswith("%d-" % harness_pid)]
    return found


def settle(keep=()):
    """Waits (bounded) until this test has no descendants but `keep`; returns the survivors."""
    end = time.monotonic() + SETTLE_S
    while True:
        reap()
        alive = descendants(keep)
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.05)


def kill_survivors(alive):
    for pid, _ in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    reap()


def start_harness(args, env, stdout=subprocess.DEVNULL):
    return subprocess.Popen(args, env=env, stdout=stdout, stderr=subprocess.STDOUT,
                            start_new_session=True)


def watchdog_of(harness_pid):
    for pid, comm in descendants():
        stat = proc_stat(pid)
        if stat and stat[1] == harness_pid and comm == "fh-watchdog":
            return pid
    return None


def one_kill(harness, scenarios, env, tmpdir, at_s, also_watchdog):
    proc = start_harness([harness, "run"] + scenarios, env)
    time.sleep(at_s)
    watchdog = watchdog_of(proc.pid) if also_watchdog else None
    if watchdog:
        os.kill(watchdog, signal.SIGKILL)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return proc.pid, watchdog


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("harness")
    parser.add_argument("kills", type=int)
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--orphan-rounds", type=int, default=2)
    parser.add_argument("--longest-s", type=float, default=10.0,
                        help="kills land uniformly in [0.05, this] seconds after the start")
    args = parser.parse_args()
    harness = os.path.abspath(args.harness)
    rng = random.Random(args.seed)
    become_subreaper()

    tmpdir = tempfile.mkdtemp(prefix="fhk-", dir="/tmp")  # short: unix socket paths live here
    os.chmod(tmpdir, 0o755)  # apache's children run as nobody and must reach the run folders
    cache = os.path.join(tempfile.gettempdir(), SHARED_CACHE)
    if os.path.isdir(cache):  # the Go probe's build cache: not a run's, and slow to rebuild
        os.symlink(cache, os.path.join(tmpdir, SHARED_CACHE))
    env = dict(os.environ, TMPDIR=tmpdir)
    env.pop("FCGI_HARNESS_RUN", None)
    print("kill hygiene: seed %d, %d kill(s), TMPDIR %s" % (args.seed, args.kills, tmpdir))

    failures = 0
    for i in range(args.kills):
        at = rng.uniform(0.05, args.longest_s)
        pid, _ = one_kill(harness, args.scenarios, env, tmpdir, at, also_watchdog=False)
        started = time.monotonic()
        alive = settle()
        took = time.monotonic() - started
        left = leftovers(tmpdir, pid)
        ok = not alive and not left
        failures += not ok
        print("kill %2d at %5.2f s: %d survivor(s), %d leftover(s), settled in %.2f s%s" %
              (i + 1, at, len(alive), len(left), took, "" if ok else "  <- FAIL"), flush=True)
        for p, comm in alive:
            print("    survivor %d %s: %s" % (p, comm, cmdline(p)))
        for path in left:
            print("    leftover %s" % path)
        kill_survivors(alive)
        for path in left:  # start the next round clean
            shutil.rmtree(path, ignore_errors=True)

    # The harness and its watchdog killed at once: the next start cleans up, and leaves a
    # bystander harness alone.
    for i in range(args.orphan_rounds):
        bystander = start_harness([harness, "run"] + args.scenarios, env, subprocess.PIPE)
        time.sleep(0.5)
        at = rng.uniform(0.5, args.longest_s / 2)
        pid, watchdog = one_kill(harness, args.scenarios, env, tmpdir, at, also_watchdog=True)
        time.sleep(0.3)
        keep = {bystander.pid}
        orphans = descendants(keep)
        left_before = leftovers(tmpdir, pid)
        cleaner = subprocess.run([harness, "list", "--peers"], env=env, capture_output=True,
                                 text=True)
        alive = settle(keep)
        bystander_out, _ = bystander.communicate(timeout=300)
        left = leftovers(tmpdir, pid)  # once the bystander is done, its folder is gone too
        bystander_ok = bystander.returncode == 0
        why = [w for w, bad in (("survivors", alive), ("leftovers", left),
                                ("bystander failed", not bystander_ok),
                                ("the next start failed", cleaner.returncode != 0),
                                ("no watchdog to kill", not watchdog)) if bad]
        ok = not why
        failures += not ok
        note = [l for l in cleaner.stderr.splitlines() if l.startswith("note: removed")]
        print("watchdog killed too, at %5.2f s: %d orphan(s) and %d leftover(s) before the next "
              "start; after it: %d survivor(s), %d leftover(s); bystander exit %d%s%s" %
              (at, len(orphans), len(left_before), len(alive), len(left), bystander.returncode,
               ("; " + note[0]) if note else "", "" if ok else "  <- FAIL: " + ", ".join(why)),
              flush=True)
        if not watchdog:
            print("    no fh-watchdog found under harness %d" % pid)
        if not bystander_ok:
            lines = bystander_out.decode(errors="replace").splitlines()
            print("\n".join("    bystander: " + l for l in lines if not l.startswith("PASS")))
        for path in left:
            print("    leftover %s" % path)
        for p, comm in alive:
            print("    survivor %d %s: %s" % (p, comm, cmdline(p)))
        kill_survivors(alive)

    shutil.rmtree(tmpdir, ignore_errors=True)
    print("%d round(s) failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
