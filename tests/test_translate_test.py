"""Translate-test (a `translate_test` stage after the target stage) through the tiny Marian model: each
language's evaluation data translated into English and scored against its original labels and ids, with
English scored as it is; rows labelled ``<configuration>/translate-test`` beside the zero-shot ones in
scores.csv and `stilts table` (--ci pairs their per-example rows); the translation cache shared by every
seed (a second seed's stage translates nothing) and kept through an interruption (the resumed run
translates no string twice and scores what an uninterrupted one does); a change of MT model a new stage;
formats whose labels do not survive translation, and bad MT settings, refused in one line before
anything runs; `stilts sweep`'s translate_test: true."""

import csv
import json
import os
import shutil
import signal

import pytest
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.core.interrupts import Interrupted
from stilts.translate import translation

TRAINING = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 4}
#: short outputs and greedy search keep the random MT model fast
MT = {"beams": 1, "max_translation_length": 12, "translation_batch_size": 8}


def _pipeline(path, tiny_model, data, mt_model, *, seed=1, name="tt", task="xnli", translate=None, training=None):
    config = {
        "name": name,
        "model": str(tiny_model),
        "seed": seed,
        "data": {key: str(folder) for key, folder in data.items()},
        "stages": [
            {"kind": "target", "task": task, **(training or TRAINING)},
            {"kind": "evaluate", "task": task},
            {"kind": "translate_test", "task": task, "mt_model": str(mt_model), **MT, **(translate or {})},
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _rows(out) -> list[dict]:
    with open(out / "scores.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _stage(out, kind):
    (folder,) = [path for path in out.glob(f"{kind}-*") if path.is_dir()]
    return folder


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    from stilts.testing import build_tiny_marian

    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A translation cache of this module's own (the session's is shared with other tests)."""
    folder = tmp_path_factory.mktemp("translations")
    before = os.environ.get("STILTS_TRANSLATION_CACHE")
    os.environ["STILTS_TRANSLATION_CACHE"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("STILTS_TRANSLATION_CACHE", None)
    else:
        os.environ["STILTS_TRANSLATION_CACHE"] = before


@pytest.fixture(scope="module")
def tt_run(tmp_path_factory, tiny_model, tiny_nli, tiny_marian, cache_dir):
    """target (xnli) -> evaluate -> translate_test through the tiny Marian model, seed 1."""
    folder = tmp_path_factory.mktemp("translate-test")
    path = _pipeline(folder / "tt.yaml", tiny_model, tiny_nli, tiny_marian)
    from stilts.cli import main

    with pytest.raises(SystemExit) as done:
        main(["run", str(path), "--output-dir", str(folder / "out")])
    assert done.value.code == 0
    return path, folder / "out"


def _cache(cache_dir) -> dict[str, str]:
    return {row["src"]: row["tgt"] for path in cache_dir.glob("*.jsonl") for row in _jsonl(path)}


# ----------------------------------------------------------------------------- end to end


def test_each_language_is_translated_scored_against_its_own_labels_and_english_as_it_is(tt_run, tiny_nli, cache_dir):
    _, out = tt_run
    stage = _stage(out, "translate_test")
    task = get_task("xnli")
    cache = _cache(cache_dir)
    assert sorted(path.name for path in (stage / "translations").iterdir()) == [
        "dev-de.jsonl",
        "dev-fr.jsonl",
        "test-de.jsonl",
        "test-fr.jsonl",
    ]  # English is not translated
    for split in ("dev", "test"):
        for language in ("de", "fr"):
            original = task.read_local(tiny_nli["xnli"], split, language)
            translated = _jsonl(stage / "translations" / f"{split}-{language}.jsonl")
            assert len(translated) == len(original) == 24
            for before, after in zip(original, translated, strict=True):
                assert (after["id"], after["label"]) == (before["id"], before["label"])
                assert after["text_a"] == cache[before["text_a"]] and after["text_b"] == cache[before["text_b"]]
            assert not {e["text_a"] for e in translated} & {e["text_a"] for e in original}  # really replaced
            # the rows scored: the translated texts, the original ids and gold labels
            rows = _jsonl(stage / "predictions" / f"{split}-{language}.examples.jsonl")
            assert [row["id"] for row in rows] == [example["id"] for example in original]
            assert [row["gold"] for row in rows] == [example["label"] for example in original]
            assert [row["text"]["text_a"] for row in rows] == [example["text_a"] for example in translated]
            assert all(set(row["probabilities"]) == set(task.labels) for row in rows)
    english = _jsonl(stage / "predictions" / "dev-en.examples.jsonl")
    zero_shot = _jsonl(_stage(out, "evaluate") / "predictions" / "dev-en.examples.jsonl")
    assert english == zero_shot  # the same model on the same English examples
    metrics = json.loads((stage / "metrics.json").read_text())
    assert sorted(metrics["translated"]) == ["de", "fr"] and metrics["untranslated"] == "en"
    assert metrics["translated"]["de"]["strings"] == 38 and metrics["translated"]["de"]["translated_now"] == 38
    assert metrics["label"] == "xnli translate-test"


def test_scores_csv_has_translate_test_rows_beside_the_zero_shot_ones(tt_run):
    _, out = tt_run
    rows = _rows(out)
    zero_shot = [row for row in rows if row["intermediate"] == "none"]
    translated = [row for row in rows if row["intermediate"] == "none/translate-test"]
    assert {row["stage"] for row in zero_shot} == {_stage(out, "evaluate").name}
    assert {row["stage"] for row in translated} == {_stage(out, "translate_test").name}
    key = lambda row: (row["split"], row["language"], row["metric"])  # noqa: E731
    assert sorted(map(key, translated)) == sorted(map(key, zero_shot))  # the same languages and splits
    assert {row["seed"] for row in translated} == {"1"} and {row["pipeline"] for row in translated} == {"tt"}
    english = {key(row): row["value"] for row in translated if row["language"] == "en"}
    assert english == {key(row): row["value"] for row in zero_shot if row["language"] == "en"}
    # each row is what its per-example rows give
    stage = _stage(out, "translate_test")
    for row in translated:
        examples = _jsonl(stage / "predictions" / f"{row['split']}-{row['language']}.examples.jsonl")
        correct = sum(numerator for numerator, _ in (example["metrics"]["accuracy"] for example in examples))
        assert float(row["value"]) == pytest.approx(100 * correct / len(examples))


def test_stilts_table_shows_both_rows_and_pairs_them_for_intervals(tt_run, capsys):
    _, out = tt_run
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--split", "test"], capsys)
    assert code == 0, stderr
    lines = [line for line in stdout.splitlines() if line.startswith("| none")]
    assert [line.split("|")[1].strip() for line in lines] == ["none", "none/translate-test"]
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--split", "test", "--delta", "--ci", "95"], capsys)
    assert code == 0, stderr
    (line,) = [line for line in stdout.splitlines() if line.startswith("| none/translate-test")]
    assert "[" in line  # an interval from the per-example rows of both stages, paired
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--per-language", "xnli"], capsys)
    assert code == 0, stderr
    assert "none/translate-test" in stdout
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--best"], capsys)
    assert code == 0, stderr
    assert "--best leaves out the translate-test rows (none/translate-test)" in stderr
    assert "translate-test" not in stdout  # benchmark scores are zero-shot


def test_a_second_seed_reuses_every_translation_without_calling_the_model(
    tt_run, tiny_model, tiny_nli, tiny_marian, cache_dir, capsys, monkeypatch
):
    path, out = tt_run
    calls = []
    monkeypatch.setattr(translation, "translate_batch", lambda translator, texts: calls.append(texts) or [])
    second = _pipeline(path.parent / "tt2.yaml", tiny_model, tiny_nli, tiny_marian, seed=2)
    code, stdout, stderr = run_cli(["run", second, "--output-dir", out], capsys)
    assert code == 0, stderr
    assert calls == []  # no string went to the MT model
    assert "38 distinct strings: 38 already translated (cache), 0 to translate" in stdout
    stages = sorted(out.glob("translate_test-*"))
    assert len(stages) == 2  # seed 2's is a stage of its own (its model is another), translated the same
    for name in ("dev-de.jsonl", "test-fr.jsonl"):
        first, other = ((stage / "translations" / name).read_text() for stage in stages)
        assert first == other
    seeds = {row["seed"] for row in _rows(out) if row["intermediate"] == "none/translate-test"}
    assert seeds == {"1", "2"}


def test_an_interrupted_translation_resumes_translating_no_string_twice(
    tt_run, tiny_model, tiny_nli, tiny_marian, tmp_path, capsys, monkeypatch
):
    """The same pipeline in a new run folder with an empty cache, stopped by SIGINT in the third batch of
    translations, then run again: each string goes to the MT model once, and the scores are those of
    the uninterrupted run."""
    monkeypatch.setenv("STILTS_TRANSLATION_CACHE", str(tmp_path / "cache"))
    real_batch = translation.translate_batch
    sent: list[str] = []
    stopped = []

    def stopped_in_third_batch(translator, texts):
        if len(sent) == 2 * MT["translation_batch_size"] and not stopped:
            stopped.append(True)
            raise Interrupted(signal.SIGINT)
        sent.extend(texts)
        return real_batch(translator, texts)

    monkeypatch.setattr(translation, "translate_batch", stopped_in_third_batch)
    path = _pipeline(tmp_path / "tt.yaml", tiny_model, tiny_nli, tiny_marian)
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 130, stderr
    assert "kept: every batch of translations finished" in stderr and "run the same command again" in stderr
    stage = _stage(tmp_path / "out", "translate_test")
    assert not (stage / "COMPLETE").exists()
    (cache_file,) = (tmp_path / "cache").glob("*.jsonl")
    assert len(_jsonl(cache_file)) == 16  # two batches of 8 were saved

    first = list(sent)
    code, stdout, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert "38 distinct strings: 16 already translated (cache), 22 to translate" in stdout
    assert len(sent) == len(set(sent)) == 38 + 38  # de's and fr's strings, each once across both runs
    assert set(sent[len(first) :]).isdisjoint(first)
    resumed = {
        (r["split"], r["language"]): r["value"] for r in _rows(tmp_path / "out") if "translate" in r["intermediate"]
    }
    _, uninterrupted_out = tt_run
    expected = {
        (r["split"], r["language"]): r["value"]
        for r in _rows(uninterrupted_out)
        if "translate" in r["intermediate"] and r["seed"] == "1"
    }
    assert resumed == expected
    for name in ("dev-de.jsonl", "test-fr.jsonl"):
        assert (stage / "translations" / name).read_text() == (
            _stage_of_seed(uninterrupted_out, 1) / "translations" / name
        ).read_text()


def _stage_of_seed(out, seed):
    for folder in out.glob("translate_test-*"):
        if json.loads((folder / "config.json").read_text())["settings"]["seed"] == seed:
            return folder
    raise AssertionError(f"no translate_test stage of seed {seed}")


# ----------------------------------------------------------------------------- fingerprints


def _planned(path):
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline

    pipeline, base_dir = load_pipeline(path)
    stages, _ = plan_pipeline(pipeline, base_dir, path.parent / "runs", str(path))
    return {stage.kind: stage for stage in stages}


def test_another_mt_model_is_another_stage_the_same_model_elsewhere_is_not(tmp_path, tiny_model, tiny_nli, tiny_marian):
    first = _planned(_pipeline(tmp_path / "a.yaml", tiny_model, tiny_nli, tiny_marian))
    moved = shutil.copytree(tiny_marian, tmp_path / "models" / "marian")
    same = _planned(_pipeline(tmp_path / "b.yaml", tiny_model, tiny_nli, "models/marian"))  # relative to the YAML
    assert same["translate_test"].fingerprint == first["translate_test"].fingerprint
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "dropout": 0.3}))  # another model
    other = _planned(_pipeline(tmp_path / "c.yaml", tiny_model, tiny_nli, moved))
    assert other["translate_test"].fingerprint != first["translate_test"].fingerprint
    assert other["target"].fingerprint == first["target"].fingerprint  # only the translate-test runs again
    beams = _planned(_pipeline(tmp_path / "d.yaml", tiny_model, tiny_nli, tiny_marian, translate={"beams": 2}))
    assert beams["translate_test"].fingerprint != first["translate_test"].fingerprint
    batch = _planned(
        _pipeline(tmp_path / "e.yaml", tiny_model, tiny_nli, tiny_marian, translate={"translation_batch_size": 3})
    )
    assert batch["translate_test"].fingerprint == first["translate_test"].fingerprint


def test_a_model_per_language_from_the_pattern_or_the_overrides(tmp_path, tiny_model, tiny_nli, tiny_marian):
    for language in ("de", "fr"):
        shutil.copytree(tiny_marian, tmp_path / f"opus-mt-{language}-en")
    (tmp_path / "opus-mt-de-en" / "extra.txt").write_text("another model")
    planned = _planned(
        _pipeline(
            tmp_path / "p.yaml",
            tiny_model,
            tiny_nli,
            "opus-mt-{lang}-en",
            translate={"languages": ["en", "de", "fr"], "mt_models": {"fr": str(tiny_marian)}},
        )
    )
    stage = planned["translate_test"]
    assert sorted(stage.settings["mt_models"]) == ["de", "fr"]  # English is scored as it is
    assert stage.config._locations == {"de": str(tmp_path / "opus-mt-de-en"), "fr": str(tiny_marian)}
    assert stage.settings["mt_models"]["de"] != stage.settings["mt_models"]["fr"]


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "task, message",
    [
        ("udpos", "not 'udpos' (tagging): its tags belong to the original words"),
        ("xquad", "not 'xquad' (span_qa): its answers are character spans"),
        ("tatoeba", "not 'tatoeba' (retrieval)"),
    ],
)
def test_formats_whose_labels_do_not_survive_translation_are_refused_before_anything_runs(
    tmp_path, tiny_model, tiny_marian, capsys, task, message
):
    stages = [{"kind": "target", "task": task}] if get_task(task).format.trains else []
    config = {
        "name": "refused",
        "model": str(tiny_model),
        "stages": [
            *stages,
            {"kind": "evaluate", "task": task},
            {"kind": "translate_test", "task": task, "mt_model": str(tiny_marian)},
        ],
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(config))
    code, _, stderr = run_cli(["run", tmp_path / "p.yaml", "--output-dir", tmp_path / "out"], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and f"stages[{len(stages) + 1}].task: translate-test scores" in stderr
    assert message in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"mt_model": "opus-mt-{language}-en"}, "mt_model: '{language}' in 'opus-mt-{language}-en' is no placeholder"),
        ({"mt_model": "./no-such-{lang}"}, "stages[2].mt_model (ar): no such folder"),
        ({"mt_model": "./no-such-{lang}"}, "give ar's model in mt_models, or name the languages to score"),
        ({"mt_model": "./no-such-{lang}", "languages": ["de"]}, "stages[2].mt_model (de): no such folder"),
        ({"mt_models": {"en": "x"}}, "mt_models.en: en is xnli's source language, scored as it is"),
        ({"mt_models": {"xx": "x"}}, "mt_models.xx: 'xx' is not a language of xnli"),
        ({"prefix": ">>{lang}{x}<< "}, "prefix: '{x}'"),
    ],
)
def test_bad_mt_settings_are_refused_in_one_line(
    tmp_path, tiny_model, tiny_nli, tiny_marian, capsys, settings, message
):
    path = _pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, tiny_marian, translate=settings)
    code, _, stderr = run_cli(["run", path, "--dry-run"], capsys)
    assert code == 2 and stderr.count("\n") == 1
    assert message in stderr


def test_an_encoder_is_no_mt_model(tmp_path, tiny_model, tiny_nli, capsys):
    path = _pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, tiny_model)
    code, _, stderr = run_cli(["run", path, "--dry-run"], capsys)
    assert code == 2 and "is not a seq2seq (encoder-decoder) model" in stderr


def test_a_hub_mt_model_that_cannot_be_had_offline_is_refused_before_training(tmp_path, tiny_model, tiny_nli, capsys):
    path = _pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, "Helsinki-NLP/opus-mt-{lang}-en")
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 2 and stderr.count("\n") == 1
    assert "stages[2].mt_model (" in stderr and "Helsinki-NLP/opus-mt-" in stderr
    assert not list((tmp_path / "out").glob("target-*"))  # nothing trained


def test_a_planning_unit_refusal_names_the_stage():
    from stilts.translate.evaluation import check_translate_test_format

    with pytest.raises(BadInput, match=r"^here: translate-test scores .* not 'xglue_wpr' \(graded_ranking\)"):
        check_translate_test_format(get_task("xglue_wpr"), "here")
    check_translate_test_format(get_task("xcopa"), "here")  # multiple choice
    check_translate_test_format(get_task("pawsx"), "here")  # sentence pairs


# ----------------------------------------------------------------------------- multiple choice


def test_multiple_choice_translates_the_premise_and_every_choice(
    tmp_path, tiny_model, tiny_marian, capsys, monkeypatch
):
    monkeypatch.setenv("STILTS_TRANSLATION_CACHE", str(tmp_path / "cache"))
    xcopa = tmp_path / "xcopa"
    xcopa.mkdir()

    def row(i, premise, label):
        return {
            "premise": premise,
            "choice1": f"The toilet filled with water {i}.",
            "choice2": "Water flowed from the spout.",
            "question": ("cause", "effect")[i % 2],
            "label": label,
            "idx": i,
        }

    def write(name, rows):
        (xcopa / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    write("train-en.jsonl", [row(i, "The man turned on the faucet.", i % 2) for i in range(8)])
    write("val-en.jsonl", [row(i, "The man turned on the faucet.", i % 2) for i in range(4)])
    write("val-et.jsonl", [row(i, "Mees keeras kraani lahti.", (i + 1) % 2) for i in range(4)])
    training = {"learning_rate": 1e-3, "batch_size": 4, "max_steps": 2, "validate_every": 1, "max_length": 48}
    path = _pipeline(
        tmp_path / "p.yaml",
        tiny_model,
        {"copa": xcopa, "xcopa": xcopa},
        tiny_marian,
        task="xcopa",
        training=training,
        translate={"max_length": 48, "languages": ["et"], "splits": ["dev"]},
    )
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    stage = _stage(tmp_path / "out", "translate_test")
    original = get_task("xcopa").read_local(xcopa, "dev", "et")
    translated = _jsonl(stage / "translations" / "dev-et.jsonl")
    cache = _cache(tmp_path / "cache")
    for before, after in zip(original, translated, strict=True):
        assert (after["id"], after["label"]) == (before["id"], before["label"])
        assert after["context"] == cache[before["context"]]
        assert after["choices"] == [cache[choice] for choice in before["choices"]]
    rows = [r for r in _rows(tmp_path / "out") if r["intermediate"] == "none/translate-test"]
    assert {(r["split"], r["language"]) for r in rows} == {("dev", "et")}


# ----------------------------------------------------------------------------- stilts sweep


def _sweep(path, tiny_model, tiny_nli, tiny_marian, **extra):
    config = {
        "name": "tt_grid",
        "model": str(tiny_model),
        "data": {key: str(folder) for key, folder in tiny_nli.items()},
        "stages": {"target": TRAINING, "translate_test": {"mt_model": str(tiny_marian), **MT}},
        "matrix": {"intermediate": ["none"], "target": ["xnli"], "seed": [1]},
        "translate_test": True,
        **extra,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_sweep_with_translate_test_gives_every_pipeline_both_rows(
    tmp_path, tiny_model, tiny_nli, tiny_marian, capsys, monkeypatch
):
    monkeypatch.setenv("STILTS_TRANSLATION_CACHE", str(tmp_path / "cache"))
    path = _sweep(tmp_path / "grid.yaml", tiny_model, tiny_nli, tiny_marian)
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stdout + stderr
    rows = _rows(tmp_path / "out")
    assert {(r["pipeline"], r["intermediate"]) for r in rows} == {
        ("none-xnli-s1", "none"),
        ("none-xnli-s1", "none/translate-test"),
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"stages": {"target": TRAINING}}, "translate_test: give the MT model"),
        ({"matrix": {"target": ["udpos"]}}, "translate_test: no target of the matrix is a classification"),
    ],
)
def test_a_sweep_refuses_translate_test_it_cannot_run(
    tmp_path, tiny_model, tiny_nli, tiny_marian, capsys, change, message
):
    path = _sweep(tmp_path / "grid.yaml", tiny_model, tiny_nli, tiny_marian, **change)
    code, _, stderr = run_cli(["sweep", path, "--dry-run"], capsys)
    assert code == 2 and stderr.count("\n") == 1 and message in stderr


def test_a_prefix_with_the_language_is_one_cache_and_one_translator_per_language(
    tt_run, tiny_model, tiny_nli, tiny_marian, tmp_path, capsys, monkeypatch
):
    """One MT model for every language, told the language in each source string (`prefix`, as
    multilingual OPUS-MT models take it): each language is translated with its own prefix, cached apart."""
    path, out = tt_run
    monkeypatch.setenv("STILTS_TRANSLATION_CACHE", str(tmp_path / "cache"))
    prefixed: list[str] = []
    real_batch = translation.translate_batch
    monkeypatch.setattr(
        translation,
        "translate_batch",
        lambda translator, texts: prefixed.append(translator.prefix) or real_batch(translator, texts),
    )
    settings = {"prefix": ">>{lang}<< ", "max_examples": 4, "languages": ["de", "fr"]}
    # another pipeline name: its rows do not replace the fixture's; its target stage is the fixture's
    pipeline = _pipeline(
        path.parent / "prefix.yaml", tiny_model, tiny_nli, tiny_marian, name="prefixed", translate=settings
    )
    code, _, stderr = run_cli(["run", pipeline, "--output-dir", out], capsys)
    assert code == 0, stderr
    assert set(prefixed) == {">>de<< ", ">>fr<< "}
    identities = [json.loads(info.read_text()) for info in (tmp_path / "cache").glob("*.json")]
    assert sorted(identity["prefix"] for identity in identities) == [">>de<< ", ">>fr<< "]


def test_the_seeds_average_gets_a_translate_test_row_of_its_own(tmp_path, tiny_model, tiny_nli, tiny_marian):
    """With average_seeds, the average's pipeline scores translate-test too; its rows say both settings
    and the seeds averaged."""
    from stilts.cli.common import plan_sweep_file
    from stilts.pipeline.stage_kinds import STAGE_KINDS, RunContext

    path = _sweep(
        tmp_path / "grid.yaml",
        tiny_model,
        tiny_nli,
        tiny_marian,
        average_seeds=True,
        stages={"target": {**TRAINING, "init_seed": 1}, "translate_test": {"mt_model": str(tiny_marian), **MT}},
        matrix={"intermediate": ["none"], "target": ["xnli"], "seed": [1, 2]},
    )
    plans = plan_sweep_file(path, (), tmp_path / "out").plans
    kinds = {pipeline.name: [stage.kind for stage in stages] for pipeline, stages, _ in plans}
    assert kinds["none-xnli-s1"] == ["target", "evaluate", "translate_test"]
    assert kinds["none-xnli-s1+2"] == ["target", "target", "average", "evaluate", "translate_test"]
    pipeline, stages, _ = next(plan for plan in plans if plan[0].name == "none-xnli-s1+2")
    context = RunContext(pipeline, "", {}, tmp_path / "out", accelerator=None)
    metrics = {"task": "xnli", "scores": {"test": {"de": {"accuracy": 50.0}}}}
    rows = {
        kind: STAGE_KINDS.get(kind).runner.score_rows(metrics, stages[-1 if kind == "translate_test" else -2], context)
        for kind in ("evaluate", "translate_test")
    }
    assert [(row["intermediate"], row["seed"]) for row in rows["evaluate"]] == [("none/seed-average", "1+2")]
    assert [(row["intermediate"], row["seed"]) for row in rows["translate_test"]] == [
        ("none/seed-average/translate-test", "1+2")
    ]
