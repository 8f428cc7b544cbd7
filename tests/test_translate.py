"""`stilts translate` on a tiny random Marian model: field mapping, the crash-safe cache, refusals,
translated data as intermediate task `<task>@<lang>`, and the BLEU check."""

import csv
import json
import re

import pytest
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.pipeline.engine import resolve_data_sources
from stilts.translate import translation
from stilts.translate.cache import TranslationCache
from stilts.translate.fields import (
    apply_translations,
    check_translatable,
    collect_texts,
)

# short outputs and greedy search keep the random model fast
FAST = ["--beams", "1", "--max-length", "8", "--batch-size", "4"]


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    from stilts.testing import build_tiny_marian

    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian"))


@pytest.fixture(scope="module")
def translator(tiny_marian):
    return translation.load_translator(str(tiny_marian), beams=1, max_length=8, batch_size=4)


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _cache_file(cache_dir):
    (path,) = cache_dir.glob("*.jsonl")
    return path


def _write_hellaswag(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "ind": 7,
            "ctx": "A man is reading a newspaper.",
            "label": 2,
            "endings": ["He folds it.", "The cat sleeps.", "He reads on.", "He folds it."],
        },
        {
            "ind": 8,
            "ctx": "The weather was cold.",
            "label": 0,
            "endings": ["She wore a coat.", "He reads on.", "The cat sleeps.", "Two dogs run."],
        },
    ]
    (folder / "hellaswag_train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


# ----------------------------------------------------------------------------- field mapping


def test_text_fields_of_pairs_and_choices_others_copied():
    assert get_task("mnli").format.text_fields == ("text_a", "text_b")
    assert get_task("hellaswag").format.text_fields == ("context", "choices")
    pairs = [
        {"id": "1", "text_a": "a cat", "text_b": "a dog", "label": "neutral"},
        {"id": "2", "text_a": "a cat", "text_b": None, "label": "entailment"},
    ]
    assert collect_texts(pairs, ("text_a", "text_b")) == ["a cat", "a dog"]  # de-duplicated, in order
    translated = apply_translations(pairs, ("text_a", "text_b"), {"a cat": "eine Katze", "a dog": "ein Hund"})
    assert translated == [
        {"id": "1", "text_a": "eine Katze", "text_b": "ein Hund", "label": "neutral"},
        {"id": "2", "text_a": "eine Katze", "text_b": None, "label": "entailment"},
    ]
    assert pairs[0]["text_a"] == "a cat"  # the originals are not touched
    choices = [{"id": "7", "context": "x", "choices": ["y", "x", "z"], "label": 1}]
    assert collect_texts(choices, ("context", "choices")) == ["x", "y", "z"]
    assert apply_translations(choices, ("context", "choices"), {"x": "X", "y": "Y", "z": "Z"}) == [
        {"id": "7", "context": "X", "choices": ["Y", "X", "Z"], "label": 1}
    ]
    with pytest.raises(BadInput, match="field 'choices' is a int"):
        collect_texts([{"id": "3", "context": "x", "choices": 3}], ("context", "choices"))


@pytest.mark.parametrize(
    "name, message",
    [
        ("ccg", "no text fields"),
        ("panx", "no text fields"),
        ("tatoeba", "and tatoeba is neither"),
    ],
)
def test_untranslatable_tasks_are_refused(name, message):
    with pytest.raises(BadInput, match=message):
        check_translatable(get_task(name))


@pytest.mark.parametrize("name", ["squad_v1", "xnli", "xquad", "pawsx", "xcopa"])
def test_qa_and_targets_that_train_are_translatable(name):
    check_translatable(get_task(name))


def test_cli_refuses_tagging_with_one_line(tmp_path, capsys):
    code, _, stderr = run_cli(
        [
            "translate",
            "--task",
            "panx",
            "--model",
            tmp_path / "no-model",
            "--to",
            "de",
            "--output",
            tmp_path / "out",
        ],
        capsys,
    )
    assert code == 2
    assert stderr.count("\n") == 1 and "cannot translate 'panx'" in stderr and "tied to the original words" in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "mnli", "--to", "deu"], "--to: 'deu' is not a 2-letter"),
        (["--task", "mnli", "--to", "de"], "--task needs --to LANGUAGE and --output FOLDER"),
        (["--task", "mnli@de", "--to", "fr", "--output", "x"], "already translated"),
        (["--to", "de"], "give --task"),
    ],
)
def test_cli_bad_arguments(tmp_path, capsys, args, message):
    code, _, stderr = run_cli(["translate", "--model", tmp_path, *args], capsys)
    assert code == 2 and message in stderr


# ----------------------------------------------------------------------------- translating tasks


def test_pair_task_translated_ids_and_labels_unchanged(tmp_path, tiny_nli, translator):
    cache = TranslationCache(tmp_path / "cache", "tiny", translator.identity)
    path, count = translation.translate_task(
        translator,
        get_task("mnli"),
        "train",
        "de",
        {"mnli": str(tiny_nli["mnli"])},
        tmp_path / "mnli.de",
        cache,
        max_examples=12,
        log=lambda line: None,
    )
    original = get_task("mnli").read_local(tiny_nli["mnli"], "train", "en")[:12]
    translated = _read_jsonl(path)
    assert count == len(translated) == 12
    for before, after in zip(original, translated):
        assert set(after) == set(before)
        assert (after["id"], after["label"]) == (before["id"], before["label"])
        assert after["text_a"] == cache.get(before["text_a"]) and after["text_b"] == cache.get(before["text_b"])
    # the random model still gives different inputs different outputs: texts really were replaced
    assert len({example["text_b"] for example in translated}) > 1
    assert not {e["text_a"] for e in translated} & {e["text_a"] for e in original}
    metadata = json.loads((tmp_path / "mnli.de" / "metadata.json").read_text())
    note = metadata["translated_from"]["train"]
    assert metadata["name"] == "mnli@de"
    assert (note["model"], note["task"], note["split"], note["target_language"], note["count"]) == (
        translator.model_name,
        "mnli",
        "train",
        "de",
        12,
    )
    assert note["date"] and note["model_identity"]["beams"] == 1


def test_multiple_choice_cli_translates_context_and_every_choice(tmp_path, tiny_marian, capsys):
    source = _write_hellaswag(tmp_path / "hellaswag")
    out = tmp_path / "data" / "hellaswag.de"
    code, stdout, stderr = run_cli(
        [
            "translate",
            "--task",
            "hellaswag",
            "--split",
            "train",
            "--model",
            tiny_marian,
            "--to",
            "de",
            "--output",
            out,
            "--data",
            source,
            *FAST,
        ],
        capsys,
    )
    assert code == 0, stderr
    assert "7 distinct strings" in stdout and "sentences/s" in stdout
    cache = {row["src"]: row["tgt"] for row in _read_jsonl(_cache_file(tmp_path / "data" / ".translation-cache"))}
    original = get_task("hellaswag").read_local(source, "train", "en")
    translated = _read_jsonl(out / "train.jsonl")
    for before, after in zip(original, translated, strict=True):
        assert (after["id"], after["label"]) == (before["id"], before["label"])
        assert after["context"] == cache[before["context"]]
        assert after["choices"] == [cache[choice] for choice in before["choices"]]
    assert translated[0]["choices"][0] == translated[0]["choices"][3]  # same ending, same translation
    # read back as the intermediate task hellaswag@de
    task = get_task("hellaswag@de")
    assert task.read_local(out, "train", "de") == translated
    assert (task.format, task.labels, task.metric) == (get_task("hellaswag").format, (), "accuracy")


def test_crash_then_resume_translates_nothing_twice(tmp_path, tiny_nli, tiny_marian, monkeypatch):
    translator = translation.load_translator(str(tiny_marian), beams=1, max_length=8, batch_size=4)
    task, sources, out = get_task("mnli"), {"mnli": str(tiny_nli["mnli"])}, tmp_path / "mnli.de"
    seen, calls = [], {"n": 0}
    real_batch, real_generate = translation.translate_batch, translator.model.generate

    def recording_batch(translator, texts):
        outputs = real_batch(translator, texts)
        seen.extend(texts)  # only batches that were translated
        return outputs

    def crashing_generate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed during the third batch
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(translation, "translate_batch", recording_batch)
    monkeypatch.setattr(translator.model, "generate", crashing_generate)
    cache = TranslationCache(tmp_path / "cache", "tiny", translator.identity)
    with pytest.raises(KeyboardInterrupt):
        translation.translate_task(
            translator, task, "train", "de", sources, out, cache, max_examples=20, log=lambda line: None
        )
    assert not (out / "train.jsonl").exists()  # nothing half-written
    cache_path = _cache_file(tmp_path / "cache")
    assert len(_read_jsonl(cache_path)) == 8  # two batches of 4 made it to disk
    with open(cache_path, "a", encoding="utf-8") as handle:
        handle.write('{"src": "a line torn by the cra')  # the crash tore a write

    monkeypatch.setattr(translator.model, "generate", real_generate)
    first_run = list(seen)
    resumed = TranslationCache(tmp_path / "cache", "tiny", translator.identity)
    assert resumed.skipped_lines == 1 and len(resumed) == 8
    path, count = translation.translate_task(
        translator, task, "train", "de", sources, out, resumed, max_examples=20, log=lambda line: None
    )
    examples = task.read_local(tiny_nli["mnli"], "train", "en")[:20]
    distinct = collect_texts(examples, task.format.text_fields)
    assert len(seen) == len(set(seen)) == len(distinct)  # every string once, across both runs
    assert set(seen[len(first_run) :]).isdisjoint(first_run[:8])
    assert count == 20 and len(_read_jsonl(path)) == 20
    lines = _read_jsonl(cache_path)  # the torn tail was cut: every line is whole again
    assert len(lines) == len(distinct)

    calls["n"] = 0
    monkeypatch.setattr(translator.model, "generate", crashing_generate)
    translation.translate_task(
        translator,
        task,
        "train",
        "de",
        sources,
        out,
        TranslationCache(tmp_path / "cache", "tiny", translator.identity),
        max_examples=20,
        log=lambda line: None,
    )
    assert calls["n"] == 0  # a third run finds everything in the cache


def test_default_beams_are_the_models_own_else_4(tiny_marian, translator):
    # the tiny model's generation config sets no beam size
    assert translation.load_translator(str(tiny_marian)).beams == translation.DEFAULT_BEAMS == 4
    assert translator.beams == 1 and translator.identity["beams"] == 1


def test_cache_key_changes_with_decoding_settings(tmp_path, translator):
    first = TranslationCache(tmp_path, "tiny", translator.identity)
    other = TranslationCache(tmp_path, "tiny", dict(translator.identity, beams=5))
    assert first.path != other.path and first.path.parent == other.path.parent


# ----------------------------------------------------------------------------- <task>@<lang>


def test_translated_task_names():
    task = get_task("mnli@de")
    assert (task.name, task.languages, task.source_language, task.hub, task.phases) == (
        "mnli@de",
        ("de",),
        "de",
        None,
        frozenset({"intermediate"}),
    )
    assert task.labels == get_task("mnli").labels and get_task("mnli@de") is task
    with pytest.raises(BadInput, match=r"unknown task 'mnlj' in 'mnlj@de' \(did you mean 'mnli'\?\)"):
        get_task("mnlj@de")
    with pytest.raises(BadInput, match="2-letter ISO 639-1 code"):
        get_task("mnli@deu")
    with pytest.raises(BadInput, match="'tatoeba' is neither"):
        get_task("tatoeba@de")
    # a target's: its training data translated, which only trains (translate-train)
    assert (get_task("xnli@de").phases, get_task("xnli@de").variant_of) == (frozenset(), "xnli")


def test_pipeline_data_accepts_translated_names(tmp_path):
    from stilts.pipeline.config import PipelineConfig

    def pipeline(data):
        return PipelineConfig.model_validate(
            {"name": "p", "model": "m", "data": data, "stages": [{"kind": "intermediate", "tasks": ["mnli@de"]}]}
        )

    assert resolve_data_sources(pipeline({"mnli@de": str(tmp_path)}), tmp_path, "p.yaml") == {
        "mnli@de": str(tmp_path.resolve())
    }
    with pytest.raises(BadInput, match=r"p.yaml: data.mnlj@de: unknown task 'mnlj'.*did you mean 'mnli'"):
        resolve_data_sources(pipeline({"mnlj@de": str(tmp_path)}), tmp_path, "p.yaml")


def test_already_translated_release_files_xnli_mt(tmp_path):
    (tmp_path / "multinli.train.de.tsv").write_text(
        "premise\thypo\tlabel\nDie Katze schläft.\tEin Tier schläft.\tentailment\n"
        "Ein Mann liest.\tNiemand liest.\tcontradictory\n",
        encoding="utf-8",
    )
    (tmp_path / "multinli.train.en.tsv").write_text("premise\thypo\tlabel\nx\ty\tneutral\n")
    task = get_task("mnli@de")
    examples = task.read_local(tmp_path, "train", "de")
    assert [(e["text_a"], e["label"]) for e in examples] == [
        ("Die Katze schläft.", "entailment"),
        ("Ein Mann liest.", "contradiction"),
    ]
    assert get_task("mnli").read_local(tmp_path, "train", "en")[0]["text_a"] == "x"  # English unchanged
    with pytest.raises(MissingSplit, match="no dev.jsonl"):
        task.read_local(tmp_path, "dev", "de")  # XNLI-MT has no translated dev set
    with pytest.raises(MissingSplit, match="no train.jsonl"):
        get_task("mnli@fr").read_local(tmp_path, "train", "fr")


def test_folder_of_another_task_is_refused(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"id": "1", "text_a": "a", "text_b": "b", "label": "neutral"}\n')
    (tmp_path / "metadata.json").write_text(json.dumps({"task": "mnli", "language": "de"}))
    with pytest.raises(BadInput, match="holds translated 'mnli' data, not 'qqp'"):
        get_task("qqp@de").read_local(tmp_path, "train", "de")


@pytest.mark.parametrize(
    "task, good, bad, message",
    [
        (
            "mnli@de",
            {"id": "1", "text_a": "a", "text_b": "b", "label": "neutral"},
            {"id": "2", "text_a": None, "text_b": "b", "label": "neutral"},
            "line 2: field 'text_a' should be text, found null",
        ),
        (
            "mnli@de",
            {"id": "1", "text_a": "a", "text_b": "b", "label": "neutral"},
            {"id": "2", "text_a": "a", "text_b": "b", "label": 1},
            "line 2: label 1 is not one of entailment, neutral, contradiction",
        ),
        (
            "hellaswag@de",
            {"id": "1", "context": "c", "choices": ["a", "b"], "label": 0},
            {"id": "2", "context": "c", "choices": ["a", None], "label": 0},
            "line 2: field 'choices'[1] should be text, found null",
        ),
        (
            "hellaswag@de",
            {"id": "1", "context": "c", "choices": ["a", "b"], "label": 0},
            {"id": "2", "context": "c", "choices": ["a", "b"], "label": True},
            "line 2: label True is not the index of one of the 2 choices",
        ),
    ],
)
def test_a_translated_file_is_checked_line_by_line(tmp_path, task, good, bad, message):
    """A hand-edited or damaged translated set: a null text would pass the data check and crash the
    tokenizer mid-stage, an unknown label would crash featurizing."""
    (tmp_path / "train.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(BadInput, match=re.escape(f"train.jsonl: {message}")):
        get_task(task).read_local(tmp_path, "train", "de")


def test_translated_mnli_trains_in_a_pipeline(tmp_path, tiny_nli, tiny_marian, tiny_model, capsys):
    out = tmp_path / "mnli.de"
    code, _, stderr = run_cli(
        [
            "translate",
            "--task",
            "mnli",
            "--split",
            "train",
            "--split",
            "dev",
            "--model",
            tiny_marian,
            "--to",
            "de",
            "--output",
            out,
            "--data",
            tiny_nli["mnli"],
            "--max-examples",
            "24",
            *FAST,
        ],
        capsys,
    )
    assert code == 0, stderr
    assert sorted(path.name for path in out.iterdir()) == ["dev.jsonl", "metadata.json", "train.jsonl"]
    settings = dict(learning_rate=1e-3, batch_size=8, epochs=1, validate_every=2)
    config = {
        "name": "tiny-de",
        "model": str(tiny_model),
        "seed": 1,
        "data": {"mnli@de": str(out), "mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"])},
        "stages": [
            dict(kind="intermediate", tasks=["mnli@de"], **settings),
            dict(kind="target", task="xnli", max_train_examples=16, **settings),
            dict(kind="evaluate", task="xnli", languages=["de"], max_examples=8),
        ],
    }
    yaml_path = tmp_path / "tiny_de.yaml"
    yaml_path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, stderr = run_cli(["run", yaml_path, "--output-dir", tmp_path / "run"], capsys)
    assert code == 0, stderr
    assert "mnli@de: 24 training examples" in stdout
    with open(tmp_path / "run" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["intermediate"] for row in rows} == {"mnli@de"}


# ----------------------------------------------------------------------------- BLEU


def test_eval_bleu_reports_a_number(tmp_path, tiny_marian, capsys):
    pytest.importorskip("sacrebleu")
    from stilts.testing import shipped_sentences

    sentences = shipped_sentences()[:6]
    (tmp_path / "sample.eng").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    (tmp_path / "sample.deu").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    code, stdout, stderr = run_cli(
        [
            "translate",
            "--model",
            tiny_marian,
            "--to",
            "de",
            "--eval-bleu",
            tmp_path / "sample.eng",
            tmp_path / "sample.deu",
            *FAST,
        ],
        capsys,
    )
    assert code == 0, stderr
    (line,) = [line for line in stdout.splitlines() if line.startswith("BLEU = ")]
    assert 0 <= float(line.split()[2]) <= 100 and "6 sentences" in line and "tok:13a" in line


def test_eval_bleu_checks_alignment_and_sacrebleu(tmp_path, tiny_marian, capsys, monkeypatch):
    (tmp_path / "a").write_text("one\ntwo\n")
    (tmp_path / "b").write_text("eins\n")
    monkeypatch.setitem(__import__("sys").modules, "sacrebleu", None)  # not installed
    code, _, stderr = run_cli(
        ["translate", "--model", tiny_marian, "--eval-bleu", tmp_path / "a", tmp_path / "b"], capsys
    )
    assert code == 2 and "pip install 'stilts[translate]'" in stderr
    monkeypatch.undo()
    pytest.importorskip("sacrebleu")
    code, _, stderr = run_cli(
        ["translate", "--model", tiny_marian, "--eval-bleu", tmp_path / "a", tmp_path / "b", *FAST], capsys
    )
    assert code == 2 and "has 2 lines but" in stderr
