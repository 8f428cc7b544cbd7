"""Token tagging (POS, NER, CCG supertags): one tag per word, read off the word's first sub-word.

Examples are ``{"id", "tokens": [word, ...], "tags": [tag, ...]}``. As in XTREME and jiant (and the
paper, App. A), only the first sub-word token of a word carries its label; the other sub-words and
the special tokens get -100, which the loss ignores.

**Long sentences are split into windows, never truncated.** A sentence whose sub-words do not fit in
``max_length`` is cut *between words* into the fewest windows that fit, balanced in size, and each
window is one feature that predicts exactly the words it holds; predictions are then stitched back in
word order, so every word of every sentence is predicted exactly once and scored. We split by words
rather than with overlapping sub-word windows (``return_overflowing_tokens`` + stride) because then
no word is seen by two windows and no rule is needed to choose between two predictions; the price is
that words next to a cut see no context beyond it. At the default 128 sub-words this touches very few
sentences (XTREME's tagging script truncates them instead).

Two corner cases keep the "every word once" promise:

- a word that tokenizes to nothing (e.g. a lone zero-width space) would have no first sub-word; it is
  replaced by the tokenizer's unknown token, so it still gets a position and a prediction;
- a single word longer than a whole window is cut to fit; its first sub-word, the one that is read,
  is always kept.

The head is dropout + a linear layer over every token state. Scores come from
``stilts.metrics.tagging``: which function a task uses is chosen by the format instance in its catalog
entry (``NER_TAGGING``, ``POS_TAGGING``, ``SUPERTAGGING``), not by its name.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable

import numpy as np

from stilts.core import defaults
from stilts.core.errors import BadInput
from stilts.formats.base import TaskFormat, TransferRows, copy_linear, encoder_inputs, pad_right
from stilts.metrics.per_example import chunk_counts, example_id
from stilts.metrics.predictions import tag_lines
from stilts.metrics.tagging import ner_scores, pos_scores, sentence_chunk_counts, token_accuracy

IGNORE_INDEX = -100  # label of positions the loss skips (torch's cross_entropy default)
#: feature columns that only `predict` reads; `collate` keeps them out of the batch
BOOKKEEPING = ("label_positions", "word_offset")


def word_windows(piece_counts: list[int], budget: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` word ranges that cover every word once in order, each holding at most
    ``budget`` sub-words (a single longer word stands alone): as few windows as filling them up
    needs, with the cuts then moved to even out their sizes, so a 130-piece sentence with budget 126
    becomes about 65 + 65 rather than 126 + 4 and the last words keep some context."""
    if not piece_counts:
        return []
    filled = _fill_windows(piece_counts, budget)
    if len(filled) == 1:
        return filled
    even = _even_windows(piece_counts, len(filled))
    fits = all(end - start == 1 or sum(piece_counts[start:end]) <= budget for start, end in even)
    return even if fits else filled


def _fill_windows(piece_counts: list[int], budget: int) -> list[tuple[int, int]]:
    windows, start, used = [], 0, 0
    for index, count in enumerate(piece_counts):
        if index > start and used + count > budget:
            windows.append((start, index))
            start, used = index, 0
        used += count
    windows.append((start, len(piece_counts)))
    return windows


def _even_windows(piece_counts: list[int], n_windows: int) -> list[tuple[int, int]]:
    """``n_windows`` windows whose cuts sit at the word boundaries nearest to equal shares of pieces."""
    cumulative = list(itertools.accumulate(piece_counts, initial=0))
    n_words, bounds = len(piece_counts), [0]
    for k in range(1, n_windows):
        target = cumulative[-1] * k / n_windows
        nearest = bisect.bisect_left(cumulative, target)
        # a cut after the previous one, leaving at least one word for each later window
        candidates = [c for c in (nearest - 1, nearest) if bounds[-1] < c <= n_words - (n_windows - k)]
        bounds.append(min(candidates, key=lambda c: abs(cumulative[c] - target)) if candidates else bounds[-1] + 1)
    bounds.append(n_words)
    return list(zip(bounds, bounds[1:]))


def _label_id(tags, word: int, label_ids: dict, task, example_id, offset: int) -> int:
    if tags is None:  # unlabelled text: nothing to learn or score, but the words are still predicted
        return IGNORE_INDEX
    tag = tags[word]
    if tag not in label_ids:
        # readers check tags against the task's labels with file and line; this catches the rest
        raise BadInput(
            f"{task.name}: example {example_id!r}, word {offset + word + 1}: unknown tag "
            f"{tag!r} (not one of the task's {len(label_ids)} labels)"
        )
    return label_ids[tag]


def _pieces_per_word(word_ids: list[int | None], n_words: int) -> list[int]:
    counts = [0] * n_words
    for word in word_ids:
        if word is not None:
            counts[word] += 1
    return counts


def as_in_running_text(words: list[str], tokenizer) -> list[str]:
    """``words`` as the tokenizer is to read them one by one (``is_split_into_words``) so that each
    splits into the pieces it has in running text, where the model met it.

    Tokenizers that mark a word start inside the piece (SentencePiece's ``▁word``) or between pieces
    (WordPiece's ``##``) do so for separate words too. A byte-level BPE without a prefix space
    (ModernBERT's; mmBERT's Gemma tokenizer adds none either) reads ``" word"`` as ``Ġword`` in running
    text but a separate ``word`` as the piece a word-internal ``word`` is: every word but a text's
    first would reach the model as pieces it saw only inside words (mmBERT's authors report lower
    NER and POS scores from this). For those, every word after the first keeps the space before it."""
    words = list(words)
    if words and _needs_spaces_before_words(tokenizer):
        return words[:1] + [" " + word for word in words[1:]]
    return words


def _needs_spaces_before_words(tokenizer) -> bool:
    """Whether separate words tokenize unlike running text, and alike once they keep their spaces."""
    running = tokenizer(" ".join(_PROBE_WORDS), add_special_tokens=False)["input_ids"]
    split = tokenizer(list(_PROBE_WORDS), is_split_into_words=True, add_special_tokens=False)["input_ids"]
    if split == running:
        return False
    spaced = [_PROBE_WORDS[0], *(" " + word for word in _PROBE_WORDS[1:])]
    return tokenizer(spaced, is_split_into_words=True, add_special_tokens=False)["input_ids"] == running


#: words whose pieces at a word start and inside a word differ in most vocabularies
_PROBE_WORDS = ("The", "cat", "sleeps", "in", "the", "garden")


class TokenTagging(TaskFormat):
    """Examples ``{"id", "tokens", "tags"}``; ``scores(gold, predicted) -> metrics`` scores a split."""

    name = "tagging"
    windows = True
    #: none: translating words one by one would break their alignment with the tags
    text_fields = ()
    default_max_length = defaults.MAX_SEQ_LENGTH  # XTREME's tagging scripts use 128

    def __init__(
        self, scores: Callable[[list[list[str]], list[list[str]]], dict[str, float]], metrics: tuple[str, ...]
    ):
        self.scores = scores
        #: the metrics ``scores`` gives: chunk f1/precision/recall, token accuracy
        self.metrics = metrics

    # ------------------------------------------------------------------ features

    def featurize(self, examples, tokenizer, task, max_length):
        budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        if budget < 1:
            raise BadInput(f"max_length: {max_length} leaves no room for words next to the special tokens")
        sentences = [as_in_running_text(words, tokenizer) for words in examples["tokens"]]
        counts = self._piece_counts(sentences, tokenizer)

        window_words, window_tags, offsets, example_indices, window_ids = [], [], [], [], []
        for i, words in enumerate(sentences):
            tags = examples["tags"][i]
            if tags is not None and len(tags) != len(words):
                raise BadInput(f"{task.name}: example {examples['id'][i]!r}: {len(tags)} tags for {len(words)} tokens")
            for start, end in word_windows(counts[i], budget):
                window_words.append(words[start:end])
                window_tags.append(tags[start:end] if tags is not None else None)
                offsets.append(start)
                example_indices.append(examples["example_index"][i])
                window_ids.append(examples["id"][i])

        encoded = tokenizer(window_words, is_split_into_words=True, truncation=True, max_length=max_length)
        label_ids = {label: index for index, label in enumerate(task.labels)}
        labels, positions = [], []
        for k, tags in enumerate(window_tags):
            window_labels, window_positions, previous = [], [], None
            for position, word in enumerate(encoded.word_ids(k)):
                if word is None or word == previous:
                    window_labels.append(IGNORE_INDEX)
                else:
                    window_labels.append(_label_id(tags, word, label_ids, task, window_ids[k], offsets[k]))
                    window_positions.append(position)
                previous = word
            if len(window_positions) != len(window_words[k]):  # the windowing promise, checked
                raise RuntimeError(
                    f"{task.name}: a window of {len(window_words[k])} words has {len(window_positions)} first sub-words"
                )
            labels.append(window_labels)
            positions.append(window_positions)
        features = dict(encoded)
        features.update(labels=labels, label_positions=positions, word_offset=offsets, example_index=example_indices)
        return features

    @staticmethod
    def _piece_counts(sentences: list[list[str]], tokenizer) -> list[list[int]]:
        """Sub-words per word; words that give none are replaced (in place) by the unknown token."""
        pieces = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
        counts = []
        for i, words in enumerate(sentences):
            word_counts = _pieces_per_word(pieces.word_ids(i), len(words))
            for j, count in enumerate(word_counts):
                if count == 0:
                    words[j] = tokenizer.unk_token
                    word_counts[j] = len(
                        tokenizer(words[j : j + 1], is_split_into_words=True, add_special_tokens=False)["input_ids"]
                    )
            counts.append(word_counts)
        return counts

    def collate(self, features, tokenizer):
        import torch  # in the methods that run a model only (see stilts.formats.base)

        inputs = [
            {key: value for key, value in feature.items() if key not in ("labels", *BOOKKEEPING)}
            for feature in features
        ]
        # predict reads positions from the left
        batch = pad_right(tokenizer, inputs)
        width = batch["input_ids"].shape[1]
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        for row, feature in enumerate(features):
            labels[row, : len(feature["labels"])] = torch.tensor(feature["labels"], dtype=torch.long)
        batch["labels"] = labels
        return batch

    # ------------------------------------------------------------------ model

    def build_head(self, task, hidden_size):
        from stilts.formats.heads import TaggingHead

        return TaggingHead(hidden_size, len(task.labels))

    hf_task_model = "AutoModelForTokenClassification"

    def export_head(self, head, task_model):
        copy_linear(head.classifier, task_model.classifier)  # the same layer on every token's state

    def forward(self, encoder, head, batch):
        from torch import nn

        states = encoder(**encoder_inputs(batch)).last_hidden_state
        logits = head(states)  # (batch, sequence, labels)
        loss = None
        if "labels" in batch:
            loss = nn.functional.cross_entropy(
                logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX
            )
        return loss, logits

    transfer_labels = "each word's first sub-word state, labelled with its tag"

    def transfer_rows(self, encoder, batch):
        """The state of each word's first sub-word, which the head tags, labelled with the word's tag (the
        other sub-words and the special tokens are left out, as the loss leaves them)."""
        states = encoder(**encoder_inputs(batch)).last_hidden_state
        read = batch["labels"] != IGNORE_INDEX
        return TransferRows(states[read].float().cpu().numpy(), labels=batch["labels"][read].cpu().numpy())

    # ------------------------------------------------------------------ predictions and scores

    def predict(self, outputs, features, examples, task):
        """Per feature, the argmax at its words' first sub-words, put back at the words' places.
        ``outputs[f]`` is ``(sequence length of its batch, labels)``; padding positions are never read."""
        predictions: list[list[str | None]] = [[None] * len(example["tokens"]) for example in examples]
        for output, positions, offset, example_index in zip(
            outputs, features["label_positions"], features["word_offset"], features["example_index"]
        ):
            best = np.asarray(output)[positions].argmax(axis=-1)
            for k, label_index in enumerate(best):
                predictions[example_index][offset + k] = task.labels[int(label_index)]
        for index, tags in enumerate(predictions):
            if any(tag is None for tag in tags):
                raise RuntimeError(f"{task.name}: example {index} has words without a prediction")
        return predictions

    def constant_guesses(self, examples, task):
        """One tag for every word (all ``O``: no entity found)."""
        return [[[tag] * len(example["tokens"]) for example in examples] for tag in task.labels]

    def constant(self, predictions):
        """The tag of every word, where all words of all sentences have one tag."""
        tags = {tag for tagged in predictions for tag in tagged}
        return next(iter(tags)) if len(tags) == 1 and sum(map(len, predictions)) > 1 else None

    def score(self, predictions, examples, task, language):
        return self.scores([example["tags"] for example in examples], predictions)

    def prediction_text(self, predictions, examples, task, state):
        return tag_lines(predictions)

    def example_rows(self, predictions, examples, task, language, state):
        rows = []
        for index, (predicted, example) in enumerate(zip(predictions, examples)):
            gold = example["tags"]
            metrics = chunk_counts(*sentence_chunk_counts(gold, predicted)) if "f1" in self.metrics else {}
            if "accuracy" in self.metrics:
                metrics["accuracy"] = [sum(g == p for g, p in zip(gold, predicted)), len(gold)]
            row = {"id": example_id(example, index), "text": {"tokens": example["tokens"]}, "gold": gold}
            rows.append(row | {"prediction": predicted, "metrics": metrics})
        return rows


def accuracy_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """CCG supertagging: token accuracy (jiant's and the paper's metric)."""
    return {"accuracy": token_accuracy(gold, predicted)}


#: PAN-X / WikiANN: seqeval entity P/R/F1 of IOB2 tags
NER_TAGGING = TokenTagging(ner_scores, ("f1", "precision", "recall"))
#: UD-POS: XTREME's seqeval P/R/F1 on UPOS tags (headline ``f1``) plus token accuracy
POS_TAGGING = TokenTagging(pos_scores, ("f1", "precision", "recall", "accuracy"))
#: CCG supertagging: token accuracy
SUPERTAGGING = TokenTagging(accuracy_scores, ("accuracy",))
