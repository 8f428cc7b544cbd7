"""Every catalog task's Hub source, read through a Hub-compatible test server (`stilts.testing.hub.TestHub`)
that serves the repos as the Hub lays them out today (tests/hub_layouts.py): Parquet on main under the
README's ``configs:``, or a loading script on main and the Hub's Parquet conversion on
``refs/convert/parquet``. The real clients (``datasets``, ``huggingface_hub``) do the reading.

One server and one Hugging Face cache serve the whole module; the clients are online (pointed at the
server) although the test session runs with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import unquote

import pytest
from hub_layouts import CONVERSION, LAYOUTS, MAIN, MLQA_SCRIPT, SCRIPT_ONLY, write_hub

from stilts.core.catalog import TASKS, get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.data.loading import load_examples, recording_origins
from stilts.testing.hub import TestHub, point_clients_at

#: every catalog task with a Hub source: each must have a layout in tests/hub_layouts.py
HUB_TASKS = sorted(name for name, task in TASKS.items() if task.hub is not None)
SHA = re.compile(r"[0-9a-f]{40}")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The test Hub over every layout, with this process's clients pointed at it (online), for the module."""
    import datasets  # noqa: F401 - imported first, so that point_clients_at patches its config

    root = tmp_path_factory.mktemp("hub")
    write_hub(root)
    with TestHub(root) as server, pytest.MonkeyPatch.context() as monkeypatch:
        point_clients_at(server.endpoint, tmp_path_factory.mktemp("hf-home"), monkeypatch)
        yield server


def served_sha(hub: TestHub, repo_id: str, revision: str) -> str:
    """The commit sha the test Hub serves for ``repo_id``'s ``revision``."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint).dataset_info(repo_id, revision=revision).sha


def paths_since(hub: TestHub, start: int) -> list[str]:
    """The (unquoted) URL paths the test Hub was asked for since request number ``start``."""
    return [unquote(path) for _, path in hub.requests[start:]]


def with_repo(name: str, dataset_id: str):
    """Task ``name`` reading its Hub source from ``dataset_id`` instead."""
    task = get_task(name)
    return dataclasses.replace(task, hub=dataclasses.replace(task.hub, dataset_id=dataset_id))


# --- every task ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HUB_TASKS)
def test_every_hub_task_reads_its_repo_as_the_hub_lays_it_out(hub, name):
    assert name in LAYOUTS, f"task {name} has a Hub source but no layout in tests/hub_layouts.py: add one"
    expect = LAYOUTS[name]
    with recording_origins() as origins:
        examples = load_examples(get_task(name), expect.split, expect.language, {})
    assert examples[0] == expect.first
    assert len(examples) == expect.count
    assert all(example.keys() == expect.first.keys() for example in examples)
    origin = origins[0]["from"]
    assert {key: origin[key] for key in ("hub", "config", "split", "revision")} == {
        "hub": expect.hub,
        "config": expect.config,
        "split": expect.hub_split,
        "revision": expect.revision,
    }
    assert origin["sha"] == served_sha(hub, expect.hub, expect.revision)


# --- splits a config lacks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "split"), [("th", "dev"), ("th", "train"), ("tl", "dev"), ("yo", "train"), ("kk", "dev")]
)
def test_udpos_split_a_treebank_lacks_is_missing_without_asking_the_hub(hub, language, split):
    start = len(hub.requests)
    with pytest.raises(MissingSplit, match=r"^data\.udpos: the Hub's google/xtreme \(udpos\.\w+\) has no \w+ split"):
        load_examples(get_task("udpos"), split, language, {})
    assert paths_since(hub, start) == []


@pytest.mark.parametrize(("language", "split", "first_token"), [("th", "test", "แมว"), ("kk", "train", "Die")])
def test_udpos_split_a_small_treebank_has_loads(hub, language, split, first_token):
    examples = load_examples(get_task("udpos"), split, language, {})
    assert examples[0]["tokens"][0] == first_token and examples[0]["tags"] == ["DET", "NOUN", "VERB", "PUNCT"]


def test_a_split_missing_on_main_that_is_not_declared_is_a_missing_split(hub):
    """Without the declaration, datasets' "Unknown split" for udpos.Thai's validation is mapped."""
    task = get_task("udpos")
    undeclared = dataclasses.replace(task, hub=dataclasses.replace(task.hub, config_splits={}))
    start = len(hub.requests)
    with pytest.raises(MissingSplit, match=r"^data\.udpos: the Hub's google/xtreme \(udpos\.Thai\) split validation"):
        load_examples(undeclared, "dev", "th", {})
    assert any("/google/xtreme/" in path for path in paths_since(hub, start))


# --- where the data comes from --------------------------------------------------------------------------


def test_mlqa_reads_google_xtreme_not_facebook_mlqa(hub):
    start = len(hub.requests)
    with recording_origins() as origins:
        examples = load_examples(get_task("mlqa"), "dev", "de", {})
    assert examples[0]["context"].endswith("(MLQA.de.de/validation)")
    assert origins[0]["from"]["hub"] == "google/xtreme" and origins[0]["from"]["config"] == "MLQA.de.de"
    assert any("/google/xtreme/" in path for path in paths_since(hub, start))
    assert not any(MLQA_SCRIPT in path for path in paths_since(hub, 0))


@pytest.mark.parametrize(("name", "repo"), [("siqa", "allenai/social_i_qa"), ("cosmosqa", "allenai/cosmos_qa")])
def test_script_repos_read_the_parquet_conversion_only(hub, name, repo):
    start = len(hub.requests)
    with recording_origins() as origins:
        load_examples(get_task(name), "train", "en", {})
    assert origins[0]["from"]["revision"] == CONVERSION
    paths = [path for path in paths_since(hub, start) if f"/{repo}/" in path]
    assert any(CONVERSION in path for path in paths)
    assert not any(f"/{MAIN}/" in path or path.endswith(f"/{MAIN}") for path in paths)


def test_copa_tries_main_finds_the_script_and_reads_the_conversion(hub):
    start = len(hub.requests)
    with recording_origins() as origins:
        examples = load_examples(get_task("copa"), "train", "en", {})
    assert examples[0]["context"] == "My body cast a shadow over the grass. (train) What was the cause?"
    assert origins[0]["from"]["revision"] == CONVERSION
    paths = [path for path in paths_since(hub, start) if "/aps/super_glue/" in path]
    on_main = [number for number, path in enumerate(paths) if "/resolve/main/" in path]
    on_conversion = [number for number, path in enumerate(paths) if CONVERSION in path]
    # main first (datasets finds super_glue.py there: fetched on the first read, cached after), then the conversion
    assert on_main and on_conversion and max(on_main) < min(on_conversion)


def test_the_origin_names_the_commit_served(hub):
    with recording_origins() as origins:
        load_examples(get_task("xnli"), "dev", "de", {})
        load_examples(get_task("siqa"), "dev", "en", {})
    xnli, siqa = (entry["from"] for entry in origins)
    assert origins[0]["task"] == "xnli" and origins[0]["split"] == "dev" and origins[0]["language"] == "de"
    assert xnli["hub"] == "facebook/xnli" and xnli["config"] == "de" and xnli["split"] == "validation"
    assert xnli["revision"] == MAIN and SHA.fullmatch(xnli["sha"]) and xnli["bytes"] > 0
    assert xnli["sha"] == served_sha(hub, "facebook/xnli", MAIN)
    assert siqa["revision"] == CONVERSION and SHA.fullmatch(siqa["sha"]) and siqa["bytes"] > 0
    assert siqa["sha"] == served_sha(hub, "allenai/social_i_qa", CONVERSION)
    assert siqa["sha"] != served_sha(hub, "allenai/social_i_qa", MAIN)


# --- repos that cannot be read ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xnli", "copa", "siqa"])  # main only, main then conversion, conversion only
def test_a_script_only_repo_without_conversion_says_to_give_a_local_folder(hub, name):
    with pytest.raises(BadInput) as caught:
        load_examples(with_repo(name, SCRIPT_ONLY), "dev", "en", {})
    message = str(caught.value)
    assert type(caught.value) is BadInput and "\n" not in message
    assert message.startswith(f"data.{name}: ") and SCRIPT_ONLY in message
    assert (
        "loading script" in message
        and f"give a local folder of the original release files under data.{name}" in message
    )


@pytest.mark.parametrize("name", ["xnli", "copa", "siqa"])
def test_an_unknown_repo_is_one_line_naming_the_setting_and_the_id(hub, name):
    with pytest.raises(BadInput) as caught:
        load_examples(with_repo(name, "someorg/no_such_data"), "dev", "en", {})
    message = str(caught.value)
    assert type(caught.value) is BadInput and "\n" not in message
    assert message.startswith(f"data.{name}: ") and "someorg/no_such_data" in message


def test_every_layout_is_a_catalog_task_read_from_its_repo():
    """No layout outlives its task, and each names the repo the task's Hub source reads."""
    assert sorted(LAYOUTS) == HUB_TASKS
    assert all(LAYOUTS[name].hub == get_task(name).hub.dataset_id for name in HUB_TASKS)


def test_a_null_text_in_a_hub_row_is_one_line_before_any_stage_not_a_crash_in_the_tokenizer(monkeypatch):
    class Origin:
        def record(self) -> dict:
            return {"hub": "nyu-mll/glue"}

    rows = [
        {"premise": "a", "hypothesis": "b", "label": 0, "idx": 0},
        {"premise": None, "hypothesis": "b", "label": 1, "idx": 1},
    ]
    monkeypatch.setattr("stilts.data.hub.read_hub_split", lambda source, language, split, where: (rows, Origin()))
    with pytest.raises(
        BadInput, match=r"^data.mnli: nyu-mll/glue train row 1: field 'text_a' should be text, found null$"
    ):
        load_examples(get_task("mnli"), "train", "en", {})


def test_pawsx_translate_train_reads_the_hubs_translated_training_split(hub):
    """PAWS-X's Hub configs of its other languages hold its released machine translations as their train
    split: ``pawsx@de`` without a folder of its own reads them; a target whose translations the Hub does
    not hold names the folders to give."""
    examples = load_examples(get_task("pawsx@de"), "train", "de", {})
    assert {example["text_a"].rpartition(" ")[2] for example in examples} == {"(de/train)"}
    with pytest.raises(MissingSplit, match="give a local folder as data.xnli@de or data.xnli@all"):
        load_examples(get_task("xnli@de"), "train", "de", {})
