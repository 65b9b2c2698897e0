"""A real headless Chromium (Debian's `chromium`) driven over the Chrome DevTools protocol with a
tiny websocket client: navigate, evaluate JavaScript, collect console errors, take screenshots.
Started per test and stopped by it, with a fresh profile folder."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websocket

from tests.support import stop_process, wait_until

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,1600",
)


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab: `call` sends a CDP command and returns its result; events are kept."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.errors: list[str] = []

    def _record(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params") or {}
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails") or {}
            self.errors.append(
                f"exception: {(d.get('exception') or {}).get('description') or d.get('text')}"
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [a.get("value") or a.get("description") for a in params.get("args") or []]
            self.errors.append(f"console.error: {args}")
        elif method == "Log.entryAdded" and (params.get("entry") or {}).get("level") == "error":
            e = params["entry"]
            self.errors.append(f"log: {e.get('text')} {e.get('url', '')}")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        mid = next(self.ids)
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result") or {}
            self._record(msg)

    def evaluate(self, expr: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expr}: {res['exceptionDetails'].get('text')}")
        return (res.get("result") or {}).get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        self.ws.close()


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """Headless Chromium with a fresh profile in `profile`; yields its first tab."""
    binary = chromium_binary()
    assert binary, "chromium is missing: run scripts/install-system.sh"
    profile.mkdir(parents=True, exist_ok=True)
    with open(profile / "chromium.log", "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    page: Page | None = None
    try:
        port_file = profile / "DevToolsActivePort"
        port = wait_until(
            lambda: port_file.exists() and port_file.read_text().split("\n")[0].strip(),
            60,
            what="chromium's DevTools port",
        )
        targets = wait_until(
            lambda: [
                t
                for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
                if t.get("type") == "page"
            ],
            30,
            what="chromium's first tab",
        )
        page = Page(targets[0]["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable")
        yield page
    finally:
        if page is not None:
            page.close()
        stop_process(proc)
