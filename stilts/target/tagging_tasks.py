"""Target tasks in the tagging format: UD-POS (33 languages) and PAN-X / WikiANN NER (40 languages).

Registered by ``stilts.target.catalog``. Both train on their own English training split and
are evaluated zero-shot in every other language; the first sub-word of each word carries its tag.
Label orders are docs/tasks.md's, which are also the Hub's ClassLabel orders, so Hub ids map straight to
names.
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.catalog import HubSource, Scoring, Task, register_task
from stilts.core.errors import MissingSplit
from stilts.core.names import XTREME_LANGUAGES
from stilts.data.readers.layout import SPLITS, FileLayout, labelled, note_file_read
from stilts.data.readers.tagging import PANX_TAGS, UPOS_TAGS, read_conllu_upos, read_panx
from stilts.formats.tagging import NER_TAGGING, POS_TAGGING
from stilts.metrics.scoring import score_panx, score_udpos

HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}

# --------------------------------------------------------------------------- UD-POS

#: XTREME's 33 POS languages -> the English name in google/xtreme's ``udpos.<Name>`` configs
UDPOS_HUB_NAMES = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "kk": "Kazakh",
    "ko": "Korean",
    "mr": "Marathi",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "ta": "Tamil",
    "te": "Telugu",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "yo": "Yoruba",
    "zh": "Chinese",
}
#: ISO 639-1 codes, alphabetical, as XTREME evaluates the task (docs/tasks.md)
UDPOS_LANGUAGES = tuple(sorted(UDPOS_HUB_NAMES))


def ud_files(folder: Path, split: str, language: str) -> list[Path]:
    """Every treebank's ``{language}_*-ud-{split}.conllu`` in ``folder`` or one level below it (the
    ``UD_*`` folders of ``ud-treebanks-v2.5``), by file name. The language is the file-name prefix,
    as XTREME takes it (``en_ewt-ud-test.conllu`` -> ``en``)."""
    pattern = f"{language}_*-ud-{split}.conllu"
    found = {*folder.glob(pattern), *folder.glob(f"*/{pattern}")}
    return sorted(found, key=lambda path: (path.name, str(path)))


def read_ud_folder(folder: Path, split: str, language: str) -> list[dict]:
    """UD-POS for one language and split: all of the language's treebanks concatenated (XTREME)."""
    folder = Path(folder)
    paths = ud_files(folder, split, language)
    if not paths:
        raise MissingSplit(
            f"{folder}: no UD {split} file for '{language}' "
            f"(looked for {language}_*-ud-{split}.conllu here and in its subfolders)"
        )
    for path in paths:
        note_file_read(path)
    return [example for path in paths for example in read_conllu_upos(path, language)]


def _udpos_row(row: dict) -> dict:
    return {
        "id": "",
        "tokens": list(row["tokens"]),
        "tags": [UPOS_TAGS[tag] if isinstance(tag, int) else tag for tag in row["pos_tags"]],
    }


UDPOS = register_task(
    Task(
        name="udpos",
        format=POS_TAGGING,
        phases=frozenset({"target", "evaluate"}),
        languages=UDPOS_LANGUAGES,
        metric="f1",
        labels=UPOS_TAGS,
        description="UD-POS (UD v2.5 UPOS, 17 tags), 33 languages, XTREME's seqeval F1; local: a folder of "
        "UD_* treebank folders (CoNLL-U), all treebanks of a language concatenated",
        read_local=read_ud_folder,
        hub=HubSource(
            "google/xtreme",
            config=lambda language: f"udpos.{UDPOS_HUB_NAMES[language]}",
            splits=HUB_SPLITS,
            to_example=_udpos_row,
            # the treebanks of these languages have no train or dev part (Kazakh: no dev)
            config_splits={
                "udpos.Thai": ("test",),
                "udpos.Tagalog": ("test",),
                "udpos.Yoruba": ("test",),
                "udpos.Kazakh": ("train", "test"),
            },
        ),
        main_metrics=("f1",),
        paper_batch_epochs=(32, 10),
        scoring=Scoring(score_udpos),
    )
)


# --------------------------------------------------------------------------- PAN-X


def read_tagged_panx(path: Path, language: str | None) -> list[dict]:
    """A PAN-X file; one without tags (XTREME blanks the test labels) counts as missing, so evaluation
    skips it."""
    return labelled(read_panx(path, language), path, "tags", why="XTREME releases its test files unlabelled")


#: PAN-X from XTREME's ``{split}-{lang}.tsv`` files or the original Rahimi et al. release with each
#: ``{lang}.tar.gz`` extracted into ``{lang}/`` (``{lang}/train``, ``{lang}/dev``, ``{lang}/test``)
read_panx_folder = FileLayout(
    "PAN-X", {split: (f"{split}-{{language}}.tsv", f"{{language}}/{split}") for split in SPLITS}, parse=read_tagged_panx
)


def _panx_row(row: dict) -> dict:
    return {
        "id": "",
        "tokens": list(row["tokens"]),
        "tags": [PANX_TAGS[tag] if isinstance(tag, int) else tag for tag in row["ner_tags"]],
    }


PANX = register_task(
    Task(
        name="panx",
        format=NER_TAGGING,
        phases=frozenset({"target", "evaluate"}),
        languages=XTREME_LANGUAGES,
        metric="f1",
        labels=PANX_TAGS,
        description="PAN-X / WikiANN NER (IOB2 PER/ORG/LOC), 40 languages, entity F1; local: XTREME's "
        "{split}-{lang}.tsv or the original {lang}/{train,dev,test} files",
        read_local=read_panx_folder,
        hub=HubSource(
            "google/xtreme", config=lambda language: f"PAN-X.{language}", splits=HUB_SPLITS, to_example=_panx_row
        ),
        main_metrics=("f1",),
        paper_batch_epochs=(32, 10),
        scoring=Scoring(score_panx),
    )
)
