"""Sentence retrieval data: Tatoeba (LASER test set) and BUCC 2018 (bitext mining).

- Tatoeba: ``tatoeba.{iso3}-eng.{iso3}`` and ``tatoeba.{iso3}-eng.eng``, aligned line by line: line i of
  one is the translation of line i of the other, so the right answer for source sentence i is English
  line i (indices here always refer to the ``.eng`` file's own order; XTREME's preprocessing sorts the
  English side, jiant keeps it).
- BUCC 2018: ``{xx}-en.{split}.{xx}`` and ``{xx}-en.{split}.en`` (``ID\\tsentence``) and
  ``{xx}-en.{split}.gold`` (``xxID\\tenID``). XTREME renames split ``sample`` to ``dev`` and ``training``
  to ``test``; any split name works here.
"""

from __future__ import annotations

import re
from pathlib import Path

from stilts.core.errors import BadInput
from stilts.data.readers._io import as_path, numbered_lines

# docs/tasks.md, "Tatoeba ISO 639-3 -> 639-1 mapping" (XTREME utils_preprocess.tatoeba_preprocess)
TATOEBA_ISO3_TO_ISO1 = {
    "afr": "af",
    "ara": "ar",
    "bul": "bg",
    "ben": "bn",
    "deu": "de",
    "ell": "el",
    "spa": "es",
    "est": "et",
    "eus": "eu",
    "pes": "fa",
    "fin": "fi",
    "fra": "fr",
    "heb": "he",
    "hin": "hi",
    "hun": "hu",
    "ind": "id",
    "ita": "it",
    "jpn": "ja",
    "jav": "jv",
    "kat": "ka",
    "kaz": "kk",
    "kor": "ko",
    "mal": "ml",
    "mar": "mr",
    "nld": "nl",
    "por": "pt",
    "rus": "ru",
    "swh": "sw",
    "tam": "ta",
    "tel": "te",
    "tha": "th",
    "tgl": "tl",
    "tur": "tr",
    "urd": "ur",
    "vie": "vi",
    "cmn": "zh",
}
TATOEBA_ISO1_TO_ISO3 = {iso1: iso3 for iso3, iso1 in TATOEBA_ISO3_TO_ISO1.items()}

_TATOEBA_NAME = re.compile(r"^tatoeba\.([a-z]{3})-eng\.([a-z]{3})$")
_BUCC_NAME = re.compile(r"^([a-z]{2})-en\.([^.]+)(?:\.([a-z]{2}|gold))?$")


def _lines(path: Path) -> list[str]:
    return [line for _, line in numbered_lines(path)]


def tatoeba_paths(path) -> tuple[Path, Path, str]:
    """(source file, English file, ISO 639-1 language) from either file of a Tatoeba pair."""
    path = as_path(path)
    match = _TATOEBA_NAME.match(path.name)
    if not match or match.group(2) not in (match.group(1), "eng"):
        raise BadInput(f"{path}: not a Tatoeba file name (expected tatoeba.xxx-eng.xxx or tatoeba.xxx-eng.eng)")
    iso3 = match.group(1)
    if iso3 not in TATOEBA_ISO3_TO_ISO1:
        raise BadInput(f"{path}: language '{iso3}' is not one of the 36 XTREME Tatoeba languages")
    return (
        path.with_name(f"tatoeba.{iso3}-eng.{iso3}"),
        path.with_name(f"tatoeba.{iso3}-eng.eng"),
        TATOEBA_ISO3_TO_ISO1[iso3],
    )


def read_tatoeba(path) -> tuple[list[str], list[str]]:
    """(source sentences, English sentences) of a Tatoeba pair; give either file of the pair."""
    source_path, english_path, _ = tatoeba_paths(path)
    sources, english = _lines(source_path), _lines(english_path)
    if len(sources) != len(english):
        raise BadInput(
            f"{source_path}: {len(sources)} lines but {english_path.name} has "
            f"{len(english)}; the files must be aligned line by line"
        )
    return sources, english


def bucc_paths(path) -> tuple[Path, Path, Path, str]:
    """(source file, English file, gold file, language) from any BUCC file or the ``xx-en.split``
    prefix."""
    path = as_path(path)
    match = _BUCC_NAME.match(path.name)
    if not match:
        raise BadInput(f"{path}: not a BUCC file name (expected xx-en.SPLIT.xx, xx-en.SPLIT.en or xx-en.SPLIT.gold)")
    language, split = match.group(1), match.group(2)
    stem = f"{language}-en.{split}"
    return (
        path.with_name(f"{stem}.{language}"),
        path.with_name(f"{stem}.en"),
        path.with_name(f"{stem}.gold"),
        language,
    )


def read_bucc_sentences(path) -> dict[str, str]:
    """``ID\\tsentence`` lines -> {id: sentence}."""
    path = as_path(path)
    sentences: dict[str, str] = {}
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        sentence_id, tab, sentence = line.partition("\t")
        if not tab or not sentence_id.strip():
            raise BadInput(f"{path}: line {number}: expected 'ID<TAB>sentence'")
        if sentence_id in sentences:
            raise BadInput(f"{path}: line {number}: duplicate sentence id '{sentence_id}'")
        sentences[sentence_id] = sentence
    return sentences


def read_bucc_gold(path) -> set[tuple[str, str]]:
    """``xxID\\tenID`` lines -> {(source id, English id)}."""
    path = as_path(path)
    gold: set[tuple[str, str]] = set()
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        cells = line.strip().split("\t")
        if len(cells) != 2:
            raise BadInput(f"{path}: line {number}: expected 'sourceID<TAB>englishID', found {len(cells)} field(s)")
        gold.add((cells[0], cells[1]))
    return gold


def read_bucc(path) -> tuple[dict[str, str], dict[str, str], set[tuple[str, str]] | None]:
    """(source id -> sentence, English id -> sentence, gold pairs or None when the split has no
    ``.gold`` file); give any file of the split or its ``xx-en.split`` prefix. Gold ids must exist."""
    source_path, english_path, gold_path, _ = bucc_paths(path)
    sources, english = read_bucc_sentences(source_path), read_bucc_sentences(english_path)
    if not gold_path.is_file():
        return sources, english, None
    gold = read_bucc_gold(gold_path)
    for number, line in numbered_lines(gold_path):
        cells = line.strip().split("\t")
        if len(cells) == 2 and (cells[0] not in sources or cells[1] not in english):
            unknown, where = (cells[0], source_path) if cells[0] not in sources else (cells[1], english_path)
            raise BadInput(f"{gold_path}: line {number}: id '{unknown}' is not in {where.name}")
    return sources, english, gold
