"""Tiny models and data for tests and quick checks: everything built locally, offline, in seconds.

`build_tiny_model` trains a small sentencepiece model on text the project ships and saves a tiny
randomly initialised XLM-R-architecture encoder with it as an ordinary Hugging Face folder.
`write_tiny_nli` writes a small MNLI/XNLI-style data set in the original release formats.
"""

from __future__ import annotations

import io
import json
import random
from importlib import resources
from pathlib import Path

TINY_CORPUS = "tiny_corpus.txt"


def shipped_sentences() -> list[str]:
    text = resources.files("stilts").joinpath("resources", TINY_CORPUS).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def build_tiny_model(folder: Path, *, hidden_size: int = 64, layers: int = 2, heads: int = 2,
                     vocab_size: int = 800, seed: int = 0) -> Path:
    """Save a tiny XLM-R encoder + fast tokenizer under ``folder``; returns ``folder``."""
    import sentencepiece as spm
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spm_folder = folder / "_sentencepiece"
    spm_folder.mkdir(exist_ok=True)
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(shipped_sentences()), model_writer=model_bytes, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False, num_threads=1,
        seed_sentencepiece_size=10000, minloglevel=2)
    # transformers 5 ignores XLMRobertaTokenizer(vocab_file=...): it must find the file in a folder
    (spm_folder / "sentencepiece.bpe.model").write_bytes(model_bytes.getvalue())
    (spm_folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}))
    tokenizer = AutoTokenizer.from_pretrained(spm_folder)

    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden_size * 2, max_position_embeddings=514,
        type_vocab_size=1, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for path in spm_folder.iterdir():
        path.unlink()
    spm_folder.rmdir()
    return folder


# --- a tiny NLI data set in the original formats ---------------------------------------------------

_SUBJECTS = {
    "en": ["the cat", "a man", "the children", "my brother", "the dog"],
    "de": ["die Katze", "ein Mann", "die Kinder", "mein Bruder", "der Hund"],
    "fr": ["le chat", "un homme", "les enfants", "mon frère", "le chien"],
}
_ACTIONS = {
    "en": [("sleeps", "does not sleep"), ("reads", "does not read"), ("plays", "does not play")],
    "de": [("schläft", "schläft nicht"), ("liest", "liest nicht"), ("spielt", "spielt nicht")],
    "fr": [("dort", "ne dort pas"), ("lit", "ne lit pas"), ("joue", "ne joue pas")],
}
_EXTRA = {"en": "in the garden", "de": "im Garten", "fr": "dans le jardin"}


def tiny_nli_examples(language: str, count: int, seed: int) -> list[tuple[str, str, str]]:
    """(premise, hypothesis, label) triples whose label follows from the words (learnable)."""
    rng = random.Random(seed)
    triples = []
    for _ in range(count):
        subject = rng.choice(_SUBJECTS[language])
        positive, negative = rng.choice(_ACTIONS[language])
        premise = f"{subject} {positive} {_EXTRA[language]}"
        label = rng.choice(["entailment", "neutral", "contradiction"])
        hypothesis = {"entailment": f"{subject} {positive}",
                      "contradiction": f"{subject} {negative}",
                      "neutral": f"{rng.choice(_SUBJECTS[language])} {rng.choice(_ACTIONS[language])[0]}"}[label]
        triples.append((premise, hypothesis, label))
    return triples


def write_tiny_nli(folder: Path, *, train: int = 96, dev: int = 24, languages=("en", "de", "fr")) -> dict[str, Path]:
    """MultiNLI-1.0 jsonl (train, dev_matched) and XTREME-style XNLI dev/test TSVs per language.
    Returns the folders to use as ``data.mnli`` and ``data.xnli``."""
    mnli, xnli = Path(folder) / "mnli", Path(folder) / "xnli"
    mnli.mkdir(parents=True, exist_ok=True)
    xnli.mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", train, 1), ("dev_matched", dev, 2)):
        with open(mnli / f"multinli_1.0_{split}.jsonl", "w", encoding="utf-8") as out:
            for number, (premise, hypothesis, label) in enumerate(tiny_nli_examples("en", count, seed)):
                out.write(json.dumps({"gold_label": label, "sentence1": premise, "sentence2": hypothesis,
                                      "pairID": f"{split}-{number}", "genre": "tiny"}) + "\n")
            # MultiNLI marks pairs without annotator consensus with "-": readers must drop them
            out.write(json.dumps({"gold_label": "-", "sentence1": "x", "sentence2": "y", "pairID": "none"}) + "\n")
    for language in languages:
        for split, seed in (("dev", 3), ("test", 4)):
            rows = tiny_nli_examples(language, dev, seed)
            (xnli / f"{split}-{language}.tsv").write_text(
                "".join(f"{p}\t{h}\t{label}\n" for p, h, label in rows), encoding="utf-8")
    return {"mnli": mnli, "xnli": xnli}


# --- a tiny topic-classification set (label<TAB>text, one file per split and language) -------------

_TOPIC_WORDS = {
    "en": {"sports": ["the team won the match", "the runner finished the race"],
           "food": ["the soup tastes good", "we cooked rice and fish"],
           "weather": ["it rains in the morning", "the wind is cold today"],
           "technology": ["the phone needs an update", "the computer runs new software"]},
    "de": {"sports": ["die Mannschaft gewann das Spiel", "der Läufer beendete das Rennen"],
           "food": ["die Suppe schmeckt gut", "wir kochten Reis und Fisch"],
           "weather": ["am Morgen regnet es", "der Wind ist heute kalt"],
           "technology": ["das Telefon braucht ein Update", "der Computer hat neue Software"]},
}


def write_tiny_topics(folder: Path, *, train: int = 48, test: int = 16) -> Path:
    """``train-en.tsv``, ``dev-en.tsv`` and ``test-{en,de}.tsv`` in the demo's topic format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    for split, language, count in (("train", "en", train), ("dev", "en", test), ("test", "en", test),
                                   ("test", "de", test)):
        lines = []
        for number in range(count):
            label = sorted(_TOPIC_WORDS[language])[number % 4]
            lines.append(f"{label}\t{rng.choice(_TOPIC_WORDS[language][label])}\n")
        (folder / f"{split}-{language}.tsv").write_text("".join(lines), encoding="utf-8")
    return folder


# --- a tiny Marian (OPUS-MT architecture) translation model ----------------------------------------

def build_tiny_marian(folder: Path, *, d_model: int = 32, vocab_size: int = 800, seed: int = 0) -> Path:
    """Save a tiny randomly initialised MarianMT model + MarianTokenizer under ``folder``; returns it.

    The tokenizer is laid out as OPUS-MT's: ``source.spm`` and ``target.spm`` (a sentencepiece model
    trained here on the shipped text) and one shared ``vocab.json`` with ``</s>`` = 0, ``<unk>`` = 1 and
    ``<pad>`` last, which Marian also uses as the decoder's start token. Its output is nonsense but
    loads and generates through ``AutoModelForSeq2SeqLM``/``AutoTokenizer`` like a real OPUS-MT model.
    """
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(shipped_sentences()), model_writer=model_bytes, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False, num_threads=1,
        seed_sentencepiece_size=10000, minloglevel=2)
    # one sentencepiece model serves both sides (the shipped text is all there is); real OPUS-MT
    # models have one per language
    for side in ("source", "target"):
        (folder / f"{side}.spm").write_bytes(model_bytes.getvalue())
    pieces = spm.SentencePieceProcessor(model_proto=model_bytes.getvalue())
    vocab = {"</s>": 0, "<unk>": 1}
    for index in range(pieces.get_piece_size()):
        if not (pieces.is_control(index) or pieces.is_unknown(index)):
            vocab.setdefault(pieces.id_to_piece(index), len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"))

    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(vocab), d_model=d_model, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=d_model * 2, decoder_ffn_dim=d_model * 2,
        max_position_embeddings=512, pad_token_id=vocab["<pad>"], eos_token_id=0,
        decoder_start_token_id=vocab["<pad>"], forced_eos_token_id=0,
        # weights far larger than the usual 0.02, so different inputs give different outputs
        init_std=1.0)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
