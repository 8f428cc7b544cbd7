"""Running the CLI in-process, as a user would from the shell; a failing disk under a checkpoint; a
model and features to evaluate."""

import contextlib
from pathlib import Path

import pytest

from stilts.cli import main
from stilts.training.checkpoints import CheckpointStore


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``stilts ARGS``."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@contextlib.contextmanager
def second_checkpoint_save_fails(monkeypatch, *, half_written: bool = False):
    """Inside: the second `CheckpointStore.save` raises an I/O error (after writing part of its
    temporary folder if ``half_written``). Yields the steps that saves were asked for."""
    real_save = CheckpointStore.save
    calls: list[int] = []

    def crash_on_second_save(self, step, progress):
        calls.append(step)
        if len(calls) == 2:
            if half_written:
                self.accelerator.save_state(str(self.folder / f".step-{step}.tmp"))
            raise OSError(5, "Input/output error")
        return real_save(self, step, progress)

    monkeypatch.setattr(CheckpointStore, "save", crash_on_second_save)
    try:
        yield calls
    finally:
        monkeypatch.setattr(CheckpointStore, "save", real_save)


def xnli_dev_features(tiny_model, tiny_nli, language: str = "de"):
    """(task, model, tokenizer, examples, features): the tiny model with an untrained XNLI head and the
    tiny XNLI dev set of ``language``, featurized, for `predict_outputs`."""
    from stilts.core.catalog import get_task
    from stilts.data.loading import load_examples
    from stilts.formats.tokenize import featurize
    from stilts.training.model import StageModel, load_encoder

    task = get_task("xnli")
    examples = load_examples(task, "dev", language, {"xnli": str(tiny_nli["xnli"])})
    encoder, tokenizer = load_encoder(str(tiny_model))
    features = featurize(task, examples, tokenizer, 64, cache=False)
    return task, StageModel(encoder, [task]), tokenizer, examples, features


def evaluate_examples(
    accelerator,
    model,
    task,
    examples: list[dict],
    tokenizer,
    *,
    max_length: int,
    batch_size: int | None,
    language: str,
    split: str = "",
    state: dict | None = None,
) -> dict[str, float]:
    """Scores of ``examples`` (one split of one language, scored as a whole), as an evaluate stage
    makes them: `predict_examples`, then the format's ``score_split``; ``state`` is carried across the
    splits of the language (see `TaskFormat.score_split`)."""
    from stilts.training.evaluation import predict_examples

    predictions = predict_examples(
        accelerator, model, task, examples, tokenizer, max_length=max_length, batch_size=batch_size, desc="evaluating"
    )
    return task.format.score_split(predictions, examples, task, language, split, {} if state is None else state)


def split_scores(rows) -> dict[str, float]:
    """Every metric (those of the first row), 0-100, of a split's per-example rows: what scores.csv
    must hold for the split."""
    from stilts.metrics.per_example import metric_value

    if not rows:
        raise ValueError("no rows")
    return {metric: metric_value(rows, metric) for metric in rows[0]["metrics"]}


def write_tiny_qqp(folder: Path) -> Path:
    """16 question pairs in GLUE's QQP TSV (``train.tsv``; ``dev.tsv`` the first 6): a second tiny
    classification task for grids of intermediate tasks."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        f"{i}\t{2 * i}\t{2 * i + 1}\thow do I cook rice {i}?\thow to cook rice {i % 3}?\t{i % 2}" for i in range(16)
    ]
    header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
    (folder / "train.tsv").write_text(header + "\n".join(rows) + "\n")
    (folder / "dev.tsv").write_text(header + "\n".join(rows[:6]) + "\n")
    return folder
