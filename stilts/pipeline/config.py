"""Pipeline YAML -> typed, validated config.

Every problem becomes one ``BadInput`` line naming the YAML file and the field path, e.g.
``pipelines/x.yaml: stages[1].task: unknown task 'xnl' (did you mean 'xnli'?)``.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from stilts.core import defaults
from stilts.core.errors import BadInput, did_you_mean
from stilts.core.numbers import MAX_COUNT, Count, Float, MaxLength, Seed
from stilts.data.loading import HUB
from stilts.offline.registry import OFFLINE_PREFIX
from stilts.pipeline.stage_kinds import HASHED_WHEN_SET, STAGE_KINDS
from stilts.training.adapters import PeftSettings
from stilts.training.mixing import MIXING_RULES

SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$"  # names become folder names: no '/', no '..'


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StageConfig(_Strict):
    """The fields every stage has; each stage kind's config model extends it (see
    `stilts.pipeline.stage_kinds`) and narrows ``kind`` to its name."""

    kind: str = Field(description="The stage kind (intermediate, target, evaluate, or a plugin's).")
    name: Annotated[str, Field(pattern=SAFE_NAME)] | None = Field(
        default=None,
        description="The stage's name: its folder is `<name>-<fingerprint>` and `--set stages.<name>.FIELD=...` "
        "addresses it; give one to tell two stages of a kind apart (an evaluate stage per task). Unset: its kind. "
        "Not fingerprinted.",
    )


class TrainingStage(StageConfig):
    """Settings shared by the stages that train. ``None`` means the paper's default for the task."""

    # at most 1: AdamW moves each weight by about the learning rate per step, and shrinks it by
    # learning rate x weight decay; past 1 one step wrecks the weights (and a last step's damage is
    # not seen by the NaN guard)
    learning_rate: Annotated[Float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="Peak learning rate of AdamW (linear warm-up, then linear decay to 0). Unset: the paper's, "
        "1e-5 in intermediate stages (5e-6 when MLM is among the tasks) and 3e-6 in target stages.",
    )
    batch_size: Count | None = Field(
        default=None,
        description="Training batch size over all processes (each of N processes takes 1/N; it must divide by N). "
        "Unset: each task's batch size from the paper's Tables 4-5 (16 for a task it has no row for); in a "
        "mixture each task keeps its own unless this is set.",
    )
    epochs: Annotated[Float, Field(gt=0, le=MAX_COUNT)] | None = Field(
        default=None,
        description="Passes over the training data (fractions allowed); several tasks make passes over their "
        "sizes capped at `mixing_cap`. Unset: the task's epochs from the paper's Tables 4-5 (3 for a task it "
        'has no row for), and 3 for several tasks (the paper\'s "mixed/3").',
    )
    max_steps: Count | None = Field(
        default=None,
        description="Train for exactly this many optimizer steps instead of `epochs` (warm-up and decay are "
        "spread over them); early stopping may still end the stage sooner. Unset: `epochs` decides.",
    )
    gradient_accumulation_steps: Count = Field(
        default=1,
        description="Batches whose gradients are accumulated into each optimizer step: the effective batch is "
        "`batch_size` times this. 1: a step per batch.",
    )
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)] = Field(
        default=defaults.WARMUP_RATIO,
        description="Share of the optimizer steps over which the learning rate rises linearly from 0 to its peak, "
        "before it decays linearly to 0 (the paper's 10%).",
    )
    weight_decay: Annotated[Float, Field(ge=0, le=1)] = Field(
        default=defaults.WEIGHT_DECAY,
        description="AdamW's decoupled weight decay (0, jiant's default for the paper's runs, is none).",
    )
    max_length: MaxLength | None = Field(
        default=None,
        description="Longest input in tokens; longer ones are truncated (QA contexts are cut into overlapping "
        "windows of this length). Unset: the task format's default, 128 for sentence tasks and 384 for QA "
        "(the largest of the stage's tasks).",
    )
    validate_every: Count = Field(
        default=defaults.VALIDATE_EVERY_STEPS,
        description="Validate on dev every N optimizer steps (and at the last); early stopping and the weights "
        "the stage keeps follow these validations.",
    )
    validation_examples: Count = Field(
        default=defaults.VALIDATION_EXAMPLES,
        description="Validate on the first N dev examples of each task (of each language under "
        "`model_selection: average_dev`); the paper's 500.",
    )
    patience: Count = Field(
        default=defaults.PATIENCE,
        description="Stop early after this many validations in a row without a better dev score (the paper's 30).",
    )
    max_train_examples: Count | None = Field(
        default=None,
        description="Train on the first N training examples of each language only (quick experiments). Unset: all.",
    )
    checkpoint_every: Count | None = Field(
        default=None,
        description="Save a checkpoint, from which an interrupted stage resumes, every N optimizer steps (and at "
        "the end of each epoch). Unset: at every validation (`validate_every`). Not fingerprinted.",
    )
    # changes which examples share a batch, so it is fingerprinted
    group_by_length: bool = Field(
        default=False,
        description="Put examples of similar length in one batch, batches in random order (less padding, faster; "
        "like the Trainer's group_by_length). Part of the fingerprint: it changes which examples share a batch.",
    )
    train_splits: Annotated[list[Literal["train", "dev", "test"]], Field(min_length=1)] = Field(
        default=["train"],
        description="The splits of the training data to train on, merged: e.g. `[dev, test]` for data released "
        "without a training split (ANLI's rounds). Training on dev turns off early stopping on it.",
    )
    peft: Annotated[PeftSettings | None, HASHED_WHEN_SET] = Field(
        default=None,
        description='Train a LoRA adapter instead of the whole encoder (`pip install -e ".[peft]"`); heads '
        "always train fully. Unset: fine-tune the whole encoder.",
    )
    seed: Annotated[Seed | None, HASHED_WHEN_SET] = Field(
        default=None,
        description="This stage's seed instead of the pipeline's (e.g. in a sweep, `stages: {intermediate: "
        "{seed: 1}}` trains one intermediate model that every seed's target stage starts from). Unset: the "
        "pipeline's seed.",
    )


class MultiTaskTrainingStage(TrainingStage):
    """A training stage that may train several tasks at once, each with its own head; the task of each
    batch is drawn by a rule of `stilts.training.mixing.MIXING_RULES`."""

    mixing: str = Field(
        default="capped",
        description="How a stage of several tasks draws the task of each batch: `capped` (in proportion to each "
        "task's size capped at `mixing_cap`, T5's rule and the paper's), `temperature` (capped sizes to the "
        "power 1/`mixing_temperature`), `uniform`, `weights` (`mixing_weights`), or a plugin's rule. "
        "No effect on a stage of one task.",
    )
    mixing_cap: Count = Field(
        default=defaults.MIXING_CAP_K,
        description="K of the capped rules: a task counts at most K examples, in drawing tasks and in the length "
        "of a stage of several tasks (`epochs` over the capped sizes). Default 2^17, T5's and the paper's.",
    )
    mixing_temperature: Annotated[Float, Field(gt=0, le=MAX_COUNT)] = Field(
        default=1.0,
        description="T of `mixing: temperature`: a task's rate is its capped size to the power 1/T (1: in "
        "proportion to size; larger: closer to uniform).",
    )
    # they may not all be 0 (`training_settings`)
    mixing_weights: dict[str, Annotated[Float, Field(ge=0, le=MAX_COUNT)]] | None = Field(
        default=None,
        description="Task -> weight for `mixing: weights`, for exactly the stage's tasks (not all 0); a task's "
        "rate is its weight over their sum. Unset: no weights (`mixing: weights` needs them).",
    )

    @field_validator("mixing")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value not in MIXING_RULES:
            raise ValueError(
                f"unknown mixing rule '{value}'{did_you_mean(value, MIXING_RULES.names())} "
                f"(rules: {', '.join(MIXING_RULES.names())})"
            )
        return value


#: the mixing settings, which a stage that trains one task does without
MIXING_FIELDS = ("mixing", "mixing_cap", "mixing_temperature", "mixing_weights")

#: the numerics of every stage (`stilts.training.devices`)
MixedPrecision = Literal["auto", "no", "fp16", "bf16", "tf32"]
MIXED_PRECISION_DESCRIPTION = (
    "Numerics of every stage, training and evaluation: `auto` (bf16 autocast on GPUs that have it, else "
    "float32), `no` (float32 without TF32), `tf32` (float32 with TF32 matmuls on CUDA), `fp16` or `bf16`."
)
#: the experiment trackers of Accelerate's that a pipeline may log to
Tracking = Literal["none", "tensorboard", "mlflow", "wandb", "aim"]
TRACKING_DESCRIPTION = (
    "An experiment tracker of Accelerate's for losses, learning rates and validation scores (logs in "
    "`<run_dir>/logs/<stage folder>/`; install it yourself, the `tracking` extra has tensorboard and mlflow). "
    "`none`: no tracker. Not fingerprinted."
)
MODEL_DESCRIPTION = (
    "The model the first stage starts from: a Hub id (`FacebookAI/xlm-roberta-large`), a local folder (relative "
    "to the YAML's folder; fingerprinted by its content) or a named offline model (`offline/multilingual-e5-small`)."
)
#: the attention kernels a pipeline may ask for (`stilts.training.attention`)
Attention = Literal["auto", "sdpa", "eager", "flash_attention_2", "flex"]
ATTENTION_DESCRIPTION = (
    "The attention kernel every stage's encoder runs with (transformers' `attn_implementation`; `flex` is "
    "`flex_attention`): `auto` = `flash_attention_2` on a CUDA GPU with the flash-attn package in bf16/fp16, else "
    "`sdpa`, else `eager`, as the encoder's class has them. One the class or the machine lacks is refused before "
    "any stage runs. Not fingerprinted: the kernels compute the same function."
)
PACKING_DESCRIPTION = (
    "Padding-free training batches: each batch's examples in one row without padding, with their own position ids "
    "and the attention kept within each (docs/encoders.md). Needs `attention` `flash_attention_2` or `flex` on a "
    "CUDA GPU; tasks of formats that do not pack (all but classification) train in padded batches, said in the log. "
    "Not fingerprinted: the same examples, the same loss."
)
DATA_DESCRIPTION = (
    "Task name -> a local folder of the task's original release files (relative to the YAML's folder), or `hub`. "
    "A task not listed is read from the Hugging Face Hub."
)


class PipelineConfig(_Strict):
    name: Annotated[str, Field(pattern=SAFE_NAME)] = Field(
        description="The pipeline's name: its run folder (`runs/<name>/` unless `--output-dir` says otherwise) "
        "and its rows' `pipeline` in scores.csv; a folder name, so letters, digits and `_ . @ + -` only."
    )
    model: str = Field(description=MODEL_DESCRIPTION)
    seed: Seed = Field(
        default=defaults.SEED,
        description="Seeds everything random (new heads, data order, dropout, the draws of mixing); part of every "
        "stage's fingerprint.",
    )
    mixed_precision: MixedPrecision = Field(default="auto", description=MIXED_PRECISION_DESCRIPTION)
    tracking: Tracking = Field(default="none", description=TRACKING_DESCRIPTION)
    attention: Attention = Field(default="auto", description=ATTENTION_DESCRIPTION)
    packing: bool = Field(default=False, description=PACKING_DESCRIPTION)
    data: dict[str, str] = Field(default_factory=dict, description=DATA_DESCRIPTION)
    # each stage is validated by the config model of its kind (see `pipeline_model`)
    stages: Annotated[list[StageConfig], Field(min_length=1)] = Field(
        description="The stages, run in order; each starts from the model of the last stage before it that "
        "made one (the first from `model`). Its `kind` says which fields it takes."
    )

    #: the fields no stage fingerprint hashes: they change how a run is labelled, logged or computed, not
    #: what it computes (the attention kernels and packed batches compute the same function). Every other
    #: field enters the fingerprints: ``model`` as the first stage's upstream (its name, or a local folder's
    #: content), ``data`` as the content of each task's data, ``seed`` and ``mixed_precision`` as settings
    #: of the stages they apply to, ``stages`` as the stages themselves; a new field must be one or the
    #: other (tests/test_fingerprint_declarations.py)
    NOT_FINGERPRINTED: typing.ClassVar[frozenset[str]] = frozenset({"name", "tracking", "attention", "packing"})

    @classmethod
    def model_validate(cls, obj, **kwargs):
        """Validated with the stage kinds registered now (``PipelineConfig.model_validate(raw)``
        works as for any pydantic model)."""
        if cls is PipelineConfig:
            return pipeline_model().model_validate(obj, **kwargs)
        return super().model_validate(obj, **kwargs)


_PIPELINE_MODELS: dict[tuple[str, ...], type[PipelineConfig]] = {}


def pipeline_model() -> type[PipelineConfig]:
    """PipelineConfig whose stages are validated by the registered stage kinds' config models,
    chosen by their ``kind`` field."""
    kinds = dict(STAGE_KINDS.items())
    key = tuple(kinds)
    if key not in _PIPELINE_MODELS:
        models = tuple(kind.config for kind in kinds.values())
        union = functools.reduce(operator.or_, models)  # StageA | StageB | ...
        stage: Any = Annotated[union, Field(discriminator="kind")] if len(models) > 1 else models[0]
        stages = Field(min_length=1, description=PipelineConfig.model_fields["stages"].description)
        _PIPELINE_MODELS[key] = create_model(
            "PipelineConfig", __base__=PipelineConfig, stages=(Annotated[list[stage], stages], ...)
        )
    return _PIPELINE_MODELS[key]


def stage_name(stage) -> str:
    return stage.name or stage.kind


# --- loading -----------------------------------------------------------------------------------


def load_pipeline(path: str | Path, overrides: tuple[str, ...] = ()) -> tuple[PipelineConfig, Path]:
    """Read, override (``key.path=value``) and validate a pipeline YAML. Returns the config and the
    folder relative paths in it are resolved against (the YAML's folder)."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    for override in overrides:
        apply_override(raw, override)
    return validate_pipeline(raw, str(path)), path.resolve().parent


def read_yaml_mapping(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: cannot read ({error})") from None
    try:
        raw = load_yaml(text)
    except BadInput as error:
        raise BadInput(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise BadInput(f"{path}: {where}YAML syntax error: {problem}") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: expected a mapping of fields at the top level, found {type(raw).__name__}")
    return raw


#: the most values (mappings, lists, keys and scalars) a config may hold once its aliases are expanded:
#: a pipeline or sweep holds hundreds; aliases of aliases can expand a few hundred bytes to billions
#: ("billion laughs"), which validating and fingerprinting would then walk for hours
MAX_YAML_VALUES = 100_000
#: brackets ([...], {...}) nested deeper than this are refused before parsing: PyYAML's parser recurses
#: into each (too deep is a RecursionError, after seconds), and no config nests more than a few
MAX_FLOW_DEPTH = 100


def load_yaml(text: str) -> Any:
    """``text`` read as ``yaml.safe_load`` reads it, refusing (BadInput ``line N: ...``) what safe_load
    takes without a word: a key given twice in one mapping (the last would win), an alias inside the
    value it names (a structure without end, which validation would recurse into forever), aliases
    that expand to more than MAX_YAML_VALUES values, and nesting too deep for the parser, which
    recurses (MAX_FLOW_DEPTH brackets, or Python's recursion limit). A syntax error is a
    yaml.YAMLError."""
    _refuse_deep_brackets(text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        return loader.construct_document(node)
    except RecursionError:
        raise BadInput("nested too deeply (lists and mappings inside each other)") from None
    finally:
        loader.dispose()


def _refuse_deep_brackets(text: str) -> None:
    # counted as written, quotes and comments included: only a file of brackets gets near the limit
    depth = 0
    for number, line in enumerate(text.splitlines(), 1):
        for char in line:
            if char in "[{":
                depth += 1
                if depth > MAX_FLOW_DEPTH:
                    raise BadInput(f"line {number}: brackets nested more than {MAX_FLOW_DEPTH} deep")
            elif char in "]}":
                depth = max(depth - 1, 0)


def _check_nodes(root: yaml.Node) -> None:
    """Walk the composed document once per node (an alias is the node it names, so a value used
    through many aliases is visited once): duplicate keys, cycles and the expanded size."""
    repeats = []
    expanded: dict[int, int] = {}  # node id -> how many values it stands for, aliases expanded
    ancestors: set[int] = set()  # the nodes whose walk is under way: reaching one again is a cycle
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        children = _children(node)
        if children_done:
            ancestors.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded[id(child)] for child in children)
            if expanded[id(node)] > MAX_YAML_VALUES:
                raise BadInput(
                    f"line {node.start_mark.line + 1}: this value holds more than {MAX_YAML_VALUES:,} values "
                    "once its aliases are expanded; no config needs that many"
                )
            continue
        if id(node) in expanded:
            continue
        if id(node) in ancestors:
            raise BadInput(
                f"line {node.start_mark.line + 1}: the value anchored here contains an alias of itself "
                "(a structure without end)"
            )
        if isinstance(node, yaml.MappingNode):
            repeats += _repeated_keys(node)
        ancestors.add(id(node))
        pending.append((node, True))
        pending.extend((child, False) for child in children)
    if repeats:
        line, key, earlier = min(repeats)
        raise BadInput(f"line {line}: duplicate key '{key}' (first given on line {earlier})")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _repeated_keys(node: yaml.MappingNode) -> list[tuple[int, str, int]]:
    """(line, key, line first given) of each key given again in the mapping. ``yaml.safe_load`` lets
    the last of two equal keys win silently; a config where ``name:`` or a stage field is written
    twice is almost always a mistake. ``<<`` (a merge) may repeat."""
    repeats: list[tuple[int, str, int]] = []
    first_line: dict[str, int] = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                repeats.append((line, key_node.value, first_line[key_node.value]))
            else:
                first_line[key_node.value] = line
    return repeats


def override_from_command_line(override: str) -> str:
    """A ``--set`` as typed in a shell, its paths made absolute: ``model`` (a local folder: a value that
    starts with '.', '/' or '~', or names a folder that exists) and ``data.<task>`` (anything but
    ``hub``) are relative to the working directory, like every path on a command line, where paths in
    the YAML are relative to its folder. Absolute, they mean the same in the processes and Slurm jobs
    the command starts, wherever those run."""
    key_path, sep, value_text = override.partition("=")
    keys = key_path.split(".")
    value = _parse_value(key_path, value_text)
    if not sep or keys[0] not in ("model", "data") or len(keys) > 2:
        return override
    if keys == ["model"] and isinstance(value, str):
        local = local_model_folder(value, Path.cwd())
        resolved: Any = value if local is None else str(local)
    elif keys[0] == "data" and len(keys) == 2:
        resolved = _absolute(value) if isinstance(value, str) and value != HUB else value
    elif keys == ["data"] and isinstance(value, dict):
        resolved = {task: _absolute(v) if isinstance(v, str) and v != HUB else v for task, v in value.items()}
    else:
        return override
    return override if resolved == value else f"{key_path}={json.dumps(resolved, ensure_ascii=False)}"


def local_model_folder(reference: str, base_dir: Path) -> Path | None:
    """The folder a ``model:`` value names, resolved against ``base_dir``, when it names one: it starts
    with '.', '/' or '~', or ``base_dir`` has it; None for a Hub id or an offline model's name."""
    if reference.startswith(OFFLINE_PREFIX):
        return None
    local = base_dir / Path(reference).expanduser()
    return local.resolve() if reference.startswith((".", "/", "~")) or local.exists() else None


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _parse_value(key_path: str, text: str) -> Any:
    """A ``--set`` value, read as YAML (as the file's values are); text that is not YAML stays text."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text
    except BadInput as error:
        raise BadInput(f"--set {key_path}: {error}") from None


def apply_override(raw: dict, override: str) -> None:
    """Apply ``a.b.0.c=value`` (value parsed as YAML) to a raw config. A list item can be addressed
    by its index or by the name (or kind) of the stage in it. Paths are taken as written (relative to
    the YAML's folder); the command line's ``--set`` makes its paths absolute first
    (`override_from_command_line`)."""
    key_path, sep, value_text = override.partition("=")
    if not sep or not key_path:
        raise BadInput(f"--set {override}: expected key.path=value")
    value = _parse_value(key_path, value_text)
    keys = key_path.split(".")
    node: Any = raw
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            index = _list_index(node, key, f"--set {where}")
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise BadInput(f"--set {where}: '{'.'.join(keys[:depth])}' is not a mapping or list")


def _list_index(items: list, key: str, where: str) -> int:
    if re.fullmatch(r"-?\d+", key):
        index = int(key)
        if not -len(items) <= index < len(items):
            raise BadInput(f"{where}: index {index} out of range (there are {len(items)})")
        return index
    matches = [
        i for i, item in enumerate(items) if isinstance(item, dict) and key in (item.get("name"), item.get("kind"))
    ]
    if len(matches) != 1:
        reason = "no" if not matches else "more than one"
        raise BadInput(f"{where}: {reason} stage named '{key}'")
    return matches[0]


def validate_pipeline(raw: dict, source: str) -> PipelineConfig:
    model = pipeline_model()
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise BadInput(f"{source}: {describe_validation_error(error.errors()[0], raw, model)}") from None


def describe_validation_error(problem: Mapping[str, Any], raw: dict, model: type[BaseModel]) -> str:
    """One pydantic error as ``field.path: what is wrong``."""
    location = list(problem["loc"])
    # a discriminated union puts the stage kind into the path: stages.0.target.epochs
    if len(location) >= 3 and location[0] == "stages" and location[2] in STAGE_KINDS:
        del location[2]
    path = _dotted(location)
    kind = problem["type"]
    if kind == "extra_forbidden":
        known = _known_fields(model, location[:-1], raw)
        return f"{path}: unknown field{did_you_mean(str(location[-1]), known)}"
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        kinds, given = STAGE_KINDS.names(), problem.get("ctx", {}).get("tag")
        typo = f", not '{given}'{did_you_mean(str(given), kinds)}" if given is not None else ""
        return f"{path}: kind must be one of {', '.join(kinds)}{typo}"
    if kind == "value_error" and "error" in problem.get("ctx", {}):  # a validator's own message says it all
        return f"{path}: {problem['ctx']['error']}"
    value = problem.get("input")
    shown = f" (got {value!r})" if not isinstance(value, (dict, list)) else ""
    return f"{path}: {problem['msg'][0].lower()}{problem['msg'][1:]}{shown}"


def _known_fields(model: type[BaseModel] | None, parents: list, raw) -> list[str]:
    """Field names of the (nested) model that holds the unknown field, for a did-you-mean."""
    node = raw
    for part in parents:
        node = node[part] if isinstance(node, (dict, list)) else None
        if isinstance(part, int):
            continue
        if part == "stages" and model is not None and issubclass(model, PipelineConfig):
            model = None  # resolved from the item's kind below
            continue
        annotation = model.model_fields[part].annotation if model and part in model.model_fields else None
        # an optional block (`Block | None`) names its model among the union's members
        members = (
            typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
        )
        models = [m for m in (annotation, *members) if isinstance(m, type) and issubclass(m, BaseModel)]
        model = models[0] if models else None
    if model is None and isinstance(node, dict) and node.get("kind") in STAGE_KINDS:
        model = STAGE_KINDS.get(node["kind"]).config
    return list(model.model_fields) if model else []


def _dotted(location: list) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
