"""What a stage kind is, and the registry of them.

A stage kind is one declaration (`StageKind`): the YAML fields of its stages (a pydantic model), how a
stage of it is planned (checked against the catalog and the stages before it, defaults resolved into
the settings that its fingerprint hashes), what it reads, how it runs and what it does when it is
reused. The engine plans and runs every stage through these and names no kind; the stage packages
register theirs (``stilts/intermediate/`` registers ``intermediate``; ``stilts/target/`` ``target`` and
``evaluate``), and other packages can add kinds as plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from stilts.core.artifacts import is_complete
from stilts.core.registry import Registry

if TYPE_CHECKING:
    from stilts.data.loading import DataRead
    from stilts.pipeline.config import PipelineConfig


class _HashedWhenSet:
    def __repr__(self) -> str:
        return "HASHED_WHEN_SET"


#: marks a stage setting, ``Annotated[type, HASHED_WHEN_SET]``, that enters its stage's fingerprint
#: only when it differs from its default: a setting added after run folders were first recorded, so
#: that the stages of configs that leave it unset keep their fingerprints and folders
#: (tests/test_fingerprints_stable.py). Every such setting has it on its own field; a new one without
#: it, or without a place in `not_fingerprinted`, fails tests/test_fingerprint_declarations.py.
HASHED_WHEN_SET = _HashedWhenSet()


def hashed_when_set(config: type[BaseModel]) -> frozenset[str]:
    """The fields of a stage kind's config declared `HASHED_WHEN_SET`."""
    return frozenset(name for name, info in config.model_fields.items() if HASHED_WHEN_SET in info.metadata)


def fingerprinted_settings(stage: BaseModel, not_fingerprinted: frozenset[str]) -> dict:
    """A stage's fields as its fingerprint hashes them: all but ``not_fingerprinted``, and each one
    declared `HASHED_WHEN_SET` only where it is not its default."""
    settings = stage.model_dump(exclude=set(not_fingerprinted))
    fields = type(stage).model_fields
    for name in hashed_when_set(type(stage)) & set(settings):
        if settings[name] == fields[name].default:
            del settings[name]
    return settings


@dataclass
class PlannedStage:
    index: int
    name: str
    kind: str
    #: every setting the stage runs with, defaults resolved; what the fingerprint hashes
    settings: dict
    fingerprint: str
    folder: Path
    #: the stage whose model/ this one starts from (None: the pipeline's model)
    upstream: PlannedStage | None
    #: the stage as written, for settings that are not fingerprinted (e.g. evaluation batch size)
    config: Any = None
    #: the folder names of every stage of its pipeline, as planned (also where `stilts sweep --stage`
    #: runs the pipeline only up to one stage): scores.csv rows of the pipeline that name another stage
    #: are from an earlier version of it
    pipeline_folders: tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: how messages name the stage: ``<yaml>: stages[<index>]`` (in a sweep ``<yaml>: <pipeline>: stages[i]``)
    where: str = field(default="", repr=False, compare=False)
    #: the stages whose models this one combines (an `average` stage's), besides ``upstream``, which is
    #: then the stage they all start from; each runs before it, and a change of one runs it again
    inputs: tuple[PlannedStage, ...] = field(default=(), repr=False, compare=False)

    @property
    def needs(self) -> tuple[PlannedStage, ...]:
        """The stages this one reads the results of: its upstream and its inputs."""
        return ((self.upstream,) if self.upstream else ()) + self.inputs

    @property
    def complete(self) -> bool:
        return is_complete(self.folder)


#: (task, split, language) -> whether the data has it
Found = dict[tuple[str, str, str], bool]
#: (task, split, language) -> how many examples the data has there (0: none)
Sizes = dict[tuple[str, str, str], int]


@dataclass
class RunContext:
    """What every stage runner needs besides its own settings."""

    pipeline: PipelineConfig
    model_path: str  # the pipeline's starting model, resolved to something from_pretrained takes
    data_sources: dict[str, str]  # task name -> absolute folder or "hub"
    run_dir: Path
    accelerator: Any
    log: Callable[[str], None] = print

    @property
    def scores_path(self) -> Path:
        return self.run_dir / "scores.csv"


@dataclass(frozen=True)
class PlanContext:
    """What planning a stage may look at: the pipeline, where the stage is (for messages), and the
    last stage before it that produced a model (None: it starts from the pipeline's model)."""

    pipeline: PipelineConfig
    where: str
    previous: PlannedStage | None
    #: seed -> the stages before this one, planned as the pipeline with that seed plans them (what an
    #: `average` stage combines); None where planning offers no such thing
    with_seed: Callable[[int], list[PlannedStage]] | None = None
    #: the folder the pipeline's paths are relative to (its YAML's), for a stage that names a local
    #: folder of its own (a translate_test stage's MT model); None where planning offers none
    base_dir: Path | None = None


@dataclass(frozen=True)
class StagePlan:
    #: the stage's resolved settings (its fingerprint hashes these and the content of the data sources)
    settings: dict
    #: the tasks whose data sources (their content, or hub) are part of the stage's identity
    data_tasks: frozenset[str]
    #: stages (from `PlanContext.with_seed`) whose models the stage combines: they and the stages they
    #: start from join the pipeline before it, and the stage starts from what they all start from
    #: (`PlannedStage.inputs`); the plan must check that they do
    inputs: tuple[PlannedStage, ...] = ()


class StageRunner:
    """How a stage of a kind runs. ``run`` returns the stage's metrics.json content."""

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        raise NotImplementedError

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """Every (task, split, language) the stage will read, so a run can check them before any
        stage starts. A stage that reads nothing returns []."""
        return []

    def training_reads(self, stage: PlannedStage) -> list[DataRead]:
        """The reads of `data_reads` whose examples the stage trains on (not those it validates on)."""
        return []

    def scored_reads(self, stage: PlannedStage) -> list[DataRead]:
        """The reads of `data_reads` whose scores are the stage's results (an evaluation's)."""
        return []

    def check_found(self, stage: PlannedStage, found: Found, sources: dict[str, str]) -> None:
        """Refuse (BadInput) doing without what the data lacks where that would make the stage's results
        wrong, e.g. an average that leaves out a language the stage names. ``found``: whether the data
        has each read of `data_reads`. Called before any stage runs, and by a stage on what it found
        (a Hub split is only found missing when it is read)."""

    def check_sizes(self, stage: PlannedStage, sizes: Sizes) -> None:
        """Refuse (BadInput) settings that the size of the data makes impossible (more validations to
        average than the stage will make, more shots than a language has examples), before any stage
        runs. ``sizes``: how many examples each read of `data_reads` found."""

    def check_model(self, stage: PlannedStage, model_path: str) -> None:
        """Refuse settings the pipeline's model cannot take (an adapter on modules its architecture
        lacks), with a BadInput, before any stage starts. ``model_path``: the pipeline's model."""

    def hub_models(self, stage: PlannedStage) -> list[tuple[str, str]]:
        """(where, Hub id) of each model the stage loads from the Hub besides the pipeline's (a
        translate_test stage's MT models): a run checks that each can be loaded before any stage starts,
        and `stilts prepare` fetches them."""
        return []

    def kept_when_stopped(self, stage: PlannedStage) -> str | None:
        """What a stage stopped midway keeps for the next run, as the line saying so ends (``kept: ...;
        run the same command again to ...``); None: its newest step checkpoint, as training stages keep."""
        return None

    def on_skip(self, stage: PlannedStage, context: RunContext) -> None:
        """Called instead of ``run`` when the stage is complete and reused."""

    def summary(self, metrics: dict) -> str:
        """What the stage achieved, for the line that ends it in the log (its time is added there), from
        the metrics ``run`` returned. A stage's ``warnings`` (a list of lines in its metrics) follow
        that line; `stilts status` shows them too."""
        return ""


@dataclass(frozen=True)
class StageKind:
    name: str
    #: the YAML fields of a stage of this kind; it must have ``kind: Literal["<name>"]``
    config: type[BaseModel]
    #: (stage config, PlanContext) -> StagePlan, or BadInput naming ``context.where``
    plan: Callable[[Any, PlanContext], StagePlan]
    runner: StageRunner
    #: whether later stages start from this stage's model/ (training stages) or from the one before
    produces_model: bool
    #: config fields that change how a stage is labelled or how fast it runs, not what it computes
    not_fingerprinted: frozenset[str] = frozenset({"name"})
    #: the intermediate task names a stage contributes to the `intermediate` column of scores.csv
    intermediate_tasks: Callable[[Any], list[str]] = field(default=lambda stage: [])
    #: (a kind that makes a model) the setting the scores.csv rows of evaluations of a stage's model carry
    #: after the configuration (`stilts.core.names.with_setting`): an average stage's ``seed-average``;
    #: "" for a model that is one run of the configuration
    model_setting: Callable[[PlannedStage], str] = field(default=lambda stage: "")


STAGE_KINDS: Registry[StageKind] = Registry("stage kind")


def register_stage_kind(kind: StageKind) -> StageKind:
    return STAGE_KINDS.add(kind.name, kind)
