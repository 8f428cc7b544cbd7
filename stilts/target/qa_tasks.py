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

from pathlib import Path

from stilts.core.catalog import HubSource, Parallel, ReleasedTranslations, Scoring, Task, register_task
from stilts.core.errors import BadInput, MissingSplit, Unlabelled
from stilts.core.names import QA_METRICS
from stilts.data.readers.layout import FileLayout, find_file
from stilts.data.readers.qa import TYDIQA_ID_PREFIXES, read_squad, read_tydiqa, training_questions, tydiqa_language
from stilts.formats.span_qa import SPAN_QA, SPAN_QA_MLQA, squad_example
from stilts.metrics.scoring import score_mlqa, score_tydiqa, score_xquad

TYDIQA_NAMES = {code: name for name, code in TYDIQA_ID_PREFIXES.items()}


def _answered(examples: list[dict], path: Path) -> list[dict]:
    """Evaluation files must carry their gold answers: XTREME's download script blanks those of the
    test sets, and such a copy would score every model 0. A file with no answer at all is such a copy
    (`Unlabelled`: evaluation skips it, `stilts predict` takes it); one with some answers missing is broken."""
    unanswered = [example for example in examples if not example["answers"]["text"]]
    if unanswered:
        message = (
            f"{path}: question '{unanswered[0]['id']}' has no gold answer (XTREME's copies of "
            f"test files have their answers removed; use the original release file)"
        )
        if len(unanswered) == len(examples):
            raise Unlabelled(message, examples)
        raise BadInput(message)
    return examples


def _xtreme_qa_translations(what: str, prefix: str, folder: str) -> FileLayout:
    """XTREME's machine translations of a QA training set, SQuAD-format JSON with the answers found in the
    translated contexts, ``xtreme_translations/<folder>/translate-train/<prefix>.translate.train.en-{lang}.json``
    (the file, or the folders above it). Questions whose answer is not at its offset are skipped and counted
    (`training_questions`)."""
    name = f"{prefix}.translate.train.en-{{language}}.json"
    return FileLayout(
        what,
        {"train": (name, f"translate-train/{name}", f"{folder}/translate-train/{name}")},
        parse=lambda path, language: read_squad(path),
        trainable=training_questions,
    )


# --- XQuAD ---------------------------------------------------------------------------------------


def read_answered_squad(path: Path, language: str | None = None) -> list[dict]:
    return _answered(read_squad(path), path)


#: ``xquad.{lang}.json`` (deepmind/xquad); its only split is ``test``
read_xquad_folder = FileLayout(
    "XQuAD",
    {"test": ("xquad.{language}.json",)},
    parse=read_answered_squad,
    split_note="it trains and validates on SQuAD v1.1",
)

#: ISO 639-1 codes, alphabetical, as XTREME evaluates each task (docs/tasks.md)
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")

#: SQuAD v1.1's training set machine-translated into XQuAD's languages by XTREME (MLQA's are among them),
#: which XQuAD and MLQA train on in translate-train
_read_squad_translations = _xtreme_qa_translations("translated SQuAD v1.1", "squad", "SQuAD")
SQUAD_TRANSLATIONS = ReleasedTranslations(
    "XTREME's translated SQuAD v1.1",
    tuple(language for language in XQUAD_LANGUAGES if language != "en"),
    read_local=lambda folder, language: _read_squad_translations(folder, "train", language),
)

XQUAD = register_task(
    Task(
        name="xquad",
        format=SPAN_QA,
        phases=frozenset({"target", "evaluate"}),
        languages=XQUAD_LANGUAGES,
        metric="f1",
        description="XQuAD: 240 SQuAD v1.1 dev paragraphs (1190 questions) translated into 10 languages; "
        "trains on SQuAD v1.1; its one split is reported as test; no dev split, so the target "
        "stage trains the fixed epochs without early stopping (SQuAD v1.1 EM/F1)",
        read_local=read_xquad_folder,
        parallel=Parallel("xquad", {"test": "id"}, translated_from={"test": ("squad_v1", "dev")}),
        released_translations=SQUAD_TRANSLATIONS,
        hub=HubSource(
            "google/xquad",
            config=lambda language: f"xquad.{language}",
            splits={"test": "validation"},
            to_example=squad_example,
        ),
        train_task="squad_v1",
        eval_splits=("test",),
        main_metrics=QA_METRICS,
        paper_batch_epochs=(16, 2),
        scoring=Scoring(score_xquad),
    )
)


# --- MLQA ----------------------------------------------------------------------------------------


def _mlqa_names(split: str) -> tuple[str, ...]:
    name = f"{split}-context-{{language}}-question-{{language}}.json"
    return (f"MLQA_V1/{split}/{name}", f"MLQA_V1/{name}", f"{split}/{name}", name)


#: ``{dev,test}/{split}-context-{l}-question-{l}.json`` under ``MLQA_V1`` (the folder itself or its
#: parent), or the files directly in the folder (XTREME's layout)
read_mlqa_folder = FileLayout(
    "MLQA",
    {split: _mlqa_names(split) for split in ("dev", "test")},
    parse=read_answered_squad,
    split_note="it trains on SQuAD v1.1",
)


#: MLQA's instances are parallel across its languages (the same question id in each)
MLQA_PARALLEL = Parallel("mlqa", {"dev": "id", "test": "id"})
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")

MLQA = register_task(
    Task(
        name="mlqa",
        format=SPAN_QA_MLQA,
        phases=frozenset({"target", "evaluate"}),
        languages=MLQA_LANGUAGES,
        metric="f1",
        description="MLQA: extractive QA in 7 languages, context and question in the same language (as XTREME "
        "scores it); trains on SQuAD v1.1 and validates on MLQA's English dev (MLQA EM/F1)",
        read_local=read_mlqa_folder,
        parallel=MLQA_PARALLEL,
        released_translations=SQUAD_TRANSLATIONS,
        # facebook/mlqa is only a loading script; google/xtreme has MLQA's same-language pairs as Parquet
        hub=HubSource(
            "google/xtreme",
            config=lambda language: f"MLQA.{language}.{language}",
            splits={"dev": "validation", "test": "test"},
            to_example=squad_example,
        ),
        train_task="squad_v1",
        main_metrics=QA_METRICS,
        paper_batch_epochs=(16, 2),
        scoring=Scoring(score_mlqa),
    )
)


# --- TyDiQA-GoldP --------------------------------------------------------------------------------


def _tydiqa_names(split: str, language: str) -> list[str]:
    """Where each layout keeps a language's file, per-language files first (they are smaller); a
    function rather than a `FileLayout`: the official dev files are named by the language's English name.

    Official: ``tydiqa-goldp-v1.1-train.json`` (all languages) and, from ``tydiqa-goldp-v1.1-dev.tgz``,
    ``tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{english name}.json``. XTREME: per-language
    ``tydiqa-goldp-v1.1-{train,dev}/tydiqa.goldp.{code}.{train,dev}.json`` (ids without the language
    prefix), with the combined train file moved into ``tydiqa-goldp-v1.1-train/``.
    """
    if split == "train":
        sub = "tydiqa-goldp-v1.1-train"
        return [
            f"{sub}/tydiqa.goldp.{language}.train.json",
            f"tydiqa.goldp.{language}.train.json",
            "tydiqa-goldp-v1.1-train.json",
            f"{sub}/tydiqa-goldp-v1.1-train.json",
        ]
    sub = "tydiqa-goldp-v1.1-dev"
    official = f"tydiqa-goldp-dev-{TYDIQA_NAMES[language]}.json"
    return [
        f"{sub}/{official}",
        official,
        f"{sub}/tydiqa.goldp.{language}.dev.json",
        f"tydiqa.goldp.{language}.dev.json",
        "tydiqa-goldp-v1.1-dev.json",
    ]


def read_tydiqa_folder(folder: Path, split: str, language: str) -> list[dict]:
    """TyDiQA-GoldP questions of one language; ``test`` = the official dev files."""
    if split == "dev":
        raise MissingSplit(f"{folder}: TyDiQA-GoldP has no dev split of its own: its dev files are the test set")
    if language not in TYDIQA_NAMES:
        raise MissingSplit(f"{folder}: TyDiQA-GoldP has no language '{language}'")
    what = "TyDiQA-GoldP " + ("train" if split == "train" else "dev (our test)") + f" file for '{language}'"
    path = find_file(Path(folder), _tydiqa_names(split, language), what)
    examples = read_tydiqa(path, language)
    if not examples:
        raise MissingSplit(f"{path}: no '{language}' questions")
    return training_questions(examples, path) if split == "train" else _answered(examples, path)


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
TYDIQA_LANGUAGES = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
#: the English part of TyDiQA-GoldP's training set machine-translated into its other languages by XTREME
_read_tydiqa_translations = _xtreme_qa_translations("translated TyDiQA-GoldP", "tydiqa", "TyDiQA-GoldP")

TYDIQA = register_task(
    Task(
        name="tydiqa",
        format=SPAN_QA,
        phases=frozenset({"target", "evaluate"}),
        languages=TYDIQA_LANGUAGES,
        metric="f1",
        description="TyDiQA-GoldP: extractive QA on the gold passage, 9 languages; trains on the English part "
        "of its train file; the official dev files are the test set (no dev split, so no early "
        "stopping) (SQuAD v1.1 EM/F1)",
        read_local=read_tydiqa_folder,
        hub=HubSource(
            "google-research-datasets/tydiqa",
            config=_TYDIQA_HUB.config,
            splits={"train": "train", "test": "validation"},
            to_example=_TYDIQA_HUB.to_example,
        ),
        eval_splits=("test",),
        main_metrics=QA_METRICS,
        paper_batch_epochs=(16, 2),
        scoring=Scoring(score_tydiqa),
        released_translations=ReleasedTranslations(
            "XTREME's translated TyDiQA-GoldP",
            tuple(language for language in TYDIQA_LANGUAGES if language != "en"),
            read_local=lambda folder, language: _read_tydiqa_translations(folder, "train", language),
        ),
    )
)
