"""Token tagging: UD CoNLL-U (UPOS), PAN-X / WikiANN NER, and generic CoNLL ``word tag`` files.

Every reader returns sentences ``{"id", "tokens": [...], "tags": [...]}``.

UD POS follows XTREME's conversion, not the Hub's ``google/xtreme`` ``udpos`` configs (docs/tasks.md,
"POS tokens differ by pipeline"): XTREME runs ``ud-conversion-tools`` with
``replace_subtokens_with_fused_forms=True`` and then ``utils_preprocess.udpos_preprocess``:

- a multiword token (``3-4  du`` over ``3 de ADP`` and ``4 le DET``) becomes ONE token with the
  surface (fused) form; it keeps the UPOS of the span's head word, chosen as in
  ``DependencyTree._choose_spanhead_from_heuristics``: the word of the span with the fewest ancestors
  in the dependency graph (basic heads plus enhanced DEPS edges, as ``CoNLLReader.read_conll_u``
  builds it); on a tie, the word whose UPOS comes first in the language's precedence list
  (``pos_rank_precedence_dict``), the first such word in the span winning. So French ``du`` is ADP and
  English ``I'm`` is PRON. Where XTREME would crash (a tied UPOS missing from the list) we rank it last.
- empty nodes (``8.1``) are skipped;
- a sentence whose forms are all (or all but one) ``_`` is dropped (``_read_one_file``: Arabic-NYUAD
  ships without text); so is one whose tags are all ``_``;
- zero-width non-joiners are deleted and spaces inside a form removed (``remove_empty_space``).
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.errors import BadInput
from stilts.data.readers._io import WholeFileLabels, as_path, check_label, numbered_lines

UPOS_TAGS = (
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
)
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# XTREME / jiant ``pos_rank_precedence_dict`` (the French list really says CONJ, the UD v1 name).
_POS_PRECEDENCE = {
    "default": "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT".split(),
    "es": "VERB AUX PRON ADP DET".split(),
    "fr": "VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split(),
    "it": "VERB AUX ADV PRON ADP DET INTJ".split(),
}


# --------------------------------------------------------------------------- CoNLL-U (UD)


class _Sentence:
    def __init__(self, first_line: int):
        self.first_line = first_line
        self.sent_id: str | None = None
        self.words: dict[int, tuple[str, str, int]] = {}  # id -> (form, upos, line)
        self.parents: dict[int, set[int]] = {}  # id -> heads (basic + enhanced)
        self.multiword: list[tuple[int, int, str, int]] = []  # (start, end, fused form, line)


def _parse_conllu(path: Path) -> list[_Sentence]:
    sentences: list[_Sentence] = []
    current: _Sentence | None = None
    for number, line in numbered_lines(path):
        if not line.strip():
            if current is not None and (current.words or current.multiword):
                sentences.append(current)
            current = None
            continue
        if current is None:
            current = _Sentence(number)
        if line.startswith("#"):
            if line.startswith("# sent_id") and "=" in line:
                current.sent_id = line.split("=", 1)[1].strip()
            continue
        cells = line.split("\t")
        if len(cells) != 10:
            raise BadInput(
                f"{path}: line {number}: a CoNLL-U token line has 10 tab-separated fields, found {len(cells)}"
            )
        token_id, form, upos, head, deps = cells[0], cells[1], cells[3], cells[6], cells[8]
        if "." in token_id:  # empty node of the enhanced graph: not a word
            continue
        if "-" in token_id:
            start, _, end = token_id.partition("-")
            if not (start.isdigit() and end.isdigit()) or int(start) > int(end):
                raise BadInput(f"{path}: line {number}: bad multiword token range '{token_id}'")
            current.multiword.append((int(start), int(end), form, number))
            continue
        if not token_id.isdigit():
            raise BadInput(f"{path}: line {number}: bad token ID '{token_id}'")
        word = int(token_id)
        current.words[word] = (form, upos, number)
        heads = current.parents.setdefault(word, set())
        if head.isdigit():
            heads.add(int(head))
        elif head != "_":
            raise BadInput(f"{path}: line {number}: bad HEAD '{head}'")
        if deps != "_":  # conll.parse_deps keeps the pairs whose head is an integer
            for pair in deps.split("|"):
                dep_head = pair.split(":", 1)[0]
                if dep_head.isdigit():
                    heads.add(int(dep_head))
    if current is not None and (current.words or current.multiword):
        sentences.append(current)
    return sentences


def _ancestor_count(word: int, parents: dict[int, set[int]]) -> int:
    seen: set[int] = set()
    stack = list(parents.get(word, ()))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(parents.get(node, ()))
    seen.discard(word)  # networkx.ancestors excludes the node itself, even on a cycle
    return len(seen)


def _span_head(span: list[int], sentence: _Sentence, precedence: list[str]) -> int:
    """``DependencyTree._choose_spanhead_from_heuristics``."""
    depth = {w: _ancestor_count(w, sentence.parents) for w in span}
    shallowest = min(depth.values())
    highest = [w for w in span if depth[w] == shallowest]
    if len(highest) == 1:
        return highest[0]

    def rank(word: int) -> int:
        upos = sentence.words[word][1]
        return precedence.index(upos) if upos in precedence else len(precedence)

    return min(highest, key=rank)  # min keeps the first of equal ranks, as the strict '<' loop does


def _fuse(sentence: _Sentence, path: Path, precedence: list[str]) -> tuple[list[str], list[str]]:
    replaced: dict[int, str] = {}  # span head -> fused form
    dropped: set[int] = set()
    for start, end, form, number in sentence.multiword:
        span = list(range(start, end + 1))
        missing = [w for w in span if w not in sentence.words]
        if missing:
            raise BadInput(f"{path}: line {number}: multiword token {start}-{end} covers missing word {missing[0]}")
        head = _span_head(span, sentence, precedence)
        replaced[head] = form
        dropped.update(w for w in span if w != head)
    tokens, tags = [], []
    for word in sorted(sentence.words):
        if word in dropped:
            continue
        form, upos, _ = sentence.words[word]
        tokens.append(replaced.get(word, form))
        tags.append(upos)
    return tokens, tags


def _xtreme_keeps(tokens: list[str], tags: list[str]) -> bool:
    # utils_preprocess._read_one_file: keep if num_empty == 0 or num_empty < len(sent) - 1
    num_empty = sum(token == "_" for token in tokens)
    if not (num_empty == 0 or num_empty < len(tokens) - 1):
        return False
    return not all(tag == "_" for tag in tags)


def read_conllu_upos(path, language: str | None = None) -> list[dict]:
    """UD CoNLL-U -> sentences of (token, UPOS) with XTREME's fused multiword forms (module docstring).

    ``language`` (ISO 639-1) picks the span-head precedence list; by default it is taken from the file
    name as XTREME does (``fr_gsd-ud-test.conllu`` -> ``fr``).
    """
    path = as_path(path)
    language = language or path.name.split("_")[0]
    precedence = _POS_PRECEDENCE.get(language, _POS_PRECEDENCE["default"])
    examples = []
    for sentence in _parse_conllu(path):
        tokens, tags = _fuse(sentence, path, precedence)
        if not tokens or not _xtreme_keeps(tokens, tags):
            continue
        for _, upos, number in sentence.words.values():
            check_label(upos, UPOS_TAGS, path, number, "UPOS tag")
        # utils_preprocess.remove_empty_space
        tokens = ["".join(token.replace("\u200c", "").split(" ")) for token in tokens]
        examples.append(
            {"id": sentence.sent_id or f"{path.stem}:{sentence.first_line}", "tokens": tokens, "tags": tags}
        )
    return examples


# --------------------------------------------------------------------------- CoNLL word/tag files


def _read_columns(path: Path, split_line, labels) -> list[dict]:
    """Sentences from one-token-per-line files with blank lines between sentences. ``split_line`` gives
    (token, tag), the tag None for an unlabelled file's token-only lines: its sentences' ``tags`` are None.
    A file is tagged on every token line or on none (`WholeFileLabels`)."""
    examples = []
    tokens: list[str] = []
    tags: list[str | None] = []
    first_line = 0
    tagged = WholeFileLabels(path, "tag")

    def sentence() -> dict:
        return {"id": f"{path.stem}:{first_line}", "tokens": tokens, "tags": None if tags[0] is None else tags}

    for number, line in numbered_lines(path):
        if not line.strip():
            if tokens:
                examples.append(sentence())
            tokens, tags = [], []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        token, tag = split_line(line, number)
        tag = tagged.agree(tag, number)
        if labels is not None and tag is not None:
            check_label(tag, labels, path, number, "tag")
        if not tokens:
            first_line = number
        tokens.append(token)
        tags.append(tag)
    if tokens:
        examples.append(sentence())
    return examples


def read_conll(path, labels=None) -> list[dict]:
    """Generic CoNLL ``word tag`` (space or tab separated; first column = word, last = tag), as in the
    XGLUE NER/POS files and CoNLL-2002/2003. ``-DOCSTART-`` lines are skipped. With ``labels``, a tag
    outside them is an error."""
    path = as_path(path)

    def split_line(line: str, number: int) -> tuple[str, str]:
        cells = line.split()
        if len(cells) < 2:
            raise BadInput(f"{path}: line {number}: expected 'word tag', found {line.strip()!r}")
        return cells[0], cells[-1]

    return _read_columns(path, split_line, labels)


def read_panx(path, language: str | None = None) -> list[dict]:
    """PAN-X / WikiANN NER (IOB2): XTREME's ``token\\tTAG`` files or the original Rahimi et al. files
    (``en:token\\tTAG``), whose ``lang:`` prefix is removed as XTREME's ``panx_preprocess`` does.

    The form is decided by the first token: the prefix ``xx:`` (``language`` when given, else any
    2-3 letter code) is then required on every line and cut off, so tokens such as ``http://...`` in
    XTREME's files are never cut. A file of tokens only (XTREME's test files) has ``tags`` None.
    """
    path = as_path(path)
    prefix = _panx_prefix(path, language)
    width = 0  # the first line's number of fields: 2, or 1 in XTREME's unlabelled test files

    def split_line(line: str, number: int) -> tuple[str, str | None]:
        nonlocal width
        cells = line.strip().split("\t")
        width = width or min(len(cells), 2)
        if len(cells) != width:
            expected = "token<TAB>tag" if width == 2 else "token (an unlabelled file)"
            raise BadInput(f"{path}: line {number}: expected '{expected}', found {len(cells)} tab-separated field(s)")
        token, tag = cells[0].strip(), (cells[1].strip() if width == 2 else None)
        if prefix is not None:
            if not token.startswith(prefix):
                raise BadInput(f"{path}: line {number}: token {token!r} lacks the '{prefix}' prefix of the other lines")
            token = token[len(prefix) :]
        return token, tag

    return _read_columns(path, split_line, PANX_TAGS)


def _panx_prefix(path: Path, language: str | None) -> str | None:
    for _, line in numbered_lines(path):
        if not line.strip():
            continue
        token = line.split("\t", 1)[0].strip()
        code, colon, rest = token.partition(":")
        if (
            colon
            and rest
            and (code == language if language else (2 <= len(code) <= 3 and code.isalpha() and code.islower()))
        ):
            return code + ":"
        return None
    return None
