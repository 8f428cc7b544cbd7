"""Target tasks PAWS-X (paraphrase classification) and the two retrieval tasks, Tatoeba and BUCC 2018.

PAWS-X trains on its own English training set and is evaluated zero-shot in 7 languages. Tatoeba and
BUCC train nothing: an evaluate stage pools the states of the encoder it is given (`stilts.formats.retrieval`).
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

from stilts.core.catalog import HubSource, Parallel, ReleasedTranslations, Scoring, Submission, Task, register_task
from stilts.core.errors import MissingSplit, Unlabelled
from stilts.core.names import XTREME_LANGUAGES
from stilts.data.readers._io import hub_label
from stilts.data.readers.layout import FileLayout, find_file, labelled, note_file_read
from stilts.data.readers.pairs import PAWSX_LABELS, read_pawsx, read_translated_pairs
from stilts.data.readers.retrieval import TATOEBA_ISO1_TO_ISO3, read_bucc, read_tatoeba
from stilts.formats.classification import CLASSIFICATION
from stilts.formats.retrieval import BITEXT_MINING, RETRIEVAL
from stilts.metrics.scoring import score_bucc, score_pawsx, score_tatoeba

# --- PAWS-X --------------------------------------------------------------------------------------

#: ISO 639-1 codes, alphabetical, as XTREME evaluates the task (docs/tasks.md)
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")

#: x-final/{lang}/ file per split; the other languages' training sets are English's machine-translated,
#: ``translated_train.tsv``: read where a stage trains in them (``train_languages``, ``pawsx@de``); XTREME's
#: zero-shot setting trains on English only
_PAWSX_ORIGINAL_FILES = {"train": "train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"}
_PAWSX_TRANSLATED_TRAIN = ("{language}/translated_train.tsv", "x-final/{language}/translated_train.tsv")


def read_labelled_pawsx(path: Path, language: str | None = None) -> list[dict]:
    """XTREME strips the labels of its test files; such a file counts as missing, so evaluation skips it."""
    return labelled(read_pawsx(path), path, why="XTREME strips them from its test files")


#: PAWS-X for one split and language from XTREME's ``{split}-{lang}.tsv`` files or the original
#: ``x-final/{lang}/{train,dev_2k,test_2k}.tsv`` layout (``folder`` = ``x-final`` or its parent)
read_pawsx_folder = FileLayout(
    "PAWS-X",
    {
        split: (f"{split}-{{language}}.tsv", f"{{language}}/{name}", f"x-final/{{language}}/{name}")
        + (_PAWSX_TRANSLATED_TRAIN if split == "train" else ())
        for split, name in _PAWSX_ORIGINAL_FILES.items()
    },
    parse=read_labelled_pawsx,
)


def _read_pawsx_translation(path: Path, language: str | None = None) -> list[dict]:
    if path.name == "translated_train.tsv":
        return read_labelled_pawsx(path)
    return read_translated_pairs(path, PAWSX_LABELS)


#: PAWS-X's English training set machine-translated: XTREME's translate-train files
#: (``xtreme_translations/PAWSX/translate-train/en-{lang}-translated.tsv``) or the PAWS-X release's
#: ``x-final/{lang}/translated_train.tsv`` (the training split of its languages other than English)
_read_pawsx_translations = FileLayout(
    "PAWS-X translated training",
    {
        "train": (
            "en-{language}-translated.tsv",
            "translate-train/en-{language}-translated.tsv",
            "PAWSX/translate-train/en-{language}-translated.tsv",
            *_PAWSX_TRANSLATED_TRAIN,
        )
    },
    parse=_read_pawsx_translation,
)


def _pawsx_row(row: dict) -> dict | None:
    # google-research-datasets/paws-x: label ClassLabel ["0", "1"], 1 = paraphrase; -1: no gold label
    label = hub_label(row["label"], PAWSX_LABELS)
    if label is None:
        return None
    return {"id": str(row["id"]), "text_a": row["sentence1"], "text_b": row["sentence2"], "label": label}


#: PAWS-X's dev and test sets are human translations of the English ones, example by example (same id)
PAWSX_PARALLEL = Parallel("pawsx", {"dev": "id", "test": "id"})

PAWSX = register_task(
    Task(
        name="pawsx",
        format=CLASSIFICATION,
        phases=frozenset({"target", "evaluate"}),
        languages=PAWSX_LANGUAGES,
        metric="accuracy",
        labels=PAWSX_LABELS,
        description="PAWS-X paraphrase identification, 7 languages; trains on its English training set",
        read_local=read_pawsx_folder,
        parallel=PAWSX_PARALLEL,
        released_translations=ReleasedTranslations(
            "XTREME's PAWS-X translate-train files and PAWS-X's translated_train.tsv",
            tuple(language for language in PAWSX_LANGUAGES if language != "en"),
            read_local=lambda folder, language: _read_pawsx_translations(folder, "train", language),
            in_task_data=True,
        ),
        hub=HubSource(
            "google-research-datasets/paws-x",
            config=lambda language: language,
            splits={"train": "train", "dev": "validation", "test": "test"},
            to_example=_pawsx_row,
        ),
        main_metrics=("accuracy",),
        paper_batch_epochs=(32, 5),
        scoring=Scoring(score_pawsx),
    )
)


# --- Tatoeba -------------------------------------------------------------------------------------


def read_tatoeba_folder(folder: Path, split: str, language: str) -> list[dict]:
    """LASER's ``tatoeba.{iso3}-eng.{iso3}`` / ``.eng`` pair (in the folder or its ``v1/``), aligned
    line by line. The set is a test set only. (XTREME's preprocessed ``{xx}-en.en`` is sorted and has
    lost the alignment, so it cannot be read.) A function: the files are named by ISO 639-3 codes."""
    iso3 = TATOEBA_ISO1_TO_ISO3.get(language)
    if split != "test" or iso3 is None:
        raise MissingSplit(f"{folder}: Tatoeba has only a test split, in 36 languages (asked: {split}, '{language}')")
    name = f"tatoeba.{iso3}-eng.{iso3}"
    path = find_file(Path(folder), [name, f"v1/{name}"], f"Tatoeba file for '{language}'")
    sources, english = read_tatoeba(path)
    return [
        {"id": f"{path.name}:{line}", "text_a": source, "text_b": target}
        for line, (source, target) in enumerate(zip(sources, english), start=1)
    ]


def _tatoeba_row(row: dict) -> dict:
    # google/xtreme tatoeba.{iso3}: the sentences keep the files' trailing newline
    return {"id": "", "text_a": row["source_sentence"].rstrip("\n"), "text_b": row["target_sentence"].rstrip("\n")}


#: the 36 Tatoeba languages, each retrieved against English (so English is not one); XTREME has no
#: Tatoeba pairs for ms, my and yo
TATOEBA_LANGUAGES = tuple(code for code in XTREME_LANGUAGES if code not in ("en", "ms", "my", "yo"))

TATOEBA = register_task(
    Task(
        name="tatoeba",
        format=RETRIEVAL,
        phases=frozenset({"evaluate"}),
        languages=TATOEBA_LANGUAGES,
        metric="accuracy",
        description="Tatoeba sentence retrieval (36 languages <-> English): top-1 cosine nearest-neighbour "
        "accuracy of pooled encoder states; no training",
        read_local=read_tatoeba_folder,
        hub=HubSource(
            "google/xtreme",
            config=lambda language: f"tatoeba.{TATOEBA_ISO1_TO_ISO3[language]}",
            splits={"test": "validation"},
            to_example=_tatoeba_row,
        ),
        eval_splits=("test",),
        main_metrics=("accuracy",),
        scoring=Scoring(score_tatoeba),
    )
)


# --- BUCC 2018 -----------------------------------------------------------------------------------

#: XTREME's names (dev, test) and the release's (sample, training), which XTREME renames to them
_BUCC_RELEASE_SPLITS = {"dev": "sample", "test": "training"}


def read_bucc_folder(folder: Path, split: str, language: str) -> list[dict]:
    """BUCC 2018 ``{xx}-en.{split}.{xx|en|gold}`` as XTREME names them (``dev``, ``test``) or as the
    release does (``sample``, ``training``; also under ``{xx}-en/`` or ``bucc2018/{xx}-en/``).

    One example per sentence (see `stilts.formats.retrieval.BitextMining`). The sentences of the gold
    pairs come first, pair by pair, then the other sentences of the two sides alternately, so a quick
    run on the first N examples (``max_examples``) still has pairs to find among distractors on both
    sides. The order does not change the mined pairs. (A function: a split is a set of three files,
    found by its ``.{xx}`` file.)
    """
    names = [f"{language}-en.{split}"]
    if split in _BUCC_RELEASE_SPLITS:
        names.append(f"{language}-en.{_BUCC_RELEASE_SPLITS[split]}")
    subfolders = ("", f"{language}-en/", f"bucc2018/{language}-en/")
    source_file = find_file(
        Path(folder),
        [f"{sub}{name}.{language}" for name in names for sub in subfolders],
        f"BUCC {split} files for '{language}'",
    )
    prefix = source_file.with_suffix("")
    for other in (prefix.with_suffix(".en"), prefix.with_suffix(".gold")):
        if other.is_file():
            note_file_read(other)
    sources, english, gold = read_bucc(prefix)
    if gold is None:
        raise Unlabelled(
            f"{prefix}.gold: no gold pairs, so the {split} split cannot be scored",
            bucc_examples(sources, english, set()),
        )
    return bucc_examples(sources, english, gold)


def bucc_examples(sources: dict[str, str], english: dict[str, str], gold: set[tuple[str, str]]) -> list[dict]:
    """Sentence examples of both sides: the gold pairs' sentences first, then the others alternately."""
    paired: dict[str, list[str]] = {}
    for source_id, english_id in sorted(gold):
        paired.setdefault(source_id, []).append(english_id)
    examples, placed = [], set()

    def add(side: str, sentence_id: str, text: str) -> None:
        if (side, sentence_id) not in placed:
            placed.add((side, sentence_id))
            examples.append(
                {
                    "id": sentence_id,
                    "text": text,
                    "side": side,
                    "gold": paired.get(sentence_id, []) if side == "source" else [],
                }
            )

    for source_id, english_ids in paired.items():
        add("source", source_id, sources[source_id])
        for english_id in english_ids:
            add("english", english_id, english[english_id])
    rest_sources = [(i, t) for i, t in sources.items() if ("source", i) not in placed]
    rest_english = [(i, t) for i, t in english.items() if ("english", i) not in placed]
    for source, target in zip_longest(rest_sources, rest_english):
        if source is not None:
            add("source", *source)
        if target is not None:
            add("english", *target)
    return examples


BUCC_LANGUAGES = ("de", "fr", "ru", "zh")

BUCC = register_task(
    Task(
        name="bucc",
        format=BITEXT_MINING,
        phases=frozenset({"evaluate"}),
        languages=BUCC_LANGUAGES,
        metric="f1",
        description="BUCC 2018 bitext mining (de fr ru zh -> en), XTREME's margin-based mining of pooled "
        "encoder states; the F1-optimal threshold on dev (the release's sample set) is applied "
        "to test (its training set). Local files only: the Hub's google/xtreme bucc18 configs "
        "hold the gold pairs without the distractor sentences",
        read_local=read_bucc_folder,
        eval_splits=("dev", "test"),
        main_metrics=("f1",),
        submission=Submission(folder="bucc2018"),
        scoring=Scoring(score_bucc, takes_threshold=True),
    )
)
