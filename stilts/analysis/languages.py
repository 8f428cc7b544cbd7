"""Where transfer works: the languages of stilts' target tasks grouped by family, script and resource class,
and per-language deltas (an intermediate task's gain over the baseline, say) regressed on typological
distance to English, the pretraining-data and distance effects Lauscher et al. (2020, "From Zero to Hero: On
the Limitations of Zero-Shot Language Transfer with Multilingual Transformers") found.

The facts come from ``languages.csv`` beside this module, written by ``tools/make_language_table.py`` (whose
docstring and the CSV's header name every column's source): family (top of the Glottolog lineage), script
(ISO 15924), resource class (Joshi et al. 2020, 0-5) and URIEL+ distances to English (syntactic, featural,
genetic, geographic; angular, 0-1). Languages are named by ISO 639-1 code, as everywhere in stilts.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TABLE_FILE = Path(__file__).with_name("languages.csv")
#: the URIEL+ distances to English the table has, each a column
DISTANCES = ("syntactic", "featural", "genetic", "geographic")
#: the distance `distance_slope` uses unless told otherwise: syntax (word order and the like), which Lauscher et
#: al. (2020) found to track zero-shot transfer in lower-level tasks such as POS tagging and parsing (pretraining
#: data size tracked it more in higher-level ones: group by ``resource_class`` for that)
DEFAULT_DISTANCE = "syntactic"
#: what `group_of` and `language_groups` can group by
GROUPINGS = ("family", "script", "resource_class")
#: the group of a language the table does not have (a plugin task's language)
UNKNOWN = "unknown"
#: the source language: its scores are not zero-shot, so `distance_slope` leaves it out unless told otherwise
SOURCE_LANGUAGE = "en"


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    iso639_3: str
    glottocode: str
    family: str
    script: str
    #: Joshi et al. (2020): 0 (left behind) to 5 (winners)
    resource_class: int
    #: distance name -> URIEL+ distance to English, 0 (English itself) to 1
    distances: Mapping[str, float]


@functools.cache
def _languages() -> dict[str, Language]:
    with open(TABLE_FILE, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return {
        row["code"]: Language(
            code=row["code"],
            name=row["name"],
            iso639_3=row["iso639_3"],
            glottocode=row["glottocode"],
            family=row["family"],
            script=row["script"],
            resource_class=int(row["resource_class"]),
            distances={name: float(row[name]) for name in DISTANCES if row[name] != ""},
        )
        for row in rows
    }


def languages() -> dict[str, Language]:
    """Every language of the table, by ISO 639-1 code."""
    return dict(_languages())


def language(code: str) -> Language:
    """One language's facts; KeyError naming the code for one the table does not have."""
    table = _languages()
    if code not in table:
        raise KeyError(f"'{code}' is not in {TABLE_FILE.name} (it has {', '.join(sorted(table))})")
    return table[code]


def language_table() -> pd.DataFrame:
    """The table as a DataFrame indexed by code: name, iso639_3, glottocode, family, script, resource_class and
    one column per distance (NaN where URIEL+ has none)."""
    records = [
        {
            "code": item.code,
            "name": item.name,
            "iso639_3": item.iso639_3,
            "glottocode": item.glottocode,
            "family": item.family,
            "script": item.script,
            "resource_class": item.resource_class,
            **{name: item.distances.get(name, np.nan) for name in DISTANCES},
        }
        for item in _languages().values()
    ]
    return pd.DataFrame.from_records(records).set_index("code")


def distances_to_english(name: str) -> dict[str, float]:
    """Every language's distance ``name`` (one of `DISTANCES`) to English, where URIEL+ has it."""
    if name not in DISTANCES:
        raise ValueError(f"distance: expected one of {', '.join(DISTANCES)} or a mapping, got '{name}'")
    return {code: item.distances[name] for code, item in _languages().items() if name in item.distances}


def group_of(code: str, by: str) -> str:
    """The group of language ``code`` by ``by`` (one of `GROUPINGS`): its family, its script, or ``class N`` (its
    resource class); `UNKNOWN` for a language the table does not have."""
    if by not in GROUPINGS:
        raise ValueError(f"by: expected one of {', '.join(GROUPINGS)}, got '{by}'")
    table = _languages()
    if code not in table:
        return UNKNOWN
    value = getattr(table[code], by)
    return f"class {value}" if by == "resource_class" else str(value)


def language_groups(codes: Iterable[str], by: str) -> dict[str, tuple[str, ...]]:
    """``codes`` grouped by ``by`` (one of `GROUPINGS`, `group_of`): group -> its codes, sorted; families and
    scripts in alphabetical order, resource classes from 5 (most data) down to 0, `UNKNOWN` (the languages the
    table does not have) last. A family or script with one language is its own group."""
    members: dict[str, list[str]] = {}
    for code in sorted(set(codes)):
        members.setdefault(group_of(code, by), []).append(code)

    def place(group: str) -> tuple:
        if group == UNKNOWN:
            return (1, 0, "")
        if by == "resource_class":
            return (0, -int(group.removeprefix("class ")), "")
        return (0, 0, group)

    return {group: tuple(members[group]) for group in sorted(members, key=place)}


@dataclass(frozen=True)
class SlopeFit:
    """A least-squares line ``value = intercept + slope * distance`` over languages, how well it fits, and a
    bootstrap interval for the slope (NaN without draws)."""

    slope: float
    intercept: float
    #: the share of the values' variance the line explains (Pearson's r squared); NaN when the values are constant
    r2: float
    #: Spearman's rank correlation of value and distance (tied values share their mean rank); NaN when either is
    #: constant
    spearman: float
    #: the percentile bootstrap interval of the slope at ``level`` (NaN, and ``level`` None, without draws)
    low: float
    high: float
    level: float | None
    #: the languages fitted (sorted), and those left out for having no distance
    languages: tuple[str, ...]
    missing: tuple[str, ...]
    #: bootstrap draws the interval is from (0: none)
    resamples: int


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return slope, float(y.mean() - slope * x.mean())


def _r2(x: np.ndarray, y: np.ndarray, slope: float, intercept: float) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return math.nan
    return 1.0 - float(((y - intercept - slope * x) ** 2).sum()) / total


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx = pd.Series(x).rank(method="average").to_numpy()
    ry = pd.Series(y).rank(method="average").to_numpy()
    dx, dy = rx - rx.mean(), ry - ry.mean()
    norm = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / norm if norm > 0 else math.nan


def distance_slope(
    values: Mapping[str, float],
    distance: str | Mapping[str, float] = DEFAULT_DISTANCE,
    *,
    draws: Mapping[str, Sequence[float]] | None = None,
    level: float = 0.95,
    leave_out: Collection[str] = (SOURCE_LANGUAGE,),
) -> SlopeFit:
    """The least-squares slope of per-language ``values`` (a delta to a baseline, or a score) against distance to
    English (a column of the table, `DISTANCES`, or a mapping language -> distance of the caller's), its R² and
    Spearman correlation; and with ``draws`` the percentile interval at ``level`` of the slope re-fitted on
    each draw: ``draws[language][i]`` is the language's value on bootstrap draw i of what it was measured on
    (`stilts table --ci` draws the evaluation examples and the seeds, the same draw for every language).

    The interval holds the languages fixed: it says how sure the slope over these languages is, given the
    examples and seeds they were measured on; not how it would come out on other languages. With a few
    languages, one of them can carry a slope: R², Spearman and a plot say more about that than the interval.
    The languages in ``leave_out`` (English: not zero-shot) and those without a distance are not fitted.

    A negative slope: the value shrinks with distance."""
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value between 0 and 1, got {level}")
    if isinstance(distance, str):
        distances = distances_to_english(distance)
    else:
        distances = {code: float(value) for code, value in distance.items()}
    codes = sorted(code for code in values if code not in leave_out)
    fitted = [code for code in codes if code in distances]
    missing = tuple(code for code in codes if code not in distances)
    x = np.array([distances[code] for code in fitted], dtype=np.float64)
    y = np.array([float(values[code]) for code in fitted], dtype=np.float64)
    if len(fitted) < 3 or np.unique(x).size < 2:
        raise ValueError(
            f"a slope needs at least 3 languages with at least 2 different distances; have {len(fitted)} "
            f"({', '.join(fitted) or 'none'}){'; no distance for ' + ', '.join(missing) if missing else ''}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("values: not all finite")
    slope, intercept = _least_squares(x, y)
    fit = SlopeFit(
        slope=slope,
        intercept=intercept,
        r2=_r2(x, y, slope, intercept),
        spearman=_spearman(x, y),
        low=math.nan,
        high=math.nan,
        level=None,
        languages=tuple(fitted),
        missing=missing,
        resamples=0,
    )
    if draws is None:
        return fit
    absent = [code for code in fitted if code not in draws]
    if absent:
        raise ValueError(f"draws: none for {', '.join(absent)}")
    lengths = {len(draws[code]) for code in fitted}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError("draws: expected the same number (at least 1) of draws for every language")
    replicates = np.stack([np.asarray(draws[code], dtype=np.float64) for code in fitted], axis=1)
    if not np.all(np.isfinite(replicates)):
        raise ValueError("draws: not all finite")
    dx = x - x.mean()
    slopes = (replicates - replicates.mean(axis=1, keepdims=True)) @ dx / (dx @ dx)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(slopes, [tail, 100 - tail])
    return dataclasses.replace(fit, low=float(low), high=float(high), level=level, resamples=len(replicates))
