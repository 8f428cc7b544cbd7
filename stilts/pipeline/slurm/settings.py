"""The ``slurm:`` block of a sweep YAML: what each stage's job asks Slurm for.

    slurm:
      partition: gpu
      time: "12:00:00"
      gpus_per_job: 4
      setup: ["module load cuda/12.4"]
      sbatch: {constraint: a100}
      stages:                       # per stage kind, on top of the values above
        evaluate: {gpus_per_job: 1, time: "2:00:00"}
        intermediate: {nodes_per_job: 2, gpus_per_job: 16}

`stilts sweep --submit slurm --partition gpu ...` sets the same top-level fields (as
``--set slurm.partition=gpu`` would). A job that produces no model (an evaluation) asks for at most
one GPU on one node unless its kind's block says otherwise: inference needs no more.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stilts.core.numbers import Count, Index

#: Slurm's --time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
_TIME = re.compile(r"^(?:(?P<days>\d+)-)?(?P<rest>\d+(?::\d+){0,2})$")
_MEMORY = r"^\d+[KMGT]?$"
_FLAG = r"^[a-z][a-z0-9-]*$"
#: sbatch flags stilts sets itself for every job
RESERVED_FLAGS = frozenset(
    {"array", "dependency", "error", "output", "job-name", "signal", "open-mode", "kill-on-invalid-dep", "wrap"}
)
DEFAULT_TIME = "24:00:00"
DEFAULT_GPUS = 1


def time_in_minutes(text: str) -> int:
    """Slurm's --time value in whole minutes (rounded up): `90`, `1:30:00`, `2-00:00:00`, ..."""
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a Slurm time (minutes, HH:MM:SS or D-HH:MM:SS)")
    parts = [int(part) for part in match["rest"].split(":")]
    days = int(match["days"] or 0)
    if match["days"] is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 1:  # minutes
        hours, minutes, seconds = 0, parts[0], 0
    elif len(parts) == 2:  # MM:SS
        hours, (minutes, seconds) = 0, parts
    else:
        hours, minutes, seconds = parts
    if (minutes >= 60 and (match["days"] is not None or len(parts) == 3)) or seconds >= 60:
        raise ValueError(f"'{text}' is not a Slurm time (minutes and seconds must be below 60)")
    total = math.ceil(days * 1440 + hours * 60 + minutes + seconds / 60)
    if total <= 0:
        raise ValueError(f"'{text}' is no time at all")
    return total


class JobSettings(BaseModel):
    """What one job asks for; every field unset means "inherit" (from the top level, or the default)."""

    model_config = ConfigDict(extra="forbid")

    partition: str | None = Field(
        default=None, description="The Slurm partition (sbatch --partition). Unset: Slurm's default."
    )
    account: str | None = Field(
        default=None, description="The account the jobs are charged to (sbatch --account). Unset: Slurm's default."
    )
    qos: str | None = Field(default=None, description="The quality of service (sbatch --qos). Unset: Slurm's default.")
    time: str | None = Field(
        default=None,
        description="The job's time limit, in a format sbatch takes (minutes, HH:MM:SS, D-HH:MM:SS), quoted in "
        f"YAML (which reads 12:00:00 as a number). Unset: {DEFAULT_TIME}.",
    )
    gpus_per_job: Index | None = Field(
        default=None,
        description="GPUs of the whole job, over all its nodes, one training process each; 0: CPU only. Unset: "
        f"{DEFAULT_GPUS}, and a job that makes no model (an evaluation) asks for at most 1 unless its kind's "
        "block says otherwise.",
    )
    nodes_per_job: Count | None = Field(
        default=None,
        description="Nodes of the job, its GPUs spread evenly over them. Unset: 1 (and an evaluation's job asks "
        "for 1 unless its kind's block says otherwise).",
    )
    cpus_per_job: Count | None = Field(
        default=None, description="CPU cores on each node of the job (sbatch --cpus-per-task). Unset: Slurm's default."
    )
    mem: Annotated[str, Field(pattern=_MEMORY)] | None = Field(
        default=None, description="Memory on each node of the job (sbatch --mem), e.g. 64G. Unset: Slurm's default."
    )
    sbatch: dict[Annotated[str, Field(pattern=_FLAG)], str | int | bool] | None = Field(
        default=None,
        description="Further sbatch flags without the leading dashes, e.g. `{constraint: a100, exclusive: true}` "
        "(`false` leaves a flag out); those stilts sets itself (array, dependency, output, ...) are refused.",
    )
    setup: list[str] | None = Field(
        default=None,
        description="Shell lines run before the stage in each job, e.g. `module load cuda/12.4` or activating "
        "the environment.",
    )

    @field_validator("time", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML reads an unquoted 12:00:00 as the number 43200: refuse to guess which was meant
            raise ValueError(f'{value} is a number: write the time in quotes, e.g. "12:00:00" or "90" (minutes)')
        return value

    @field_validator("time")
    @classmethod
    def _slurm_time(cls, value: str | None) -> str | None:
        if value is not None:
            time_in_minutes(value)
        return value

    @field_validator("sbatch")
    @classmethod
    def _own_flags(cls, value: dict | None) -> dict | None:
        for flag in value or {}:
            if flag in RESERVED_FLAGS:
                raise ValueError(f"'{flag}' is set by stilts for every job; it cannot be given here")
        return value

    @model_validator(mode="after")
    def _gpus_spread_over_nodes(self) -> JobSettings:
        if self.gpus_per_job and self.nodes_per_job and self.gpus_per_job % self.nodes_per_job:
            raise ValueError(
                f"gpus_per_job {self.gpus_per_job} cannot be spread evenly over {self.nodes_per_job} nodes"
            )
        return self


class SlurmConfig(JobSettings):
    """The ``slurm:`` block of a sweep: what every stage's job asks for, and per stage kind what differs."""

    stages: dict[str, JobSettings] = Field(
        default_factory=dict,
        description="Per stage kind (intermediate, target, evaluate, ...): values that replace the top-level ones "
        'for that kind\'s jobs, e.g. `{evaluate: {time: "2:00:00"}}`.',
    )


class JobResources(BaseModel):
    """The resolved request of one stage kind's jobs (what `submit` hands to submitit)."""

    model_config = ConfigDict(frozen=True)

    partition: str | None
    account: str | None
    qos: str | None
    time: str
    gpus_per_job: int
    nodes_per_job: int
    cpus_per_job: int | None
    mem: str | None
    sbatch: tuple[tuple[str, Any], ...]
    setup: tuple[str, ...]

    @property
    def gpus_per_node(self) -> int:
        return self.gpus_per_job // self.nodes_per_job

    @property
    def processes(self) -> int:
        """Training processes of the job: one per GPU, or one on CPU."""
        return max(1, self.gpus_per_job)

    def describe(self) -> str:
        devices = f"{self.gpus_per_job} GPU{'s' if self.gpus_per_job != 1 else ''}" if self.gpus_per_job else "CPU"
        nodes = f" on {self.nodes_per_job} nodes" if self.nodes_per_job > 1 else ""
        days, minutes = divmod(time_in_minutes(self.time), 1440)
        limit = (f"{days}-" if days else "") + f"{minutes // 60:02d}:{minutes % 60:02d}:00"
        return f"{devices}{nodes}, {limit}" + (f", partition {self.partition}" if self.partition else "")


def resources_for(config: SlurmConfig | None, kind: str, produces_model: bool) -> JobResources:
    """The top-level values over the defaults, then the kind's own block over those."""
    config = config or SlurmConfig()
    values: dict[str, Any] = {
        "partition": None,
        "account": None,
        "qos": None,
        "time": DEFAULT_TIME,
        "gpus_per_job": DEFAULT_GPUS,
        "nodes_per_job": 1,
        "cpus_per_job": None,
        "mem": None,
        "sbatch": {},
        "setup": [],
    }
    values.update(config.model_dump(exclude={"stages"}, exclude_none=True))
    if not produces_model:
        values["gpus_per_job"], values["nodes_per_job"] = min(values["gpus_per_job"], 1), 1
    own = config.stages.get(kind)
    if own is not None:
        values.update(own.model_dump(exclude_none=True))
    values["sbatch"] = tuple(sorted(values["sbatch"].items()))
    values["setup"] = tuple(values["setup"])
    if values["gpus_per_job"] % values["nodes_per_job"]:
        raise ValueError(
            f"stages.{kind}: gpus_per_job {values['gpus_per_job']} cannot be spread evenly over "
            f"{values['nodes_per_job']} nodes"
        )
    return JobResources(**values)
