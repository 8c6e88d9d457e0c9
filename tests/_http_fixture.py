"""A real HTTP server on 127.0.0.1 for the download tests, with Range support and scripted faults.

Tests of ``labkit.data.download`` and ``labkit.data.fetch`` talk to it through urllib exactly as they
would to a dataset host, so resuming, truncation and servers that ignore Range are exercised for real.
"""
from __future__ import annotations

import io
import re
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    """What the server sends for one path.

    ``truncate_at``: for the next ``truncate_times`` requests, announce the full Content-Length but send
    only this many bytes, then close the connection. ``ignore_range``: always answer 200 with the whole body.
    """

    body: bytes
    truncate_at: int | None = None
    truncate_times: int = 1
    ignore_range: bool = False


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot hold a server thread for longer than this

    def log_message(self, format: str, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        fixture: HTTPFixture = self.server.fixture  # type: ignore[attr-defined]
        range_header = self.headers.get("Range")
        fixture.requests.append((self.path, range_header))
        route = fixture.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        total, start, status = len(route.body), 0, 200
        if range_header and not route.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", range_header)
            assert match, f"client sent an unexpected Range header {range_header!r}"
            start, status = int(match.group(1)), 206
            if start >= total:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{total}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        payload = route.body[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        if not route.ignore_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.end_headers()
        if route.truncate_at is not None and route.truncate_times > 0:
            route.truncate_times -= 1
            payload = payload[: route.truncate_at]
        self.wfile.write(payload)
        self.wfile.flush()
        self.close_connection = True


class HTTPFixture:
    """``with HTTPFixture() as server: url = server.add("/a.zip", data)``; ``server.requests`` logs (path, Range)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fixture = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def add(self, path: str, body: bytes, **options) -> str:
        self.routes[path] = Route(body, **options)
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> HTTPFixture:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def make_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    """A .tar.gz at ``path`` holding regular files ``name -> content``."""
    with tarfile.open(path, "w:gz") as bundle:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    return path


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    """A .zip at ``path`` holding regular files ``name -> content``."""
    with zipfile.ZipFile(path, "w") as bundle:
        for name, content in files.items():
            bundle.writestr(name, content)
    return path
