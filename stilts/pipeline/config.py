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

    kind: str
    name: Annotated[str, Field(pattern=SAFE_NAME)] | None = None


class TrainingStage(StageConfig):
    """Settings shared by the stages that train. ``None`` means the paper's default for the task."""

    #: at most 1: AdamW moves each weight by about the learning rate per step, and shrinks it by
    #: learning rate x weight decay; past 1 one step wrecks the weights (and a last step's damage is
    #: not seen by the NaN guard)
    learning_rate: Annotated[Float, Field(gt=0, le=1)] | None = None
    batch_size: Count | None = None
    epochs: Annotated[Float, Field(gt=0, le=MAX_COUNT)] | None = None
    max_steps: Count | None = None
    gradient_accumulation_steps: Count = 1
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)] = defaults.WARMUP_RATIO
    weight_decay: Annotated[Float, Field(ge=0, le=1)] = defaults.WEIGHT_DECAY
    #: None = the task format's default (128 for sentence tasks, 384 for QA windows)
    max_length: MaxLength | None = None
    validate_every: Count = defaults.VALIDATE_EVERY_STEPS
    validation_examples: Count = defaults.VALIDATION_EXAMPLES
    patience: Count = defaults.PATIENCE
    #: train on the first N examples only (quick experiments); None = all
    max_train_examples: Count | None = None
    #: save a resumable checkpoint every N optimizer steps; None = at every validation
    checkpoint_every: Count | None = None
    #: batches of examples of similar length (less padding, faster), in random order (like the
    #: Trainer's group_by_length); changes which examples share a batch, so it is fingerprinted
    group_by_length: bool = False
    #: which splits of the training data to train on, e.g. [dev, test] for data released without a
    #: training split (ANLI's public dev/test rounds); training on dev turns off early stopping on it
    train_splits: Annotated[list[Literal["train", "dev", "test"]], Field(min_length=1)] = ["train"]
    #: train an adapter (LoRA) instead of the whole encoder; heads always train fully
    peft: Annotated[PeftSettings | None, HASHED_WHEN_SET] = None


class MultiTaskTrainingStage(TrainingStage):
    """A training stage that may train several tasks at once, each with its own head; the task of each
    batch is drawn by a rule of `stilts.training.mixing.MIXING_RULES`."""

    #: how a multi-task stage draws the task of each batch: a rule of `mixing.MIXING_RULES`
    mixing: str = "capped"
    mixing_cap: Count = defaults.MIXING_CAP_K
    mixing_temperature: Annotated[Float, Field(gt=0, le=MAX_COUNT)] = 1.0
    #: task -> weight, for mixing: weights (they may not all be 0: `training_settings`)
    mixing_weights: dict[str, Annotated[Float, Field(ge=0, le=MAX_COUNT)]] | None = None

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


class PipelineConfig(_Strict):
    name: Annotated[str, Field(pattern=SAFE_NAME)]
    #: a Hub id, a local folder, or a named offline model (offline/<name>)
    model: str
    seed: Seed = defaults.SEED
    #: numerics of every stage (stilts.training.devices): auto = bf16 autocast on GPUs that have it, else float32;
    #: no = float32 without TF32; tf32 = float32 with TF32 matmuls on CUDA; fp16; bf16
    mixed_precision: Literal["auto", "no", "fp16", "bf16", "tf32"] = "auto"
    #: an experiment tracker of Accelerate's for losses, learning rates and validation scores (logs in
    #: <run_dir>/logs/<stage folder>/); installed by the user (tensorboard and mlflow: the `tracking` extra)
    tracking: Literal["none", "tensorboard", "mlflow", "wandb", "aim"] = "none"
    #: task name -> local folder of the original release files, or "hub" (the default)
    data: dict[str, str] = Field(default_factory=dict)
    #: each stage is validated by the config model of its kind (see `pipeline_model`)
    stages: Annotated[list[StageConfig], Field(min_length=1)]

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
        _PIPELINE_MODELS[key] = create_model(
            "PipelineConfig", __base__=PipelineConfig, stages=(Annotated[list[stage], Field(min_length=1)], ...)
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
