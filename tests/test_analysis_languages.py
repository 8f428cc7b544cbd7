"""stilts.analysis.languages: the shipped table covers every language of stilts' target tasks and says what it
should (spot checks against well-known facts), grouping by hand, and the distance slope with R², Spearman and
the interval of the slope re-fitted on bootstrap draws."""

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
    group_of,
    language,
    language_groups,
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
    codes = ["fr", "de", "ja", "xx", "de", "sw", "yo", "hi"]
    assert language_groups(codes, "family") == {
        "Atlantic-Congo": ("sw", "yo"),
        "Indo-European": ("de", "fr", "hi"),
        "Japonic": ("ja",),
        UNKNOWN: ("xx",),  # last, whatever its name sorts as
    }
    assert language_groups(codes, "script") == {
        "Deva": ("hi",),
        "Jpan": ("ja",),
        "Latn": ("de", "fr", "sw", "yo"),
        UNKNOWN: ("xx",),
    }
    # resource classes from the most data down
    assert list(language_groups(codes, "resource_class").items()) == [
        ("class 5", ("de", "fr", "ja")),
        ("class 4", ("hi",)),
        ("class 2", ("sw", "yo")),
        (UNKNOWN, ("xx",)),
    ]
    assert group_of("eu", "family") == "Basque" and group_of("xx", "script") == UNKNOWN
    with pytest.raises(ValueError, match="by: expected one of family, script, resource_class"):
        language_groups(codes, "continent")


def test_the_slope_by_hand():
    fit = distance_slope({"a": 1.0, "b": 3.0, "c": 2.0, "d": 5.0}, {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0})
    # x mean 1.5, y mean 2.75; sum dx dy = 5.5, sum dx^2 = 5
    assert fit.slope == pytest.approx(1.1) and fit.intercept == pytest.approx(1.1)
    assert fit.languages == ("a", "b", "c", "d") and fit.missing == ()
    # residuals -0.1, 0.8, -1.3, 0.6: SS_res 2.7 of SS_tot 8.75; ranks of y 1, 3, 2, 4 against 1, 2, 3, 4
    assert fit.r2 == pytest.approx(1 - 2.7 / 8.75) and fit.spearman == pytest.approx(0.8)
    assert math.isnan(fit.low) and math.isnan(fit.high) and fit.level is None and fit.resamples == 0  # no draws


def test_a_line_on_the_tables_distances_is_found_exactly():
    """deltas = 2 - 3 * syntactic distance: slope -3, and every resample finds the same line."""
    codes = ["de", "fr", "ja", "sw", "hi", "ru", "zh", "en", "xx"]
    deltas = {code: 2 - 3 * language(code).distances["syntactic"] for code in codes if code != "xx"} | {"xx": 9.0}
    fit = distance_slope(deltas, draws={code: [value] * 5 for code, value in deltas.items()})
    assert fit.slope == pytest.approx(-3) and fit.intercept == pytest.approx(2)
    assert fit.low == pytest.approx(-3) and fit.high == pytest.approx(-3)  # every draw the same line
    assert fit.r2 == pytest.approx(1) and fit.spearman == pytest.approx(-1)
    assert "en" not in fit.languages and fit.missing == ("xx",)  # English is not zero-shot; xx has no distance
    assert distance_slope(deltas, "genetic").slope != pytest.approx(-3)


def test_a_slope_needs_languages_at_different_distances():
    with pytest.raises(ValueError, match="at least 3 languages"):
        distance_slope({"de": 1.0, "fr": 2.0})
    with pytest.raises(ValueError, match="2 different distances"):
        distance_slope({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.5, "b": 0.5, "c": 0.5})
    with pytest.raises(ValueError, match="distance: expected one of"):
        distance_slope({"de": 1.0, "fr": 2.0, "ja": 3.0}, "phonological")


def test_the_interval_is_the_slope_refitted_on_each_draw():
    """With ``draws`` (each language's value on each bootstrap draw of its examples and seeds), the interval is
    the percentile interval of the slope fitted to each draw's values, the languages held fixed."""
    rng = np.random.default_rng(11)
    codes = [f"l{i}" for i in range(6)]  # fitted in sorted order, which is this one
    x = np.linspace(0.2, 0.7, 6)
    y = 5 - 10 * x
    draws = y[None, :] + rng.normal(0, 0.5, (300, 6))
    fit = distance_slope(
        dict(zip(codes, y)), dict(zip(codes, x)), draws={code: draws[:, i] for i, code in enumerate(codes)}, level=0.8
    )
    slopes = [np.polyfit(x, draw, 1)[0] for draw in draws]
    assert (fit.low, fit.high) == pytest.approx(tuple(np.percentile(slopes, [10, 90])), rel=1e-9)
    assert fit.slope == pytest.approx(-10) and fit.resamples == 300 and fit.level == 0.8
    assert fit.low < -10 < fit.high
    # a quarter of the noise, a quarter of the width
    quieter = distance_slope(
        dict(zip(codes, y)),
        dict(zip(codes, x)),
        draws={code: y[i] + (draws[:, i] - y[i]) / 4 for i, code in enumerate(codes)},
        level=0.8,
    )
    assert quieter.high - quieter.low == pytest.approx((fit.high - fit.low) / 4)
    with pytest.raises(ValueError, match="draws: none for l5"):
        distance_slope(dict(zip(codes, y)), dict(zip(codes, x)), draws={code: [0.0] for code in codes[:5]})
    with pytest.raises(ValueError, match="the same number"):
        distance_slope(
            dict(zip(codes, y)), dict(zip(codes, x)), draws={code: [0.0] * (i + 1) for i, code in enumerate(codes)}
        )
