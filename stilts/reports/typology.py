"""Where transfer works, from `stilts table --per-language TASK`'s cells: the target's languages grouped by family,
script or resource class (``--group-languages``), and each configuration's per-language delta to the baseline (or
score) regressed on the language's typological distance to English (``--distance``), as Lauscher et al. (2020,
"From Zero to Hero") relate zero-shot transfer to typology and pretraining data. The facts and the arithmetic are
`stilts.analysis.languages`'; this module lays them out as tables.

The language the target trains on (its declaration's ``source_language``, English) is never in a group or a fit:
its score is not zero-shot. It stays a column of its own in the grouped table, and the notes say so.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stilts.analysis import languages as lang
from stilts.core.errors import BadInput
from stilts.reports.aggregate import deltas, group_scores
from stilts.reports.order import config_parts, language_sort_key
from stilts.reports.render import MISSING, Grid, config_cells, config_header, number

#: what each grouping is, for the caption
GROUPING_WORDS = {
    "family": "language family (the top of its Glottolog lineage, from URIEL+; an isolate is its own family)",
    "script": "script (ISO 15924)",
    "resource_class": "resource class (Joshi et al. 2020: class 0, left behind, to 5, the most data)",
}
#: where the facts come from, for notes
TABLE_NAME = "stilts/analysis/languages.csv"


# ------------------------------------------------------------------------------------------- grouping


@dataclass
class Grouping:
    """The columns of a grouped per-language table."""

    #: every language of the target -> its column: its group, or itself for the source language
    groups: dict[str, str]
    #: a column -> its header in the text formats: ``Indo-European (6)``, the number of languages in brackets
    labels: dict[str, str]
    caption: str
    notes: list[str]


def language_grouping(languages: Sequence[str], by: str, source: str) -> Grouping:
    """``languages`` (those a target is scored in) grouped by ``by`` (one of `lang.GROUPINGS`); the ``source``
    language in no group, a column of its own first; the languages the table lacks in the group ``unknown``,
    named in a note."""
    present = sorted(set(languages), key=language_sort_key)
    members = lang.language_groups([code for code in present if code != source], by)
    groups: dict[str, str] = {}
    labels: dict[str, str] = {}
    notes = []
    if source in present:
        groups[source] = source
        labels[source] = f"{source} (source)"
        notes.append(f"{source} is in no group: the target trains on it, so its score is not zero-shot.")
    for group, codes in members.items():
        groups.update(dict.fromkeys(codes, group))
        labels[group] = f"{group} ({len(codes)})"
    notes.append("groups: " + "; ".join(f"{group}: {', '.join(codes)}" for group, codes in members.items()) + ".")
    if lang.UNKNOWN in members:
        notes.append(
            f"{lang.UNKNOWN}: {', '.join(members[lang.UNKNOWN])}, not in {TABLE_NAME}, so of no known "
            f"{by.replace('_', ' ')}."
        )
    caption = (
        f"languages grouped by {GROUPING_WORDS[by]}, (n) the number of languages in a group; a group's cell is "
        "the median over seeds of each run's mean over the group's languages, as Avg is over all of them"
    )
    return Grouping(groups, labels, caption, notes)


# ------------------------------------------------------------------------------------------- distance


@dataclass
class DistanceFits:
    """Per configuration, the line of its per-language values (deltas or scores) on distance to English."""

    distance: str
    delta: bool
    config_keys: list[str]
    #: configuration -> its fit; None where it has fewer than 3 languages with a value and a distance
    fits: dict[Hashable, lang.SlopeFit | None]
    #: configuration -> per fitted language (index): distance, value, and the value's interval (low, high; NaN
    #: without intervals), for the plot
    points: dict[Hashable, pd.DataFrame]
    caption: str
    notes: list[str] = field(default_factory=list)
    level: float | None = None
    #: the languages not fitted, each with why in a few words (``en``: ``source``), for the plot
    left_out: dict[str, str] = field(default_factory=dict)


def distance_fits(
    values: pd.DataFrame,
    *,
    target: str,
    split: str,
    distance: str,
    source: str,
    delta: bool,
    baseline,
    config_keys: Sequence[str],
    baseline_words: str = "",
    draws: Mapping[Hashable, pd.DataFrame] | None = None,
    level: float | None = None,
    seed: int = 0,
) -> DistanceFits:
    """The slope of each configuration's per-language cells of ``values`` (`aggregate.language_cells`; a QA
    target's language counting as mean(F1, EM)), or with ``delta`` of their differences to ``baseline``'s (every
    configuration but the baseline), on the ``distance`` of the language to English, with R² and Spearman's
    rho; and with ``draws`` (`bootstrap.cell_draws` of the same table, deltas when ``delta``) the ``level``%
    bootstrap interval of each slope, the languages drawn too (`lang.distance_slope`). The ``source`` language
    is left out. BadInput when fewer than 3 languages besides it have a distance."""
    cells = group_scores(values).drop(columns="avg")
    shown = deltas(cells, baseline) if delta else cells
    present = list(shown.columns)
    distances = {
        code: item.distances[distance] for code, item in lang.languages().items() if distance in item.distances
    }
    with_distance = [code for code in present if code != source and code in distances]
    missing = [code for code in present if code != source and code not in with_distance]
    if len(with_distance) < 3 or len({distances[code] for code in with_distance}) < 2:
        raise BadInput(
            f"--distance {distance}: a slope needs at least 3 languages at different distances to English; "
            f"{target} ({split}) has {len(with_distance)} besides {source} ({', '.join(with_distance) or 'none'})"
            + (f"; {', '.join(missing)} not in {TABLE_NAME}" if missing else "")
        )
    fits: dict[Hashable, lang.SlopeFit | None] = {}
    points: dict[Hashable, pd.DataFrame] = {}
    notes = []
    if source in present:
        notes.append(f"{source} is not in the fits: {target} trains on it, so its score is not zero-shot.")
    if missing:
        notes.append(f"no {distance} distance for {', '.join(missing)} (not in {TABLE_NAME}): not in the fits.")
    short = []
    tail = (1 - level / 100) / 2 if level else math.nan
    for config, row in shown.iterrows():
        row_values = {code: float(value) for code, value in row.items() if np.isfinite(value)}
        per_draw = None
        if draws is not None:
            frame = group_scores(draws[config])
            per_draw = {code: frame[code].to_numpy() for code in row_values}
        fittable = [code for code in row_values if code in with_distance]
        if len(fittable) < 3 or len({distances[code] for code in fittable}) < 2:
            fits[config] = None
            short.append(", ".join(config_cells(config, config_keys)))
            continue
        fit = lang.distance_slope(
            row_values, distance, draws=per_draw, level=level / 100 if level else 0.95, leave_out=(source,)
        )
        fits[config] = fit
        fitted = list(fit.languages)
        low = high = [math.nan] * len(fitted)
        if per_draw is not None and level:
            low = [float(np.quantile(per_draw[code], tail)) for code in fitted]
            high = [float(np.quantile(per_draw[code], 1 - tail)) for code in fitted]
        points[config] = pd.DataFrame(
            {
                "distance": [distances[code] for code in fitted],
                "value": [row_values[code] for code in fitted],
                "low": low,
                "high": high,
            },
            index=pd.Index(fitted, name="language"),
        )
    if short:
        notes.append(f"no slope for {'; '.join(short)}: fewer than 3 languages with a score there and a distance.")
    what = "difference to the baseline" if delta else "score"
    caption = (
        f"{target}, split {split}: least-squares slope of each configuration's per-language {what}"
        + (f" ({baseline_words})" if delta and baseline_words else "")
        + f" on its {distance} distance to English (URIEL+, angular, 0 = English), in points per unit of distance; "
        "Languages: how many were fitted; R²: the share of their variance the line explains; Spearman: the rank "
        "correlation of the same points"
    )
    if draws is not None and level:
        resamples = len(next(iter(draws.values()))) if draws else 0
        caption += (
            f". In brackets the {level:g}% paired bootstrap interval of the slope (* when it excludes 0): the line "
            f"re-fitted on each of {resamples} draws of the evaluation examples (the same draw for every "
            f"configuration) and of each configuration's seeds, as the table's intervals draw them (seed {seed}); "
            "the languages held fixed: how sure the slope over these languages is, not how it would come out on "
            "others"
        )
    left_out = ({source: "source"} if source in present else {}) | dict.fromkeys(missing, "no distance")
    return DistanceFits(distance, delta, list(config_keys), fits, points, caption + ".", notes, level, left_out)


def distance_grid(result: DistanceFits) -> Grid:
    """The slope table: a row per configuration, its slope (and interval), languages fitted, R², Spearman."""
    header = [*config_header(result.config_keys), "Slope", "Languages", "R²", "Spearman"]
    rows = []
    for config, fit in result.fits.items():
        cells = config_cells(config, result.config_keys)
        if fit is None:
            rows.append(cells + [MISSING] * 4)
            continue
        slope = number(fit.slope, signed=True)
        if fit.level is not None:
            mark = "*" if fit.low > 0 or fit.high < 0 else ""
            slope += f"{mark} [{number(fit.low, signed=True)}, {number(fit.high, signed=True)}]"
        rows.append(cells + [slope, str(len(fit.languages)), _two(fit.r2), _two(fit.spearman, signed=True)])
    notes = list(result.notes)
    if result.delta:
        notes.insert(0, "the baseline has no row: its differences to itself are 0.")
    return Grid(header, rows, right_from=len(result.config_keys), caption=result.caption, notes=notes)


def _two(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return MISSING
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def distance_csv(result: DistanceFits) -> str:
    """A row per configuration: its ``config_keys``, kind (delta|absolute), distance, slope, intercept (the
    line's value at distance 0), with intervals slope_low, slope_high, slope_significant, then languages (how
    many), fitted (their codes), r2, spearman; unrounded, empty where a configuration has no slope."""
    records = []
    for config, fit in result.fits.items():
        record: dict[str, object] = dict(config_parts(config, result.config_keys))
        if "mlm" in record:
            record["mlm"] = "true" if record["mlm"] else "false"
        record |= {"kind": "delta" if result.delta else "absolute", "distance": result.distance}
        record |= {
            "slope": fit.slope if fit else None,
            "intercept": fit.intercept if fit else None,
        }
        if result.level is not None:
            record |= {
                "slope_low": fit.low if fit else None,
                "slope_high": fit.high if fit else None,
                "slope_significant": "" if fit is None else str(bool(fit.low > 0 or fit.high < 0)).lower(),
            }
        record |= {
            "languages": len(fit.languages) if fit else 0,
            "fitted": " ".join(fit.languages) if fit else "",
            "r2": fit.r2 if fit else None,
            "spearman": fit.spearman if fit else None,
        }
        records.append(record)
    return pd.DataFrame.from_records(records).to_csv(index=False, lineterminator="\n")
