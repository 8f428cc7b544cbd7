"""Nothing half-written: failed writes leave the previous file or checkpoint usable, and a loss that
becomes NaN stops the stage with a clear message and keeps the last good checkpoint."""

import os

import pytest
import torch
from conftest import write_pipeline
from helpers import run_cli, second_checkpoint_save_fails

from stilts.core.artifacts import write_text_atomic
from stilts.formats.classification import Classification
from stilts.reports.scores_file import upsert_scores
from stilts.training import checkpoints as checkpoints_module


def test_a_write_that_raises_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_text_atomic(target, "old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def test_read_only_folder_keeps_scores(tmp_path):
    row = {
        "pipeline": "p",
        "intermediate": "none",
        "mlm": False,
        "target": "xnli",
        "seed": 1,
        "split": "dev",
        "language": "de",
        "metric": "accuracy",
        "value": 50.0,
        "stage": "evaluate-0123abcd",
    }
    upsert_scores(tmp_path / "scores.csv", [row], [row["stage"]])
    before = (tmp_path / "scores.csv").read_text()
    tmp_path.chmod(0o500)
    try:
        if os.access(tmp_path, os.W_OK):
            pytest.skip("running as a user who can write to read-only folders (root)")
        with pytest.raises(OSError):
            upsert_scores(tmp_path / "scores.csv", [dict(row, value=60.0)], [row["stage"]])
    finally:
        tmp_path.chmod(0o700)
    assert (tmp_path / "scores.csv").read_text() == before


def test_rerun_does_not_duplicate_score_rows(tmp_path):
    row = {
        "pipeline": "p",
        "intermediate": "none",
        "mlm": False,
        "target": "xnli",
        "seed": 1,
        "split": "dev",
        "language": "de",
        "metric": "accuracy",
        "value": 50.0,
        "stage": "evaluate-0123abcd",
    }
    upsert_scores(tmp_path / "scores.csv", [row, dict(row, language="fr")], [row["stage"]])
    upsert_scores(tmp_path / "scores.csv", [dict(row, value=51.0)], [row["stage"]])
    lines = (tmp_path / "scores.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[-1].endswith(",de,accuracy,51.0,evaluate-0123abcd")


@pytest.fixture
def pipeline(tmp_path, tiny_model, tiny_nli):
    return write_pipeline(
        tmp_path / "p.yaml", tiny_model, tiny_nli, epochs=3, validate_every=2, checkpoint_every=2, batch_size=8
    )


def test_crash_while_saving_a_checkpoint_keeps_the_previous_one(pipeline, tmp_path, capsys, monkeypatch):
    with second_checkpoint_save_fails(monkeypatch, half_written=True) as calls:  # half done, then the crash
        code, _, stderr = run_cli(["run", pipeline, "--output-dir", tmp_path / "out"], capsys)
    assert code != 0
    (stage,) = (tmp_path / "out").glob("intermediate-*")
    store = checkpoints_module.CheckpointStore(stage / "checkpoints", accelerator=None)
    assert store.latest().name == f"step-{calls[0]}"  # the half-written one is not taken for a checkpoint

    code, stdout, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0
    assert f"resuming from step-{calls[0]}" in stdout


def test_nan_loss_stops_with_step_and_task_and_keeps_the_checkpoint(pipeline, tmp_path, capsys, monkeypatch):
    real_forward = Classification.forward
    batches = []

    def nan_on_fifth_batch(self, encoder, head, batch):
        loss, outputs = real_forward(self, encoder, head, batch)
        if torch.is_grad_enabled():
            batches.append(1)
            if len(batches) == 5:
                loss = loss * float("nan")
        return loss, outputs

    monkeypatch.setattr(Classification, "forward", nan_on_fifth_batch)
    code, _, stderr = run_cli(["run", pipeline, "--output-dir", tmp_path / "out"], capsys)
    assert code == 1
    error = [line[line.index("error: ") :] for line in stderr.splitlines() if "error: " in line]
    assert len(error) == 1 and "Traceback" not in stderr
    assert "the mnli loss is nan at optimizer step 5 (batch 5)" in error[0]
    (stage,) = (tmp_path / "out").glob("intermediate-*")
    assert (stage / "checkpoints" / "step-4").is_dir() and not (stage / "COMPLETE").exists()


def test_a_mixture_resumed_mid_stage_draws_the_same_tasks(tmp_path, tiny_model, tiny_nli, capsys, monkeypatch):
    """Two tasks mixed: after a crash while saving the second checkpoint, the rerun resumes the task
    sampler and the data positions, and ends with the uninterrupted run's scores."""
    from stilts.testing import write_qqp

    data = dict(tiny_nli, qqp=write_qqp(tmp_path / "qqp"))
    pipeline = write_pipeline(
        tmp_path / "p.yaml", tiny_model, data, epochs=2, validate_every=3, checkpoint_every=2, batch_size=8
    )
    text = pipeline.read_text().replace("- mnli\n", "- mnli\n  - qqp\n", 1)
    pipeline.write_text(text)
    code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "whole"], capsys)
    assert code == 0

    with second_checkpoint_save_fails(monkeypatch) as calls:
        code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "crashed"], capsys)
    assert code == 1
    code, stdout, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "crashed"], capsys)
    assert code == 0 and "mixing 'capped' over 2 tasks" in stdout and f"resuming from step-{calls[0]}" in stdout
    assert (tmp_path / "crashed" / "scores.csv").read_text() == (tmp_path / "whole" / "scores.csv").read_text()


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077], ids=["umask-022", "umask-027", "umask-077"])
def test_written_files_and_folders_follow_the_umask(tmp_path, mask):
    """On a lab's shared filesystem a run's scores and models are as readable as any file the umask
    lets the group read: tempfile's private 0600/0700 and safetensors' 0600 are not kept."""
    from safetensors.torch import save_file

    from stilts.core.artifacts import atomic_folder

    previous = os.umask(mask)
    try:
        write_text_atomic(tmp_path / "scores.csv", "pipeline\n")
        with atomic_folder(tmp_path / "model") as folder:
            save_file({"weight": torch.zeros(2)}, str(folder / "model.safetensors"))
            (folder / "heads").mkdir()
            (folder / "heads" / "heads.json").write_text("{}")
    finally:
        os.umask(previous)
    files = [tmp_path / "scores.csv", tmp_path / "model" / "model.safetensors", tmp_path / "model/heads/heads.json"]
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in files} == dict.fromkeys(
        [path.name for path in files], oct(0o666 & ~mask)
    )
    for folder in (tmp_path / "model", tmp_path / "model" / "heads"):
        assert oct(folder.stat().st_mode & 0o777) == oct(0o777 & ~mask)


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_a_checkpointed_stage_follows_the_umask(tmp_path, tiny_model, tiny_nli, capsys, monkeypatch, mask):
    """Everything a stage stopped after its first checkpoint left in the run folder (Accelerate's
    save_state files among them: safetensors made the model 0600) has the umask's permissions."""
    pipeline = write_pipeline(
        tmp_path / "p.yaml", tiny_model, tiny_nli, epochs=1, validate_every=2, checkpoint_every=2, batch_size=8
    )
    previous = os.umask(mask)
    try:
        with second_checkpoint_save_fails(monkeypatch):
            code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "out"], capsys)
    finally:
        os.umask(previous)
    assert code == 1
    (stage,) = (tmp_path / "out").glob("intermediate-*")
    assert (stage / "checkpoints" / "step-2" / "model.safetensors").is_file()
    modes = {
        str(path.relative_to(tmp_path)): oct(path.stat().st_mode & 0o777)
        for path in [tmp_path / "out", *(tmp_path / "out").rglob("*")]
    }
    expected = {name: oct((0o777 if (tmp_path / name).is_dir() else 0o666) & ~mask) for name in modes}
    assert modes == expected
