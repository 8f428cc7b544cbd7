"""Translating span-QA examples with their answers kept: the answer is marked in the context before
translation and found again after it.

An answer is a character span of its context, and a translated context has other characters, so the
span cannot be carried over; instead each question's context is translated with its first answer
between two marker characters (``[`` and ``]``, or the first other pair the context does not hold),
and the answer is what the translation holds between them: its text, and its offset once the markers
are taken out. A translation that does not hold each marker exactly once, in order, with text between
them, lost the answer, and that question is left out (counted, and said). The question is translated
on its own. A question without an answer (SQuAD v2.0's unanswerable ones) keeps none, its context
translated unmarked.

Each question's context is a string of its own to translate (marked where its answer is), so a
paragraph with five questions is translated five times where their answers differ: translate-train of
SQuAD costs about its question count in contexts, not its paragraph count. Only the first answer of a
question is kept (training reads only that one; dev sets with several answers lose the others).
"""

from __future__ import annotations

from dataclasses import dataclass

#: marker pairs, the first one whose characters the context does not hold is used
MARKERS = (("[", "]"), ("{", "}"), ("«", "»"), ("<", ">"))


@dataclass(frozen=True)
class Marked:
    """One question's strings to translate: its context with the answer marked (or unmarked where it
    has none, or none of the pairs is free), its question, and the pair used."""

    context: str
    question: str
    markers: tuple[str, str] | None


def mark(example: dict) -> Marked:
    """``example``'s context with its first answer between markers (None where it has no answer, or
    every pair occurs in its context already)."""
    context, answers = example["context"], example["answers"]
    if not answers["text"]:
        return Marked(context, example["question"], None)
    text, start = answers["text"][0], answers["answer_start"][0]
    for opening, closing in MARKERS:
        if opening not in context and closing not in context:
            end = start + len(text)
            marked = f"{context[:start]}{opening}{context[start:end]}{closing}{context[end:]}"
            return Marked(marked, example["question"], (opening, closing))
    return Marked(context, example["question"], None)


def unmark(translated: str, markers: tuple[str, str]) -> tuple[str, str, int] | None:
    """(context, answer, answer_start) from a translation of a marked context, or None where the
    markers did not come through (each exactly once, in order, with text between them). Spaces just
    inside the markers are left out of the context and the answer."""
    opening, closing = markers
    if translated.count(opening) != 1 or translated.count(closing) != 1:
        return None
    start = translated.index(opening)
    end = translated.index(closing)
    if end < start:
        return None
    answer = translated[start + len(opening) : end].strip()
    if not answer:
        return None
    before, after = translated[:start], translated[end + len(closing) :]
    return before + answer + after, answer, len(before)


def strings(examples: list[dict]) -> tuple[list[Marked], list[str]]:
    """Each example's marked strings, and every distinct string to translate, in order of first use."""
    marked = [mark(example) for example in examples]
    texts: dict[str, None] = {}
    for each in marked:
        texts.setdefault(each.context, None)
        texts.setdefault(each.question, None)
    return marked, list(texts)


def translated_examples(
    examples: list[dict], marked: list[Marked], translations: dict[str, str]
) -> tuple[list[dict], list[str]]:
    """Copies of ``examples`` with context, question and first answer translated, and the ids of the
    questions left out because their answer did not come through."""
    out, lost = [], []
    for example, each in zip(examples, marked, strict=True):
        copy = dict(example, question=translations[each.question])
        if not example["answers"]["text"]:  # unanswerable: nothing to keep
            out.append(dict(copy, context=translations[each.context]))
            continue
        found = unmark(translations[each.context], each.markers) if each.markers else None
        if found is None:
            lost.append(str(example["id"]))
            continue
        context, answer, start = found
        out.append(dict(copy, context=context, answers={"text": [answer], "answer_start": [start]}))
    return out, lost
