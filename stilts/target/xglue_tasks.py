"""XGLUE's nine understanding tasks as targets: NER, POS, NC, MLQA, XNLI, PAWS-X, QADSM, WPR, QAM.

Each trains on English and is evaluated zero-shot in the languages XGLUE's official
``evaluation/xglue_evaluate.py`` scores (``task2lg``), with that script's metric (docs/tasks.md, XGLUE):
NER seqeval F1 (IOB1 read leniently), POS seqeval *precision* (what the script computes; its README
says accuracy, which is reported beside it), WPR nDCG over each query's pages, MLQA the MLQA script's
F1, the others accuracy. `stilts score --task xglue_<task>` scores XGLUE's prediction files, and
`stilts predict` writes them in XGLUE's submission layout (``<output>/<TASK>/<lang>.prediction``).

**Local files**: XGLUE's release, ``xglue_full_dataset.tar.gz`` (xglue.blob.core.windows.net/xglue/)
extracted; ``data.xglue_<task>`` is the task's folder (``xglue_full_dataset/NER``) or
``xglue_full_dataset`` itself. MLQA trains on SQuAD v1.1 (``train_task``), which XGLUE ships as
``MLQA/squad1.1/train-v1.1.json``: give ``data.squad_v1: xglue_full_dataset/MLQA/squad1.1``.

**Hub**: ``microsoft/xglue`` was a loading-script data set, which ``datasets`` >= 4 does not run; the six
XGLUE-only tasks read main's Parquet if it has some, else the Parquet conversion the Hub made of the
script (branch ``refs/convert/parquet``, ``<config>/<split>/*.parquet``, splits ``train``,
``validation.<lang>``, ``test.<lang>``). If neither can be read, the error says to give a local folder.
XGLUE's MLQA, XNLI and PAWS-X read the original data sets' Hub copies, as the XTREME tasks do
(MLQA in google/xtreme, facebook/xnli, google-research-datasets/paws-x). Hub ClassLabel ids follow the
Hub's orders, which the tasks' labels follow too (stilts.data.readers.xglue tabulates the files', the Hub's
and Unicoder's orders).
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.catalog import MAIN, PARQUET_CONVERSION, HubSource, Scoring, Submission, Task, register_task
from stilts.core.errors import MissingSplit
from stilts.core.names import NDCG
from stilts.data.readers._io import hub_label
from stilts.data.readers.layout import SPLITS, FileLayout, labelled
from stilts.data.readers.nli import NLI_LABELS, read_xnli_file, read_xnli_mt_tsv
from stilts.data.readers.pairs import PAWSX_LABELS
from stilts.data.readers.tagging import UPOS_TAGS
from stilts.data.readers.xglue import (
    NC,
    QADSM,
    QAM,
    QAM_HUB_NAMES,
    WPR,
    WPR_HUB_NAMES,
    XGLUE_NER_TAGS,
    XglueTsv,
    read_xglue_tagging,
)
from stilts.formats.classification import CLASSIFICATION
from stilts.formats.ranking import GRADED_RANKING
from stilts.formats.tagging import NER_TAGGING, POS_TAGGING
from stilts.metrics.scoring import (
    score_xglue_mlqa,
    score_xglue_nc,
    score_xglue_ner,
    score_xglue_pawsx,
    score_xglue_pos,
    score_xglue_qadsm,
    score_xglue_qam,
    score_xglue_wpr,
    score_xglue_xnli,
)
from stilts.target.classification_tasks import XNLI, XNLI_PARALLEL
from stilts.target.pair_retrieval_tasks import PAWSX, PAWSX_PARALLEL, read_labelled_pawsx
from stilts.target.qa_tasks import MLQA, MLQA_PARALLEL, read_answered_squad

XGLUE_HUB = "microsoft/xglue"
HUB_SPLITS = {"train": "train", "dev": "validation.{language}", "test": "test.{language}"}
PHASES = frozenset({"target", "evaluate"})

# The languages XGLUE's evaluation/xglue_evaluate.py scores (``task2lg``, ISO 639-1, alphabetical); its
# MLQA and XNLI are MLQA's and XNLI's languages
XGLUE_NER_LANGUAGES = ("de", "en", "es", "nl")
#: 18: the Hub's loading script has 17 (no pt); the official evaluator scores pt (and pl) too
XGLUE_POS_LANGUAGES = (
    "ar",
    "bg",
    "de",
    "el",
    "en",
    "es",
    "fr",
    "hi",
    "it",
    "nl",
    "pl",
    "pt",
    "ru",
    "th",
    "tr",
    "ur",
    "vi",
    "zh",
)
XGLUE_NC_LANGUAGES = ("de", "en", "es", "fr", "ru")
XGLUE_PAWSX_LANGUAGES = ("de", "en", "es", "fr")
XGLUE_QADSM_LANGUAGES = ("de", "en", "fr")
XGLUE_WPR_LANGUAGES = ("de", "en", "es", "fr", "it", "pt", "zh")
XGLUE_QAM_LANGUAGES = ("de", "en", "fr")


def _submission(folder: str) -> Submission:
    """A task's folder, in XGLUE's release (``xglue_full_dataset/<FOLDER>/``) and in a submission, where
    evaluation/xglue_evaluate.py reads ``<prediction_dir>/<FOLDER>/<lang>.prediction`` (its ``--split``
    says which split is scored; MLQA's file holds a JSON object)."""
    return Submission(folder=folder, file="{language}.prediction")


NER_FILES = _submission("NER")
POS_FILES = _submission("POS")
NC_FILES = _submission("NC")
MLQA_FILES = _submission("MLQA")
XNLI_FILES = _submission("XNLI")
PAWSX_FILES = _submission("PAWSX")
QADSM_FILES = _submission("QADSM")
WPR_FILES = _submission("WPR")
QAM_FILES = _submission("QAM")


def _hub(config: str, to_example, missing: tuple[str, ...] = ()) -> HubSource:
    """microsoft/xglue's ``config``; ``missing``: the task's languages the Hub's loading script leaves out
    (a MissingSplit, which evaluation skips, rather than a failed download)."""

    def config_of(language: str) -> str:
        if language in missing:
            raise MissingSplit(
                f"the Hub's {XGLUE_HUB} has no '{language}' split of {config} (its loading script leaves it "
                "out); XGLUE's release has it: give a local folder"
            )
        return config

    # not confirmed whether main still is the loading script (its data URL answers 409): main's Parquet
    # first, then the Hub's conversion of the script
    return HubSource(
        XGLUE_HUB,
        config=config_of,
        splits=HUB_SPLITS,
        to_example=to_example,
        revisions=(MAIN, PARQUET_CONVERSION),
    )


def _names(files: Submission, pattern: str) -> tuple[str, str]:
    """A file as a task's folder holds it, then as ``xglue_full_dataset/`` does."""
    return (pattern, f"{files.folder}/{pattern}")


# --------------------------------------------------------------------------- NER, POS


def _tagging_layout(files: Submission, what: str, labels: tuple[str, ...]) -> FileLayout:
    def parse(path: Path, language: str | None) -> list[dict]:
        return labelled(read_xglue_tagging(path, labels), path, "tags")

    return FileLayout(what, {split: _names(files, f"{{language}}.{split}") for split in SPLITS}, parse=parse)


def _tagging_row(column: str, labels: tuple[str, ...]):
    def to_example(row: dict) -> dict:
        tags = [hub_label(tag, labels, what="tag") for tag in row[column]]
        return {"id": "", "tokens": list(row["words"]), "tags": None if None in tags else tags}

    return to_example


XGLUE_NER = register_task(
    Task(
        name="xglue_ner",
        format=NER_TAGGING,
        phases=PHASES,
        languages=XGLUE_NER_LANGUAGES,
        metric="f1",
        labels=XGLUE_NER_TAGS,
        description="XGLUE NER: CoNLL-2002/2003 (de en es nl), IOB1 PER LOC ORG MISC, seqeval entity F1 as "
        "xglue_evaluate.py; local: xglue_full_dataset/NER/{lang}.{train,dev,test}",
        read_local=_tagging_layout(NER_FILES, "XGLUE NER", XGLUE_NER_TAGS),
        hub=_hub("ner", _tagging_row("ner", XGLUE_NER_TAGS)),
        main_metrics=("f1",),
        submission=NER_FILES,
        scoring=Scoring(score_xglue_ner),
    )
)

XGLUE_POS = register_task(
    Task(
        name="xglue_pos",
        format=POS_TAGGING,
        phases=PHASES,
        languages=XGLUE_POS_LANGUAGES,
        metric="precision",
        labels=UPOS_TAGS,
        description="XGLUE POS: UD v2.5 UPOS (17 tags), 18 languages; main metric seqeval precision, what "
        "xglue_evaluate.py computes (its README says accuracy: token accuracy is reported beside it); "
        "local: xglue_full_dataset/POS/{lang}.{train,dev,test}",
        read_local=_tagging_layout(POS_FILES, "XGLUE POS", UPOS_TAGS),
        hub=_hub("pos", _tagging_row("pos", UPOS_TAGS), missing=("pt",)),  # the Hub script's 17 languages
        main_metrics=("precision",),
        submission=POS_FILES,
        scoring=Scoring(score_xglue_pos),
    )
)


# --------------------------------------------------------------------------- NC, QADSM, WPR, QAM


def _tsv_layout(files: Submission, spec: XglueTsv) -> FileLayout:
    key = spec.what.lower()

    def parse(path: Path, language: str | None) -> list[dict]:
        return labelled(spec.read(path), path, "label")

    return FileLayout(
        f"XGLUE {spec.what}",
        {split: _names(files, f"xglue.{key}.{{language}}.{split}") for split in SPLITS},
        parse=parse,
    )


def _tsv_row(spec: XglueTsv, columns: tuple[tuple[str, ...], ...], label: str, hub_names=None):
    """A Hub row of one of the TSV tasks; ``columns``: per text column, the Hub's names for it (the
    loading script's features carry typos: ``wed_page_title``, ``annswer``)."""

    def to_example(row: dict) -> dict | None:
        value = hub_label(row[label], spec.labels, hub_names)
        if value is None:
            return None
        cells = [next(str(row[name]) for name in names if name in row) for names in columns]
        text_a, text_b = spec.pair(cells)
        return {"id": "", "text_a": text_a, "text_b": text_b, "label": value}

    return to_example


XGLUE_NC = register_task(
    Task(
        name="xglue_nc",
        format=CLASSIFICATION,
        phases=PHASES,
        languages=XGLUE_NC_LANGUAGES,
        metric="accuracy",
        labels=NC.labels,
        description="XGLUE News Classification: title + body -> 10 categories (de en es fr ru), accuracy; "
        "local: xglue_full_dataset/NC/xglue.nc.{lang}.{train,dev,test}",
        read_local=_tsv_layout(NC_FILES, NC),
        hub=_hub("nc", _tsv_row(NC, (("news_title",), ("news_body",)), "news_category")),
        main_metrics=("accuracy",),
        submission=NC_FILES,
        scoring=Scoring(score_xglue_nc),
    )
)

XGLUE_QADSM = register_task(
    Task(
        name="xglue_qadsm",
        format=CLASSIFICATION,
        phases=PHASES,
        languages=XGLUE_QADSM_LANGUAGES,
        metric="accuracy",
        labels=QADSM.labels,
        description="XGLUE Query-Ad Matching: query vs ad title + description -> Bad/Good (de en fr), accuracy; "
        "local: xglue_full_dataset/QADSM/xglue.qadsm.{lang}.{train,dev,test}",
        read_local=_tsv_layout(QADSM_FILES, QADSM),
        hub=_hub("qadsm", _tsv_row(QADSM, (("query",), ("ad_title",), ("ad_description",)), "relevance_label")),
        main_metrics=("accuracy",),
        submission=QADSM_FILES,
        scoring=Scoring(score_xglue_qadsm),
    )
)

XGLUE_WPR = register_task(
    Task(
        name="xglue_wpr",
        format=GRADED_RANKING,
        phases=PHASES,
        languages=XGLUE_WPR_LANGUAGES,
        metric=NDCG,
        labels=WPR.labels,
        description="XGLUE Web Page Ranking: query vs page title + snippet, grades 0-4 (de en es fr it pt zh); "
        "5-grade classifier ranking by expected grade, nDCG per query as xglue_evaluate.py; local: "
        "xglue_full_dataset/WPR/xglue.wpr.{lang}.{train,dev,test}",
        read_local=_tsv_layout(WPR_FILES, WPR),
        hub=_hub(
            "wpr",
            _tsv_row(
                WPR,
                (("query",), ("web_page_title", "wed_page_title"), ("web_page_snippet",)),
                "relavance_label",
                WPR_HUB_NAMES,
            ),
        ),
        main_metrics=(NDCG,),
        submission=WPR_FILES,
        scoring=Scoring(score_xglue_wpr),
    )
)

XGLUE_QAM = register_task(
    Task(
        name="xglue_qam",
        format=CLASSIFICATION,
        phases=PHASES,
        languages=XGLUE_QAM_LANGUAGES,
        metric="accuracy",
        labels=QAM.labels,
        description="XGLUE QA Matching: does the passage answer the question, 0/1 (de en fr), accuracy; "
        "local: xglue_full_dataset/QAM/xglue.qam.{lang}.{train,dev,test}",
        read_local=_tsv_layout(QAM_FILES, QAM),
        hub=_hub("qam", _tsv_row(QAM, (("question",), ("answer", "annswer")), "label", QAM_HUB_NAMES)),
        main_metrics=("accuracy",),
        submission=QAM_FILES,
        scoring=Scoring(score_xglue_qam),
    )
)


# --------------------------------------------------------------------------- XGLUE's MLQA, XNLI, PAWS-X

#: XGLUE's MLQA folder: MLQA's ``MLQA_V1/{dev,test}/{split}-context-{l}-question-{l}.json``
read_xglue_mlqa_folder = FileLayout(
    "XGLUE MLQA",
    {
        split: _names(MLQA_FILES, f"MLQA_V1/{split}/{split}-context-{{language}}-question-{{language}}.json")
        for split in ("dev", "test")
    },
    parse=read_answered_squad,
    split_note="it trains on SQuAD v1.1, which XGLUE ships as MLQA/squad1.1/train-v1.1.json (data.squad_v1)",
)

XGLUE_MLQA = register_task(
    Task(
        name="xglue_mlqa",
        format=MLQA.format,
        phases=PHASES,
        languages=MLQA.languages,
        metric="f1",
        description="XGLUE's MLQA: MLQA's same-language pairs (7 languages), trains on SQuAD v1.1 (XGLUE ships "
        "it as MLQA/squad1.1/train-v1.1.json: data.squad_v1), scored by the MLQA script's F1 alone, as XGLUE "
        "does; local: xglue_full_dataset/MLQA/MLQA_V1/{dev,test}/",
        read_local=read_xglue_mlqa_folder,
        parallel=MLQA_PARALLEL,
        hub=MLQA.hub,
        train_task="squad_v1",
        main_metrics=("f1",),
        submission=MLQA_FILES,
        scoring=Scoring(score_xglue_mlqa),
    )
)


def _read_xglue_xnli(path: Path, language: str | None) -> list[dict]:
    if path.name.startswith("multinli.train."):  # XNLI-MT's MultiNLI translation, header premise hypo label
        return read_xnli_mt_tsv(path)
    return labelled(read_xnli_file(path, language or ""), path, "label")


#: XGLUE's XNLI folder: XNLI-MT's ``multinli.train.en.tsv`` and per-language ``{lang}.{dev,test}``
#: (premise, hypothesis, label; no header)
read_xglue_xnli_folder = FileLayout(
    "XGLUE XNLI",
    {
        "train": _names(XNLI_FILES, "multinli.train.{language}.tsv"),
        "dev": _names(XNLI_FILES, "{language}.dev"),
        "test": _names(XNLI_FILES, "{language}.test"),
    },
    parse=_read_xglue_xnli,
)


def _xnli_row(row: dict) -> dict | None:
    # facebook/xnli: the Hub's NLI order (entailment, neutral, contradiction), XGLUE's too
    label = hub_label(row["label"], NLI_LABELS)
    return None if label is None else {"id": "", "text_a": row["premise"], "text_b": row["hypothesis"], "label": label}


XGLUE_XNLI = register_task(
    Task(
        name="xglue_xnli",
        format=CLASSIFICATION,
        phases=PHASES,
        languages=XNLI.languages,
        metric="accuracy",
        labels=NLI_LABELS,
        description="XGLUE's XNLI: 15 languages, trains on the English MultiNLI XGLUE ships "
        "(XNLI/multinli.train.en.tsv), accuracy; local: xglue_full_dataset/XNLI/{lang}.{dev,test}",
        read_local=read_xglue_xnli_folder,
        parallel=XNLI_PARALLEL,
        hub=HubSource(
            "facebook/xnli",
            config=lambda language: language,
            splits={"train": "train", "dev": "validation", "test": "test"},
            to_example=_xnli_row,
        ),
        main_metrics=("accuracy",),
        submission=XNLI_FILES,
        scoring=Scoring(score_xglue_xnli),
    )
)


#: XGLUE's PAWSX folder: ``{lang}/{dev_2k,test_2k}.tsv`` and ``en/train.tsv`` (PAWS-X's x-final layout)
read_xglue_pawsx_folder = FileLayout(
    "XGLUE PAWS-X",
    {
        split: _names(PAWSX_FILES, f"{{language}}/{name}")
        for split, name in {"train": "train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"}.items()
    },
    parse=read_labelled_pawsx,
)


XGLUE_PAWSX = register_task(
    Task(
        name="xglue_pawsx",
        format=CLASSIFICATION,
        phases=PHASES,
        languages=XGLUE_PAWSX_LANGUAGES,
        metric="accuracy",
        labels=PAWSX_LABELS,
        description="XGLUE's PAWS-X: paraphrase identification in de en es fr (XGLUE's four), trains on its "
        "English training set, accuracy; local: xglue_full_dataset/PAWSX/{lang}/{train,dev_2k,test_2k}.tsv",
        read_local=read_xglue_pawsx_folder,
        parallel=PAWSX_PARALLEL,
        hub=PAWSX.hub,
        main_metrics=("accuracy",),
        submission=PAWSX_FILES,
        scoring=Scoring(score_xglue_pawsx),
    )
)
