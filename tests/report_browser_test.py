#!/usr/bin/python3
"""Opens fcgi-harness HTML reports in Debian's headless Chromium and checks them as a reader
would see them: the page loads without errors or network access, the matrix has one cell per
(column, row) of its embedded DATA with the right grade, a click on a cell draws its swimlane,
and the grade filter keeps only rows with a FAIL. It saves screenshots for a person to look at.

The DOM it relies on is the contract in reports/html/README.md ("The page's DOM").

For each REPORT.html it
  1. starts `chromium --headless=new` in a new process group with a throw-away profile and
     every network and background service off, and drives it over the DevTools Protocol
     (python3-websocket);
  2. loads file://REPORT and records uncaught exceptions, console.error/console.assert,
     error log entries, failed loads, and any request that is not file:/data:/blob:/about:
     (a network access; Chromium is also told to resolve no host and to block such URLs,
     so the attempt is caught and nothing leaves the machine);
  3. mode "matrix": checks the td.fh-cell elements of table#fh-matrix against DATA, clicks
     (a real mouse event) a cell with a timeline, FAIL first, and waits for
     #fh-detail svg.fh-swimlane; sets select#fh-filter-grade to FAIL and back;
     mode "timeline": checks #fh-timeline svg.fh-swimlane;
  4. saves DIR/<stem>-matrix.png and DIR/<stem>-detail.png, or DIR/<stem>-timeline.png.

It prints one line per check ("ok ..." or "FAIL ...: reason") and a closing
"report_browser_test: N passed, N failed". Exit status: 0 all checks passed, 1 some check
failed, 2 bad usage (a missing report, no chromium or python3-websocket installed).
With --expect-failure (for a deliberately broken fixture) the status is 0 only when at
least one check failed.

Every wait is bounded by --timeout; Chromium is killed and its profile removed in any case.

Examples:
  tests/report_browser_test.py report.html --screenshots /tmp/shots --expect-cells 280
  tests/report_browser_test.py tests/data/report/broken-report.html --screenshots /tmp/shots \\
      --expect-failure
"""
import argparse
import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import websocket
except ImportError:
    websocket = None

VIEWPORT = (1400, 1000)
MAX_SCREENSHOT_HEIGHT = 16000          # Chromium cannot capture much taller pages in one go
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
BLOCKED_URLS = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
    "--no-first-run", "--no-default-browser-check",
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--hide-scrollbars", "--mute-audio",
    # no network and no background traffic
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--metrics-recording-only", "--disable-default-apps", "--disable-extensions",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--disable-breakpad", "--no-pings", "--safebrowsing-disable-auto-update",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>", "--dns-prefetch-disable",
    "--password-store=basic", "--disable-dev-shm-usage",
]


class DevToolsError(Exception):
    """The browser or the protocol failed: the report's remaining checks cannot run."""


class PageScriptError(Exception):
    """A check's own script threw inside the page (e.g. DATA is not JSON)."""


# ---------------------------------------------------------------------------- the browser

class Chromium:
    """A headless Chromium in its own process group and throw-away profile (a context
    manager: leaving it kills the group and removes the profile, whatever happened)."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="fh-report-browser-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        self.process = None

    def __enter__(self):
        try:
            with open(self.log_path, "w") as log:
                self.process = subprocess.Popen(
                    ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=die_with_parent)
            return self
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """SIGTERM to the group, SIGKILL to whatever is left of it, then reap; remove the
        profile. The browser is reaped only after the group's last signal, so its group id
        cannot have been handed to another process meanwhile."""
        if self.process is not None and self.process.returncode is None:
            kill_group(self.process, signal.SIGTERM)
            wait_unreaped(self.process, 5)
            kill_group(self.process, signal.SIGKILL)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def log_tail(self, lines=8):
        try:
            with open(self.log_path, errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-lines:])
        except OSError:
            return ""

    def browser_url(self):
        """ws:// URL of the browser endpoint, from <profile>/DevToolsActivePort."""
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            exited = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            if exited:
                raise DevToolsError(f"chromium exited with status {exited.si_status} "
                                    f"before listening: {self.log_tail()}")
            try:
                with open(path) as f:
                    lines = f.read().split()
                if len(lines) >= 2:
                    return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise DevToolsError(f"chromium wrote no {path} within {self.timeout} s: {self.log_tail()}")

    def open_page(self):
        """A new tab (about:blank) and a DevTools client attached to it."""
        browser = DevTools(self.browser_url(), self.timeout)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            port_and_host = browser.url.split("/devtools/")[0]
        finally:
            browser.close()
        return DevTools(f"{port_and_host}/devtools/page/{target}", self.timeout)


def die_with_parent():
    """In the child before exec: Linux kills it if this test dies without cleaning up (say,
    a test runner's SIGKILL); its helpers exit when the browser process is gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def wait_unreaped(process, timeout):
    """Waits up to timeout seconds for the process to exit, leaving it a zombie."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG):
                return
        except ChildProcessError:
            return
        time.sleep(0.05)


def kill_group(process, sig):
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class DevTools:
    """One DevTools Protocol connection. send() waits for a command's result; every event
    that arrives meanwhile is kept in self.events, in order, for wait_event() and for the
    error checks at the end."""

    def __init__(self, url, timeout):
        self.url, self.timeout = url, timeout
        self.events = []
        self.next_id = 0
        try:
            self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        except (OSError, websocket.WebSocketException) as e:
            raise DevToolsError(f"cannot connect to {url}: {e}") from e

    def close(self):
        try:
            self.ws.close()
        except (OSError, websocket.WebSocketException):
            pass

    def send(self, method, params=None, timeout=None):
        self.next_id += 1
        ident = self.next_id
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        try:
            self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        except (OSError, websocket.WebSocketException) as e:
            raise DevToolsError(f"{method}: cannot send: {e}") from e
        while True:
            message = self._receive(deadline, limit, method)
            if message.get("id") == ident:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def mark(self):
        """A position in self.events, for wait_event(since=...)."""
        return len(self.events)

    def wait_event(self, predicate, timeout=None, since=0, what="event"):
        """The first event from self.events[since:] on, or still to come, that satisfies
        predicate(event); DevToolsError after timeout seconds."""
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        position = since
        while True:
            while position < len(self.events):
                event = self.events[position]
                position += 1
                if predicate(event):
                    return event
            self._receive(deadline, limit, what)

    def _receive(self, deadline, limit, what):
        """The next message (an event is also kept in self.events); DevToolsError once
        deadline has passed, or when the connection or the page's renderer is gone."""
        hung = f"no answer to {what} within {limit:g} s (a hung page or browser)"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DevToolsError(hung)
        self.ws.settimeout(remaining)
        try:
            message = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException as e:
            raise DevToolsError(hung) from e
        except (OSError, websocket.WebSocketException) as e:
            raise DevToolsError(f"DevTools connection lost while waiting for {what} "
                                f"(browser crashed?): {e}") from e
        if message.get("method") in ("Inspector.targetCrashed", "Inspector.detached"):
            raise DevToolsError(f"the page's renderer went away ({message['method']}) "
                                f"while waiting for {what}")
        if "method" in message:
            self.events.append(message)
        return message

    # -- helpers on top of send()

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise PageScriptError(text.splitlines()[0] if text else "exception")
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout):
        """Polls a JavaScript expression until it is truthy; False after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.evaluate(expression):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def settle(self):
        """Lets the page finish what a change started: two animation frames and a tick."""
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
                      "() => setTimeout(r, 50))))")

    def click(self, x, y):
        """A real left click at viewport point (x, y): move, press, release."""
        base = {"x": x, "y": y, "button": "left", "clickCount": 1}
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        self.send("Input.dispatchMouseEvent", {"type": "mousePressed", **base})
        self.send("Input.dispatchMouseEvent", {"type": "mouseReleased", **base})

    def screenshot(self, path):
        """Saves a PNG of the whole page (at least the viewport, at most 16000 px tall)."""
        size = self.send("Page.getLayoutMetrics").get("cssContentSize", {})
        width = max(VIEWPORT[0], int(size.get("width", 0)))
        height = max(VIEWPORT[1], min(MAX_SCREENSHOT_HEIGHT, int(size.get("height", 0))))
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return width, height


# ------------------------------------------------------------------ scripts run in the page
# Each returns a small summary, so a report with megabytes of DATA is never sent back whole.

DATA_JS = "JSON.parse(document.getElementById('fh-report-data').textContent)"

SUMMARY_JS = """(() => {
  const el = document.getElementById('fh-report-data');
  if (!el) return {error: 'the page has no script#fh-report-data'};
  let data;
  try { data = JSON.parse(el.textContent); } catch (e) { return {error: 'DATA is not JSON: ' + e.message}; }
  return {mode: data.mode, columns: (data.columns || []).length, rows: (data.rows || []).length,
          cells: (data.cells || []).length,
          fails: (data.cells || []).filter(c => c.verdict === 'FAIL').length,
          timelines: (data.cells || []).filter(c => c.timeline !== null && c.timeline !== undefined).length};
})()"""

# Compares every td.fh-cell with DATA: pairs seen twice, pairs missing, pairs DATA does not
# have, and grades that differ from the DATA cell's verdict (NOT-RUN for a missing cell).
MATRIX_JS = """(() => {
  const data = %s, key = (c, r) => c + '\\u0000' + r;
  const show = k => { const [c, r] = k.split('\\u0000'); return '(' + c + ', ' + r + ')'; };
  const verdict = new Map(data.cells.map(c => [key(c.col, c.row), c.verdict]));
  const wanted = new Set();
  data.columns.forEach((_, c) => data.rows.forEach(r => wanted.add(key(c, r.key))));
  const seen = new Set(), out = {duplicates: [], unknown: [], missing: [], grades: [], cells: 0};
  const table = document.querySelector('table#fh-matrix');
  out.table = !!table;
  if (!table) return out;
  for (const td of table.querySelectorAll('td.fh-cell')) {
    out.cells++;
    const k = key(td.dataset.col, td.dataset.row);
    if (seen.has(k)) out.duplicates.push(show(k));
    seen.add(k);
    if (!wanted.has(k)) { out.unknown.push(show(k)); continue; }
    const want = verdict.has(k) ? verdict.get(k) : 'NOT-RUN';
    if (td.dataset.grade !== want) out.grades.push(show(k) + ': data-grade ' + td.dataset.grade + ', DATA ' + want);
  }
  for (const k of wanted) if (!seen.has(k)) out.missing.push(show(k));
  return out;
})()"""

# The index (in document order) of the cell to click: the first visible one (a party tab may
# hide others) whose DATA cell has a timeline, preferring FAIL; without any timeline the first
# FAIL cell, else the first cell.
CLICK_TARGET_JS = """(() => {
  const data = %s, byPair = new Map(data.cells.map(c => [c.col + '\\u0000' + c.row, c]));
  const tds = [...document.querySelectorAll('table#fh-matrix td.fh-cell')];
  const cellOf = td => byPair.get(td.dataset.col + '\\u0000' + td.dataset.row);
  const has = td => { const c = cellOf(td); return !!c && c.timeline !== null && c.timeline !== undefined; };
  const fail = td => { const c = cellOf(td); return !!c && c.verdict === 'FAIL'; };
  const shown = td => td.offsetParent !== null && td.getClientRects().length > 0;
  const pick = [td => has(td) && fail(td), has, fail, () => true]
      .map(p => tds.findIndex(td => shown(td) && p(td))).find(i => i >= 0);
  if (pick === undefined) return null;
  const td = tds[pick];
  return {index: pick, col: td.dataset.col, row: td.dataset.row, grade: td.dataset.grade, timeline: has(td)};
})()"""

# Scrolls the cell into view; its centre in viewport coordinates, and what is on top there.
CELL_CENTRE_JS = """(() => {
  const td = document.querySelectorAll('table#fh-matrix td.fh-cell')[%d];
  td.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
  const r = td.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
  const top = document.elementFromPoint(x, y);
  return {x, y, width: r.width, height: r.height, hit: !!top && td.contains(top),
          top: top ? top.tagName.toLowerCase() + (top.id ? '#' + top.id : '') +
                     (top.className && typeof top.className === 'string' ? '.' + top.className.split(' ').join('.') : '') : 'nothing'};
})()"""

SWIMLANE_JS = "(() => { const s = document.querySelector('%s svg.fh-swimlane'); " \
              "return !!s && s.childElementCount > 0; })()"

DETAIL_FILLED_JS = "(() => { const d = document.getElementById('fh-detail'); " \
                   "return !!d && (d.childElementCount > 0 || d.textContent.trim() !== ''); })()"

SET_GRADE_FILTER_JS = """(() => {
  const s = document.querySelector('select#fh-filter-grade');
  if (!s) return null;
  s.value = %s;
  s.dispatchEvent(new Event('change', {bubbles: true}));
  return s.value;
})()"""

# The matrix rows (tr holding td.fh-cell) a reader sees, and which of them have a FAIL cell.
VISIBLE_ROWS_JS = """(() => {
  const rows = new Set([...document.querySelectorAll('table#fh-matrix td.fh-cell')].map(td => td.parentElement));
  const visible = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const out = {visible: [], visibleWithoutFail: [], hiddenWithFail: []};
  for (const tr of rows) {
    const first = tr.querySelector('td.fh-cell'), name = first.dataset.row;
    const fail = !!tr.querySelector('td.fh-cell[data-grade="FAIL"]');
    if (visible(tr)) { out.visible.push(name); if (!fail) out.visibleWithoutFail.push(name); }
    else if (fail) out.hiddenWithFail.push(name);
  }
  return out;
})()"""


# ------------------------------------------------------------------------------ the checks

class Results:
    """Prints one line per check and counts them."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, report, what, ok, reason="", note=""):
        """One check: `reason` says why it failed, `note` adds to an ok line."""
        if ok:
            self.passed += 1
            print(f"ok   {report}: {what}" + (f" ({note})" if note else ""), flush=True)
        else:
            self.failed += 1
            print(f"FAIL {report}: {what}: {reason}", flush=True)


def some(items, limit=3):
    """The first few of a list, for a failure message."""
    shown = "; ".join(str(i) for i in items[:limit])
    return shown + (f"; … {len(items) - limit} more" if len(items) > limit else "")


def load(page, path):
    """Enables the domains whose events the checks read, then loads the report."""
    for domain in ("Runtime", "Log", "Network", "Page"):
        page.send(f"{domain}.enable")
    page.send("Network.setBlockedURLs", {"urls": BLOCKED_URLS})
    page.send("Emulation.setDeviceMetricsOverride", {"width": VIEWPORT[0], "height": VIEWPORT[1],
                                                     "deviceScaleFactor": 1, "mobile": False})
    since = page.mark()
    navigation = page.send("Page.navigate", {"url": "file://" + path})
    if navigation.get("errorText"):
        raise DevToolsError(f"cannot open file://{path}: {navigation['errorText']}")
    page.wait_event(lambda e: e["method"] == "Page.loadEventFired", since=since,
                    what="the page's load event")
    page.settle()


def check_matrix_cells(page, results, name, summary, expect_cells):
    cols, rows = summary["columns"], summary["rows"]
    found = page.evaluate(MATRIX_JS % DATA_JS)
    if not found["table"]:
        results.check(name, "table#fh-matrix exists", False, "the page has no table#fh-matrix")
        return
    want = cols * rows
    results.check(name, f"td.fh-cell count = columns × rows ({cols} × {rows} = {want})",
                  found["cells"] == want, f"the matrix has {found['cells']} cells")
    problems = ([f"missing {some(found['missing'])}"] if found["missing"] else []) + \
               ([f"twice {some(found['duplicates'])}"] if found["duplicates"] else []) + \
               ([f"not in DATA {some(found['unknown'])}"] if found["unknown"] else [])
    results.check(name, "every (data-col, data-row) pair occurs exactly once", not problems,
                  "; ".join(problems))
    if expect_cells is not None:
        results.check(name, f"td.fh-cell count = --expect-cells {expect_cells}",
                      found["cells"] == expect_cells, f"the matrix has {found['cells']} cells")
    results.check(name, "every data-grade is its DATA cell's verdict (or NOT-RUN)",
                  not found["grades"], some(found["grades"]))


def check_click(page, results, name, screenshots):
    target = page.evaluate(CLICK_TARGET_JS % DATA_JS)
    if target is None:
        results.check(name, "a click on a cell fills #fh-detail", False, "the matrix has no cell")
        return
    where = f"cell ({target['col']}, {target['row']}) {target['grade']}"
    centre = page.evaluate(CELL_CENTRE_JS % target["index"])
    if not centre["hit"] or centre["width"] <= 0:
        results.check(name, f"{where} can be clicked", False,
                      f"its centre is covered by {centre['top']} (size {centre['width']}×{centre['height']})")
        return
    page.click(centre["x"], centre["y"])
    if target["timeline"]:
        appeared = page.wait_for(SWIMLANE_JS % "#fh-detail", page.timeout)
        results.check(name, f"a click on {where} draws #fh-detail svg.fh-swimlane", appeared,
                      f"no svg.fh-swimlane with children in #fh-detail within {page.timeout} s")
    else:
        appeared = page.wait_for(DETAIL_FILLED_JS, page.timeout)
        results.check(name, f"a click on {where} fills #fh-detail", appeared,
                      f"#fh-detail stayed empty for {page.timeout} s",
                      note="no DATA cell has a timeline, so no swimlane was asked for")
    save_screenshot(page, results, name, screenshots, "detail")


def check_grade_filter(page, results, name, summary):
    what = "select#fh-filter-grade = FAIL shows only rows with a FAIL cell"
    before = page.evaluate(VISIBLE_ROWS_JS)
    value = page.evaluate(SET_GRADE_FILTER_JS % json.dumps("FAIL"))
    if value is None:
        results.check(name, what, False, "the page has no select#fh-filter-grade")
        return
    if value != "FAIL":
        no_fail = summary["fails"] == 0
        results.check(name, what, no_fail, "select#fh-filter-grade has no FAIL option",
                      note="it has no FAIL option, and DATA has no FAIL cell to filter")
    else:
        page.settle()
        during = page.evaluate(VISIBLE_ROWS_JS)
        hidden = [row for row in during["hiddenWithFail"] if row in set(before["visible"])]
        problems = ([f"shows rows without FAIL: {some(during['visibleWithoutFail'])}"]
                    if during["visibleWithoutFail"] else []) + \
                   ([f"hides rows with a FAIL: {some(hidden)}"] if hidden else [])
        results.check(name, what, not problems, "; ".join(problems),
                      note=f"{len(during['visible'])} of {len(before['visible'])} rows shown")
    page.evaluate(SET_GRADE_FILTER_JS % json.dumps(""))
    page.settle()
    after = page.evaluate(VISIBLE_ROWS_JS)
    results.check(name, 'select#fh-filter-grade = "" shows the rows shown before',
                  after["visible"] == before["visible"],
                  f"{len(after['visible'])} rows visible, {len(before['visible'])} before",
                  note=f"{len(after['visible'])} rows")


def check_timeline(page, results, name):
    drawn = page.wait_for(SWIMLANE_JS % "#fh-timeline", page.timeout)
    results.check(name, "#fh-timeline svg.fh-swimlane has children at load", drawn,
                  "no svg.fh-swimlane with children in #fh-timeline")


def save_screenshot(page, results, name, screenshots, kind):
    path = os.path.join(screenshots, f"{os.path.splitext(name)[0]}-{kind}.png")
    width, height = page.screenshot(path)
    results.check(name, f"screenshot {path}", os.path.getsize(path) > 0, "the PNG is empty",
                  note=f"{width}×{height}")


def describe_console(event):
    args = event["params"].get("args", [])
    return " ".join(str(a.get("value", a.get("description", a.get("type")))) for a in args)


def check_page_errors(page, results, name):
    """What the browser reported while the checks ran: errors, failed loads, network use."""
    page.evaluate("1")     # delivers the events that arrived before this answer
    urls, found = {}, {"exceptions": [], "console": [], "log": [], "failed": [], "network": []}
    for event in page.events:
        method, params = event["method"], event["params"]
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            found["exceptions"].append(f"{text.splitlines()[0] if text else '?'} "
                                       f"(line {details.get('lineNumber', 0) + 1})")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found["console"].append(f"console.{params['type']}: {describe_console(event)}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            found["log"].append(entry.get("text", "") + (f" [{entry['url']}]" if entry.get("url") else ""))
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if not url.startswith(LOCAL_SCHEMES):
                found["network"].append(url[:200])
        elif method == "Network.webSocketCreated":
            found["network"].append(params.get("url", "a WebSocket")[:200])
        elif method == "Network.loadingFailed":
            reason = (f"blocked ({params['blockedReason']})" if params.get("blockedReason")
                      else params.get("errorText", ""))
            found["failed"].append(f"{urls.get(params['requestId'], params['requestId'])[:200]}: {reason}")
    for key, what in (("exceptions", "no uncaught JavaScript exception"),
                      ("console", "no console.error or console.assert"),
                      ("log", "no error in the browser log"),
                      ("failed", "no failed load"),
                      ("network", "no network access (only file:, data:, blob:, about: URLs)")):
        results.check(name, what, not found[key], some(found[key]))


def test_report(path, args, results):
    """All checks of one report, in a browser of its own."""
    print(f"---- {path}", flush=True)
    with Chromium(args.timeout) as browser:
        page = browser.open_page()
        try:
            run_checks(page, results, os.path.abspath(path), args)
        finally:
            page.close()


def run_checks(page, results, path, args):
    name = os.path.basename(path)
    load(page, path)
    summary = page.evaluate(SUMMARY_JS)
    if "error" in summary:
        results.check(name, "the page embeds DATA", False, summary["error"])
    elif summary["mode"] == "matrix":
        check_matrix_mode(page, results, name, summary, args)
    elif summary["mode"] == "timeline":
        check_timeline(page, results, name)
        save_screenshot(page, results, name, args.screenshots, "timeline")
    else:
        results.check(name, "DATA.mode is matrix or timeline", False, f"DATA.mode is {summary['mode']!r}")
    check_page_errors(page, results, name)


def check_matrix_mode(page, results, name, summary, args):
    drawn = page.wait_for("!!document.querySelector('table#fh-matrix td.fh-cell')", page.timeout)
    results.check(name, "table#fh-matrix with td.fh-cell is drawn", drawn,
                  f"no table#fh-matrix td.fh-cell {page.timeout:g} s after load")
    save_screenshot(page, results, name, args.screenshots, "matrix")
    if not drawn:
        return
    guarded(lambda: check_matrix_cells(page, results, name, summary, args.expect_cells), results, name)
    guarded(lambda: check_click(page, results, name, args.screenshots), results, name)
    guarded(lambda: check_grade_filter(page, results, name, summary), results, name)


def guarded(step, results, name):
    """Runs one group of checks; a script that throws in the page fails that group only."""
    try:
        step()
    except PageScriptError as e:
        results.check(name, "a check's script ran in the page", False, str(e))


# ------------------------------------------------------------------------------ the program

def parse_args():
    parser = argparse.ArgumentParser(
        prog="report_browser_test.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", metavar="REPORT.html",
                        help="a report written by `fcgi-harness report`, `run --html` or `certify --html`")
    parser.add_argument("--screenshots", required=True, metavar="DIR",
                        help="folder for the PNGs (created if missing)")
    parser.add_argument("--expect-cells", type=int, metavar="N",
                        help="matrix mode: the number of td.fh-cell each report must have")
    parser.add_argument("--expect-failure", action="store_true",
                        help="for a deliberately broken report: exit 0 only if some check fails")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="the longest any single wait may take (default 30)")
    return parser.parse_args()


def usage_problems(args):
    problems = []
    if shutil.which("chromium") is None:
        problems.append("no `chromium` on PATH: install Debian's package chromium (apt-get install chromium)")
    if websocket is None:
        problems.append("no Python module websocket: install Debian's package python3-websocket "
                        "(and run this with /usr/bin/python3)")
    for report in args.reports:
        if not os.path.isfile(report):
            problems.append(f"{report}: no such file")
    stems = [os.path.splitext(os.path.basename(r))[0] for r in args.reports]
    if len(set(stems)) != len(stems):
        problems.append("two reports have the same file name: their screenshots would collide")
    return problems


def main():
    # SIGTERM (a test runner's timeout) unwinds like Ctrl-C, so Chromium is still cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    args = parse_args()
    problems = usage_problems(args)
    if problems:
        for problem in problems:
            print(f"report_browser_test.py: {problem}", file=sys.stderr)
        return 2
    os.makedirs(args.screenshots, exist_ok=True)
    results = Results()
    for report in args.reports:
        try:
            test_report(report, args, results)
        except (DevToolsError, PageScriptError) as e:
            results.check(os.path.basename(report), "the browser runs the checks", False, str(e))
    if args.expect_failure:
        print(f"report_browser_test: {results.failed} of {results.passed + results.failed} checks "
              f"failed, as --expect-failure asks" if results.failed else
              "report_browser_test: every check passed, but --expect-failure asks for a failure")
        return 0 if results.failed else 1
    print(f"report_browser_test: {results.passed} passed, {results.failed} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
