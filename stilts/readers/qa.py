"""Extractive QA in SQuAD JSON: SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP.

All of them share the SQuAD v1.1 layout
``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}``. Examples come out in the Hugging Face ``squad`` schema:
``{"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}``.
SQuAD v2.0 unanswerable questions (``is_impossible``) have empty answer lists, as on the Hub;
``plausible_answers`` are not answers and are dropped. Ids are not checked for uniqueness: XTREME's
per-language TyDiQA train files keep only the last ``-`` part of each id, which repeats.

Every field is type-checked (``answer_start`` an integer, not true/false).
"""

from __future__ import annotations

from stilts.errors import BadInput
from stilts.readers._io import as_path, is_kind, json_type, kind_name, read_json

# TyDiQA ids start with the language's English name: "english-1234...". XTREME's per-language
# files (tydiqa.goldp.xx.train.json) have the prefix cut off already. Id prefix -> language code.
TYDIQA_ID_PREFIXES = {
    "arabic": "ar",
    "bengali": "bn",
    "english": "en",
    "finnish": "fi",
    "indonesian": "id",
    "korean": "ko",
    "russian": "ru",
    "swahili": "sw",
    "telugu": "te",
}


def _expect(value, kind, path, where: str, what: str):
    if not is_kind(value, kind):
        raise BadInput(f"{path}: {where}: {what} should be {kind_name(kind)}, found {json_type(value)}")
    return value


def _get(obj: dict, key: str, kind, path, where: str):
    if not isinstance(obj, dict):
        raise BadInput(f"{path}: {where}: expected a JSON object, found {type(obj).__name__}")
    if key not in obj:
        raise BadInput(f"{path}: {where}: missing field '{key}'")
    return _expect(obj[key], kind, path, f"{where}.{key}", f"'{key}'")


def read_squad(path) -> list[dict]:
    """Every question of a SQuAD-format JSON file, in file order."""
    path = as_path(path)
    document = read_json(path)
    articles = _get(document, "data", list, path, "top level")
    examples = []
    for a, article in enumerate(articles):
        where_article = f"data[{a}]"
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, paragraph in enumerate(_get(article, "paragraphs", list, path, where_article)):
            where_paragraph = f"{where_article}.paragraphs[{p}]"
            context = _get(paragraph, "context", str, path, where_paragraph)
            for q, qa in enumerate(_get(paragraph, "qas", list, path, where_paragraph)):
                where = f"{where_paragraph}.qas[{q}]"
                question_id = str(_get(qa, "id", (str, int), path, where))
                texts, starts = [], []
                for n, answer in enumerate(_get(qa, "answers", list, path, where)):
                    texts.append(_get(answer, "text", str, path, f"{where}.answers[{n}]"))
                    starts.append(_get(answer, "answer_start", int, path, f"{where}.answers[{n}]"))
                examples.append(
                    {
                        "id": question_id,
                        "title": title if isinstance(title, str) else str(title),
                        "context": context,
                        "question": _get(qa, "question", str, path, where),
                        "answers": {"text": texts, "answer_start": starts},
                    }
                )
    return examples


def tydiqa_language(question_id: str) -> str | None:
    """ISO 639-1 code from a TyDiQA id prefix (``english-...`` -> ``en``), None without one."""
    return TYDIQA_ID_PREFIXES.get(question_id.split("-", 1)[0])


def read_tydiqa(path, language: str | None = None) -> list[dict]:
    """TyDiQA-GoldP questions, keeping one language when ``language`` (ISO 639-1) is given.

    The official files mix languages and mark them by id prefix (jiant's downloader writes the whole
    multilingual train file for ``tydiqa_en``: filter it). Ids without a language prefix come from
    XTREME's per-language files and are kept as they are.
    """
    examples = read_squad(path)
    if language is None:
        return examples
    if language not in TYDIQA_ID_PREFIXES.values():
        raise BadInput(
            f"{as_path(path)}: TyDiQA has no language '{language}' "
            f"(languages: {', '.join(sorted(TYDIQA_ID_PREFIXES.values()))})"
        )
    return [e for e in examples if tydiqa_language(e["id"]) in (None, language)]
