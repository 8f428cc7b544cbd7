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
import functools
from collections.abc import Collection, Mapping
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
#: what `group_languages` can group by
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


def group_languages(values: Mapping[str, float], by: str) -> pd.DataFrame:
    """Per-language ``values`` (language -> a score or a delta) summarised per group of ``by`` (one of
    `GROUPINGS`): a row per group with its ``count``, ``mean``, ``min``, ``max`` and ``languages`` (sorted
    codes, comma-separated), sorted by group; languages the table lacks form the group `UNKNOWN`. A family or
    script with one language is its own group: the means say how many they stand on."""
    if by not in GROUPINGS:
        raise ValueError(f"by: expected one of {', '.join(GROUPINGS)}, got '{by}'")
    table = _languages()
    frame = pd.DataFrame(
        {
            "group": [str(getattr(table[code], by)) if code in table else UNKNOWN for code in values],
            "language": list(values),
            "value": [float(value) for value in values.values()],
        }
    )
    grouped = frame.groupby("group", sort=True)
    summary = grouped["value"].agg(["count", "mean", "min", "max"])
    summary["languages"] = grouped["language"].agg(lambda codes: ", ".join(sorted(codes)))
    summary.index.name = by
    return summary


@dataclass(frozen=True)
class SlopeFit:
    """A least-squares line ``delta = intercept + slope * distance`` over languages, with a bootstrap interval
    for the slope."""

    slope: float
    intercept: float
    #: the percentile bootstrap interval of the slope at ``level``
    low: float
    high: float
    level: float
    #: the languages fitted (sorted), and those left out for having no distance
    languages: tuple[str, ...]
    missing: tuple[str, ...]
    #: resamples drawn, and those dropped for having a single distinct distance (no slope)
    resamples: int
    dropped: int


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    return slope, float(y.mean() - slope * x.mean())


def distance_slope(
    deltas: Mapping[str, float],
    distance: str | Mapping[str, float] = DEFAULT_DISTANCE,
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    leave_out: Collection[str] = (SOURCE_LANGUAGE,),
) -> SlopeFit:
    """The least-squares slope of per-language ``deltas`` against distance to English (a column of the table,
    `DISTANCES`, or a mapping language -> distance of the caller's), and its percentile bootstrap interval:
    ``resamples`` draws of the languages with replacement (a pairs bootstrap: language, delta and distance stay
    together) of the languages in sorted order, from ``numpy.random.default_rng(seed)``, so that the same
    inputs give the same interval whatever the order of ``deltas``. A
    draw whose languages share one distance has no slope and is dropped (counted in ``dropped``). The
    languages in ``leave_out`` (English: not zero-shot) and those without a distance are not fitted.

    A negative slope: the gain shrinks with distance. The interval treats languages as the sampled units; with
    a few languages it is wide, and it does not include the noise of each delta (seeds), which widens it
    further."""
    if not 0 < level < 1:
        raise ValueError(f"level: expected a value between 0 and 1, got {level}")
    if resamples < 1:
        raise ValueError(f"resamples: expected at least 1, got {resamples}")
    if isinstance(distance, str):
        if distance not in DISTANCES:
            raise ValueError(f"distance: expected one of {', '.join(DISTANCES)} or a mapping, got '{distance}'")
        table = _languages()
        distances = {code: item.distances[distance] for code, item in table.items() if distance in item.distances}
    else:
        distances = {code: float(value) for code, value in distance.items()}
    codes = sorted(code for code in deltas if code not in leave_out)
    fitted = [code for code in codes if code in distances]
    missing = tuple(code for code in codes if code not in distances)
    x = np.array([distances[code] for code in fitted], dtype=np.float64)
    y = np.array([float(deltas[code]) for code in fitted], dtype=np.float64)
    if len(fitted) < 3 or np.unique(x).size < 2:
        raise ValueError(
            f"a slope needs at least 3 languages with at least 2 different distances; have {len(fitted)} "
            f"({', '.join(fitted) or 'none'}){'; no distance for ' + ', '.join(missing) if missing else ''}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("deltas: not all finite")
    slope, intercept = _least_squares(x, y)
    rng = np.random.default_rng(seed)
    slopes = []
    dropped = 0
    for _ in range(resamples):
        pick = rng.integers(0, len(fitted), len(fitted))
        if np.ptp(x[pick]) == 0:
            dropped += 1
            continue
        slopes.append(_least_squares(x[pick], y[pick])[0])
    if not slopes:
        raise ValueError("no resample had two different distances; add languages")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(slopes, [tail, 100 - tail])
    return SlopeFit(
        slope=slope,
        intercept=intercept,
        low=float(low),
        high=float(high),
        level=level,
        languages=tuple(fitted),
        missing=missing,
        resamples=resamples,
        dropped=dropped,
    )
