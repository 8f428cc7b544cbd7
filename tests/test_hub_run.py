"""A user's first real run, against a Hub served over HTTP: `stilts prepare` fetches the model and every
split the pipeline reads, then `stilts run` works with HF_HUB_OFFLINE=1 and the server stopped, records
the revision shas it read, and `stilts export` exports what trained on the Hub's model.

Each command runs in its own process with the environment a user would have (HF_ENDPOINT, HF_HOME), so
the clients read their settings as they do in real use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from stilts.data.readers.nli import NLI_LABELS
from stilts.testing import build_tiny_model, tiny_nli_examples, write_tiny_nli
from stilts.testing.hub import (
    TestHub,
    client_env,
    parquet_bytes,
    readme_with_configs,
    write_dataset_repo,
    write_model_repo,
)

MODEL = "stilts-test/tiny-xlmr"


def _nli_rows(language: str, count: int, seed: int, premise: str = "premise", hypothesis: str = "hypothesis"):
    return [
        {premise: p, hypothesis: h, "label": NLI_LABELS.index(label), "idx": number}
        for number, (p, h, label) in enumerate(tiny_nli_examples(language, count, seed))
    ]


def _write_hub(root: Path, model_folder: Path) -> None:
    """nyu-mll/glue (mnli) and facebook/xnli (de, en) laid out as on the Hub, and a tiny model repo."""
    write_model_repo(root, MODEL, model_folder)
    write_dataset_repo(
        root,
        "nyu-mll/glue",
        {
            "README.md": readme_with_configs(
                {"mnli": {"train": "mnli/train-*", "validation_matched": "mnli/validation_matched-*"}}
            ),
            "mnli/train-00000-of-00001.parquet": parquet_bytes(_nli_rows("en", 64, 1)),
            "mnli/validation_matched-00000-of-00001.parquet": parquet_bytes(_nli_rows("en", 16, 2)),
        },
    )
    files = {}
    for language in ("de", "en"):
        for split, seed in (("validation", 3), ("test", 4)):
            rows = [{k: v for k, v in row.items() if k != "idx"} for row in _nli_rows(language, 16, seed)]
            files[f"{language}/{split}-00000-of-00001.parquet"] = parquet_bytes(rows)
    files["README.md"] = readme_with_configs(
        {language: {split: f"{language}/{split}-*" for split in ("validation", "test")} for language in ("de", "en")}
    )
    write_dataset_repo(root, "facebook/xnli", files)


def _pipeline(folder: Path) -> Path:
    settings = {"learning_rate": 1e-3, "batch_size": 16, "max_steps": 4, "validate_every": 2}
    config = {
        "name": "from_the_hub",
        "model": MODEL,
        "seed": 1,
        "stages": [
            dict(kind="intermediate", tasks=["mnli"], **settings),
            dict(kind="target", task="xnli", **settings),
            dict(kind="evaluate", task="xnli", languages=["de", "en"]),
        ],
    }
    path = folder / "from_the_hub.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _stilts(args, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stilts", *map(str, args)],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _served_sha(hub: TestHub, kind: str, repo: str) -> str:
    """The commit sha the server gives for main (its API, asked directly: this process is offline)."""
    with urllib.request.urlopen(f"{hub.endpoint}/api/{kind}/{repo}/revision/main") as response:
        return json.load(response)["sha"]


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory, feature_cache):
    """prepare with the server up, then run and export with it stopped; the outputs, for the tests below."""
    root = tmp_path_factory.mktemp("hub-root")
    work = tmp_path_factory.mktemp("hub-run")
    home = work / "hf-home"
    _write_hub(root, build_tiny_model(work / "tiny-model"))
    pipeline = _pipeline(work)
    with TestHub(root) as hub:
        prepared = _stilts(["prepare", pipeline], client_env(hub.endpoint, home), work)
        shas = {repo: _served_sha(hub, "datasets", repo) for repo in ("nyu-mll/glue", "facebook/xnli")}
        shas[MODEL] = _served_sha(hub, "models", MODEL)
        served = list(hub.requests)
    offline = client_env(hub.endpoint, home, offline=True)  # the server is stopped now
    ran = _stilts(["run", pipeline, "--output-dir", work / "out"], offline, work)
    (target,) = (work / "out").glob("target-*")
    exported = _stilts(["export", target, "--output", work / "exported"], offline, work)
    return {
        "prepared": prepared,
        "ran": ran,
        "exported": exported,
        "shas": shas,
        "served": served,
        "out": work / "out",
        "work": work,
        "root": root,
        "home": home,
    }


def test_prepare_fetches_everything_and_prints_where_it_came_from(hub_run):
    prepared = hub_run["prepared"]
    assert prepared.returncode == 0, prepared.stderr
    out, shas = prepared.stdout, hub_run["shas"]
    assert f"model {MODEL}: {MODEL} @ main {shas[MODEL][:12]}" in out
    lines = {tuple(line.split()[:3]): line for line in out.splitlines() if line.startswith(("mnli", "xnli"))}
    # the intermediate's train and dev, the target's validation (English dev), the evaluation's languages
    assert set(lines) == {("mnli", "train", "en"), ("mnli", "dev", "en"), ("xnli", "dev", "de"), ("xnli", "test", "de")}
    assert f"nyu-mll/glue @ main {shas['nyu-mll/glue'][:12]}" in lines[("mnli", "train", "en")]
    assert " 64 " in lines[("mnli", "train", "en")]  # rows
    assert "de en" in lines[("xnli", "dev", "de")] and f"facebook/xnli @ main {shas['facebook/xnli'][:12]}" in out
    assert "can now run with HF_HUB_OFFLINE=1" in out
    # it went through the Hub's HTTP API, not a local path
    assert any("/datasets/nyu-mll/glue/resolve/" in path for _, path in hub_run["served"])
    assert any(f"/{MODEL}/resolve/" in path for _, path in hub_run["served"])


def test_the_run_works_offline_with_the_server_stopped(hub_run):
    ran = hub_run["ran"]
    assert ran.returncode == 0, ran.stderr[-3000:]
    rows = (hub_run["out"] / "scores.csv").read_text().splitlines()
    assert {tuple(row.split(",")[5:7]) for row in rows[1:]} >= {("dev", "de"), ("test", "en")}


def test_each_stage_records_the_revisions_it_read(hub_run):
    shas = hub_run["shas"]
    (intermediate,) = hub_run["out"].glob("intermediate-*")
    config = json.loads((intermediate / "config.json").read_text())
    assert config["model_sha"] == shas[MODEL]
    read = {(entry["task"], entry["split"], entry["language"]): entry["from"] for entry in config["sources"]}
    assert read[("mnli", "train", "en")] == {
        "hub": "nyu-mll/glue",
        "config": "mnli",
        "split": "train",
        "revision": "main",
        "sha": shas["nyu-mll/glue"],
        "bytes": read[("mnli", "train", "en")]["bytes"],
    }
    assert read[("mnli", "train", "en")]["bytes"] > 0
    (evaluate,) = hub_run["out"].glob("evaluate-*")
    evaluated = json.loads((evaluate / "config.json").read_text())["sources"]
    assert {(e["split"], e["language"], e["from"]["sha"]) for e in evaluated} == {
        (split, language, shas["facebook/xnli"]) for split in ("dev", "test") for language in ("de", "en")
    }


def test_export_of_what_trained_on_the_hubs_model(hub_run):
    exported = hub_run["exported"]
    assert exported.returncode == 0, exported.stderr
    from transformers import AutoModel

    model = AutoModel.from_pretrained(hub_run["work"] / "exported")
    assert model.config.model_type == "xlm-roberta"


def test_without_prepare_an_offline_run_says_what_to_do(tmp_path, hub_run):
    """A fresh cache and no Hub: one line naming the split and `stilts prepare`, exit 2, nothing trained."""
    env = client_env("http://127.0.0.1:9", tmp_path / "empty-home", offline=True)
    pipeline = hub_run["work"] / "from_the_hub.yaml"
    local_model = yaml.safe_load(pipeline.read_text())
    local_model["model"] = str(next((hub_run["out"]).glob("intermediate-*")) / "model")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(local_model))
    ran = _stilts(["run", path, "--output-dir", tmp_path / "out"], env, tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines()[-1] == (
        "error: data.mnli: nyu-mll/glue (mnli) split train @ main is not in this machine's Hugging Face cache and "
        "HF_HUB_OFFLINE is set: run `stilts prepare` where the Hub can be reached, or give a local folder of the "
        "release files under data.mnli (data.mnli is not set, so it is read from the Hub; xnli trains on it)"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*/COMPLETE"))


def test_a_model_or_a_hub_that_cannot_be_had_is_one_line_before_any_stage(tmp_path, hub_run):
    """The model is checked with the data, before any stage starts, by --dry-run too: a model the Hub does
    not have is bad input; a Hub that does not answer (HF_HUB_OFFLINE unset: a network down, a compute
    node) is asked once, not five times per file over minutes, then what the caches hold is read and
    what they lack is one line, exit 1."""
    demo = Path(__file__).resolve().parents[1] / "pipelines" / "demo_data"
    config = yaml.safe_load((hub_run["work"] / "from_the_hub.yaml").read_text())
    # MNLI from the demo's files: only the model is on the Hub
    config.update(data={"mnli": str(demo / "mnli")}, stages=config["stages"][:1])
    pipeline, out = tmp_path / "local_data.yaml", tmp_path / "out"
    pipeline.write_text(yaml.safe_dump(dict(config, model="stilts-test/no-such-model")))
    with TestHub(hub_run["root"]) as hub:
        ran = _stilts(["run", pipeline, "--dry-run", "--output-dir", out], client_env(hub.endpoint, tmp_path), tmp_path)
    assert ran.returncode == 2, ran.stderr[-2000:]
    assert ran.stderr.strip().splitlines()[-1].startswith("error: model: the Hub has no model stilts-test/no-such")

    pipeline.write_text(yaml.safe_dump(config))  # the tiny model the Hub served, by its id
    nobody = client_env("http://127.0.0.1:9", tmp_path / "empty-home")
    for dry_run in (["--dry-run"], []):
        started = time.monotonic()
        ran = _stilts(["run", pipeline, *dry_run, "--output-dir", out], nobody, tmp_path)
        assert ran.returncode == 1 and time.monotonic() - started < 30, ran.stderr[-2000:]
        assert "Retry" not in ran.stderr and ran.stderr.strip().splitlines()[-1] == (
            f"error: model: the model {MODEL} is not in this machine's Hugging Face cache and the Hub at "
            "http://127.0.0.1:9 does not answer ([Errno 111] Connection refused): run `stilts prepare` where the "
            "Hub can be reached, or name a local model folder"
        )
        assert not list(out.glob("*-*"))  # no stage folder was made

    # XNLI from local files trains on MNLI, which the user never named: it is read from the Hub, and the
    # line says so
    xnli = write_tiny_nli(tmp_path / "nli")["xnli"]
    target = [dict(kind="target", task="xnli", max_steps=1), dict(kind="evaluate", task="xnli")]
    model = hub_run["work"] / "tiny-model"
    pipeline.write_text(yaml.safe_dump(dict(config, model=str(model), data={"xnli": str(xnli)}, stages=target)))
    ran = _stilts(["run", pipeline, "--dry-run", "--output-dir", out], nobody, tmp_path)
    assert ran.returncode == 1 and "Retry" not in ran.stderr, ran.stderr[-2000:]
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith("error: data.mnli: nyu-mll/glue (mnli) split train @ main is not in this machine's")
    assert last.endswith("(data.mnli is not set, so it is read from the Hub; xnli trains on it)")

    # with what `stilts prepare` fetched, the same silent Hub is no obstacle: the caches are read
    prepared = client_env("http://127.0.0.1:9", hub_run["home"])
    again = ["run", hub_run["work"] / "from_the_hub.yaml", "--dry-run", "--output-dir", tmp_path / "again"]
    ran = _stilts(again, prepared, tmp_path)
    assert ran.returncode == 0 and "Retry" not in ran.stderr, ran.stderr[-2000:]
