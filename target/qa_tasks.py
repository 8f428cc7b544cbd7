"""The XTREME QA target tasks: XQuAD, MLQA and TyDiQA-GoldP (span extraction, zero-shot).

Splits, as XTREME and the paper use them:
- XQuAD has one split (the translated SQuAD v1.1 dev subset); we report it as ``test``. Training and
  validation data come from SQuAD v1.1 (``train_task``); XQuAD has no dev split, so its target stage
  runs the paper's fixed epochs without early stopping.
- MLQA has dev and test (same-language pairs only, as XTREME and jiant score it). It trains on SQuAD v1.1;
  its English dev validates the target stage.
- TyDiQA-GoldP trains on the English part of its own train file; its official dev files are the test set
  (there is no other labelled held-out data), so it has no dev split and no early stopping.

Local folders hold the original release files; the layouts of XTREME's download folder are accepted too.
A requested split or language without a file raises ``MissingSplit`` (evaluation then skips it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stilts.catalog import HubSource, Task, register_task
from stilts.errors import BadInput, MissingSplit
from stilts.readers.qa import TYDIQA_LANGUAGES, read_squad, read_tydiqa, tydiqa_language
from stilts.tasks.span_qa import SPAN_QA, SPAN_QA_MLQA, squad_example

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
TYDIQA_CODES = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
TYDIQA_NAMES = {code: name for name, code in TYDIQA_LANGUAGES.items()}


def _first_file(folder: Path, candidates: Iterable[Path], what: str) -> Path:
    candidates = list(candidates)
    for path in candidates:
        if path.is_file():
            return path
    looked_for = ", ".join(str(path.relative_to(folder)) for path in candidates)
    raise MissingSplit(f"{folder}: no {what} (looked for {looked_for})")


def _answered(examples: list[dict], path: Path) -> list[dict]:
    """Evaluation files must carry their gold answers: XTREME's download script blanks those of the
    test sets, and such a copy would score every model 0."""
    for example in examples:
        if not example["answers"]["text"]:
            raise BadInput(f"{path}: question '{example['id']}' has no gold answer (XTREME's copies of "
                           f"test files have their answers removed; use the original release file)")
    return examples


# --- XQuAD ---------------------------------------------------------------------------------------


def read_xquad_folder(folder: Path, split: str, language: str) -> list[dict]:
    """``xquad.{lang}.json`` (deepmind/xquad); its only split is ``test``."""
    if split != "test":
        raise MissingSplit(f"{folder}: XQuAD has only a test split (it trains and validates on SQuAD v1.1)")
    path = _first_file(folder, [folder / f"xquad.{language}.json"], f"XQuAD file for '{language}'")
    return _answered(read_squad(path), path)


XQUAD = register_task(Task(
    name="xquad",
    format=SPAN_QA,
    phases=frozenset({"target", "evaluate"}),
    languages=XQUAD_LANGUAGES,
    metric="f1",
    description="XQuAD: 240 SQuAD v1.1 dev paragraphs (1190 questions) translated into 10 languages; "
                "trains on SQuAD v1.1; its one split is reported as test; no dev split, so the target "
                "stage trains the fixed epochs without early stopping (SQuAD v1.1 EM/F1)",
    read_local=read_xquad_folder,
    hub=HubSource("google/xquad", config=lambda language: f"xquad.{language}",
                  splits={"test": "validation"}, to_example=squad_example),
    train_task="squad_v1",
    eval_splits=("test",),
))


# --- MLQA ----------------------------------------------------------------------------------------


def read_mlqa_folder(folder: Path, split: str, language: str) -> list[dict]:
    """``{dev,test}/{split}-context-{l}-question-{l}.json`` under ``MLQA_V1`` (the folder itself or its
    parent), or the files directly in the folder (XTREME's layout)."""
    if split not in ("dev", "test"):
        raise MissingSplit(f"{folder}: MLQA has dev and test splits only (it trains on SQuAD v1.1)")
    root = folder / "MLQA_V1" if (folder / "MLQA_V1").is_dir() else folder
    name = f"{split}-context-{language}-question-{language}.json"
    path = _first_file(folder, [root / split / name, root / name], f"MLQA {split} file for '{language}'")
    return _answered(read_squad(path), path)


MLQA = register_task(Task(
    name="mlqa",
    format=SPAN_QA_MLQA,
    phases=frozenset({"target", "evaluate"}),
    languages=MLQA_LANGUAGES,
    metric="f1",
    description="MLQA: extractive QA in 7 languages, context and question in the same language (as XTREME "
                "scores it); trains on SQuAD v1.1 and validates on MLQA's English dev (MLQA EM/F1)",
    read_local=read_mlqa_folder,
    hub=HubSource("facebook/mlqa", config=lambda language: f"mlqa.{language}.{language}",
                  splits={"dev": "validation", "test": "test"}, to_example=squad_example),
    train_task="squad_v1",
))


# --- TyDiQA-GoldP --------------------------------------------------------------------------------


def _tydiqa_paths(folder: Path, split: str, language: str) -> list[Path]:
    """Where each layout keeps a language's file, per-language files first (they are smaller).

    Official: ``tydiqa-goldp-v1.1-train.json`` (all languages) and, from ``tydiqa-goldp-v1.1-dev.tgz``,
    ``tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{english name}.json``. XTREME: per-language
    ``tydiqa-goldp-v1.1-{train,dev}/tydiqa.goldp.{code}.{train,dev}.json`` (ids without the language
    prefix), with the combined train file moved into ``tydiqa-goldp-v1.1-train/``.
    """
    if split == "train":
        sub = folder / "tydiqa-goldp-v1.1-train"
        return [sub / f"tydiqa.goldp.{language}.train.json", folder / f"tydiqa.goldp.{language}.train.json",
                folder / "tydiqa-goldp-v1.1-train.json", sub / "tydiqa-goldp-v1.1-train.json"]
    sub = folder / "tydiqa-goldp-v1.1-dev"
    official = f"tydiqa-goldp-dev-{TYDIQA_NAMES[language]}.json"
    return [sub / official, folder / official, sub / f"tydiqa.goldp.{language}.dev.json",
            folder / f"tydiqa.goldp.{language}.dev.json", folder / "tydiqa-goldp-v1.1-dev.json"]


def read_tydiqa_folder(folder: Path, split: str, language: str) -> list[dict]:
    """TyDiQA-GoldP questions of one language; ``test`` = the official dev files."""
    if split == "dev":
        raise MissingSplit(f"{folder}: TyDiQA-GoldP has no dev split of its own: its dev files are the test set")
    if language not in TYDIQA_NAMES:
        raise MissingSplit(f"{folder}: TyDiQA-GoldP has no language '{language}'")
    what = "TyDiQA-GoldP " + ("train" if split == "train" else "dev (our test)") + f" file for '{language}'"
    path = _first_file(folder, _tydiqa_paths(folder, split, language), what)
    examples = read_tydiqa(path, language)
    if not examples:
        raise MissingSplit(f"{path}: no '{language}' questions")
    return examples if split == "train" else _answered(examples, path)


class _TydiqaHubLanguage:
    """Keeps the rows of one language from the Hub's TyDiQA-GoldP, which mixes them all in one config
    (the language is the id prefix, ``english-...``).

    ``HubSource.to_example`` gets only the row; ``load_examples`` asks ``config(language)`` right before it
    maps the rows, so the language asked for is remembered there.
    """

    def __init__(self):
        self.language = "en"

    def config(self, language: str) -> str:
        self.language = language
        return "secondary_task"

    def to_example(self, row: dict) -> dict | None:
        return squad_example(row) if tydiqa_language(str(row["id"])) == self.language else None


_TYDIQA_HUB = _TydiqaHubLanguage()

TYDIQA = register_task(Task(
    name="tydiqa",
    format=SPAN_QA,
    phases=frozenset({"target", "evaluate"}),
    languages=TYDIQA_CODES,
    metric="f1",
    description="TyDiQA-GoldP: extractive QA on the gold passage, 9 languages; trains on the English part "
                "of its train file; the official dev files are the test set (no dev split, so no early "
                "stopping) (SQuAD v1.1 EM/F1)",
    read_local=read_tydiqa_folder,
    hub=HubSource("google-research-datasets/tydiqa", config=_TYDIQA_HUB.config,
                  splits={"train": "train", "test": "validation"}, to_example=_TYDIQA_HUB.to_example),
    eval_splits=("test",),
))
