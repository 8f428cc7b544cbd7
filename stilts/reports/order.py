"""Names and order in tables: a target's main metric(s), the order of targets and benchmarks, how a
configuration is named, keyed and sorted, and the order of languages (English first)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from stilts.core.catalog import BENCHMARKS, TASKS, benchmark_targets, intermediate_order, main_metrics
from stilts.core.names import (
    BASELINE,
    CONFIG_KEYS,
    QA_METRICS,
    SEED_AVERAGE,
    SHOTS_SUFFIX,
    TRANSLATE_TEST,
    split_setting,
)

BASELINE_CONFIG = (BASELINE, False)


def target_metrics(target: str, metrics_present=()) -> tuple[str, ...]:
    """Main metric(s) of a target: its declaration's ``main_metrics`` (the XTREME, XCOPA and XGLUE targets:
    WPR's ``ndcg`` among them). Another target: its declaration's metric when the file has it
    (a plugin's task), else a guess from the metrics present, else the first of them, so that no
    target with scores is ever left out of a table."""
    declared = main_metrics(target)
    if declared:
        return declared
    present = list(dict.fromkeys(metrics_present))
    if set(QA_METRICS) <= set(present):
        return QA_METRICS
    metric = TASKS.get(target).metric if target in TASKS else None
    if metric is not None and metric in present:
        return (metric,)
    for metric in ("accuracy", "f1"):
        if metric in present:
            return (metric,)
    return tuple(present[:1])


def is_qa(metrics) -> bool:
    return tuple(metrics) == QA_METRICS


def targets_in(scores: pd.DataFrame) -> list[str]:
    """Targets present, the benchmarks' in their declared order (XTREME's, XTREME-R's XCOPA, XGLUE's), then
    any others alphabetically."""
    present = set(scores["target"])
    ordered = benchmark_targets()
    return [t for t in ordered if t in present] + sorted(present - set(ordered))


def benchmarks_in(targets) -> list[str]:
    """The benchmarks ``targets`` call for, in their declared order: each with a target among them that no
    benchmark declared before it has (XTREME-R, which shares seven targets with XTREME, where XCOPA is
    among them); the first declared (XTREME's) when none has (a table of other targets still shows what
    it is not)."""
    present, earlier, found = set(targets), set[str](), []
    for name, benchmark in BENCHMARKS.items():
        if present & (set(benchmark.targets) - earlier):
            found.append(name)
        earlier |= set(benchmark.targets)
    return found or BENCHMARKS.names()[:1]


def config_sort_key(config) -> tuple:
    """Baseline first, MLM off before on; single tasks in catalog order, then multi-task mixtures; a
    configuration's settings (`stilts.core.names.split_setting`) right after it (`setting_sort_key`)."""
    intermediate, mlm = config
    intermediate, setting = split_setting(intermediate)
    parts = intermediate.split("+")
    base = parts[0].split("@")[0]
    order = intermediate_order()
    rank = order.index(base) if base in order else len(order)
    return (bool(mlm), intermediate != BASELINE, len(parts), rank, intermediate, setting_sort_key(setting))


def setting_sort_key(setting: str) -> tuple:
    """The configuration's own runs, then the average of their seeds, then translate-test, then k-shot
    rows by k."""
    if not setting:
        return (0, 0, "")
    if setting == SEED_AVERAGE:
        return (1, 0, "")
    if setting == TRANSLATE_TEST:
        return (2, 0, "")
    shots, _, rest = setting.partition(SHOTS_SUFFIX)
    if shots.isdigit() and not rest:
        return (3, int(shots), "")
    return (4, 0, setting)


def sort_configs(configs) -> list[tuple[str, bool]]:
    return sorted({(str(i), bool(m)) for i, m in configs}, key=config_sort_key)


# A configuration's label in a table's index is a tuple (intermediate, mlm) by intermediate, and the
# pipeline's name (a plain Index) by pipeline: pandas turns a one-key index into plain labels anyway.


def config_of(parts: Sequence, config_keys: Sequence[str] = CONFIG_KEYS):
    """The index label of a configuration from the values of its ``config_keys`` columns."""
    parts = [bool(value) if key == "mlm" else value for key, value in zip(config_keys, parts)]
    return parts[0] if len(parts) == 1 else tuple(parts)


def config_parts(config, config_keys: Sequence[str] = CONFIG_KEYS) -> dict:
    """A configuration's index label as its columns: {"intermediate": .., "mlm": ..} or {"pipeline": ..}."""
    values = config if isinstance(config, tuple) else (config,)
    return {key: bool(value) if key == "mlm" else value for key, value in zip(config_keys, values)}


def baseline_config(name: str, config_keys: Sequence[str] = CONFIG_KEYS):
    """The configuration `--baseline NAME` names: intermediate task NAME with MLM off, or pipeline NAME."""
    return config_of([name, False], config_keys)  # by pipeline there is no mlm key: the label is NAME


def config_text(config, config_keys: Sequence[str] = CONFIG_KEYS) -> str:
    """``intermediate=none, mlm=false`` or ``pipeline=NAME``, as scores.csv writes the columns."""
    parts = config_parts(config, config_keys)
    return ", ".join(f"{key}={str(value).lower() if key == 'mlm' else value}" for key, value in parts.items())


def config_rows(cells: pd.DataFrame, scores: pd.DataFrame, config_keys: Sequence[str] = CONFIG_KEYS) -> pd.Index:
    """The rows (index) of a table of the configurations in ``cells``. By intermediate, in
    `config_sort_key` order; by pipeline, in the order the pipelines first appear in ``scores`` (the order
    they were run in: a name has no order of its own to sort by)."""
    if list(config_keys) == CONFIG_KEYS:
        return pd.MultiIndex.from_tuples(sort_configs(zip(cells["intermediate"], cells["mlm"])), names=CONFIG_KEYS)
    [key] = config_keys  # by pipeline
    present = set(cells[key])
    return pd.Index([name for name in dict.fromkeys(scores[key]) if name in present], name=key)


def language_sort_key(language: str) -> tuple:
    return (language != "en", language)
