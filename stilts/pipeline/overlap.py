"""Evaluation on data the model trained on, found before anything trains.

A score is zero-shot only if no stage that made the model trained on the examples scored, nor on
translations of them. A (task, split, language) read is turned into the data it stands for: the task's
data name (`Parallel.data`, shared by tasks that read the same release: ``xnli`` and ``xglue_xnli``),
the split and the language; a split declared parallel (its languages translate one another) also
stands for every language of it, and a split translated from another task's split (XQuAD's test from
SQuAD v1.1's dev) for that one. Two reads overlap when they share data name and split and their
languages are equal or one of them is every language.
"""

from __future__ import annotations

from dataclasses import dataclass

from stilts.core.catalog import Task, get_task
from stilts.core.errors import BadInput
from stilts.data.loading import DataRead
from stilts.pipeline.stage_kinds import STAGE_KINDS, PlannedStage

#: a language that stands for every language of a parallel split
EVERY = "*"


@dataclass(frozen=True)
class _Data:
    name: str
    split: str
    language: str
    #: why this read stands for it, for messages ("" for the read itself)
    because: str = ""

    def meets(self, other: _Data) -> bool:
        return (
            self.name == other.name
            and self.split == other.split
            and (self.language == other.language or EVERY in (self.language, other.language))
        )


def data_of(task: Task, split: str, language: str) -> list[_Data]:
    """The data a read of ``task``'s ``split`` in ``language`` stands for."""
    if task.parts:
        return [data for part in task.parts for data in data_of(get_task(part), split, language)]
    if split == "train" and task.train_task:  # XNLI's training split is MNLI's
        task = get_task(task.train_task)
    parallel = task.parallel
    name = parallel.data if parallel else task.name
    found = [_Data(name, split, language)]
    if parallel and split in parallel.splits:
        found.append(
            _Data(
                name,
                split,
                EVERY,
                f"{task.name}'s {split} files are translations of one another, aligned by {parallel.splits[split]}",
            )
        )
    if parallel and split in parallel.translated_from:
        origin, origin_split = parallel.translated_from[split]
        found += [
            _Data(data.name, data.split, EVERY, f"{task.name}'s {split} is translated from {origin}'s {origin_split}")
            for data in data_of(get_task(origin), origin_split, EVERY)
        ]
    if task.variant_of:  # hellaswag@de: a translation of hellaswag's same split
        found += [
            _Data(data.name, data.split, EVERY, f"{task.name} is translated from {task.variant_of}")
            for data in data_of(get_task(task.variant_of), split, EVERY)
        ]
    return found


def overlap(trained: DataRead, scored: DataRead) -> str | None:
    """Why ``scored`` scores examples that ``trained`` trained on (or translations of them), or None."""
    for mine in data_of(scored.task, scored.split, scored.language):
        for theirs in data_of(trained.task, trained.split, trained.language):
            if mine.meets(theirs):
                return mine.because or theirs.because or "the same examples"
    return None


@dataclass(frozen=True)
class Overlap:
    """A split and language an evaluation scores that the model trained on."""

    stage: PlannedStage
    scored: DataRead
    trainer: PlannedStage
    trained: DataRead
    why: str

    def describe(self, source: str) -> str:
        trained = self.trained
        return (
            f"{source}: stages[{self.stage.index}]: scores {self.scored.task.name} {self.scored.split} in "
            f"'{self.scored.language}', but stages[{self.trainer.index}] ({self.trainer.kind}) trained on "
            f"{trained.task.name} {trained.split} in '{trained.language}' ({self.why}): that is not zero-shot. "
            "Evaluate other splits or languages, or set allow_overlap: true to score it anyway, marked as trained on"
        )


def overlaps(stages: list[PlannedStage]) -> list[Overlap]:
    """Every (stage, split, language) scored on data a stage upstream of it trained on."""
    found = []
    for stage in stages:
        scored = STAGE_KINDS.get(stage.kind).runner.scored_reads(stage)
        if not scored:
            continue
        trainer = stage.upstream
        while trainer is not None:
            for trained in STAGE_KINDS.get(trainer.kind).runner.training_reads(trainer):
                for read in scored:
                    why = overlap(trained, read)
                    if why:
                        found.append(Overlap(stage, read, trainer, trained, why))
            trainer = trainer.upstream
    return found


def check_overlap(stages: list[PlannedStage], source: str) -> None:
    """Refuse an evaluation of data the model trained on, unless its stage allows it (``allow_overlap``)."""
    for found in overlaps(stages):
        if not found.stage.config.allow_overlap:
            raise BadInput(found.describe(source))


def overlapping(stage: PlannedStage) -> dict[str, list[str]]:
    """split -> the languages ``stage`` scores on data its model trained on (what its scores mark)."""
    marked: dict[str, list[str]] = {}
    for found in overlaps(_chain(stage)):
        if found.stage is stage and found.scored.language not in marked.get(found.scored.split, []):
            marked.setdefault(found.scored.split, []).append(found.scored.language)
    return marked


def _chain(stage: PlannedStage) -> list[PlannedStage]:
    chain = [stage]
    while chain[-1].upstream is not None:
        chain.append(chain[-1].upstream)
    return chain
