"""The task catalog: what a task is (`Task`), the benchmarks that group them (`Benchmark`), and the
one registry of each.

Tasks are registered by plugins (stilts' own stage packages register the paper's tasks; other
installed packages add theirs, see `stilts.core.registry`). A task's declaration holds every fact about it:
its languages, splits and metrics, its benchmark's submission layout, the paper's batch size and epochs,
how `stilts score` reads its files, its data sources. Core code looks tasks up here by name and never
branches on task names. Nothing here imports torch: `stilts table`, `score` and `status` read the
declarations too (a format imports torch only inside the methods that run a model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stilts.core.registry import Registry, load_plugins

if TYPE_CHECKING:  # the declarations name formats and scoring; the core imports neither
    from stilts.formats.base import TaskFormat
    from stilts.metrics.scoring import Request

SPLITS = ("train", "dev", "test")


#: the branch a Hub data set's own files are on
MAIN = "main"
#: the branch where the Hub keeps its Parquet conversion of a data set (``<config>/<split>/*.parquet``;
#: ``default`` for a data set without named configs): the only form ``datasets`` >= 4 can read of a
#: data set whose main is still a loading script
PARQUET_CONVERSION = "refs/convert/parquet"


@dataclass(frozen=True)
class HubSource:
    """Where a task lives on the Hugging Face Hub and how its rows become our examples.

    The layout facts (which branch holds readable files, which configs lack which splits) are the
    Hub's as it is today, declared here rather than discovered by trial, so that a missing split is
    known to be missing and a missing file is known to be a fault.
    """

    dataset_id: str
    #: config name for a language (tasks with one config ignore the language)
    config: Callable[[str], str | None]
    #: our split name -> the Hub's split name; ``{language}`` in it is the language asked for (XGLUE's
    #: splits are ``validation.de``, ``test.de``)
    splits: dict[str, str]
    #: Hub row -> example dict, or None to drop the row (e.g. no gold label)
    to_example: Callable[[dict], dict | None]
    #: the branches to read, in order: `MAIN` (the repo's own data files, as its README's ``configs:``
    #: declare them, read by ``datasets``) and/or `PARQUET_CONVERSION`; a later one is read when an
    #: earlier one holds only a loading script
    revisions: tuple[str, ...] = (MAIN,)
    #: Hub config -> the only Hub splits it has, for configs that lack some of ``splits``
    #: (google/xtreme's ``udpos.Thai`` has only ``test``): asking for another is a missing split
    config_splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Parallel:
    """A data set whose evaluation splits are translations of one another across its languages, so that
    training on one language of a split and evaluating another is not zero-shot (`stilts.pipeline.overlap`)."""

    #: the data's name, shared by tasks that read the same release (``xnli`` and ``xglue_xnli``)
    data: str
    #: split -> how its languages align: ``line`` (the n-th example of each file) or ``id``
    splits: Mapping[str, str]
    #: split -> the (task, split) of the English data it was translated from (XQuAD's test from SQuAD
    #: v1.1's dev)
    translated_from: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleasedTranslations:
    """Machine translations of a task's English training data that a benchmark released (XTREME's
    translate-train files), read as the task's translated variant ``<task>@<lang>`` (translate-train).

    A language outside ``languages`` is a known gap of the release: refused in one line naming it, with
    `stilts translate` as the way to make the data."""

    #: the release, as messages name it ("XTREME's translate-train files")
    release: str
    #: the languages it has (ISO 639-1)
    languages: tuple[str, ...]
    #: reader of a local folder: (folder, language) -> the training examples in that language, in the
    #: task's schema; MissingSplit (naming what it looked for) where the folder lacks the language's file
    read_local: Callable[[Path, str], list[dict]]
    #: the task's own data holds them as its training split in those languages (PAWS-X's
    #: ``translated_train.tsv`` beside its English ``train.tsv``, the Hub's per-language configs), so that
    #: ``<task>@<lang>`` without a folder of its own reads ``data.<task>``
    in_task_data: bool = False


@dataclass(frozen=True)
class Submission:
    """Where a benchmark's evaluator reads the task's predictions, under the output folder of `stilts
    predict`: ``<folder>/<file>``."""

    #: the task's folder, where it is not the task's name (XTREME's ``bucc2018``, XGLUE's ``NER``)
    folder: str | None = None
    #: a file's name: ``{split}``, ``{language}`` and ``{suffix}`` (the format's ``prediction_suffix``)
    #: are filled in; XTREME's evaluate.py reads ``<task>/test-<lang>.{json,tsv}``
    file: str = "{split}-{language}.{suffix}"


@dataclass(frozen=True)
class Scoring:
    """How `stilts score` scores one language of the task from files: ``score`` reads a gold file in the
    task's release format and a prediction file in its official scripts' format (`Request`) and returns
    the metrics (0-100) and counts. `stilts.metrics.scoring` has the readers and helpers stilts' own use."""

    score: Callable[[Request], dict]
    #: whether --threshold means something for the task
    takes_threshold: bool = False
    #: whether the task takes --na-probs (no-answer probabilities, SQuAD v2's ``--na-prob-file``)
    takes_na_probs: bool = False


@dataclass(frozen=True)
class Task:
    name: str
    format: TaskFormat
    #: which stage kinds may use the task, e.g. "intermediate", "target", "evaluate"
    phases: frozenset[str]
    languages: tuple[str, ...]
    #: the main metric, used for early stopping and in tables
    metric: str
    description: str
    labels: tuple[str, ...] = ()
    #: reader of a local folder holding the original release files: (folder, split, language) -> examples
    read_local: Callable[[Path, str, str], list[dict]] | None = None
    hub: HubSource | None = None
    #: the task whose (English) training data trains this one, e.g. XNLI trains on MNLI
    train_task: str | None = None
    #: the language of the training and validation data
    source_language: str = "en"
    #: the splits evaluation reports by default
    eval_splits: tuple[str, ...] = ("dev", "test")
    #: tasks whose data together make this one, each read from its own ``data.<part>`` source
    #: (ANLI+ = ANLI rounds 1-3 + MNLI + SNLI with one head); see `stilts.data.loading.load_examples`
    parts: tuple[str, ...] = ()
    #: the task this one is a variant of (``hellaswag@de`` of ``hellaswag``): it trains with that
    #: task's paper settings
    variant_of: str | None = None
    #: for a data set whose evaluation splits translate one another across languages
    parallel: Parallel | None = None
    #: the machine translations of its training data a benchmark released (translate-train), read as
    #: ``<task>@<lang>``; None: only `stilts translate` makes them
    released_translations: ReleasedTranslations | None = None
    #: tasks whose ``data.<name>`` source is read, in this order, where the pipeline gives this task none
    #: (``pawsx@de``: ``pawsx@all``, the folder of every translation, then ``pawsx``, whose release has
    #: them); see `stilts.data.loading.data_source`
    data_from: tuple[str, ...] = ()
    #: the metric(s) tables count for the task, declared for a benchmark's targets (a QA target keeps F1
    #: and exact match side by side, counting as their mean where one number is needed); a task without
    #: them counts ``metric`` where its scores have it (`stilts.reports.order.target_metrics`)
    main_metrics: tuple[str, ...] = ()
    #: (batch size, epochs) of the paper's Table 4 (intermediate tasks) or 5 (targets); None: the paper has
    #: no row for the task (`stilts.core.defaults.FALLBACK_BATCH_EPOCHS`); epochs None: the stage's own
    paper_batch_epochs: tuple[int, int | None] | None = None
    #: where `stilts predict` writes the task's predictions for its benchmark's evaluator
    submission: Submission = Submission()
    #: how `stilts score` scores the task's files; None: it does not
    scoring: Scoring | None = None
    extra: dict = field(default_factory=dict)


TASKS: Registry[Task] = Registry("task")


@dataclass(frozen=True)
class Benchmark:
    """Targets whose scores together make one benchmark score (`stilts table --best`, ``--benchmark``)."""

    #: as ``--benchmark`` and the score's row in a table name it: ``xtreme``
    name: str
    #: as a table's text writes it: ``XTREME``
    label: str
    #: the targets, in the order tables show them; the benchmark's score is the unweighted mean of their
    #: best-by-dev scores, each counting its main metric(s)
    targets: tuple[str, ...]
    #: what the score's row means, for the caption of ``stilts table --best``
    caption: str
    #: the benchmark's tasks that stilts has no declaration of, by the names its own evaluation gives them
    #: (XTREME-R's ``mewslix`` and ``lareqa``): every score of it misses them, and says so
    absent: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """How many tasks the benchmark has: its targets and those stilts lacks."""
        return len(self.targets) + len(self.absent)


#: benchmark name -> declaration, in the order tables show them (their targets first, in this order)
BENCHMARKS: Registry[Benchmark] = Registry("benchmark")

#: the intermediate tasks in the order tables list them, as the catalogs declare it (`declare_table_order`);
#: other intermediate tasks follow them
_INTERMEDIATE_ORDER: list[str] = []


@dataclass(frozen=True)
class TaskFamily:
    """Tasks made on demand from a name that holds ``mark`` (``hellaswag@de``: HellaSwag in German)."""

    mark: str
    #: (name, where) -> the task, or BadInput naming ``where``
    resolve: Callable[[str, str], Task]


#: mark -> family; a name that is not a registered task but holds a family's mark is made by it
TASK_FAMILIES: Registry[TaskFamily] = Registry("task family")


def register_task(task: Task) -> Task:
    return TASKS.add(task.name, task)


def register_benchmark(benchmark: Benchmark) -> Benchmark:
    return BENCHMARKS.add(benchmark.name, benchmark)


def declare_table_order(*tasks: Task) -> None:
    """List ``tasks`` (intermediate tasks) in tables in this order, after those declared before."""
    _INTERMEDIATE_ORDER.extend(task.name for task in tasks)


def intermediate_order() -> tuple[str, ...]:
    """The intermediate tasks in the order tables list them (the paper's, then the others declared)."""
    load_plugins()
    return tuple(_INTERMEDIATE_ORDER)


def benchmark_targets() -> tuple[str, ...]:
    """Every benchmark's targets, in the order tables list them: XTREME's, then XTREME-R's others (XCOPA),
    then XGLUE's, then a plugin's."""
    return tuple(dict.fromkeys(target for _, benchmark in BENCHMARKS.items() for target in benchmark.targets))


def main_metrics(name: str) -> tuple[str, ...]:
    """The main metric(s) the task's declaration gives (`Task.main_metrics`); () for an unknown task or
    one that declares none."""
    return TASKS.get(name).main_metrics if name in TASKS else ()


def get_task(name: str, where: str = "task") -> Task:
    if name not in TASKS:
        for _, family in TASK_FAMILIES.items():
            if family.mark in name:
                return family.resolve(name, where)
    return TASKS.get(name, where)
