"""Scraping pods' Prometheus endpoints: which URL (the `prometheus.io/*` annotations), parsing
(prometheus-client's parser, not our own), and the per-pod windows the custom metrics API reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httptools
from prometheus_client.parser import text_string_to_metric_families

from tidal.metrics.window import ScrapedSample, SeriesWindow

SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"


@dataclass(frozen=True, slots=True)
class Target:
    namespace: str
    pod: str
    address: str  # ip:port
    path: str

    @property
    def url(self) -> str:
        return f"http://{self.address}{self.path}"


def scrape_target(pod: Mapping[str, Any]) -> Target | None:
    """Where to scrape a pod, or None (not running, no IP, or `prometheus.io/scrape: "false"`).

    Default: the first container port's `/metrics`; the annotations override port and path."""
    meta = pod.get("metadata", {})
    ann = meta.get("annotations") or {}
    if str(ann.get(SCRAPE_ANNOTATION, "true")).lower() == "false":
        return None
    ip = (pod.get("status") or {}).get("podIP")
    if not ip or meta.get("deletionTimestamp"):
        return None
    port = ann.get(PORT_ANNOTATION)
    if not port:
        for c in (pod.get("spec") or {}).get("containers", []):
            for p in c.get("ports") or []:
                if p.get("containerPort"):
                    port = p["containerPort"]
                    break
            if port:
                break
    if not port:
        return None
    path = ann.get(PATH_ANNOTATION) or "/metrics"
    if not path.startswith("/"):
        path = "/" + path
    return Target(meta.get("namespace", "default"), meta["name"], f"{ip}:{port}", path)


def parse(text: str) -> list[ScrapedSample]:
    """Prometheus text format to samples; `_created` series (timestamps, not values) dropped."""
    return [s for s in _parse_all(text) if not s.name.endswith("_created")]


def _split_values(text: str) -> tuple[list[str], list[str], list[str]] | None:
    """The exposition's lines without their values (its shape), the sample lines' series text and
    their values, in order; None when a line has an exemplar (` # `), which this does not split."""
    shape: list[str] = []
    series: list[str] = []
    values: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line[0] == "#":
            shape.append(line)
            continue
        if " # " in line:
            return None
        brace = line.rfind("}")  # the label set's end: only a value and a timestamp follow it
        if brace >= 0:
            name, rest = line[: brace + 1], line[brace + 1 :]
        else:
            fields = line.split(None, 1)
            name, rest = fields[0], fields[1] if len(fields) > 1 else ""
        shape.append(name)
        series.append(name)
        values.append(rest.split(None, 1)[0] if rest.strip() else "")
    return shape, series, values


class CachedParser:
    """`parse` for one target, run again only when the exposition's shape changes.

    Scrapes of one pod repeat the same series with new values, and prometheus-client's parser
    costs ~10 µs a series (5 % of a core for 100 pods x 50 series at 1 s; benchmarks/metrics).
    When every line but the values is what it was last time, the samples are the last parse's
    names, labels and kinds with the new values; anything else goes through `parse` again."""

    def __init__(self) -> None:
        self._shape: list[str] | None = None
        self._templates: list[ScrapedSample | None] = []  # per sample line; None: dropped

    def parse(self, text: str) -> list[ScrapedSample]:
        split = _split_values(text)
        if split is not None and split[0] == self._shape:
            out = []
            for tmpl, value in zip(self._templates, split[2], strict=True):
                if tmpl is None:
                    continue
                if "_" in value:  # as prometheus-client: Python's float() would take 1_000
                    raise ValueError(f"Invalid value: {value!r}")
                out.append(ScrapedSample(tmpl.name, tmpl.labels, float(value), tmpl.counter))
            return out
        samples = _parse_all(text)
        self._shape = None
        if split is not None and _aligned(samples, split[1]):
            self._shape = split[0]
            self._templates = [None if s.name.endswith("_created") else s for s in samples]
        return [s for s in samples if not s.name.endswith("_created")]


def _parse_all(text: str) -> list[ScrapedSample]:
    out: list[ScrapedSample] = []
    for family in text_string_to_metric_families(text):
        counter = family.type == "counter"
        for s in family.samples:
            out.append(
                ScrapedSample(
                    s.name, s.labels, float(s.value), counter=counter or s.name.endswith("_total")
                )
            )
    return out


def _aligned(samples: list[ScrapedSample], series: list[str]) -> bool:
    """Whether the parser's samples are the sample lines, one for one, in order (it renames a
    counter `X` to `X_total`)."""
    if len(samples) != len(series):
        return False
    for s, text in zip(samples, series, strict=True):
        if not text.startswith(s.name.removesuffix("_total")):
            return False
    return True


class ScrapeError(Exception):
    """A target answered, but not with a scrapable page (status, size, encoding)."""


class _Page:
    """httptools callbacks for one response."""

    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.complete = False
        self.framed = False  # Content-Length or chunked: the end is known without EOF
        self.keep_alive = False
        self.error: ScrapeError | None = None  # raised by the reader (httptools wraps callbacks')
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        low = name.lower()
        if low == b"content-length" or (low == b"transfer-encoding" and b"chunked" in value):
            self.framed = True
        if low == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            self.error = ScrapeError(f"unexpected Content-Encoding {value.decode('latin-1')}")

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_PAGE_BYTES:
            self.error = ScrapeError(f"metrics page over {MAX_PAGE_BYTES} bytes")
        elif self.error is None:
            self.body.append(data)

    def on_message_complete(self) -> None:
        self.complete = True
        # asked here: the parser forgets it once the message is done
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()


MAX_PAGE_BYTES = 16 * 1024 * 1024
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


class _Connection:
    """One kept-alive HTTP/1.1 connection to a pod's metrics endpoint, read with httptools
    (uvicorn's parser). httpx cost ~0.8 ms of CPU a request, 8 % of a core for 100 pods at 1 s
    (benchmarks/metrics); this costs a tenth of that. GET only, plain HTTP, no redirects."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = address
        self.host, self.port = host.strip("[]"), int(port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str, timeout_s: float) -> str:
        """The page's text; raises OSError, TimeoutError, ScrapeError or a parser error."""
        async with asyncio.timeout(timeout_s):
            for attempt in range(2):
                reused = self._streams is not None
                if self._streams is None:
                    self._streams = await asyncio.open_connection(self.host, self.port)
                try:
                    return await self._exchange(path)
                except ConnectionError:
                    self.close()
                    if not reused or attempt:  # a kept-alive connection the pod closed: retry
                        raise
                except BaseException:
                    self.close()
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, path: str) -> str:
        assert self._streams is not None
        reader, writer = self._streams
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.address}\r\nUser-Agent: tidal-metrics\r\n"
            f"Accept: {ACCEPT}\r\nAccept-Encoding: identity\r\n\r\n".encode("latin-1")
        )
        page = _Page()
        parser = page.parser = httptools.HttpResponseParser(page)
        while not page.complete:
            data = await reader.read(65536)
            if not data:
                if page.headers_done and not page.framed:  # the body ends at EOF (HTTP/1.0)
                    break
                raise ConnectionResetError("the pod closed the connection")
            parser.feed_data(data)
            if page.error is not None:
                self.close()
                raise page.error
        if not page.keep_alive:
            self.close()
        status = parser.get_status_code()
        if not 200 <= status < 300:
            raise ScrapeError(f"HTTP {status}")
        return b"".join(page.body).decode("utf-8")

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class PodScraper:
    """Keeps one `SeriesWindow` per pod and refreshes them concurrently."""

    def __init__(self, window_s: float, timeout_s: float = 2.0) -> None:
        self.window_s = window_s
        self.windows: dict[tuple[str, str], SeriesWindow] = {}
        self._parsers: dict[tuple[str, str], CachedParser] = {}
        self.errors: dict[tuple[str, str], str] = {}
        self.timeout_s = timeout_s
        self._conns: dict[tuple[str, str], _Connection] = {}  # one per pod, kept alive

    async def scrape(self, targets: Iterable[Target], now: float) -> None:
        targets = list(targets)
        wanted = {(t.namespace, t.pod) for t in targets}
        for key in [k for k in self.windows if k not in wanted]:
            del self.windows[key]
            self.errors.pop(key, None)
        for key in [k for k in self._parsers if k not in wanted]:
            del self._parsers[key]
        for key in [k for k in self._conns if k not in wanted]:
            self._conns.pop(key).close()
        await asyncio.gather(*(self._scrape_one(t, now) for t in targets))

    async def _scrape_one(self, t: Target, now: float) -> None:
        key = (t.namespace, t.pod)
        try:
            conn = self._conns.get(key)
            if conn is None or conn.address != t.address:
                if conn is not None:
                    conn.close()
                conn = self._conns[key] = _Connection(t.address)
            text = await conn.get(t.path, self.timeout_s)
            parser = self._parsers.get(key)
            if parser is None:
                parser = self._parsers[key] = CachedParser()
            samples = parser.parse(text)
        except (OSError, TimeoutError, ScrapeError, httptools.HttpParserError, ValueError) as exc:
            # no sample for this pod: the HPA's missing-metric rules apply
            self.errors[key] = f"{type(exc).__name__}: {exc}"
            window = self.windows.get(key)
            if window:
                window.expire(now)
            return
        self.errors.pop(key, None)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = SeriesWindow(self.window_s)
        window.add(samples, now)

    async def aclose(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
