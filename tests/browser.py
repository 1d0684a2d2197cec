"""A real headless Chromium, driven from Python's standard library alone, for the tests of
viz.page's HTML: the Chrome DevTools Protocol over --remote-debugging-pipe.

The protocol is JSON messages, each ended by a NUL byte: Chromium reads commands from its
fd 3 and writes replies and events to its fd 4. Every wait has a deadline, so a hung or
crashed browser fails a test in seconds instead of hanging it.

    with Browser() as b:
        b.open("page.html")
        b.evaluate("document.title")
"""
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,900"]


def find_chromium():
    """The chromium program's path, or None."""
    found = shutil.which("chromium")
    return found or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


class Browser:
    """One headless Chromium with one page. Records every URL the page asks the network for
    (`requests`) and every uncaught JavaScript exception (`errors`), both reset by open()."""

    def __init__(self, program=None, timeout=10.0):
        program = program or find_chromium()
        if program is None:
            raise FileNotFoundError("chromium is not installed")
        self.timeout = timeout
        self.requests, self.errors, self._events = [], [], []
        self._next_id, self._buffer = 0, b""
        self._profile = tempfile.mkdtemp(prefix="browser-test-")
        commands_read, self._commands = os.pipe()       # we write, Chromium reads (its fd 3)
        self._replies, replies_write = os.pipe()         # Chromium writes (its fd 4), we read

        def as_fds_3_and_4():
            # Copies above 4 first, so that neither dup2 can overwrite the other pipe's end.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 5) for fd in (commands_read, replies_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # Chromium's messages, for the error when it dies; open until close().
        self._log = open(os.path.join(self._profile, "stderr.log"), "wb")  # noqa: SIM115
        # A session of its own: close() can end Chromium's helper processes with it, by group.
        # preexec_fn is the one stdlib way to put the pipes at fds 3 and 4 (the tests start
        # no threads that could be holding a lock when it runs).
        self._process = subprocess.Popen(
            [program, *FLAGS, f"--user-data-dir={self._profile}"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self._log, pass_fds=(3, 4),
            preexec_fn=as_fds_3_and_4, start_new_session=True)  # noqa: PLW1509
        os.close(commands_read)
        os.close(replies_write)
        try:
            # The first reply also waits for Chromium to start: allow it longer.
            target = self.send("Target.createTarget", url="about:blank", timeout=max(timeout, 15))
            self._session = self.send("Target.attachToTarget", targetId=target["targetId"],
                                      flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network"):
                self.send(f"{domain}.enable", session=True)
        except BaseException:
            self.close()
            raise

    # --- the protocol --------------------------------------------------------------

    def send(self, method, session=False, timeout=None, **params):
        """Send a command (to the page's session if `session`) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._event(reply)

    def wait_for(self, event, timeout=None):
        """Wait for an event (e.g. "Page.loadEventFired"), seen since the last wait for it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, seen in enumerate(self._events):
                if seen["method"] == event:
                    return self._events.pop(i).get("params", {})
            message = self._receive(deadline, event)
            if "method" in message:
                self._event(message)

    def _event(self, message):
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif message["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(details.get("exception", {}).get("description") or details.get("text"))
        self._events.append(message)

    def _receive(self, deadline, waiting_for):
        """The next message, or TimeoutError at the deadline, or an error if Chromium died."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer {waiting_for} in time")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium exited while waiting for {waiting_for}: {self._stderr()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr(self):
        self._log.flush()
        with open(self._log.name, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    # --- what the tests do -----------------------------------------------------------

    def open(self, path):
        """Load a local file and wait until it has loaded; forgets earlier requests and errors."""
        self.requests, self.errors, self._events = [], [], []
        url = Path(path).resolve().as_uri()
        result = self.send("Page.navigate", session=True, url=url)
        if result.get("errorText"):
            raise RuntimeError(f"could not open {url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired")
        return url

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        result = self.send("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def hover(self, x, y):
        """A real mouse move to (x, y), in CSS pixels from the window's top left."""
        self.send("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=x, y=y)

    def click(self, x, y):
        """A real left click at (x, y)."""
        self.hover(x, y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", session=True, type=kind, x=x, y=y,
                      button="left", clickCount=1)

    def press(self, key, code):
        """A real key press, e.g. press("ArrowLeft", 37): the key's name and its key code."""
        for kind in ("rawKeyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", session=True, type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code)

    def close(self):
        """End Chromium and its helpers, reap it (no zombie), delete its profile."""
        if self._process.poll() is None:
            try:
                self.send("Browser.close", timeout=2)
            except (OSError, RuntimeError, TimeoutError):
                pass                               # going anyway: killed below if need be
            try:
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self._process.pid, signal.SIGKILL)   # the group is Chromium's own session
        except OSError:
            pass                                   # all gone already
        self._process.wait(timeout=5)
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
