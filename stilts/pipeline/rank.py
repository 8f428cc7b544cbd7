"""`stilts rank`: for every (intermediate configuration, target) of a sweep, scores that predict, from forward
passes only, how much the intermediate configuration will help the target (docs/ranking.md).

- LogME and shrinkage H-score (`stilts.analysis.transferability`) of the intermediate stage's model's features
  of N labelled English examples of the target (a seeded sample of what its target stage trains on; the same
  examples for every intermediate configuration), the features the target format's head reads
  (`TaskFormat.transfer_rows`). They need the intermediate stages complete, and nothing after them.
- TextEmb: the cosine similarity of the base model's mean-pooled features of a sample of the intermediate
  configuration's training data and of the target's; and data size: the number of the configuration's
  training examples. Neither needs any stage.

Each (intermediate stage, target) is a forward pass whose scores are kept in ``<run dir>/rank/`` under a key
of everything they depend on (the stage's fingerprint, the target's data and settings, N, the sample's seed),
so a second run, or one after more intermediate stages are done, computes only what is new. The table goes
to ``<run dir>/rank.csv`` (`stilts.reports.ranking`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from stilts.analysis import transferability as tr
from stilts.core.artifacts import read_json, write_json_atomic, write_text_atomic
from stilts.core.catalog import Task, get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.core.names import configuration_name
from stilts.data.loading import DataRead, load_examples
from stilts.pipeline.engine import fingerprint_of, score_labels
from stilts.pipeline.stage_kinds import STAGE_KINDS, PlannedStage
from stilts.pipeline.training_stage import MODEL_FOLDER
from stilts.reports.ranking import DEFAULT_EXAMPLES, MODEL_METHODS, rank_frame

_Item = TypeVar("_Item")
#: ``<run dir>/rank/``: one file per computed pair or data set
CACHE_FOLDER = "rank"
#: bumped when what a kept score means changes, so that older ones are computed again
CACHE_VERSION = 1


@dataclass(frozen=True)
class Pair:
    """One (intermediate configuration, target, seed) of a sweep: the stage whose model is scored, the stage
    that will train the target on it (None for a target that trains nothing: retrieval), its evaluation."""

    intermediate: str
    mlm: bool
    target: str
    seed: int
    stage: PlannedStage
    trains_target: PlannedStage | None
    evaluation: PlannedStage
    sources: dict[str, str]

    @property
    def configuration(self) -> str:
        return configuration_name(self.intermediate, self.mlm)


def sweep_pairs(plans: Iterable[tuple], seeds: Sequence[int] = ()) -> list[Pair]:
    """The pairs of a planned sweep (``plans``: (pipeline, stages, data sources) each), of ``seeds`` only if
    given: each (intermediate stage, target) once. A pipeline's intermediate stage is the one whose kind
    names intermediate tasks (the baseline has none, and is no candidate), its evaluation the first stage of
    a target task that makes no model, and the stage that trains the target the one after the intermediate
    stage that trains that task (none for a retrieval target). Stages after the evaluation (few-shot) and
    pipelines that reuse a seed's intermediate stage (the seeds' average) add nothing."""
    pairs, seen = [], set()
    for pipeline, stages, sources in plans:
        if seeds and pipeline.seed not in seeds:
            continue
        stage = next((s for s in stages if STAGE_KINDS.get(s.kind).intermediate_tasks(s.config)), None)
        evaluation = next(
            (s for s in stages if "task" in s.settings and not STAGE_KINDS.get(s.kind).produces_model), None
        )
        if stage is None or evaluation is None:
            continue
        target = evaluation.settings["task"]
        if (stage.fingerprint, target) in seen:
            continue
        seen.add((stage.fingerprint, target))
        trains_target = next(
            (
                s
                for s in stages
                if s.upstream is not None
                and s.upstream.fingerprint == stage.fingerprint
                and target in s.settings.get("tasks", ())
            ),
            None,
        )
        labels = score_labels(pipeline)
        pairs.append(
            Pair(
                labels["intermediate"], labels["mlm"], target, pipeline.seed, stage, trains_target, evaluation, sources
            )
        )
    return pairs


def check_complete(pairs: Sequence[Pair], sweep_command: str, queued: Collection[str] = ()) -> None:
    """BadInput, one line, naming the first intermediate stage that is not complete (nor in ``queued``, the
    fingerprints of stages whose Slurm job will run) and the command that runs it: ``sweep_command``
    (``stilts sweep FILE`` with the options that plan the same stages) with ``--stage`` and the stage's
    fingerprint, the job the sweep would run for that stage alone."""
    missing: dict[str, Pair] = {}
    for pair in pairs:
        if not pair.stage.complete and pair.stage.fingerprint not in queued:
            missing.setdefault(pair.stage.fingerprint, pair)
    if not missing:
        return
    first = next(iter(missing.values()))
    more = f" ({len(missing) - 1} more intermediate stages are not complete either)" if len(missing) > 1 else ""
    raise BadInput(
        f"{first.stage.where}: the intermediate stage of {first.configuration} (seed {first.seed}) is not complete "
        f"({first.stage.folder}); run it first: {sweep_command} --stage {first.stage.fingerprint[:8]}{more}, "
        "or the whole sweep; or rank without the intermediate models: --method textemb --method size"
    )


# --- the data ----------------------------------------------------------------------------------------


def _stage_examples(stage: PlannedStage, sources: dict[str, str]) -> dict[str, list[dict]]:
    """Source task -> the training examples the training ``stage`` reads, each language's capped at the
    stage's ``max_train_examples`` as the stage caps them."""
    by_task: dict[tuple[str, str], list[dict]] = {}
    for read in STAGE_KINDS.get(stage.kind).runner.training_reads(stage):
        by_task.setdefault((read.task.name, read.language), []).extend(
            load_examples(read.task, read.split, read.language, sources)
        )
    cap = stage.settings.get("max_train_examples")
    merged: dict[str, list[dict]] = {}
    for (task, _), rows in by_task.items():
        merged.setdefault(task, []).extend(rows[:cap] if cap else rows)
    return merged


def _evaluation_examples(evaluation: PlannedStage, sources: dict[str, str]) -> list[dict]:
    """A target that trains nothing (retrieval): its first evaluation split in its source language."""
    task = get_task(evaluation.settings["task"])
    reads: list[DataRead] = STAGE_KINDS.get(evaluation.kind).runner.data_reads(evaluation)
    for read in reads:
        if read.language != task.source_language:
            continue
        try:
            return load_examples(read.task, read.split, read.language, sources)
        except MissingSplit:
            continue
    raise BadInput(f"data.{task.name}: no {task.source_language} evaluation examples to rank with")


def _sample(examples: list[_Item], count: int, seed: int) -> list[_Item]:
    """``count`` of ``examples`` drawn without replacement by ``random.Random(seed)``, in their order (all of
    them when there are no more)."""
    if len(examples) <= count:
        return list(examples)
    chosen = sorted(random.Random(seed).sample(range(len(examples)), count))
    return [examples[i] for i in chosen]


@dataclass
class TargetSample:
    """A target's examples to score every intermediate model on, and what they depend on."""

    task: Task
    examples: list[dict]
    max_length: int
    identity: dict


def target_sample(pair: Pair, examples: int, seed: int) -> TargetSample:
    """The seeded sample of the target's English training examples (its target stage's reads; a retrieval
    target's evaluation examples), the same for every intermediate configuration."""
    task = get_task(pair.target)
    stage = pair.trains_target or pair.evaluation
    if pair.trains_target is not None:
        rows = [row for task_rows in _stage_examples(pair.trains_target, pair.sources).values() for row in task_rows]
    else:
        rows = _evaluation_examples(pair.evaluation, pair.sources)
    # what the target's examples and features depend on: its data, its settings, not the stage it follows
    settings = {key: value for key, value in stage.settings.items() if key != "seed"}
    identity = {"target": task.name, "settings": settings, "examples": examples, "sample_seed": seed}
    return TargetSample(task, _sample(rows, examples, seed), stage.settings["max_length"], identity)


# --- computing ---------------------------------------------------------------------------------------


@dataclass
class Ranker:
    """What a ranking needs besides the pairs: the run folder, the base model, the Accelerator, N, the seed
    of the samples, the evaluation batch size, and where progress lines go."""

    run_dir: Path
    model_path: str
    model_identity: str
    accelerator: object
    examples: int = DEFAULT_EXAMPLES
    sample_seed: int = 0
    batch_size: int | None = None
    log: Callable[[str], None] = print

    def cache(self, kind: str, identity: dict) -> Path:
        return (
            self.run_dir / CACHE_FOLDER / f"{kind}-{fingerprint_of({**identity, 'version': CACHE_VERSION})[:16]}.json"
        )

    # the intermediate models' scores of each target (LogME, H-score)

    def model_scores(self, pairs: Sequence[Pair], samples: dict[str, TargetSample]) -> dict[tuple, dict]:
        """(intermediate stage fingerprint, target) -> its LogME and H-score record, computed where not kept."""
        from tqdm.auto import tqdm

        from stilts.training.model import load_encoder
        from stilts.training.transfer_features import labelled_features

        records: dict[tuple, dict] = {}
        todo: dict[str, list[Pair]] = {}
        for pair in pairs:
            key = (pair.stage.fingerprint, pair.target)
            if key in records or samples[pair.target].task.format.transfer_labels is None:
                continue
            path = self.cache("pair", {"stage": pair.stage.fingerprint, **samples[pair.target].identity})
            if path.is_file():
                records[key] = read_json(path)
            else:
                todo.setdefault(pair.stage.fingerprint, []).append(pair)
        total = sum(len(group) for group in todo.values())
        self.log(f"rank: {total} (intermediate model, target) pairs to score, {len(records)} kept from before")
        if not total:
            return records
        with tqdm(total=total, desc="rank: pairs", unit="pair") as progress:
            for group in todo.values():  # one intermediate model loaded once for all its targets
                encoder, tokenizer = load_encoder(str(group[0].stage.folder / MODEL_FOLDER))
                for pair in group:
                    sample = samples[pair.target]
                    progress.set_postfix_str(f"{pair.configuration} s{pair.seed} -> {pair.target}")
                    rows = labelled_features(
                        self.accelerator,
                        encoder,
                        tokenizer,
                        sample.task,
                        sample.examples,
                        max_length=sample.max_length,
                        batch_size=self.batch_size,
                    )
                    record = {
                        "intermediate": pair.configuration,
                        "stage": pair.stage.folder.name,
                        "target": pair.target,
                        "examples": len(sample.examples),
                        **estimates(rows),
                    }
                    write_json_atomic(self.cache("pair", {"stage": pair.stage.fingerprint, **sample.identity}), record)
                    records[pair.stage.fingerprint, pair.target] = record
                    progress.update(1)
                del encoder
        return records

    # the data sets' TextEmb vectors and sizes

    def data_records(self, pairs: Sequence[Pair], samples: dict[str, TargetSample]) -> dict[str, dict]:
        """Data set key -> {examples: its size, vector: its TextEmb vector (None: no labelled data), tasks}:
        one per intermediate configuration's training data (`intermediate_data_key`) and one per target
        sample (key: the target's name), its vector from the base model."""
        from tqdm.auto import tqdm

        records: dict[str, dict] = {}
        #: key -> (where it is kept, task name -> its examples, the data set's size, max length)
        todo: dict[str, tuple[Path, dict[str, list[dict]], int, int]] = {}
        for pair in pairs:
            key = intermediate_data_key(pair)
            if key in records or key in todo:
                continue
            path = self.cache("data", {"model": self.model_identity, **_intermediate_identity(pair), **self._drawn()})
            if path.is_file():
                records[key] = read_json(path)
                continue
            by_task = {
                name: rows
                for name, rows in _stage_examples(pair.stage, pair.sources).items()
                if get_task(name).format.transfer_labels is not None  # labelled data: not the MLM corpus
            }
            todo[key] = (path, by_task, sum(map(len, by_task.values())), pair.stage.settings["max_length"])
        for target, sample in samples.items():
            path = self.cache("data", {"model": self.model_identity, **sample.identity})
            if path.is_file():
                records[target] = read_json(path)
            else:
                todo[target] = (path, {sample.task.name: sample.examples}, len(sample.examples), sample.max_length)
        if not todo:
            return records
        from stilts.training.model import load_encoder
        from stilts.training.transfer_features import mean_pooled_features

        encoder, tokenizer = load_encoder(self.model_path)
        for key, (path, by_task, size, max_length) in tqdm(todo.items(), desc="rank: TextEmb", unit="data set"):
            # a sample of the whole (a mixture's tasks in proportion to their sizes), each task's examples
            # featurized as its format does
            drawn = _sample(
                [(task, row) for task, rows in by_task.items() for row in rows], self.examples, self.sample_seed
            )
            parts = [
                mean_pooled_features(
                    self.accelerator,
                    encoder,
                    tokenizer,
                    get_task(name),
                    rows,
                    max_length=max_length,
                    batch_size=self.batch_size,
                )
                for name in by_task
                if (rows := [row for owner, row in drawn if owner == name])
            ]
            vector = tr.dataset_embedding(np.concatenate(parts)).tolist() if parts else None
            records[key] = {"tasks": list(by_task), "examples": size, "vector": vector}
            write_json_atomic(path, records[key])
        return records

    def _drawn(self) -> dict:
        return {"examples": self.examples, "sample_seed": self.sample_seed}


def intermediate_data_key(pair: Pair) -> str:
    return fingerprint_of(_intermediate_identity(pair))


def _intermediate_identity(pair: Pair) -> dict:
    """What an intermediate configuration's training data depends on: its tasks, their data and the stage's
    reading settings (not its seed, learning rate or what it starts from)."""
    settings = pair.stage.settings
    reading = ("tasks", "data", "train_splits", "max_train_examples", "max_length", "train_languages", "train_tasks")
    return {"intermediate_data": {key: settings.get(key) for key in reading}}


def estimates(rows) -> dict:
    """LogME and shrinkage H-score of one intermediate model's `TransferRows` of a target's examples."""
    features = np.asarray(rows.features, dtype=np.float64)
    if rows.spans is not None:
        lengths, starts, ends = rows.spans
        result = tr.logme_span_qa(features, lengths, starts, ends)
        # H-score needs one class a row: the answer's start (also for a one-token answer), its end, or neither
        labels = tr.span_qa_targets(lengths, starts, ends).argmax(axis=1)
    else:
        labels = np.asarray(rows.labels)
        result = tr.logme_classification(features, labels)
    classes = np.unique(labels)
    return {
        "rows": int(features.shape[0]),
        "classes": int(classes.size),
        "logme": result.score,
        "logme_converged": result.converged,
        "hscore": tr.shrinkage_h_score(features, labels) if classes.size > 1 else math.nan,
    }


def rank_sweep(pairs: Sequence[Pair], ranker: Ranker, methods: Sequence[str]) -> pd.DataFrame:
    """The rank table of ``pairs`` for ``methods`` (`stilts.reports.ranking.rank_frame`): per configuration,
    target and method the score (the mean over the seeds' intermediate models for LogME and H-score) and
    its rank among the target's configurations."""
    samples: dict[str, TargetSample] = {}
    for pair in pairs:
        if pair.target not in samples:
            samples[pair.target] = target_sample(pair, ranker.examples, ranker.sample_seed)
    models = ranker.model_scores(pairs, samples) if set(methods) & set(MODEL_METHODS) else {}
    data = ranker.data_records(pairs, samples) if set(methods) - set(MODEL_METHODS) else {}
    scores: list[dict] = []
    for pair in pairs:
        row = {
            "intermediate": pair.intermediate,
            "mlm": pair.mlm,
            "target": pair.target,
            "seed": pair.seed,
            "examples": len(samples[pair.target].examples),
        }
        model = models.get((pair.stage.fingerprint, pair.target), {})
        for method in MODEL_METHODS:
            row[method] = model.get(method, math.nan)
        row["rows"] = model.get("rows", math.nan)
        if not model.get("logme_converged", True):
            ranker.log(
                f"warning: rank: LogME of {pair.configuration} (seed {pair.seed}) on {pair.target} did not converge"
            )
        if data:
            own, goal = data[intermediate_data_key(pair)], data[pair.target]
            labelled = own["vector"] is not None  # a configuration of MLM alone has no labelled data
            row["size"] = tr.data_size_scores({"size": own["examples"]})["size"] if labelled else math.nan
            row["textemb"] = (
                tr.textemb_scores({"own": own["vector"]}, goal["vector"])["own"]
                if labelled and goal["vector"] is not None
                else math.nan
            )
        scores.append(row)
    return rank_frame(pd.DataFrame(scores), methods)


def write_rank_file(frame: pd.DataFrame, path: Path) -> None:
    """rank.csv, atomically; ``mlm`` as scores.csv writes it (true/false)."""
    write_text_atomic(path, frame.assign(mlm=frame["mlm"].map({True: "true", False: "false"})).to_csv(index=False))


# --- as a Slurm job ----------------------------------------------------------------------------------


def submit_rank(
    pairs: Sequence[Pair], slurm, run_dir: Path, name: str, command: list[str], sweep_command: str, *, models: bool
) -> tuple[str, list[str]]:
    """Submit ``command`` (a `stilts rank` without ``--submit``) as one Slurm job with the resources of the
    sweep's evaluate jobs (``slurm``: its `SlurmConfig`; a forward pass as an evaluation is), after the jobs of
    the intermediate stages it needs (``models``: LogME or H-score) that are queued or running (``afterok``).
    A needed stage neither complete nor queued is refused (`check_complete`). Returns (job id, the jobs it
    waits for)."""
    import shlex
    import shutil
    import subprocess

    from stilts.pipeline.slurm.records import LOGS_FOLDER
    from stilts.pipeline.slurm.settings import resources_for
    from stilts.pipeline.slurm.submit import active_jobs, sbatch_flags

    if shutil.which("sbatch") is None:
        raise BadInput("--submit slurm: sbatch is not on PATH (run it where Slurm's commands are, a login node)")
    after: list[str] = []
    if models:
        active, _ = active_jobs(run_dir)
        check_complete(pairs, sweep_command, queued=active)
        needed = {pair.stage.fingerprint for pair in pairs if not pair.stage.complete}
        after = sorted({active[fingerprint] for fingerprint in needed})
    resources = resources_for(slurm, "evaluate", produces_model=False)
    logs = run_dir / LOGS_FOLDER
    logs.mkdir(parents=True, exist_ok=True)
    script = "\n".join([*resources.setup, shlex.join(command)])
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name=stilts-rank-{name}",
        f"--output={logs / 'rank-%j.out'}",
        *sbatch_flags(resources),
        *([f"--dependency=afterok:{':'.join(after)}"] if after else []),
        f"--wrap={script}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise BadInput(f"--submit slurm: sbatch refused the job: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout.strip().split(";")[0], after
