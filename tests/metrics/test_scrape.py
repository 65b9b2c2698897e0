"""Scraping: the per-target parse cache gives exactly prometheus-client's samples, and the
kept-alive HTTP/1.1 reader copes with the servers pods run (framed, chunked, until-EOF, a kept-alive
connection the pod closed, errors, a pod that never answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tidal.metrics.scrape import CachedParser, PodScraper, Target, parse
from tidal.metrics.window import ScrapedSample

HISTOGRAM = """# HELP lat Latency.
# TYPE lat histogram
lat_bucket{le="0.1"} {a}
lat_bucket{le="+Inf"} {b}
lat_sum {c}
lat_count {b}
lat_created 1.7e9
"""
ODD_LABELS = """# TYPE odd gauge
odd{path="/a}b",q="say \\"hi\\" {x}",sp="a b"} {a}
odd{path="/c"} {b} 1700000000000
"""
COUNTERS = """# TYPE requests counter
requests {a}
# HELP done_total Done.
# TYPE done_total counter
done_total{code="200"} {b}
done_created{code="200"} 1.7e9
untyped_thing {c}
"""
NAME_IN_LABELS = """{__name__="weird",x="1"} {a}
"""
EXEMPLAR = """# TYPE ex counter
ex_total{a="1"} {a} # {trace="t"} {b}
"""


def fill(template: str, a: str, b: str, c: str = "0") -> str:
    return template.replace("{a}", a).replace("{b}", b).replace("{c}", c)


def key(samples: list[ScrapedSample]) -> list[tuple[str, list[tuple[str, str]], str, bool]]:
    """Comparable samples (NaN compared by its text)."""
    return [(s.name, sorted(s.labels.items()), repr(s.value), s.counter) for s in samples]


@pytest.mark.parametrize(
    ("template", "cached"),
    [
        (HISTOGRAM, True),
        (ODD_LABELS, True),
        (COUNTERS, True),
        (NAME_IN_LABELS, False),  # the parser takes the name from the labels: no cache
        (EXEMPLAR, False),  # exemplars are not split here: no cache
    ],
)
def test_cached_parse_is_the_library_parse(template: str, cached: bool) -> None:
    p = CachedParser()
    for a, b, c in [("1", "2", "3"), ("7.5", "NaN", "+Inf"), ("-Inf", "1e3", "0.001")]:
        text = fill(template, a, b, c)
        assert key(p.parse(text)) == key(parse(text))
        assert (p._shape is not None) == cached


def test_a_changed_shape_is_parsed_again() -> None:
    p = CachedParser()
    p.parse('# TYPE g gauge\ng{a="1"} 1\n')
    grown = '# TYPE g gauge\ng{a="1"} 2\ng{a="2"} 3\n'
    assert key(p.parse(grown)) == key(parse(grown))
    retyped = '# TYPE g counter\ng{a="1"} 2\ng{a="2"} 3\n'
    assert key(p.parse(retyped)) == key(parse(retyped))
    assert [s.name for s in p.parse(retyped)] == ["g_total", "g_total"]


def test_bad_values_are_errors_as_in_the_library() -> None:
    p = CachedParser()
    p.parse("g 1\n")
    for bad in ("g 1_000\n", "g abc\n", "g\n"):
        with pytest.raises(ValueError):
            parse(bad)
        with pytest.raises(ValueError):
            p.parse(bad)


# -- the HTTP reader -----------------------------------------------------------------------------

PAGE = b"# TYPE up gauge\nup 1\n"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def framed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive with Content-Length, any number of requests."""
    try:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    half = len(PAGE) // 2
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for part in (PAGE[:half], PAGE[half:]):
        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    writer.close()  # after the response, without saying so: the next scrape must reconnect


async def until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + PAGE)
    await writer.drain()
    writer.close()


async def not_found(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nxx")
    await writer.drain()
    writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers; ends when the scraper gives up and closes


async def scrape_rounds(
    handler: Handler, rounds: int, timeout_s: float = 2.0
) -> tuple[PodScraper, int]:
    """Scrape a server `rounds` times; the scraper and how many connections the server saw."""
    connections = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await handler(reader, writer)

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    scraper = PodScraper(window_s=10, timeout_s=timeout_s)
    target = Target("default", "p", f"127.0.0.1:{port}", "/metrics")
    try:
        for i in range(rounds):
            await scraper.scrape([target], float(i))
    finally:
        await scraper.aclose()
        server.close()
        await server.wait_closed()
    return scraper, connections


@pytest.mark.parametrize(("handler", "connections"), [(framed, 1), (chunked, 3), (until_eof, 3)])
def test_pages_are_read_and_connections_reused_or_renewed(
    handler: Handler, connections: int
) -> None:
    scraper, seen = asyncio.run(scrape_rounds(handler, 3))
    assert scraper.errors == {}
    assert seen == connections  # kept alive when the pod allows it
    window = scraper.windows[("default", "p")]
    assert window.value("up") == 1.0
    assert window.last_scrape_at == 2.0


@pytest.mark.parametrize(
    ("handler", "timeout_s", "error"),
    [
        (not_found, 2.0, "ScrapeError: HTTP 404"),
        (gzipped, 2.0, "ScrapeError: unexpected Content-Encoding gzip"),
        (silent, 0.2, "TimeoutError"),
    ],
)
def test_a_failing_pod_is_an_error_and_no_sample(
    handler: Handler, timeout_s: float, error: str
) -> None:
    scraper, _ = asyncio.run(scrape_rounds(handler, 1, timeout_s))
    assert scraper.errors[("default", "p")].startswith(error)
    assert ("default", "p") not in scraper.windows


def test_a_closed_port_is_an_error() -> None:
    async def go() -> PodScraper:
        server = await asyncio.start_server(framed, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        scraper = PodScraper(window_s=10)
        await scraper.scrape([Target("default", "p", f"127.0.0.1:{port}", "/metrics")], 0.0)
        await scraper.aclose()
        return scraper

    scraper = asyncio.run(go())
    assert scraper.errors[("default", "p")].startswith("ConnectionRefusedError")
