"""A multilingual MLM corpus with alpha-smoothed language sampling (XLM; Phang et al. 2020, §2.3).

With n_i sentences in language i, p_i = n_i / sum_k n_k and q_i = p_i^alpha / sum_j p_j^alpha; the
corpus holds round(q_i * total) sentences of language i. With alpha < 1 small languages get more than
their share: at alpha = 0.3, two languages at 100:1 are sampled at about 4:1. A language with fewer
sentences than its quota is upsampled: every sentence is repeated the same number of times (full
passes), and the remainder is a sample without replacement, so no sentence is over-represented
by chance.

The build streams; no step holds the corpus in memory, whatever its size:

1. count the non-empty lines of every file (and check they are UTF-8);
2. choose line indices per language (held-out dev lines first, at most `MAX_DEV_FRACTION` of the
   language's lines, then the training lines: a sorted array of indices, at most the corpus size);
3. a second pass over the files writes the chosen lines of each language to temporary bucket files,
   each line to a random bucket;
4. the shards are written by drawing, for each line, a language with probability proportional to its
   remaining line count (a random permutation of the languages' lines), and taking that language's
   next line; a language's lines come bucket by bucket, each bucket shuffled in memory, so lines of a
   language (and the copies of an upsampled line) are spread over the corpus in random order.

Output folder (written under a temporary name and renamed into place when complete):
``shard-00000.txt ...`` and ``dev.txt`` with lines ``language<TAB>sentence``, and ``manifest.json``.
Everything is determined by the seed.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from tqdm.auto import tqdm

from stilts.core import defaults
from stilts.core.artifacts import atomic_folder
from stilts.core.errors import BadInput
from stilts.mlm.languages import language_from_filename, normalize_language

SHARD_PATTERN = "shard-{:05d}.txt"
SHARD_GLOB = "shard-*.txt"
DEV_FILE = "dev.txt"
MANIFEST_FILE = "manifest.json"
DEFAULT_DEV_SENTENCES = 1000
#: most of a language's lines that its dev share may take (the usual 90/10 hold-out). The dev quota
#: follows q like the training quota, so with alpha < 1 a small language's quota can exceed what it
#: has: 100 Swahili lines next to 10,000 English ones get about 201 of 1,000 dev sentences, and holding
#: out 99 would leave one sentence repeated ~1,000 times for training. Capped, at least 90% of a
#: language's distinct sentences stay for training (a language under 10 lines gets no dev lines)
MAX_DEV_FRACTION = Fraction(1, 10)  # exact: a float 0.1 times a line count can round below an integer
DEFAULT_SHARD_SIZE = 100_000
#: lines held in memory at once while the shards are written, over all languages (each language has
#: one bucket loaded at a time, so a language's buckets hold this divided by the number of languages);
#: 200k sentences of Wikipedia are about 30 MB of text
MEMORY_LINES = 200_000
#: most bucket files per language (open at once during the second pass)
MAX_BUCKETS = 256
_READ_CHUNK = 1 << 20


# --- which file holds which language ------------------------------------------------------------


def corpus_files(inputs: list[Path], manifest: Path | None = None) -> dict[str, list[Path]]:
    """Language -> its files (sorted), from ``inputs`` (files, or folders whose ``*.txt`` files are
    read) and a manifest (TSV ``file<TAB>language``, paths relative to the manifest's folder). A
    manifest's language wins over the file name; a file whose language neither gives is an error."""
    from_manifest = read_file_manifest(manifest) if manifest else {}
    files: dict[Path, str | None] = {}
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix == ".txt" and not p.name.startswith(".")
            )
            if not found:
                raise BadInput(f"{path}: no *.txt files in the input folder")
            for file in found:
                files[file.resolve()] = None
        elif path.is_file():
            files[path.resolve()] = None
        else:
            raise BadInput(f"{path}: no such file or folder")
    files.update(from_manifest)
    if not files:
        raise BadInput("mlm-corpus: no input files (give --input and/or --manifest)")
    by_language: dict[str, list[Path]] = {}
    for file, language in files.items():
        language = language or language_from_filename(file)
        if language is None:
            raise BadInput(
                f"{file}: cannot tell the language from the file name (name files like de.txt "
                f"or wiki.deu.txt, or give a --manifest with lines file<TAB>language)"
            )
        by_language.setdefault(language, []).append(file)
    return {language: sorted(paths) for language, paths in sorted(by_language.items())}


def read_file_manifest(manifest: Path) -> dict[Path, str]:
    """Resolved file path -> language, from a TSV ``file<TAB>language`` (``#`` comments allowed)."""
    manifest = Path(manifest)
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadInput(f"{manifest}: no such manifest file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{manifest}: not UTF-8 text") from None
    entries: dict[Path, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise BadInput(f"{manifest}: line {number}: expected file<TAB>language")
        language = normalize_language(fields[1])
        if language is None:
            raise BadInput(
                f"{manifest}: line {number}: '{fields[1].strip()}' is not a language code "
                f"(ISO 639-1 like de, or 639-3 like deu)"
            )
        path = Path(fields[0].strip())
        path = (path if path.is_absolute() else manifest.parent / path).resolve()
        if not path.is_file():
            raise BadInput(f"{manifest}: line {number}: no such file {path}")
        entries[path] = language
    if not entries:
        raise BadInput(f"{manifest}: the manifest lists no files")
    return entries


# --- reading lines ------------------------------------------------------------------------------


def iter_sentences(path: Path, progress: tqdm | None = None) -> Iterator[str]:
    """The non-empty lines of a UTF-8 file, stripped. Bad UTF-8 is an error naming file and line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if progress is not None:
                progress.update(len(raw))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise BadInput(
                    f"{path}: line {number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            if number == 1:
                text = text.lstrip("\ufeff")  # a byte-order mark is not part of the first sentence
            text = text.strip()
            if text:
                yield text


def _bytes_progress(files: list[Path], desc: str) -> tqdm:
    return tqdm(total=sum(path.stat().st_size for path in files), desc=desc, unit="B", unit_scale=True, leave=False)


def count_sentences(by_language: dict[str, list[Path]]) -> dict[str, int]:
    """Non-empty lines per language (first pass; also checks every line is UTF-8)."""
    all_files = [path for paths in by_language.values() for path in paths]
    counts = {}
    with _bytes_progress(all_files, "counting sentences") as progress:
        for language, paths in by_language.items():
            counts[language] = sum(sum(1 for _ in iter_sentences(path, progress)) for path in paths)
    return counts


# --- how many sentences of each language --------------------------------------------------------


def sampling_probabilities(counts: dict[str, int], alpha: float) -> tuple[dict[str, float], dict[str, float]]:
    """(p, q): p_i = n_i / sum_k n_k and q_i = p_i^alpha / sum_j p_j^alpha (XLM's set_sampling_probs)."""
    total = sum(counts.values())
    if total == 0:
        raise ValueError("no sentences to sample from")
    p = {language: count / total for language, count in counts.items()}
    smoothed = {language: value**alpha if value > 0 else 0.0 for language, value in p.items()}
    norm = sum(smoothed.values())
    return p, {language: value / norm for language, value in smoothed.items()}


def quotas(q: dict[str, float], total: int) -> dict[str, int]:
    """Integer counts proportional to ``q`` summing to exactly ``total`` (largest remainder)."""
    exact = {language: share * total for language, share in q.items()}
    counts = {language: math.floor(value) for language, value in exact.items()}
    short = total - sum(counts.values())
    by_remainder = sorted(exact, key=lambda language: (-(exact[language] - counts[language]), language))
    for language in by_remainder[:short]:
        counts[language] += 1
    return counts


@dataclass
class LanguagePlan:
    """Which of a language's non-empty lines (numbered across its files in order) the corpus holds."""

    language: str
    available: int
    #: dev lines the language's q share asked for (more than ``len(dev)`` when capped)
    dev_requested: int
    #: sorted indices of the held-out dev lines
    dev: np.ndarray
    #: every non-dev line appears this many times in training ...
    passes: int
    #: ... and these (sorted, non-dev, distinct) once more
    extra: np.ndarray
    files: list[Path] = field(default_factory=list)

    @property
    def train_count(self) -> int:
        return self.passes * (self.available - len(self.dev)) + len(self.extra)

    @property
    def dev_cut(self) -> bool:
        return len(self.dev) < self.dev_requested


def _rng(seed: int, language: str, purpose: str) -> random.Random:
    """Independent, seeded randomness per language and purpose (str seeds are hashed with SHA-512,
    stable across runs and platforms), so adding a language does not change another's sample."""
    return random.Random(f"stilts-mlm:{seed}:{language}:{purpose}")


def dev_cap(available: int) -> int:
    """Most dev lines a language of ``available`` lines gives up (`MAX_DEV_FRACTION`, rounded down)."""
    return math.floor(available * MAX_DEV_FRACTION)


def plan_language(language: str, available: int, train_quota: int, dev_quota: int, seed: int) -> LanguagePlan:
    """Choose the dev lines and the training lines of one language.

    Dev lines are held out of training, at most `dev_cap` of them (so most lines, and always at least
    one, are left for training). The training lines
    are ``passes`` full passes over the other lines plus a sample without replacement of the
    remainder; without upsampling, ``passes`` is 0 and the sample is the whole quota.
    """
    rng = _rng(seed, language, "lines")
    dev_count = min(dev_quota, dev_cap(available))
    dev = np.sort(np.array(rng.sample(range(available), dev_count), dtype=np.int64))
    rest = available - dev_count
    passes, remainder = divmod(train_quota, rest) if rest else (0, 0)
    # positions among the non-dev lines -> line indices: before dev line j (sorted) lie dev[j] - j
    # non-dev lines, so position k is preceded by as many dev lines as have dev[j] - j <= k
    positions = np.array(rng.sample(range(rest), remainder), dtype=np.int64)
    extra = positions + np.searchsorted(dev - np.arange(len(dev)), positions, side="right")
    return LanguagePlan(language, available, dev_quota, dev, passes, np.sort(extra))


# --- second pass: the chosen lines of each language into shuffled buckets -------------------------


@dataclass
class LanguageStream:
    """A language's chosen lines, spread over bucket files in random order of assignment."""

    language: str
    count: int
    buckets: list[Path]

    def lines(self, rng: random.Random) -> Iterator[str]:
        """Every line, bucket by bucket, each bucket shuffled in memory."""
        for bucket in self.buckets:
            with open(bucket, encoding="utf-8", newline="\n") as handle:
                lines = [line[:-1] for line in handle]
            rng.shuffle(lines)
            yield from lines


class _BucketWriter:
    """Writes lines to ``count`` bucket files (created lazily), each line to a random one."""

    def __init__(self, folder: Path, prefix: str, count: int, rng: random.Random):
        self.paths = [folder / f"{prefix}-{index:04d}.txt" for index in range(count)]
        self._handles: dict[int, TextIO] = {}
        self._rng = rng

    def write(self, line: str) -> None:
        index = self._rng.randrange(len(self.paths))
        if index not in self._handles:
            self._handles[index] = open(self.paths[index], "w", encoding="utf-8", newline="\n")
        self._handles[index].write(line + "\n")

    def close(self) -> list[Path]:
        for handle in self._handles.values():
            handle.close()
        return [path for index, path in enumerate(self.paths) if index in self._handles]


def bucket_count(lines: int, bucket_lines: int) -> int:
    return min(MAX_BUCKETS, max(1, math.ceil(lines / bucket_lines)))


def write_language_buckets(
    plan: LanguagePlan, work: Path, seed: int, bucket_lines: int, progress: tqdm | None = None
) -> tuple[LanguageStream, LanguageStream]:
    """Second pass over a language's files: its training lines (with their copies) and its dev lines
    into bucket files of about ``bucket_lines`` lines. Stops reading once the last chosen line is
    passed (when no full pass is needed)."""
    rng = _rng(seed, plan.language, "buckets")
    train = _BucketWriter(work, f"{plan.language}-train", bucket_count(plan.train_count, bucket_lines), rng)
    dev = _BucketWriter(work, f"{plan.language}-dev", bucket_count(len(plan.dev), bucket_lines), rng)
    dev_indices, extra_indices = plan.dev.tolist(), plan.extra.tolist()
    next_dev = next_extra = 0
    # without full passes, reading can stop after the last chosen line
    last_needed = math.inf if plan.passes else max(dev_indices[-1:] + extra_indices[-1:], default=-1)
    index = -1
    try:
        for path in plan.files:
            if index >= last_needed:
                break
            for sentence in iter_sentences(path, progress):
                index += 1
                if next_dev < len(dev_indices) and dev_indices[next_dev] == index:
                    next_dev += 1
                    dev.write(sentence)
                else:
                    copies = plan.passes
                    if next_extra < len(extra_indices) and extra_indices[next_extra] == index:
                        next_extra += 1
                        copies += 1
                    for _ in range(copies):
                        train.write(sentence)
                if index >= last_needed:
                    break
    finally:
        train_buckets, dev_buckets = train.close(), dev.close()
    return (
        LanguageStream(plan.language, plan.train_count, train_buckets),
        LanguageStream(plan.language, len(plan.dev), dev_buckets),
    )


# --- interleaving the languages into shards -----------------------------------------------------


def interleave(streams: list[LanguageStream], rng_seed: str) -> Iterator[tuple[str, str]]:
    """(language, sentence) pairs of all streams in random order.

    Drawing each next language with probability proportional to the lines it has left is the same as
    walking a uniformly random permutation of the multiset of language labels; the labels (one small
    integer per line, not the text) are permuted up front.
    """
    streams = [stream for stream in streams if stream.count]
    if not streams:
        return
    dtype: type[np.unsignedinteger[Any]] = np.uint16 if len(streams) < 2**16 else np.uint32
    labels = np.repeat(np.arange(len(streams), dtype=dtype), [stream.count for stream in streams])
    order_rng = np.random.default_rng(random.Random(rng_seed).getrandbits(64))
    order_rng.shuffle(labels)
    readers = [stream.lines(random.Random(f"{rng_seed}:{stream.language}")) for stream in streams]
    for label in labels.tolist():
        yield streams[label].language, next(readers[label])


def write_shards(pairs: Iterator[tuple[str, str]], folder: Path, shard_size: int, total: int, desc: str) -> list[str]:
    """``pairs`` as ``language<TAB>sentence`` lines in shards of ``shard_size`` lines; shard names."""
    names: list[str] = []
    handle: TextIO | None = None
    try:
        for number, (language, sentence) in enumerate(tqdm(pairs, total=total, desc=desc, unit=" lines", leave=False)):
            if handle is None or number % shard_size == 0:  # the first line, or the next shard's
                if handle:
                    handle.close()
                names.append(SHARD_PATTERN.format(len(names)))
                handle = open(folder / names[-1], "w", encoding="utf-8", newline="\n")
            handle.write(f"{language}\t{sentence}\n")
    finally:
        if handle:
            handle.close()
    return names


def write_lines(pairs: Iterator[tuple[str, str]], path: Path) -> int:
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for language, sentence in pairs:
            handle.write(f"{language}\t{sentence}\n")
            count += 1
    return count


# --- the whole build ----------------------------------------------------------------------------


def build_corpus(
    inputs: list[Path],
    output: Path,
    *,
    alpha: float = defaults.MLM_LANGUAGE_ALPHA,
    sentences: int = defaults.MLM_CORPUS_SENTENCES,
    seed: int = defaults.SEED,
    manifest: Path | None = None,
    dev_sentences: int = DEFAULT_DEV_SENTENCES,
    shard_size: int = DEFAULT_SHARD_SIZE,
    log=print,
) -> dict:
    """Build the corpus folder ``output``; returns what its manifest.json holds."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or (any(output.iterdir()) and not (output / MANIFEST_FILE).is_file())):
        raise BadInput(
            f"{output}: exists and is not a corpus folder written by stilts mlm-corpus; give a new --output folder"
        )
    by_language = corpus_files([Path(path) for path in inputs], manifest)
    counts = count_sentences(by_language)
    if not any(counts.values()):
        raise BadInput(f"mlm-corpus: the input files hold no sentences ({len(by_language)} languages)")
    for language, count in counts.items():
        if count == 0:
            log(f"warning: no sentences for language '{language}' in {', '.join(map(str, by_language[language]))}")
    p, q = sampling_probabilities(counts, alpha)
    train_quotas, dev_quotas = quotas(q, sentences), quotas(q, dev_sentences)
    plans = [
        plan_language(language, counts[language], train_quotas[language], dev_quotas[language], seed)
        for language in by_language
    ]
    for plan in plans:
        plan.files = by_language[plan.language]

    with atomic_folder(output) as folder:
        work = folder / "_work"
        work.mkdir()
        train_streams, dev_streams = [], []
        bucket_lines = max(1, MEMORY_LINES // sum(1 for count in counts.values() if count))
        with _bytes_progress([path for paths in by_language.values() for path in paths], "sampling") as progress:
            for plan in plans:
                train_stream, dev_stream = write_language_buckets(plan, work, seed, bucket_lines, progress)
                train_streams.append(train_stream)
                dev_streams.append(dev_stream)
        train_total = sum(stream.count for stream in train_streams)
        shards = write_shards(
            interleave(train_streams, f"stilts-mlm:{seed}:train"), folder, shard_size, train_total, "writing shards"
        )
        dev_total = write_lines(interleave(dev_streams, f"stilts-mlm:{seed}:dev"), folder / DEV_FILE)
        shutil.rmtree(work)
        summary = {
            "format": "one sentence per line: language<TAB>sentence",
            "alpha": alpha,
            "seed": seed,
            "requested_sentences": sentences,
            "sentences": train_total,
            "requested_dev_sentences": dev_sentences,
            "dev_sentences": dev_total,
            "max_dev_fraction": float(MAX_DEV_FRACTION),
            "shard_size": shard_size,
            "shards": shards,
            "dev": DEV_FILE,
            "languages": {
                plan.language: {
                    "files": [str(path) for path in plan.files],
                    "available": plan.available,
                    "p": p[plan.language],
                    "q": q[plan.language],
                    "sampled": plan.train_count,
                    "dev": int(len(plan.dev)),
                    "dev_requested": plan.dev_requested,
                    # fewer dev lines than q asked for: capped at MAX_DEV_FRACTION of its lines
                    "dev_cut": plan.dev_cut,
                    "upsampled": plan.train_count > plan.available - len(plan.dev),
                    "passes": plan.passes,
                }
                for plan in plans
            },
        }
        (folder / MANIFEST_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary
