"""A Hugging-Face-Hub-compatible HTTP server for tests, serving repos from a folder.

Layout (one folder per branch, each a snapshot of that branch)::

    ROOT/datasets/<org>/<name>/<revision>/...files...
    ROOT/models/<org>/<name>/<revision>/...files...

``<revision>`` is ``main`` or a branch name URL-quoted into one folder name (``refs%2Fconvert%2Fparquet``).
A branch's commit sha is a sha1 of its folder's content (relative paths and bytes), so changing a file
changes the sha; a 40-hex revision is answered by the branch whose current sha it is.

The real clients (``huggingface_hub``, ``datasets``, ``transformers``) talk to it with
``HF_ENDPOINT=<TestHub.endpoint>``. What it answers, as the Hub does:

* ``HEAD``/``GET /[datasets/]<repo>/resolve/<rev>/<path>``: the file, with ``ETag`` (git blob sha1),
  ``X-Repo-Commit``, ``Content-Length`` and ``Range`` support (206/416);
* ``GET /api/{models,datasets}/<repo>[/revision/<rev>]``: id, sha, siblings, cardData, lastModified...;
* ``GET /api/{models,datasets}/<repo>/tree/<rev>[/<path>]`` (``recursive``, ``expand``, paginated with a
  ``Link: rel="next"`` header past `TestHub.tree_page_size` entries);
* ``POST /api/{models,datasets}/<repo>/paths-info/<rev>``, ``GET .../refs`` and ``GET .../commits/<rev>``;
* errors as ``404`` with the ``X-Error-Code`` the clients map: ``RepoNotFound`` (RepositoryNotFoundError),
  ``RevisionNotFound`` (RevisionNotFoundError), ``EntryNotFound`` (EntryNotFoundError, with ``X-Repo-Commit``).

There is no dataset viewer (``datasets-server``): ``datasets`` asks ``http://datasets-server.127.0.0.1:PORT``
for exported infos, which does not resolve; it catches that and reads the repo's files, as it does on the
Hub when the viewer has nothing. `point_clients_at` turns that look-up off in-process.

To point clients at it: `client_env` (the variables for a subprocess: the most honest way) or
`point_clients_at` (in-process, with pytest's ``monkeypatch``). ``python -m stilts.testing.hub --root ROOT
--port PORT`` runs it in the foreground. Only the standard library is imported here (pandas only inside
`parquet_bytes`, PyYAML only to answer ``cardData``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import os
import re
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO_TYPES = {"datasets": "dataset", "models": "model"}
_SHA = re.compile(r"[0-9a-f]{40}")
#: what the Hub returns per tree page (50 when ``expand`` is asked)
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50


# --- repos on disk ---------------------------------------------------------------------------------


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Snapshot:
    """The files of one revision folder, with their git blob ids, and the folder's commit sha."""

    def __init__(self, branch: str, folder: Path):
        self.branch = branch
        self.folder = folder
        self.files: dict[str, tuple[int, str]] = {}  # path in repo -> (size, blob oid)
        newest = 0.0
        for directory, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(name for name in dirnames if name != ".git")
            for filename in sorted(filenames):
                path = Path(directory) / filename
                if not path.is_file():
                    continue
                data = path.read_bytes()
                self.files[path.relative_to(folder).as_posix()] = (len(data), _git_blob_oid(data))
                newest = max(newest, path.stat().st_mtime)
        digest = hashlib.sha1()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name][1].encode() + b"\n")
        self.sha = digest.hexdigest()
        self.last_modified = _iso(newest)
        self.directories: set[str] = set()
        for name in self.files:
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                self.directories.add("/".join(parts[:depth]))

    def tree_oid(self, directory: str) -> str:
        prefix = directory + "/"
        digest = hashlib.sha1()
        for name in sorted(self.files):
            if name.startswith(prefix):
                digest.update(name[len(prefix) :].encode() + b"\0" + self.files[name][1].encode() + b"\n")
        return digest.hexdigest()

    def entry(self, path: str, expand: bool) -> dict:
        """``path``'s tree / paths-info entry, as the Hub writes it."""
        if path in self.files:
            size, oid = self.files[path]
            entry: dict = {"type": "file", "oid": oid, "size": size, "path": path}
        else:
            entry = {"type": "directory", "oid": self.tree_oid(path), "size": 0, "path": path}
        if expand:
            entry["lastCommit"] = {"id": self.sha, "title": self.title, "date": self.last_modified}
        return entry

    @property
    def title(self) -> str:
        return f"Snapshot of {self.branch}"

    def card_data(self) -> dict | None:
        """The README's YAML front matter, as the Hub's ``cardData``; None without one (or without PyYAML)."""
        readme = self.folder / "README.md"
        if "README.md" not in self.files:
            return None
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme.read_text(encoding="utf-8", errors="replace"), re.S)
        if not match:
            return None
        try:
            import yaml

            data = yaml.safe_load(match.group(1))
        except Exception:
            return None
        return data if isinstance(data, dict) else None


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _branches(repo_dir: Path) -> dict[str, Path]:
    """Branch name -> its revision folder."""
    return {unquote(child.name): child for child in sorted(repo_dir.iterdir()) if child.is_dir()}


class _NotFound(Exception):
    def __init__(self, code: str, message: str, commit: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.commit = commit


def _resolve_revision(repo_dir: Path, revision: str) -> _Snapshot:
    branches = _branches(repo_dir)
    if revision in branches:
        return _Snapshot(revision, branches[revision])
    if _SHA.fullmatch(revision):
        for branch, folder in branches.items():
            snapshot = _Snapshot(branch, folder)
            if snapshot.sha == revision:
                return snapshot
    raise _NotFound("RevisionNotFound", f"Invalid rev id: {revision}")


def _split_revision(repo_dir: Path, segments: list[str]) -> tuple[_Snapshot, list[str]]:
    """The snapshot named at the start of ``segments`` (raw URL segments) and the segments after it.

    The clients quote the revision into one segment (``refs%2Fconvert%2Fparquet``); an unquoted one
    (``refs/convert/parquet``) is recognised too, the shortest run of segments naming a branch winning."""
    if not segments or not segments[0]:
        raise _NotFound("RevisionNotFound", "Invalid rev id: (empty)")
    branches = _branches(repo_dir)
    for end in range(1, len(segments) + 1):
        name = unquote("/".join(segments[:end]))
        if name in branches:
            return _Snapshot(name, branches[name]), segments[end:]
    return _resolve_revision(repo_dir, unquote(segments[0])), segments[1:]


# --- the HTTP server -------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: TestHub

    def __init__(self, address, handler):
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away (or the server stopping under it)
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' connection pools expect
    server: _Server
    timeout = 60

    def setup(self):
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format, *args):
        if self.server.hub.log is not None:
            self.server.hub.log.write(f"{self.address_string()} {format % args}\n")
            self.server.hub.log.flush()

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    # --- routing ---

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.server.hub._record(method, url.path)
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._query = parse_qs(url.query, keep_blank_values=True)
        segments = url.path.split("/")[1:]
        try:
            if segments[:1] == ["api"] and len(segments) >= 4 and segments[1] in REPO_TYPES:
                self._api(method, segments[1], unquote(segments[2]), unquote(segments[3]), segments[4:], body)
            elif segments[:1] == ["datasets"] and len(segments) >= 5 and segments[3] == "resolve":
                self._resolve(method, "datasets", unquote(segments[1]), unquote(segments[2]), segments[4:])
            elif len(segments) >= 4 and segments[0] not in ("api", "spaces", "datasets") and segments[2] == "resolve":
                self._resolve(method, "models", unquote(segments[0]), unquote(segments[1]), segments[3:])
            else:
                self._error(method, 404, None, f"Not found: {url.path} (the test Hub does not serve this)")
        except _NotFound as missing:
            self._error(method, 404, missing.code, missing.message, missing.commit)
        except (ConnectionError, TimeoutError):
            raise
        except Exception as error:  # a bug here: say so to the client, and on stderr
            import traceback

            traceback.print_exc()
            self._error(method, 500, None, f"test Hub error: {type(error).__name__}: {error}")

    def _repo_dir(self, kind: str, org: str, name: str) -> Path:
        repo_dir = self.server.hub.root / kind / org / name
        if not org or not name or ".." in (org, name) or not repo_dir.is_dir():
            raise _NotFound("RepoNotFound", "Repository not found")
        return repo_dir

    def _api(self, method: str, kind: str, org: str, name: str, rest: list[str], body: bytes) -> None:
        repo_dir = self._repo_dir(kind, org, name)
        action = rest[0] if rest else ""
        if method == "POST":
            if action != "paths-info":
                raise _NotFound("", f"Not found: POST {action}")
            snapshot, _ = _split_revision(repo_dir, rest[1:])
            return self._paths_info(snapshot, body)
        if action in ("", "revision"):
            if action:
                snapshot, _ = _split_revision(repo_dir, rest[1:])
            else:
                snapshot = _resolve_revision(repo_dir, "main")
            return self._json(method, self._info(kind, f"{org}/{name}", snapshot))
        if action == "tree":
            snapshot, path = _split_revision(repo_dir, rest[1:])
            return self._tree(method, snapshot, unquote("/".join(path)).strip("/"))
        if action == "refs":
            return self._json(method, self._refs(repo_dir))
        if action == "commits":
            snapshot, _ = _split_revision(repo_dir, rest[1:])
            commit = {
                "id": snapshot.sha,
                "title": snapshot.title,
                "message": "",
                "authors": [{"user": "test-hub"}],
                "date": snapshot.last_modified,
            }
            return self._json(method, [commit])
        raise _NotFound("", f"Not found: {action}")

    # --- endpoints ---

    def _info(self, kind: str, repo_id: str, snapshot: _Snapshot) -> dict:
        blobs = self._flag("blobs")
        siblings = []
        for path, (size, oid) in snapshot.files.items():
            siblings.append({"rfilename": path, **({"size": size, "blobId": oid} if blobs else {})})
        info = {
            "_id": hashlib.sha1(f"{kind}/{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": snapshot.sha,
            "lastModified": snapshot.last_modified,
            "createdAt": snapshot.last_modified,
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(size for size, _ in snapshot.files.values()),
        }
        card_data = snapshot.card_data()
        if card_data is not None:
            info["cardData"] = card_data
        if kind == "models":
            info["modelId"] = repo_id
        return info

    def _tree(self, method: str, snapshot: _Snapshot, path: str) -> None:
        if path and path not in snapshot.directories:
            raise _NotFound("EntryNotFound", f"{path} does not exist on {snapshot.branch}", snapshot.sha)
        recursive, expand = self._flag("recursive"), self._flag("expand")
        prefix = path + "/" if path else ""
        names = sorted(
            name
            for name in [*snapshot.directories, *snapshot.files]
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :])
        )
        page_size = self.server.hub.tree_page_size
        if expand:
            page_size = min(page_size, TREE_PAGE_SIZE_EXPANDED)
        start = int((self._query.get("cursor") or ["0"])[0] or 0)
        page = [snapshot.entry(name, expand) for name in names[start : start + page_size]]
        headers = {}
        if start + page_size < len(names):
            query = f"recursive={str(recursive).lower()}&expand={str(expand).lower()}&cursor={start + page_size}"
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            headers["Link"] = f'<http://{host}{urlsplit(self.path).path}?{query}>; rel="next"'
        self._json(method, page, headers)

    def _paths_info(self, snapshot: _Snapshot, body: bytes) -> None:
        if body.lstrip().startswith(b"{"):
            request = json.loads(body)
            paths, expand = request.get("paths") or [], bool(request.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand") or ["false"])[0].lower() in ("1", "true")
        if isinstance(paths, str):
            paths = [paths]
        found = []
        for path in paths:
            path = path.strip("/")
            if path in snapshot.files or path in snapshot.directories:
                found.append(snapshot.entry(path, expand))
        self._json("POST", found)

    def _refs(self, repo_dir: Path) -> dict:
        refs: dict[str, list] = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
        for branch, folder in _branches(repo_dir).items():
            sha = _Snapshot(branch, folder).sha
            if branch.startswith("refs/convert/"):
                refs["converts"].append({"name": branch.split("/", 2)[2], "ref": branch, "targetCommit": sha})
            elif branch.startswith("refs/pr/"):
                refs["pullRequests"].append({"name": branch, "ref": branch, "targetCommit": sha})
            elif branch.startswith("refs/tags/"):
                refs["tags"].append({"name": branch.split("/", 2)[2], "ref": branch, "targetCommit": sha})
            else:
                refs["branches"].append({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": sha})
        return refs

    def _resolve(self, method: str, kind: str, org: str, name: str, rest: list[str]) -> None:
        repo_dir = self._repo_dir(kind, org, name)
        snapshot, path_segments = _split_revision(repo_dir, rest)
        path = unquote("/".join(path_segments))
        if path not in snapshot.files:
            raise _NotFound("EntryNotFound", f"Entry not found: {path}", snapshot.sha)
        size, oid = snapshot.files[path]
        data = b""
        if method != "HEAD":
            data = (snapshot.folder / path).read_bytes()
            if _git_blob_oid(data) != oid:  # changed since the snapshot was taken: answer the new content
                snapshot = _Snapshot(snapshot.branch, snapshot.folder)
                size, oid = len(data), _git_blob_oid(data)
        headers = {
            "ETag": f'"{oid}"',
            "X-Repo-Commit": snapshot.sha,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        status, start, end = 200, 0, size
        wanted = _byte_range(self.headers.get("Range"), size)
        if wanted == "unsatisfiable":
            headers["Content-Range"] = f"bytes */{size}"
            return self._send(method, 416, b"", headers)
        if wanted is not None:
            status, (start, end) = 206, wanted
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self._send(method, status, data[start:end], headers, length=end - start)

    # --- responses ---

    def _flag(self, name: str) -> bool:
        return (self._query.get(name) or ["false"])[0].lower() in ("1", "true", "yes")

    def _json(self, method: str, payload, headers: Mapping[str, str] | None = None) -> None:
        self._send(method, 200, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, method: str, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if commit:
            headers["X-Repo-Commit"] = commit
        self._send(method, status, json.dumps({"error": message}).encode(), headers)

    def _send(
        self, method: str, status: int, body: bytes, headers: Mapping[str, str], length: int | None = None
    ) -> None:
        """``length``: the Content-Length, when ``body`` is left empty for a HEAD."""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)


def _byte_range(header: str | None, size: int):
    """(start, end exclusive) of a single ``bytes=`` range, "unsatisfiable", or None (serve it all)."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or not (match.group(1) or match.group(2)):
        return None  # several ranges, or another unit: the whole file, as RFC 9110 allows
    first, last = match.groups()
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        return "unsatisfiable"
    return start, end


class TestHub:
    """A Hub-compatible server over ``root`` on 127.0.0.1 (``port`` 0: a free one), in a background thread.

    ``with TestHub(root) as hub:`` starts and stops it; `endpoint` is what ``HF_ENDPOINT`` must be;
    `requests` lists the ``(method, path)`` served (the URL path as sent, without the query), for tests
    that assert a request was or was not made. `stop` also closes the clients' open keep-alive
    connections, so a stopped hub answers nothing. Setting `tree_page_size` makes tree listings paginate.
    """

    __test__ = False  # a helper, not a pytest test class

    def __init__(self, root: Path, port: int = 0):
        self.root = Path(root)
        self.port = port
        self.tree_page_size = TREE_PAGE_SIZE
        self.requests: list[tuple[str, str]] = []
        #: where request lines are written (the command-line server: stderr); None: nowhere
        self.log: TextIO | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``; known from the first `start` on (and still after `stop`)."""
        if not self.port:
            raise RuntimeError("the test Hub has no port yet: call start() first")
        return f"http://127.0.0.1:{self.port}"

    def _bind(self) -> _Server:
        if not self.root.is_dir():
            raise FileNotFoundError(f"test Hub root {self.root} is not a folder")
        if self._server is not None:
            raise RuntimeError("the test Hub is already running")
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.hub = self
        self.port = server.server_address[1]  # a restart reuses the port, so the endpoint stays the same
        self._server = server
        return server

    def start(self) -> TestHub:
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"test-hub-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.server_close()
        with server.connections_lock:
            connections = list(server.connections)
        for connection in connections:  # keep-alive connections the clients' pools still hold
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> TestHub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --- pointing the clients at it --------------------------------------------------------------------


def client_env(endpoint: str, home: Path, *, offline: bool = False) -> dict[str, str]:
    """The environment variables a subprocess needs to use the Hub at ``endpoint`` with its own caches under
    ``home``: merge them over ``os.environ``. ``offline=True``: the same caches, the clients offline
    (``HF_HUB_OFFLINE=1``, ``HF_DATASETS_OFFLINE=1``), to read back what an online run downloaded.

    Every cache path is set (not only ``HF_HOME``), so a ``HF_HUB_CACHE`` or ``HF_DATASETS_CACHE`` in the
    parent's environment cannot leak in; ``HF_TOKEN`` is emptied so no token is sent; telemetry (which
    would also fetch an agent registry from the endpoint), Xet, progress bars, update checks and
    ``datasets``' download counter (a request to S3) are off; 127.0.0.1 bypasses any proxy."""
    home = Path(home)
    flag = "1" if offline else "0"
    no_proxy = ",".join(
        part for part in [os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "127.0.0.1", "localhost"] if part
    )
    return {
        "HF_ENDPOINT": endpoint.rstrip("/"),
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HUGGINGFACE_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_DATASETS_DOWNLOADED_DATASETS_PATH": str(home / "datasets" / "downloads"),
        "HF_DATASETS_EXTRACTED_DATASETS_PATH": str(home / "datasets" / "downloads" / "extracted"),
        "HF_MODULES_CACHE": str(home / "modules"),
        "HF_TOKEN": "",
        "HUGGING_FACE_HUB_TOKEN": "",
        "HF_HUB_OFFLINE": flag,
        "HF_DATASETS_OFFLINE": flag,
        "TRANSFORMERS_OFFLINE": flag,
        "HUGGINGFACE_CO_STAGING": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def point_clients_at(endpoint: str, home: Path, monkeypatch, *, offline: bool = False) -> dict[str, str]:
    """Point this process's Hugging Face clients at ``endpoint``, with caches under ``home``; returns the
    `client_env` it set. Call it again with ``offline=True`` to read back from the caches.

    ``monkeypatch`` (pytest's) undoes everything after the test. The clients copy most settings from the
    environment when they are imported, so it first imports ``huggingface_hub``, ``datasets.config`` and
    ``transformers.utils.hub`` (about a second, once; an import during the test would otherwise keep the
    test's values for the rest of the session), then patches those copies:

    * ``huggingface_hub.constants``: ENDPOINT, HUGGINGFACE_CO_URL_TEMPLATE (the resolve URLs), HF_HUB_OFFLINE,
      HF_HOME, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_ASSETS_CACHE, HUGGINGFACE_ASSETS_CACHE, HF_XET_CACHE,
      HF_TOKEN_PATH, HF_STORED_TOKENS_PATH, HF_HUB_DISABLE_TELEMETRY, HF_HUB_DISABLE_XET,
      HF_HUB_DISABLE_IMPLICIT_TOKEN;
    * ``huggingface_hub.hf_api.api.endpoint`` (the `HfApi` behind ``huggingface_hub.list_repo_tree`` and the
      other module-level functions) and ``huggingface_hub.utils._cache_manager.HF_HUB_CACHE``;
    * ``datasets.config``: HF_ENDPOINT, HUB_DATASETS_URL, HF_HUB_OFFLINE, HF_DATASETS_OFFLINE, HF_CACHE_HOME,
      HF_DATASETS_CACHE, HF_MODULES_CACHE, DOWNLOADED_DATASETS_PATH, EXTRACTED_DATASETS_PATH,
      HF_UPDATE_DOWNLOAD_COUNTS (off) and USE_PARQUET_EXPORT (off: there is no dataset viewer to ask);
    * ``transformers.utils.hub.HF_MODULES_CACHE``;

    and then sets the `client_env` variables (read at call time: ``HF_TOKEN``, stilts' own
    ``HF_HUB_OFFLINE`` checks, subprocesses). It also empties fsspec's cache of `HfFileSystem` instances
    (their listings outlive a server on a reused port). Not covered: objects made before the call that
    hold an endpoint (an ``HfApi()`` or ``HfFileSystem()`` of your own)."""
    from huggingface_hub import HfFileSystem, constants
    from huggingface_hub import hf_api as hub_api

    optional = {}
    for name in ("datasets.config", "transformers.utils.hub"):
        try:
            optional[name] = importlib.import_module(name)
        except ImportError:
            pass

    env = client_env(endpoint, home, offline=offline)
    endpoint = env["HF_ENDPOINT"]
    patches = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": offline,
        "HF_HOME": env["HF_HOME"],
        "HF_HUB_CACHE": env["HF_HUB_CACHE"],
        "HUGGINGFACE_HUB_CACHE": env["HF_HUB_CACHE"],
        "HF_ASSETS_CACHE": env["HF_ASSETS_CACHE"],
        "HUGGINGFACE_ASSETS_CACHE": env["HF_ASSETS_CACHE"],
        "HF_XET_CACHE": env["HF_XET_CACHE"],
        "HF_TOKEN_PATH": env["HF_TOKEN_PATH"],
        "HF_STORED_TOKENS_PATH": str(Path(home) / "stored_tokens"),
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
    }
    for name, value in patches.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hub_api.api, "endpoint", endpoint)
    cache_manager = sys.modules.get("huggingface_hub.utils._cache_manager")
    if cache_manager is not None:
        monkeypatch.setattr(cache_manager, "HF_HUB_CACHE", env["HF_HUB_CACHE"])

    datasets_config = optional.get("datasets.config")
    if datasets_config is not None:
        datasets_patches = {
            "HF_ENDPOINT": endpoint,
            "HUB_DATASETS_URL": endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
            "HF_HUB_OFFLINE": offline,
            "HF_DATASETS_OFFLINE": offline,
            "HF_CACHE_HOME": env["HF_HOME"],
            "HF_DATASETS_CACHE": Path(env["HF_DATASETS_CACHE"]),
            "HF_MODULES_CACHE": Path(env["HF_MODULES_CACHE"]),
            "DOWNLOADED_DATASETS_PATH": Path(env["HF_DATASETS_DOWNLOADED_DATASETS_PATH"]),
            "EXTRACTED_DATASETS_PATH": Path(env["HF_DATASETS_EXTRACTED_DATASETS_PATH"]),
            "HF_UPDATE_DOWNLOAD_COUNTS": False,
            "USE_PARQUET_EXPORT": False,
        }
        for name, value in datasets_patches.items():
            monkeypatch.setattr(datasets_config, name, value)
    transformers_hub = optional.get("transformers.utils.hub")
    if transformers_hub is not None:
        monkeypatch.setattr(transformers_hub, "HF_MODULES_CACHE", env["HF_MODULES_CACHE"])

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    HfFileSystem.clear_instance_cache()
    return env


# --- laying out repos ------------------------------------------------------------------------------


def repo_folder(root: Path, kind: str, repo_id: str, revision: str = "main") -> Path:
    """The folder of ``repo_id``'s ``revision`` under ``root`` (``kind``: "datasets" or "models")."""
    if kind not in REPO_TYPES:
        raise ValueError(f"kind must be one of {sorted(REPO_TYPES)}, not {kind!r}")
    org, _, name = repo_id.partition("/")
    if not org or not name or "/" in name:
        raise ValueError(f"repo id must be 'org/name', not {repo_id!r}")
    return Path(root) / kind / org / name / quote(revision, safe="")


def _write_files(folder: Path, files: Mapping[str, bytes | str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
    return folder


def write_dataset_repo(root: Path, repo_id: str, files: Mapping[str, bytes | str], revision: str = "main") -> Path:
    """Write ``files`` (path in repo -> bytes or text) into data set ``repo_id``'s ``revision`` under
    ``root``, over what is there; returns the revision folder."""
    return _write_files(repo_folder(root, "datasets", repo_id, revision), files)


def write_model_repo(root: Path, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Copy the files of ``folder`` (e.g. a `stilts.testing.build_tiny_model` folder) into model
    ``repo_id``'s ``revision`` under ``root``; returns the revision folder."""
    target = repo_folder(root, "models", repo_id, revision)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, target, dirs_exist_ok=True)
    return target


def parquet_bytes(rows: Iterable[Mapping]) -> bytes:
    """A Parquet file of ``rows`` (dicts with the same keys), as bytes for `write_dataset_repo`."""
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame(list(rows)).to_parquet(buffer, index=False)
    return buffer.getvalue()


def readme_with_configs(configs: Mapping[str, Mapping[str, str]]) -> str:
    """A README.md whose YAML front matter declares ``configs`` (config name -> split -> path glob), as the
    Hub's Parquet data sets do (what ``datasets.load_dataset(repo, config, split=...)`` reads)."""
    lines = ["---", "configs:"]
    for config_name, splits in configs.items():
        lines += [f"- config_name: {json.dumps(config_name)}", "  data_files:"]
        for split, path in splits.items():
            lines += [f"  - split: {json.dumps(split)}", f"    path: {json.dumps(path)}"]
    return "\n".join([*lines, "---", "", "A data set served by the test Hub.", ""])


# --- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stilts.testing.hub",
        description="Serve ROOT/{datasets,models}/<org>/<name>/<revision>/ as a Hugging Face Hub until Ctrl-C.",
    )
    parser.add_argument("--root", required=True, type=Path, help="the folder of repos")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"test Hub: --root {args.root} is not a folder", file=sys.stderr)
        return 2
    hub = TestHub(args.root, args.port)
    hub.log = sys.stderr
    try:
        server = hub._bind()
    except OSError as error:
        print(f"test Hub: cannot listen on 127.0.0.1:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 2
    # Ctrl-C (and a kill) stop it cleanly even where it was started with SIGINT ignored (`cmd &` in a
    # script ignores it, and Python then raises no KeyboardInterrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"test Hub serving {args.root} at {hub.endpoint} (export HF_ENDPOINT={hub.endpoint})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        hub._close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
