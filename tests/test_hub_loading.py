"""The Hub loading path, run against a local folder laid out like the Hub repository."""

import pandas as pd
import pytest

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.data.loading import load_examples


def _hub_like_xnli(folder):
    """facebook/xnli's layout: one parquet per config and split, configs declared in the README."""
    (folder / "de").mkdir(parents=True)
    pd.DataFrame(
        {"premise": ["Er kam.", "Sie ging."], "hypothesis": ["Er war da.", "Sie blieb."], "label": [0, 2]}
    ).to_parquet(folder / "de" / "validation-00000-of-00001.parquet")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: de\n  data_files:\n  - split: validation\n"
        "    path: de/validation-*.parquet\n---\n"
    )


def test_hub_rows_are_mapped_with_the_hub_label_order(tmp_path):
    import dataclasses

    _hub_like_xnli(tmp_path / "xnli")
    task = get_task("xnli")
    local_hub = dataclasses.replace(task.hub, dataset_id=str(tmp_path / "xnli"))
    local_task = dataclasses.replace(task, hub=local_hub)
    examples = load_examples(local_task, "dev", "de", {})
    assert [e["label"] for e in examples] == ["entailment", "contradiction"]
    assert examples[0]["text_a"] == "Er kam." and examples[1]["text_b"] == "Sie blieb."


def test_offline_without_the_split_in_the_cache_is_one_clear_line():
    with pytest.raises(
        BadInput,
        match=r"^data.xnli: facebook/xnli \(de\) split validation @ main is not in this machine's Hugging Face "
        r"cache and HF_HUB_OFFLINE is set: run `stilts prepare` where the Hub can be reached, or give a local "
        r"folder of the release files under data.xnli$",
    ):
        load_examples(get_task("xnli"), "dev", "de", {})


def test_split_missing_on_the_hub_is_named():
    with pytest.raises(BadInput, match="data.mnli: the Hub dataset nyu-mll/glue has no test split"):
        load_examples(get_task("mnli"), "test", "en", {})


def test_a_hub_outage_is_a_run_failure_not_bad_input(monkeypatch):
    """Offline on purpose is bad input (give a local folder, exit 2); the Hub being down is not."""
    import datasets

    from stilts.core.errors import RunFailed

    def down(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'facebook/xnli' on the Hub (ConnectTimeout)")

    monkeypatch.setattr(datasets, "load_dataset", down)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(RunFailed, match=r"data.xnli: the Hub did not answer for facebook/xnli \(de\)"):
        load_examples(get_task("xnli"), "dev", "de", {})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BadInput, match="run `stilts prepare` where the Hub can be reached, or give a local folder"):
        load_examples(get_task("xnli"), "dev", "de", {})
