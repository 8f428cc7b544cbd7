"""The additions docs/extending.md describes, each made here in the test itself with no file of stilts
changed: a task of an existing format (one declaration) and a new task format (the format, its
metric and one declaration). `stilts run`, `tasks` and `table` pick both up. A new stage kind from
another package is in tests/test_plugins.py.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import yaml
from helpers import run_cli
from torch import nn

from stilts.core.catalog import TASKS, Task, register_task
from stilts.data.readers._io import numbered_lines
from stilts.data.readers.text_classification import label_text_folder_reader
from stilts.formats.base import TaskFormat, encoder_inputs
from stilts.formats.classification import CLASSIFICATION
from stilts.testing import write_tiny_topics

TOPIC_LABELS = ("sports", "food", "weather", "technology")


def pearson(predicted, gold) -> float:
    """Pearson's r x 100 (STS-B's metric)."""
    return float(np.corrcoef(predicted, gold)[0, 1] * 100)


class Regression(TaskFormat):
    """A new format: one score per sentence (``{"id", "text", "score"}``), mean squared error."""

    name = "regression"
    text_fields = ("text",)

    def featurize(self, examples, tokenizer, task, max_length):
        encoded = dict(tokenizer(examples["text"], truncation=True, max_length=max_length))
        encoded["labels"] = [float(score) for score in examples["score"]]
        return encoded

    def collate(self, features, tokenizer):
        labels = torch.tensor([feature["labels"] for feature in features], dtype=torch.float)
        batch = dict(
            tokenizer.pad([{k: v for k, v in f.items() if k != "labels"} for f in features], return_tensors="pt")
        )
        batch["labels"] = labels
        return batch

    def build_head(self, task, hidden_size):
        return nn.Linear(hidden_size, 1)

    def forward(self, encoder, head, batch):
        predicted = head(encoder(**encoder_inputs(batch)).last_hidden_state[:, 0]).squeeze(-1)
        loss = nn.functional.mse_loss(predicted.float(), batch["labels"]) if "labels" in batch else None
        return loss, predicted

    def predict(self, outputs, features, examples, task):
        return [float(value) for value in np.asarray(outputs).reshape(-1)]

    def score(self, predictions, examples, task, language):
        return {"pearson": pearson(predictions, [example["score"] for example in examples])}


def read_scores_folder(folder, split, language):
    """``score<TAB>text`` lines in ``{split}-{language}.tsv``: the new format's one parser."""
    from stilts.core.errors import MissingSplit

    path = folder / f"{split}-{language}.tsv"
    if not path.is_file():
        raise MissingSplit(f"{folder}: no {split} file for '{language}'")
    return [
        {"id": f"{path.stem}:{number}", "text": line.split("\t")[1], "score": float(line.split("\t")[0])}
        for number, line in numbered_lines(path)
        if line.strip()
    ]


@pytest.fixture
def declared():
    """The two declarations; taken out of the catalog again afterwards."""
    tasks = [
        Task(
            name="lab_topics",
            format=CLASSIFICATION,
            phases=frozenset({"target", "evaluate"}),
            languages=("en", "de"),
            metric="accuracy",
            labels=TOPIC_LABELS,
            description="a lab's topic set",
            read_local=label_text_folder_reader(TOPIC_LABELS),
            eval_splits=("test",),
        ),
        Task(
            name="sentence_length",
            format=Regression(),
            phases=frozenset({"target", "evaluate"}),
            languages=("en", "de"),
            metric="pearson",
            description="how long a sentence is (0-1)",
            read_local=read_scores_folder,
            eval_splits=("test",),
        ),
    ]
    for task in tasks:
        register_task(task)
    yield tasks
    for task in tasks:
        TASKS.remove(task.name)


def write_length_data(folder):
    """Sentences of the topic set scored by their length: a target the tiny model can learn."""
    topics = write_tiny_topics(folder / "topics", train=48, test=16)
    out = folder / "lengths"
    out.mkdir()
    for path in topics.glob("*.tsv"):
        texts = [line.split("\t")[1] for line in path.read_text().splitlines()]
        longest = max(len(text) for text in texts)
        (out / path.name).write_text("".join(f"{len(text) / longest:.3f}\t{text}\n" for text in texts))
    return topics, out


def test_a_task_of_an_existing_format_and_a_new_format_run_end_to_end(
    declared, tmp_path, tiny_model, capsys, monkeypatch
):
    topics, lengths = write_length_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    training = {"learning_rate": 5e-3, "batch_size": 8, "max_steps": 12, "validate_every": 6}
    for task, folder in (("lab_topics", topics), ("sentence_length", lengths)):
        (tmp_path / f"{task}.yaml").write_text(
            yaml.safe_dump(
                {
                    "name": task,
                    "model": str(tiny_model),
                    "data": {task: str(folder)},
                    "stages": [{"kind": "target", "task": task, **training}, {"kind": "evaluate", "task": task}],
                }
            )
        )
        code, _, stderr = run_cli(["run", f"{task}.yaml", "--output-dir", "out"], capsys)
        assert code == 0, stderr

    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["target"], r["language"], r["metric"]) for r in rows} == {
        ("lab_topics", "en", "accuracy"),
        ("lab_topics", "de", "accuracy"),
        ("sentence_length", "en", "pearson"),
        ("sentence_length", "de", "pearson"),
    }

    code, stdout, _ = run_cli(["tasks"], capsys)
    assert code == 0
    assert any(line.startswith("sentence_length") and "regression" in line for line in stdout.splitlines())

    # the table keeps a target whose metric it has never heard of (the declaration names it)
    code, stdout, stderr = run_cli(["table", "out/scores.csv", "--split", "test", "--format", "csv"], capsys)
    assert code == 0, stderr
    header = stdout.splitlines()[0].split(",")
    assert "lab_topics" in header and "sentence_length" in header
