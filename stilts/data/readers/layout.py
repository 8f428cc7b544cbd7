"""Where a task's release files lie in a local folder, declared as data.

A `FileLayout` names, per split, the files to try (first found wins) and the parser of one file; an
instance is the task's ``read_local(folder, split, language)``. `find_file` is the one place that looks
for files and says what it looked for when none is there; layouts that need code (BUCC's file sets,
TyDiQA's files by language name, ANLI's round folders) call it too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stilts.core.collector import Collector
from stilts.core.errors import MissingSplit, Unlabelled

SPLITS = ("train", "dev", "test")

#: (path of the file found, language asked for) -> examples
Parser = Callable[[Path, "str | None"], list[dict]]


_FILES_READ: Collector[Path] = Collector("files_read")


def noting_files_read() -> contextlib.AbstractContextManager[list[Path]]:
    """The files the readers called inside open (`find_file` notes each file it finds; readers that
    find files otherwise call `note_file_read`), for the record of where a split came from."""
    return _FILES_READ.collecting()


def note_file_read(path: Path) -> None:
    _FILES_READ.add(Path(path))


def find_file(folder: Path, names: Iterable[str], what: str) -> Path:
    """The first of ``names`` (paths relative to ``folder``) that is a file; none is a MissingSplit
    ``<folder>: no <what> (looked for <names>)``, which evaluation catches to skip the split."""
    names = list(names)
    for name in names:
        if (folder / name).is_file():
            note_file_read(folder / name)
            return folder / name
    raise MissingSplit(f"{folder}: no {what} (looked for {', '.join(names)})")


def labelled(examples: list[dict], path: Path, field: str = "label", why: str = "") -> list[dict]:
    """``examples``, or `Unlabelled` when the file has no labels (XTREME strips its test files'):
    evaluation skips it as missing rather than scoring every answer as wrong, `stilts predict` takes it.
    The readers decide labelled or not per file (`stilts.data.readers._io.WholeFileLabels`), so the first
    example speaks for all."""
    if examples and examples[0][field] is None:
        raise Unlabelled(f"{path}: no labels in this file{f' ({why})' if why else ''}", examples)
    return examples


_NOTES: Collector[str] = Collector("notes")


def collecting_notes() -> contextlib.AbstractContextManager[list[str]]:
    """The lines the readers called inside `note`, each once, for the caller to log."""
    return _NOTES.collecting()


def note(line: str) -> None:
    """Say what a reader left out of a file it read (how many, naming the file), for `collecting_notes`;
    without a collector the line goes to stderr: nothing is left out unsaid."""
    if not _NOTES.add(line):
        print(f"note: {line}", file=sys.stderr)


def ignoring_language(reader: Callable[[Path], list[dict]]) -> Parser:
    """A parser from a reader of one file whose content does not depend on the language asked for."""

    def parse(path: Path, language: str | None) -> list[dict]:
        return reader(path)

    parse.__doc__ = reader.__doc__
    return parse


def _and_list(words) -> str:
    words = list(words)
    return " and ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} and {words[-1]}"


@dataclass(frozen=True)
class FileLayout:
    """A ``read_local`` declared as data: ``FileLayout("PAWS-X", {"dev": ("dev-{language}.tsv",
    "x-final/{language}/dev_2k.tsv")}, parse=...)``.

    Reading a split the layout has no entry for, a language outside ``languages``, or a folder without
    any of the split's files raises MissingSplit naming the folder and what was looked for.
    """

    #: the data set's name in messages ("PAWS-X"); "" for a generic layout
    what: str
    #: split -> file names relative to the folder, in the order tried; ``{language}`` is replaced by
    #: the language asked for
    files: Mapping[str, tuple[str, ...]]
    parse: Parser
    #: why the splits missing from ``files`` are missing ("the test labels are not public")
    split_note: str = ""
    #: the only languages the files hold (an English-only data set); empty: any language
    languages: tuple[str, ...] = ()
    #: (examples of a train file, its path) -> those a model can be trained on, where training needs
    #: more of them than evaluation (SQuAD: an answer at its offset, `stilts.data.readers.qa.training_questions`)
    trainable: Callable[[list[dict], Path], list[dict]] | None = None

    def __call__(self, folder: Path, split: str, language: str | None = None) -> list[dict]:
        folder = Path(folder)
        if self.languages and language is not None and language not in self.languages:
            raise MissingSplit(f"{folder}: {self.what} has no '{language}' data ({_and_list(self.languages)} only)")
        if split not in self.files:
            note = f": {self.split_note}" if self.split_note else ""
            raise MissingSplit(
                f"{folder}: {self.what or 'the data set'} has no {split} split ({_and_list(self.files)} only{note})"
            )
        path = find_file(folder, self.names(split, language), self.describe(split, language))
        examples = self.parse(path, language)
        return self.trainable(examples, path) if split == "train" and self.trainable else examples

    def names(self, split: str, language: str | None) -> list[str]:
        return [pattern.format(language=language) for pattern in self.files[split]]

    def describe(self, split: str, language: str | None) -> str:
        """What a missing file is called in messages: ``PAWS-X dev file for 'de'``."""
        per_language = any("{language}" in pattern for pattern in self.files[split])
        return " ".join(filter(None, (self.what, split, "file"))) + (f" for '{language}'" if per_language else "")
