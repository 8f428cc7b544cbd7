"""Which parts of a task's examples are text to translate, and putting translations back.

A task format names its text fields in ``TaskFormat.text_fields`` (classification: ``text_a``,
``text_b``; multiple choice: ``context``, ``choices``). A field holds a string, a list of strings (the
choices) or None (a single-sentence task's missing ``text_b``); every other field (ids, labels, label
indices) is copied unchanged, so a translated example has exactly the original schema and labels.

Span QA is translated with its answers marked and found again (`stilts.translate.spans`). Some formats
cannot be translated string by string, and `check_translatable` refuses them:

- token tagging (CCG, POS, NER): tags belong to words, and translation changes the words;
- tasks that do not train (retrieval), and tasks neither intermediate nor a target: a translated set is
  used as an intermediate task ``<task>@<lang>``, or trains a target (translate-train: ``pawsx@de``).
"""

from __future__ import annotations

from collections.abc import Iterator

from stilts.core.catalog import Task
from stilts.core.errors import BadInput


def check_translatable(task: Task, where: str = "--task") -> None:
    """BadInput (one line) when ``task``'s examples cannot be machine-translated field by field."""
    reason = None
    if not task.format.text_fields:
        reason = (
            f"its {task.format.name} examples have no text fields to translate (labels are tied to the original words)"
        )
    elif "intermediate" not in task.phases and not ("target" in task.phases and task.format.trains):
        reason = (
            "translated data is used as an intermediate task '<task>@<lang>', or trains a target "
            f"(translate-train), and {task.name} is neither"
        )
    if reason is not None:
        raise BadInput(f"{where}: cannot translate '{task.name}': {reason}")


def _strings(example: dict, fields: tuple[str, ...], where: str) -> Iterator[str]:
    for name in fields:
        value = example.get(name)
        if value is None or isinstance(value, str):
            if value is not None:
                yield value
        elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            yield from value
        else:
            raise BadInput(f"{where}: field '{name}' is a {type(value).__name__}, not a string or a list of strings")


def collect_texts(examples: list[dict], fields: tuple[str, ...]) -> list[str]:
    """Every distinct string of the text fields, in order of first appearance.

    Identical strings are translated once: HellaSwag repeats contexts across examples (one video
    caption gives several questions), MNLI repeats premises (each premise has three hypotheses)."""
    seen: dict[str, None] = {}
    for number, example in enumerate(examples):
        for text in _strings(example, fields, f"example {number} (id {example.get('id')!r})"):
            seen.setdefault(text, None)
    return list(seen)


def apply_translations(examples: list[dict], fields: tuple[str, ...], translations: dict[str, str]) -> list[dict]:
    """Copies of ``examples`` with every string of the text fields replaced by its translation."""
    translated = []
    for example in examples:
        copy = dict(example)
        for name in fields:
            value = example.get(name)
            if isinstance(value, str):
                copy[name] = translations[value]
            elif isinstance(value, (list, tuple)):
                copy[name] = [translations[item] for item in value]
        translated.append(copy)
    return translated
