"""The test Hub (stilts.testing.hub) against the real clients: huggingface_hub, datasets and transformers
read through it as through the Hub, and read the same back offline from their caches once it is stopped."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stilts.testing.hub import (
    TestHub,
    client_env,
    parquet_bytes,
    point_clients_at,
    readme_with_configs,
    repo_folder,
    write_dataset_repo,
    write_model_repo,
)

ROOT = Path(__file__).resolve().parents[1]
PARQUET = "refs/convert/parquet"
DE_ROWS = [
    {"premise": "Er kam.", "hypothesis": "Er war da.", "label": 0},
    {"premise": "Sie ging.", "hypothesis": "Sie blieb.", "label": 2},
]
EN_ROWS = [{"premise": "He came.", "hypothesis": "He was there.", "label": 0}]


def _write_repos(root: Path) -> None:
    """org/xnli: README configs over Parquet on main, and a Parquet conversion branch; org/scripted: only a
    loading script on main (what datasets >= 4 refuses), its Parquet conversion on refs/convert/parquet."""
    write_dataset_repo(
        root,
        "org/xnli",
        {
            "README.md": readme_with_configs(
                {
                    "de": {"validation": "de/validation-*.parquet", "test": "de/test-*.parquet"},
                    "en": {"validation": "en/validation-*.parquet"},
                }
            ),
            "de/validation-00000-of-00001.parquet": parquet_bytes(DE_ROWS),
            "de/test-00000-of-00001.parquet": parquet_bytes(DE_ROWS[:1]),
            "en/validation-00000-of-00001.parquet": parquet_bytes(EN_ROWS),
        },
    )
    write_dataset_repo(root, "org/xnli", {"de/validation/0000.parquet": parquet_bytes(DE_ROWS)}, revision=PARQUET)
    write_dataset_repo(root, "org/scripted", {"scripted.py": "raise SystemExit('scripts do not run')\n"})
    write_dataset_repo(
        root,
        "org/scripted",
        {"de/validation/0000.parquet": parquet_bytes(DE_ROWS), "de/test/0000.parquet": parquet_bytes(DE_ROWS[:1])},
        revision=PARQUET,
    )


@pytest.fixture
def hub(tmp_path):
    root = tmp_path / "root"
    _write_repos(root)
    with TestHub(root) as served:
        yield served


#: straight to 127.0.0.1, whatever proxy the environment names
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(method: str, url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_resolve_answers_like_the_hub_headers_ranges_and_error_codes(hub):
    folder = repo_folder(hub.root, "datasets", "org/xnli")
    assert folder == hub.root / "datasets" / "org" / "xnli" / "main"
    assert repo_folder(hub.root, "datasets", "org/xnli", PARQUET).name == "refs%2Fconvert%2Fparquet"
    readme = (folder / "README.md").read_bytes()
    url = f"{hub.endpoint}/datasets/org/xnli/resolve/main/README.md"

    status, headers, body = _http("HEAD", url)
    assert status == 200 and body == b""
    assert headers["ETag"] == '"' + hashlib.sha1(b"blob %d\0" % len(readme) + readme).hexdigest() + '"'
    assert int(headers["Content-Length"]) == len(readme)
    sha = headers["X-Repo-Commit"]
    assert len(sha) == 40 and sha != "0" * 40
    status, headers, body = _http("GET", f"{hub.endpoint}/datasets/org/xnli/resolve/{sha}/README.md")
    assert (status, body, headers["X-Repo-Commit"]) == (200, readme, sha)

    status, headers, body = _http("GET", url, {"Range": "bytes=4-11"})
    assert (status, body, headers["Content-Range"]) == (206, readme[4:12], f"bytes 4-11/{len(readme)}")
    assert _http("GET", url, {"Range": "bytes=-5"})[2] == readme[-5:]
    assert _http("GET", url, {"Range": f"bytes={len(readme)}-"})[0] == 416

    for path, code in [
        ("datasets/org/nothing/resolve/main/README.md", "RepoNotFound"),
        ("datasets/org/xnli/resolve/no-such-branch/README.md", "RevisionNotFound"),
        (f"datasets/org/xnli/resolve/{'a' * 40}/README.md", "RevisionNotFound"),
        ("datasets/org/xnli/resolve/main/nothing.txt", "EntryNotFound"),
        ("api/datasets/org/nothing", "RepoNotFound"),
        ("api/models/org/xnli", "RepoNotFound"),  # a data set is not a model
    ]:
        status, headers, _ = _http("GET", f"{hub.endpoint}/{path}")
        assert (status, headers.get("X-Error-Code")) == (404, code), path
    # a missing file names the commit, so clients can cache that it is missing there
    assert _http("HEAD", f"{hub.endpoint}/datasets/org/xnli/resolve/main/nothing.txt")[1]["X-Repo-Commit"] == sha
    assert ("HEAD", "/datasets/org/xnli/resolve/main/README.md") in hub.requests


def test_huggingface_hub_in_process_info_sha_tree_paths_info_fs_and_errors(hub, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import HfApi, HfFileSystem, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    point_clients_at(hub.endpoint, tmp_path / "home", monkeypatch)
    api = HfApi()
    info = api.dataset_info("org/xnli")
    assert info.id == "org/xnli" and len(info.sha) == 40 and info.last_modified is not None
    assert {s.rfilename for s in info.siblings} == {
        "README.md",
        "de/validation-00000-of-00001.parquet",
        "de/test-00000-of-00001.parquet",
        "en/validation-00000-of-00001.parquet",
    }
    assert [c["config_name"] for c in info.card_data.to_dict()["configs"]] == ["de", "en"]
    assert api.dataset_info("org/xnli", revision=info.sha).sha == info.sha
    parquet_sha = api.dataset_info("org/xnli", revision=PARQUET).sha
    assert parquet_sha != info.sha
    assert [s.rfilename for s in api.dataset_info("org/xnli", revision=parquet_sha).siblings] == [
        "de/validation/0000.parquet"
    ]
    refs = api.list_repo_refs("org/xnli", repo_type="dataset")
    assert [(r.name, r.target_commit) for r in refs.branches] == [("main", info.sha)]
    assert [(r.ref, r.target_commit) for r in refs.converts] == [(PARQUET, parquet_sha)]

    # the module-level functions (one HfApi made at import) follow the patched endpoint too
    path = huggingface_hub.hf_hub_download("org/xnli", "README.md", repo_type="dataset")
    assert Path(path).read_text() == (repo_folder(hub.root, "datasets", "org/xnli") / "README.md").read_text()
    assert Path(path).is_relative_to(tmp_path / "home" / "hub") and Path(path).parent.name == info.sha
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/nothing", "README.md", repo_type="dataset")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/xnli", "nothing.txt", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("org/xnli", "README.md", repo_type="dataset", revision="no-such-branch")

    # tree, paginated as the Hub pages it; paths-info
    hub.tree_page_size = 2
    before = len(hub.requests)
    tree = list(api.list_repo_tree("org/xnli", repo_type="dataset", recursive=True))
    assert [(type(e).__name__, e.path) for e in tree] == [
        ("RepoFile", "README.md"),
        ("RepoFolder", "de"),
        ("RepoFile", "de/test-00000-of-00001.parquet"),
        ("RepoFile", "de/validation-00000-of-00001.parquet"),
        ("RepoFolder", "en"),
        ("RepoFile", "en/validation-00000-of-00001.parquet"),
    ]
    assert len([r for r in hub.requests[before:] if "/tree/" in r[1]]) == 3
    assert [e.path for e in api.list_repo_tree("org/xnli", "de", repo_type="dataset", expand=True)] == [
        "de/test-00000-of-00001.parquet",
        "de/validation-00000-of-00001.parquet",
    ]
    infos = api.get_paths_info("org/xnli", ["README.md", "de", "missing"], repo_type="dataset", revision=info.sha)
    assert [(type(e).__name__, e.path) for e in infos] == [("RepoFile", "README.md"), ("RepoFolder", "de")]

    # HfFileSystem: glob, ls and ranged reads, on a branch whose name has slashes
    fs = HfFileSystem()
    assert fs.glob("datasets/org/xnli/**/*.parquet") == [
        "datasets/org/xnli/de/test-00000-of-00001.parquet",
        "datasets/org/xnli/de/validation-00000-of-00001.parquet",
        "datasets/org/xnli/en/validation-00000-of-00001.parquet",
    ]
    converted = "datasets/org/scripted@refs%2Fconvert%2Fparquet/de"
    assert fs.ls(converted, detail=False) == [f"{converted}/test", f"{converted}/validation"]
    on_disk = (repo_folder(hub.root, "datasets", "org/scripted", PARQUET) / "de/validation/0000.parquet").read_bytes()
    with fs.open(f"hf://{converted}/validation/0000.parquet", "rb", block_size=16) as remote:
        remote.seek(4)
        assert remote.read(10) == on_disk[4:14]
    assert fs.cat_file(f"hf://{converted}/validation/0000.parquet") == on_disk
    assert ("GET", "/datasets/org/scripted/resolve/refs%2Fconvert%2Fparquet/de/validation/0000.parquet") in hub.requests
    unquoted = "datasets/org/scripted@refs/convert/parquet/de"
    assert fs.ls(unquoted, detail=False) == [f"{unquoted}/test", f"{unquoted}/validation"]

    # a changed file is a new commit: the new sha is served and the old one no longer resolves
    write_dataset_repo(hub.root, "org/xnli", {"README.md": readme_with_configs({"de": {"test": "de/test-*"}})})
    changed = api.dataset_info("org/xnli")
    assert changed.sha != info.sha and api.dataset_info("org/xnli", revision=changed.sha).sha == changed.sha
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info("org/xnli", revision=info.sha)
    # the same content elsewhere is the same sha (it is a function of the content only)
    other = tmp_path / "other"
    write_dataset_repo(other, "org/xnli", {"de/validation/0000.parquet": parquet_bytes(DE_ROWS)}, revision=PARQUET)
    with TestHub(other) as second:
        status, headers, _ = _http(
            "HEAD", f"{second.endpoint}/datasets/org/xnli/resolve/{parquet_sha}/de/validation/0000.parquet"
        )
    assert (status, headers["X-Repo-Commit"]) == (200, parquet_sha)

    # stopped, the hub answers nothing (open keep-alive connections included); offline, the cache answers
    hub.stop()
    with pytest.raises(OSError):
        _http("HEAD", f"{hub.endpoint}/datasets/org/xnli/resolve/main/README.md")
    point_clients_at(hub.endpoint, tmp_path / "home", monkeypatch, offline=True)
    assert hf_hub_download("org/xnli", "README.md", repo_type="dataset") == path


def test_datasets_in_process_configs_revisions_scripts_and_offline(hub, tmp_path, monkeypatch):
    import datasets
    from huggingface_hub import HfApi

    point_clients_at(hub.endpoint, tmp_path / "home", monkeypatch)
    assert datasets.load_dataset("org/xnli", "de", split="validation").to_list() == DE_ROWS
    sha = HfApi().dataset_info("org/xnli").sha
    assert datasets.load_dataset("org/xnli", "en", split="validation", revision=sha).to_list() == EN_ROWS
    with pytest.raises(RuntimeError, match="Dataset scripts are no longer supported, but found scripted.py"):
        datasets.load_dataset("org/scripted", "de", split="validation")
    hub.stop()
    point_clients_at(hub.endpoint, tmp_path / "home", monkeypatch, offline=True)
    assert datasets.load_dataset("org/xnli", "de", split="validation").to_list() == DE_ROWS


#: run by a fresh interpreter with `client_env`: every client reads through the Hub (online) or only from
#: the caches (offline); prints what it read as JSON on the last line
CLIENTS = r"""
import json, os, sys
from huggingface_hub import hf_hub_download, snapshot_download
import datasets
from transformers import AutoModel, AutoTokenizer

online, sha = sys.argv[1] == "online", sys.argv[2]
out = {}
def attempt(name, read):
    try:
        out[name] = read()
    except Exception as error:
        out[name] = f"{type(error).__name__}: {error}"

def listing(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)

def download(repo, path, revision=None):
    with open(hf_hub_download(repo, path, repo_type="dataset", revision=revision), "rb") as file:
        return file.read().hex()

def snapshot(repo, revision=None, **patterns):
    return snapshot_download(repo, repo_type="dataset", revision=revision, **patterns)

def rows(repo, config=None, **settings):
    return datasets.load_dataset(repo, config, **settings).to_list()

def model():
    tokenizer, encoder = AutoTokenizer.from_pretrained("org/tiny"), AutoModel.from_pretrained("org/tiny")
    # the pooler is not in the checkpoint (newly initialised, so different on each load)
    weights = float(sum(p.double().sum() for n, p in encoder.named_parameters() if not n.startswith("pooler")))
    return [tokenizer("the cat sleeps")["input_ids"], type(encoder).__name__, weights]

attempt("readme", lambda: download("org/xnli", "README.md"))
attempt("main_de", lambda: listing(os.path.join(snapshot("org/xnli", allow_patterns=["de/*"]), "de")))
attempt("parquet_branch", lambda: listing(snapshot("org/scripted", "refs/convert/parquet")))
attempt("parquet_file", lambda: download("org/scripted", "de/test/0000.parquet", "refs/convert/parquet"))
attempt("de_validation", lambda: rows("org/xnli", "de", split="validation"))
attempt("en_at_sha", lambda: rows("org/xnli", "en", split="validation", revision=sha))
if online:
    attempt("script_only", lambda: rows("org/scripted", "de", split="validation"))
    branch = "refs/convert/parquet"
    attempt("data_dir_on_branch", lambda: rows("org/scripted", revision=branch, data_dir="de", split="test"))
attempt("model", model)
print(json.dumps(out))
"""


def _run_clients(env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CLIENTS, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_real_clients_in_a_subprocess_then_offline_with_the_server_stopped(tmp_path, tiny_model):
    root, home = tmp_path / "root", tmp_path / "home"
    _write_repos(root)
    write_model_repo(root, "org/tiny", tiny_model)
    with TestHub(root) as hub:
        _, headers, _ = _http("HEAD", f"{hub.endpoint}/datasets/org/xnli/resolve/main/README.md")
        sha = headers["X-Repo-Commit"]
        online = _run_clients(client_env(hub.endpoint, home), "online", sha)
        served = list(hub.requests)
    offline = _run_clients(client_env(hub.endpoint, home, offline=True), "offline", sha)

    readme = (repo_folder(root, "datasets", "org/xnli") / "README.md").read_bytes()
    converted = repo_folder(root, "datasets", "org/scripted", PARQUET)
    expected = {
        "readme": readme.hex(),
        "main_de": ["test-00000-of-00001.parquet", "validation-00000-of-00001.parquet"],
        "parquet_branch": ["de/test/0000.parquet", "de/validation/0000.parquet"],
        "parquet_file": (converted / "de/test/0000.parquet").read_bytes().hex(),
        "de_validation": DE_ROWS,
        "en_at_sha": EN_ROWS,
    }
    for name, value in expected.items():
        assert online[name] == value, name
        assert offline[name] == value, f"offline {name}"
    assert online["script_only"] == "RuntimeError: Dataset scripts are no longer supported, but found scripted.py"
    assert online["data_dir_on_branch"] == DE_ROWS[:1]
    assert online["model"] == offline["model"]
    from safetensors.numpy import load_file

    saved = load_file(tiny_model / "model.safetensors")
    assert online["model"][2] == pytest.approx(sum(float(t.astype("float64").sum()) for t in saved.values()), rel=1e-6)
    assert online["model"][1] == "XLMRobertaModel" and online["model"][0][0] == 0 and len(online["model"][0]) > 3
    # the clients asked only for what the test Hub serves (nothing answered "not served")
    assert served and all(p.startswith(("/api/datasets/", "/api/models/", "/datasets/", "/org/")) for _, p in served)
    assert any(
        m == "GET" and p.startswith("/org/tiny/resolve/") and p.endswith("/model.safetensors") for m, p in served
    )


def test_command_line_serves_until_ctrl_c_and_refuses_a_missing_root(tmp_path):
    missing = subprocess.run(
        [sys.executable, "-m", "stilts.testing.hub", "--root", str(tmp_path / "absent")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [f"test Hub: --root {tmp_path / 'absent'} is not a folder"]

    _write_repos(tmp_path / "root")
    server = subprocess.Popen(
        [sys.executable, "-m", "stilts.testing.hub", "--root", str(tmp_path / "root"), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as when started with `&` from a script: SIGINT ignored on entry (it hung there, never stopping)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        line = server.stdout.readline()
        endpoint = line.split(" at ")[1].split()[0]
        assert endpoint.startswith("http://127.0.0.1:")
        status, _, body = _http("GET", f"{endpoint}/api/datasets/org/xnli")
        assert status == 200 and json.loads(body)["id"] == "org/xnli"
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0
    assert "Traceback" not in err and "GET /api/datasets/org/xnli" in err
