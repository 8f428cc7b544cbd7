"""stilts.analysis.languages: the shipped table covers every language of stilts' target tasks and says what it
should (spot checks against well-known facts), grouping by hand, and the distance slope with its seeded
bootstrap interval."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from stilts.analysis.languages import (
    DISTANCES,
    TABLE_FILE,
    UNKNOWN,
    distance_slope,
    group_languages,
    language,
    language_table,
    languages,
)
from stilts.core.catalog import TASKS
from stilts.core.registry import load_plugins

ROOT = Path(__file__).resolve().parents[1]


def test_every_language_of_a_target_task_is_in_the_table():
    load_plugins()
    used = {
        code
        for _, task in TASKS.items()
        if task.phases & {"target", "evaluate"}
        for code in (*task.languages, task.source_language)
    }
    assert len(used) >= 40
    assert sorted(used - set(languages())) == []


def test_the_table_is_well_formed_and_names_its_sources():
    table = language_table()
    assert table.index.is_unique and len(table) == 43
    assert set(table["resource_class"]) <= set(range(6))
    assert all(re.fullmatch(r"[A-Z][a-z]{3}", script) for script in table["script"])  # ISO 15924
    assert all(re.fullmatch(r"[a-z]{4}\d{4}", code) for code in table["glottocode"])
    for name in DISTANCES:
        assert table[name].between(0, 1).all(), name  # every language has every distance, all in [0, 1]
        assert table.loc["en", name] == 0 and (table.drop(index="en")[name] > 0).all()
    header = "".join(line for line in TABLE_FILE.read_text(encoding="utf-8").splitlines(True) if line.startswith("#"))
    for source in ("tools/make_language_table.py", "Glottolog", "ISO 15924", "Joshi et al. (2020)", "URIEL+"):
        assert source in header
    # shipped with the package
    assert '"stilts.analysis" = ["*.csv"]' in (ROOT / "pyproject.toml").read_text()


def test_the_table_says_what_is_well_known():
    families = {code: language(code).family for code in ("en", "de", "hi", "fi", "ja", "eu", "sw", "ar", "zh")}
    assert families == {
        "en": "Indo-European",
        "de": "Indo-European",
        "hi": "Indo-European",
        "fi": "Uralic",
        "ja": "Japonic",
        "eu": "Basque",  # an isolate is its own family
        "sw": "Atlantic-Congo",  # Glottolog has no Niger-Congo
        "ar": "Afro-Asiatic",
        "zh": "Sino-Tibetan",
    }
    scripts = {code: language(code).script for code in ("en", "ru", "ar", "hi", "ja", "ko", "zh", "el", "th")}
    assert scripts == {
        "en": "Latn",
        "ru": "Cyrl",
        "ar": "Arab",
        "hi": "Deva",
        "ja": "Jpan",
        "ko": "Hang",
        "zh": "Hans",
        "el": "Grek",
        "th": "Thai",
    }
    # Joshi et al.'s winners, and some of the left-behind end
    assert {code for code, item in languages().items() if item.resource_class == 5} == {
        *("ar", "de", "en", "es", "fr", "ja", "zh"),
    }
    assert (
        language("sw").resource_class == 2 and language("yo").resource_class == 2 and language("qu").resource_class == 1
    )
    # German and Dutch are syntactically closer to English than Japanese and Korean; and genetically too
    for near in ("de", "nl"):
        for far in ("ja", "ko"):
            for name in ("syntactic", "genetic"):
                assert language(near).distances[name] < language(far).distances[name]
    with pytest.raises(KeyError, match="'xx' is not in languages.csv"):
        language("xx")


def test_grouping_by_hand():
    values = {"de": 1.0, "fr": 3.0, "ja": 5.0, "xx": 7.0}
    by_family = group_languages(values, "family")
    assert list(by_family.index) == ["Indo-European", "Japonic", UNKNOWN]
    assert by_family.loc["Indo-European"].to_dict() == {
        "count": 2,
        "mean": 2.0,
        "min": 1.0,
        "max": 3.0,
        "languages": "de, fr",
    }
    assert by_family.loc[UNKNOWN, "languages"] == "xx"
    by_script = group_languages(values, "script")
    assert by_script["count"].to_dict() == {"Jpan": 1, "Latn": 2, UNKNOWN: 1}
    by_class = group_languages({"de": 1.0, "sw": 2.0, "yo": 4.0}, "resource_class")
    assert by_class["mean"].to_dict() == {"2": 3.0, "5": 1.0}
    with pytest.raises(ValueError, match="by: expected one of family, script, resource_class"):
        group_languages(values, "continent")


def test_the_slope_by_hand():
    fit = distance_slope({"a": 1.0, "b": 3.0, "c": 2.0, "d": 5.0}, {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})
    # x mean 1.5, y mean 2.75; sum dx dy = 5.5, sum dx^2 = 5
    assert fit.slope == pytest.approx(1.1) and fit.intercept == pytest.approx(1.1)
    assert fit.low <= fit.slope <= fit.high and fit.languages == ("a", "b", "c", "d") and fit.missing == ()


def test_a_line_on_the_tables_distances_is_found_exactly():
    """deltas = 2 - 3 * syntactic distance: slope -3, and every resample finds the same line."""
    codes = ["de", "fr", "ja", "sw", "hi", "ru", "zh", "en", "xx"]
    deltas = {code: 2 - 3 * language(code).distances["syntactic"] for code in codes if code != "xx"} | {"xx": 9.0}
    fit = distance_slope(deltas)
    assert fit.slope == pytest.approx(-3) and fit.intercept == pytest.approx(2)
    assert fit.low == pytest.approx(-3) and fit.high == pytest.approx(-3)
    assert "en" not in fit.languages and fit.missing == ("xx",)  # English is not zero-shot; xx has no distance
    assert distance_slope(deltas, "genetic").slope != pytest.approx(-3)


def test_the_bootstrap_is_the_seeded_pairs_bootstrap():
    rng = np.random.default_rng(5)
    x = rng.uniform(0.3, 0.7, 12)
    y = 1 - 4 * x + rng.normal(0, 0.3, 12)
    codes = [f"l{i:02d}" for i in range(12)]  # fitted in sorted order, which is this one
    deltas, distances = dict(zip(codes, y)), dict(zip(codes, x))
    fit = distance_slope(deltas, distances, resamples=500, seed=7, level=0.9)
    # written out: 500 draws of 12 languages with replacement from default_rng(7), the 5th and 95th percentiles
    draws = np.random.default_rng(7)
    slopes = []
    for _ in range(500):
        pick = draws.integers(0, 12, 12)
        if np.ptp(x[pick]) > 0:
            slopes.append(np.polyfit(x[pick], y[pick], 1)[0])
    assert (fit.low, fit.high) == pytest.approx(tuple(np.percentile(slopes, [5, 95])), rel=1e-9)
    assert fit.slope == pytest.approx(np.polyfit(x, y, 1)[0]) and fit.low < fit.slope < fit.high < 0
    assert distance_slope(deltas, distances, resamples=500, seed=7, level=0.9) == fit
    assert distance_slope(deltas, distances, resamples=500, seed=8, level=0.9).low != fit.low
    # with few languages, a draw of one repeated language has no slope and is dropped
    few = distance_slope({"a": 0.0, "b": 1.0, "c": 0.5}, {"a": 0.0, "b": 1.0, "c": 2.0}, resamples=300)
    assert few.dropped > 0 and few.resamples == 300 and not math.isnan(few.low)


def test_a_slope_needs_languages_at_different_distances():
    with pytest.raises(ValueError, match="at least 3 languages"):
        distance_slope({"de": 1.0, "fr": 2.0})
    with pytest.raises(ValueError, match="2 different distances"):
        distance_slope({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.5, "b": 0.5, "c": 0.5})
    with pytest.raises(ValueError, match="distance: expected one of"):
        distance_slope({"de": 1.0, "fr": 2.0, "ja": 3.0}, "phonological")
