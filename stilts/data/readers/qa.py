"""Extractive QA in SQuAD JSON: SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP.

All of them share the SQuAD v1.1 layout
``{"version", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}``. Examples come out in the Hugging Face ``squad`` schema:
``{"id", "title", "context", "question", "answers": {"text": [...], "answer_start": [...]}}``.
SQuAD v2.0 unanswerable questions (``is_impossible``) have empty answer lists, as on the Hub;
``plausible_answers`` are not answers and are dropped. Ids are not checked for uniqueness: XTREME's
per-language TyDiQA train files keep only the last ``-`` part of each id, which repeats.

Answers. Every field is type-checked (``answer_start`` an integer, not true/false). Evaluation scores the
answer texts only, so `read_squad` keeps the answers of dev and test files as they are. Training reads
the character span ``answer_start`` .. ``answer_start + len(text)`` of each question's first answer
(`stilts.formats.span_qa`), so a training file goes through `training_questions`:

- an answer whose span is not inside its context (a negative ``answer_start``, or one past the end)
  is a bad line naming the file and the question id: such a file is damaged, not noisy;
- a question whose first answer cannot be located, its text not at ``answer_start`` (or empty), or
  that has no answer where every question has one (SQuAD v1.1, TyDiQA-GoldP), is skipped, as XTREME's
  preprocessing skips it (transformers' ``squad_convert_examples_to_features``: "Could not find
  answer"), and counted: a note per file says how many (`stilts.data.readers.layout.note`). When more than
  half of a file's questions are skipped the file is refused: its offsets do not belong to its texts.
"""

from __future__ import annotations

from stilts.core.errors import BadInput
from stilts.data.readers._io import as_path, is_kind, json_type, kind_name, read_json
from stilts.data.readers.layout import note

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


#: a training file with more than this share of its questions skipped is refused
MAX_SKIPPED_SHARE = 0.5


def training_questions(examples: list[dict], path, *, unanswerable: bool = False) -> list[dict]:
    """The questions of a SQuAD-format training file that a model can be trained on (module docstring:
    bad offsets are a BadInput, unlocatable answers are skipped and counted). ``unanswerable``: the file
    may hold questions without an answer (SQuAD v2.0), which train the no-answer position."""
    path = as_path(path)
    kept: list[dict] = []
    skipped: list[dict] = []
    for example in examples:
        context, answers = example["context"], example["answers"]
        for text, start in zip(answers["text"], answers["answer_start"]):
            where = f"{path}: question '{example['id']}'"
            if not 0 <= start <= len(context):
                raise BadInput(f"{where}: answer_start {start} is outside the context ({len(context)} characters)")
            if start + len(text) > len(context):
                raise BadInput(
                    f"{where}: the answer {text!r} at answer_start {start} runs past the end of the context "
                    f"({len(context)} characters)"
                )
        if answers["text"]:
            text, start = answers["text"][0], answers["answer_start"][0]
            located = bool(text) and context[start : start + len(text)] == text
        else:
            located = unanswerable
        (kept if located else skipped).append(example)
    if not skipped:
        return kept
    what = f"training questions with no answer at the answer_start given (first: question '{skipped[0]['id']}')"
    if len(skipped) > MAX_SKIPPED_SHARE * len(examples):
        raise BadInput(f"{path}: {len(skipped)} of {len(examples)} {what}: are the offsets those of other texts?")
    note(f"{path}: skipped {len(skipped)} of {len(examples)} {what}")
    return kept


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
