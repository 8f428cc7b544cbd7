"""Tiny models and data for tests and quick checks: everything built locally, offline, in seconds.

`build_tiny_model` trains a small sentencepiece model on text the project ships and saves a tiny
randomly initialised XLM-R-architecture encoder with it as an ordinary Hugging Face folder.
`write_tiny_nli` writes a small MNLI/XNLI-style data set in the original release formats.
The `write_<task>` functions write a handful of examples of every task of the paper's Table 1 in
its original release format (the layout the catalog's ``read_local`` reads).
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


def build_tiny_model(
    folder: Path, *, hidden_size: int = 64, layers: int = 2, heads: int = 2, vocab_size: int = 800, seed: int = 0
) -> Path:
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
        sentence_iterator=iter(shipped_sentences()),
        model_writer=model_bytes,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        seed_sentencepiece_size=10000,
        minloglevel=2,
    )
    # transformers 5 ignores XLMRobertaTokenizer(vocab_file=...): it must find the file in a folder
    (spm_folder / "sentencepiece.bpe.model").write_bytes(model_bytes.getvalue())
    (spm_folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}))
    tokenizer = AutoTokenizer.from_pretrained(spm_folder)

    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
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
        hypothesis = {
            "entailment": f"{subject} {positive}",
            "contradiction": f"{subject} {negative}",
            "neutral": f"{rng.choice(_SUBJECTS[language])} {rng.choice(_ACTIONS[language])[0]}",
        }[label]
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
                out.write(
                    json.dumps(
                        {
                            "gold_label": label,
                            "sentence1": premise,
                            "sentence2": hypothesis,
                            "pairID": f"{split}-{number}",
                            "genre": "tiny",
                        }
                    )
                    + "\n"
                )
            # MultiNLI marks pairs without annotator consensus with "-": readers must drop them
            out.write(json.dumps({"gold_label": "-", "sentence1": "x", "sentence2": "y", "pairID": "none"}) + "\n")
    for language in languages:
        for split, seed in (("dev", 3), ("test", 4)):
            rows = tiny_nli_examples(language, dev, seed)
            (xnli / f"{split}-{language}.tsv").write_text(
                "".join(f"{p}\t{h}\t{label}\n" for p, h, label in rows), encoding="utf-8"
            )
    return {"mnli": mnli, "xnli": xnli}


# --- a tiny topic-classification set (label<TAB>text, one file per split and language) -------------

_TOPIC_WORDS = {
    "en": {
        "sports": ["the team won the match", "the runner finished the race"],
        "food": ["the soup tastes good", "we cooked rice and fish"],
        "weather": ["it rains in the morning", "the wind is cold today"],
        "technology": ["the phone needs an update", "the computer runs new software"],
    },
    "de": {
        "sports": ["die Mannschaft gewann das Spiel", "der Läufer beendete das Rennen"],
        "food": ["die Suppe schmeckt gut", "wir kochten Reis und Fisch"],
        "weather": ["am Morgen regnet es", "der Wind ist heute kalt"],
        "technology": ["das Telefon braucht ein Update", "der Computer hat neue Software"],
    },
}


def write_tiny_topics(folder: Path, *, train: int = 48, test: int = 16) -> Path:
    """``train-en.tsv``, ``dev-en.tsv`` and ``test-{en,de}.tsv`` in the demo's topic format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    for split, language, count in (
        ("train", "en", train),
        ("dev", "en", test),
        ("test", "en", test),
        ("test", "de", test),
    ):
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
        sentence_iterator=iter(shipped_sentences()),
        model_writer=model_bytes,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        seed_sentencepiece_size=10000,
        minloglevel=2,
    )
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
        vocab_size=len(vocab),
        d_model=d_model,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=d_model * 2,
        decoder_ffn_dim=d_model * 2,
        max_position_embeddings=512,
        pad_token_id=vocab["<pad>"],
        eos_token_id=0,
        decoder_start_token_id=vocab["<pad>"],
        forced_eos_token_id=0,
        # weights far larger than the usual 0.02, so different inputs give different outputs
        init_std=1.0,
    )
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# --- tiny files in the original release formats of every Table 1 task ------------------------------
#
# A handful of examples each, laid out as the releases (or XTREME's download folder) lay them out, so the
# catalog's ``read_local`` readers are exercised end to end. Shared by the per-format tests and by
# tests/test_every_task.py.

NLI_LABELS = ("entailment", "neutral", "contradiction")


def write_mnli(folder: Path, train: int = 5, dev: int = 3) -> Path:
    """``multinli_1.0_{train,dev_matched}.jsonl`` with numbered placeholder sentences."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", train), ("dev_matched", dev)):
        with open(folder / f"multinli_1.0_{name}.jsonl", "w", encoding="utf-8") as out:
            for i in range(count):
                out.write(
                    json.dumps(
                        {
                            "gold_label": NLI_LABELS[i % 3],
                            "sentence1": f"mnli {name} {i}",
                            "sentence2": "h",
                            "pairID": f"mnli-{name}-{i}",
                        }
                    )
                    + "\n"
                )
    return folder


def write_anli(folder: Path, rounds=(1, 2, 3), count: int = 4, splits=("train",)) -> Path:
    """``anli_v1.0/R{n}/{split}.jsonl`` (labels as the release's letters e/n/c); round n has n*count rows."""
    folder = Path(folder)
    for n in rounds:
        (folder / f"R{n}").mkdir(parents=True, exist_ok=True)
        for split in splits:
            with open(folder / f"R{n}" / f"{split}.jsonl", "w", encoding="utf-8") as out:
                for i in range(count * n):
                    out.write(
                        json.dumps(
                            {
                                "uid": f"r{n}-{i}",
                                "context": f"premise {i}",
                                "hypothesis": f"hyp {i}",
                                "label": "enc"[i % 3],
                                "reason": "",
                            }
                        )
                        + "\n"
                    )
    return folder


def write_snli(folder: Path, splits=("train", "dev"), count: int = 6) -> Path:
    """``snli_1.0_{split}.txt`` (the release's TSV with header), plus one row without a gold label."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        lines = ["gold_label\tsentence1_binary_parse\tsentence1\tsentence2\tpairID"]
        lines += [f"{NLI_LABELS[i % 3]}\t( x )\tsnli {split} {i}\th\tsnli-{split}-{i}" for i in range(count)]
        lines.append("-\t( x )\tno consensus\th\tsnli-none")  # dropped: no gold label
        (folder / f"snli_1.0_{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_qqp(folder: Path, train: int = 24, dev: int = 8) -> Path:
    """GLUE ``QQP/{train,dev}.tsv`` with header, and an unlabelled ``test.tsv`` as GLUE ships it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    questions = [
        ("How do I learn Python?", "What is the best way to learn Python?", 1),
        ("How do I learn Python?", "How tall is Mount Everest?", 0),
        ("Why is the sky blue?", "What makes the sky blue?", 1),
        ("Why is the sky blue?", "Where do penguins live?", 0),
    ]
    for name, count in (("train", train), ("dev", dev)):
        rows = ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"]
        rows += [
            f"{i}\t{2 * i}\t{2 * i + 1}\t{q1}\t{q2}\t{label}"
            for i, (q1, q2, label) in enumerate(questions[i % 4] for i in range(count))
        ]
        (folder / f"{name}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "test.tsv").write_text("id\tquestion1\tquestion2\n0\ta?\tb?\n", encoding="utf-8")
    return folder


PAWS_PAIRS = {
    "en": [
        ("The river flows into the lake near the town.", "Near the town, the river flows into the lake.", 1),
        ("The river flows into the lake near the town.", "The lake flows into the river near the town.", 0),
    ],
    "de": [
        ("Der Fluss mündet nahe der Stadt in den See.", "Nahe der Stadt mündet der Fluss in den See.", 1),
        ("Der Fluss mündet nahe der Stadt in den See.", "Der See mündet nahe der Stadt in den Fluss.", 0),
    ],
}


def write_pawsx(folder: Path, count: int = 8) -> Path:
    """``x-final/{lang}/{train.tsv (en), dev_2k.tsv, test_2k.tsv}``, header id sentence1 sentence2 label."""
    folder = Path(folder)
    for language, pairs in PAWS_PAIRS.items():
        (folder / "x-final" / language).mkdir(parents=True)
        names = ["dev_2k.tsv", "test_2k.tsv"] + (["train.tsv"] if language == "en" else [])
        for name in names:
            rows = ["id\tsentence1\tsentence2\tlabel"]
            rows += [f"{i + 1}\t{pairs[i % 2][0]}\t{pairs[i % 2][1]}\t{pairs[i % 2][2]}" for i in range(count)]
            (folder / "x-final" / language / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


# span QA: SQuAD-format JSON (SQuAD, XQuAD, MLQA, TyDiQA-GoldP)

TINY_QA = {
    "en": [
        ("The cat sat on the mat.", "Who sat on the mat?", "The cat"),
        ("Anna lives in Berlin with her brother.", "Where does Anna live?", "Berlin"),
        ("The train leaves at noon every day.", "When does the train leave?", "at noon"),
    ],
    "de": [
        ("Die Katze saß auf der Matte.", "Wer saß auf der Matte?", "Die Katze"),
        ("Anna wohnt mit ihrem Bruder in Berlin.", "Wo wohnt Anna?", "in Berlin"),
    ],
    "zh": [("北京是中国的首都。", "中国的首都是哪里？", "北京")],
}
#: TyDiQA-GoldP has neither German nor Chinese
TINY_QA_SWAHILI = [
    ("Paka alikaa kwenye mkeka.", "Nani alikaa kwenye mkeka?", "Paka"),
    ("Anna anaishi Berlin na kaka yake.", "Anna anaishi wapi?", "Berlin"),
]


def write_squad(path: Path, rows, version: str = "1.1") -> Path:
    """A SQuAD-format file; rows are (context, question, answer or None[, id]). Version 2.0 files mark
    questions without an answer ``is_impossible``, as the SQuAD v2.0 release does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    paragraphs = []
    for number, (context, question, answer, *rest) in enumerate(rows):
        answers = [] if answer is None else [{"text": answer, "answer_start": context.index(answer)}]
        qa = {"id": rest[0] if rest else f"q{number}", "question": question, "answers": answers}
        if version.startswith("2"):
            qa["is_impossible"] = answer is None
        paragraphs.append({"context": context, "qas": [qa]})
    path.write_text(
        json.dumps(
            {"version": "v2.0" if version == "2.0" else version, "data": [{"title": "t", "paragraphs": paragraphs}]},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def write_squad_folder(folder: Path, version: str = "1.1", train_copies: int = 3) -> Path:
    """``train-v{version}.json`` and ``dev-v{version}.json`` of the English tiny QA rows; v2.0 adds an
    unanswerable question to each."""
    rows: list[tuple[str, str, str | None]] = list(TINY_QA["en"])
    if version.startswith("2"):
        rows.append(("The cat sat on the mat.", "Who sat on the sofa?", None))
    write_squad(Path(folder) / f"train-v{version}.json", rows * train_copies, version)
    write_squad(Path(folder) / f"dev-v{version}.json", rows, version)
    return Path(folder)


def write_xquad(folder: Path, languages=("en", "de", "zh")) -> Path:
    """deepmind/xquad's ``xquad.{lang}.json``."""
    for language in languages:
        write_squad(Path(folder) / f"xquad.{language}.json", TINY_QA[language])
    return Path(folder)


def write_mlqa(folder: Path, languages=("en", "de", "zh")) -> Path:
    """``MLQA_V1/{dev,test}/{split}-context-{l}-question-{l}.json`` (same-language pairs), hex ids."""
    for split in ("dev", "test"):
        for language in languages:
            rows = [(*row, f"{split}{language}{number:036x}") for number, row in enumerate(TINY_QA[language])]
            write_squad(Path(folder) / "MLQA_V1" / split / f"{split}-context-{language}-question-{language}.json", rows)
    return Path(folder)


_TYDIQA_NAMES = {"en": "english", "sw": "swahili"}


def write_tydiqa(folder: Path, languages=("en", "sw"), train_copies: int = 3) -> Path:
    """The official TyDiQA-GoldP files: ``tydiqa-goldp-v1.1-train.json`` (every language, told apart
    by the ``{language name}-`` id prefix) and ``tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{name}.json``."""
    folder = Path(folder)
    qa = {**TINY_QA, "sw": TINY_QA_SWAHILI}
    train = [
        (*row, f"{_TYDIQA_NAMES[language]}-{copy}{number}")
        for language in languages
        for copy in range(train_copies)
        for number, row in enumerate(qa[language])
    ]
    write_squad(folder / "tydiqa-goldp-v1.1-train.json", train, "TyDiQA-GoldP-1.1")
    for language in languages:
        name = _TYDIQA_NAMES[language]
        rows = [(*row, f"{name}-dev{number}") for number, row in enumerate(qa[language])]
        write_squad(folder / "tydiqa-goldp-v1.1-dev" / f"tydiqa-goldp-dev-{name}.json", rows, "TyDiQA-GoldP-1.1")
    return folder


# multiple choice: HellaSwag, Cosmos QA, CommonsenseQA


def write_hellaswag(folder: Path) -> Path:
    """``hellaswag_{train,val}.jsonl`` (int labels, as the release)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 8), ("val", 4)):
        rows = [
            {
                "ind": i,
                "activity_label": "Cooking",
                "ctx_a": "A man is cooking.",
                "ctx_b": "he",
                "ctx": "A man is cooking. he",
                "endings": ["stirs the pot.", "flies away.", "sings.", "sleeps."],
                "source_id": "x",
                "split": split,
                "split_type": "indomain",
                "label": i % 4,
            }
            for i in range(count)
        ]
        (folder / f"hellaswag_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def write_commonsenseqa(folder: Path) -> Path:
    """``{train,dev}_rand_split.jsonl`` in the original nested schema (answerKey a letter)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 8), ("dev", 4)):
        rows = [
            {
                "answerKey": "ABCDE"[i % 5],
                "id": f"{split}{i}",
                "question": {
                    "question_concept": "x",
                    "stem": "Where do you keep milk?",
                    "choices": [
                        {"label": letter, "text": text}
                        for letter, text in zip("ABCDE", ["fridge", "car", "shoe", "sky", "book"])
                    ],
                },
            }
            for i in range(count)
        ]
        (folder / f"{split}_rand_split.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def write_cosmosqa(folder: Path, train: int = 8, dev: int = 4) -> Path:
    """``train.csv`` and ``valid.csv``: quoted CSV, header ``id,context,question,answer0..3,label``."""
    import csv

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    context = 'We went to the beach , and it rained all day . Mom said "next time" .'
    answers = ["They stayed dry .", "The weather was bad .", "They went skiing .", "None of the above choices ."]
    for name, count in (("train.csv", train), ("valid.csv", dev)):
        with open(folder / name, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"])
            for i in range(count):
                writer.writerow([f"{name}##{i}", context, "Why was the day a letdown ?", *answers, i % 4])
    return folder


# tagging: PAN-X, UD-POS, CCG

_PEOPLE = ["Anna", "Paul", "Maria"]
_PLACES = ["Berlin", "Paris", "Rome"]
_ORGS = ["Siemens", "Google"]


def ner_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    """(token, IOB2 tag) sentences with a person, an organisation and a place each."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(count):
        person, place, org = rng.choice(_PEOPLE), rng.choice(_PLACES), rng.choice(_ORGS)
        sentences.append(
            [
                (person, "B-PER"),
                ("Smith", "I-PER"),
                ("works", "O"),
                ("for", "O"),
                (org, "B-ORG"),
                ("in", "O"),
                (place, "B-LOC"),
                (".", "O"),
            ]
        )
    return sentences


def write_panx(folder: Path) -> Path:
    """XTREME files for en train/dev and de dev, the original layout for de test, and an unlabelled
    XTREME-style en test (evaluation skips it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"train-en.tsv": (12, 1), "dev-en.tsv": (4, 2), "dev-de.tsv": (4, 3)}
    for name, (count, seed) in files.items():
        (folder / name).write_text(
            "".join("".join(f"{t}\t{g}\n" for t, g in s) + "\n" for s in ner_sentences(count, seed)), encoding="utf-8"
        )
    (folder / "test-en.tsv").write_text("Anna\nlebt\n\n", encoding="utf-8")
    (folder / "de").mkdir()
    (folder / "de" / "test").write_text(
        "".join("".join(f"de:{t}\t{g}\n" for t, g in s) + "\n" for s in ner_sentences(4, 4)), encoding="utf-8"
    )
    return folder


def conllu(sentences) -> str:
    """CoNLL-U text of (form, UPOS) sentences (a flat tree: the first word is the root)."""
    blocks = []
    for n, sentence in enumerate(sentences):
        lines = [f"# sent_id = s{n}"]
        lines += [
            f"{i}\t{form}\t_\t{upos}\t_\t_\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_"
            for i, (form, upos) in enumerate(sentence, start=1)
        ]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n"


def write_ud(folder: Path) -> Path:
    """``UD_*/{treebank}-ud-{split}.conllu``: English train and dev, German test."""
    folder = Path(folder)
    english = [
        [("the", "DET"), ("cat", "NOUN"), ("sleeps", "VERB"), (".", "PUNCT")],
        [("a", "DET"), ("dog", "NOUN"), ("runs", "VERB"), ("fast", "ADV")],
    ]
    german = [[("die", "DET"), ("Katze", "NOUN"), ("schläft", "VERB"), (".", "PUNCT")]]
    for treebank, split, sentences in (
        ("en_tiny", "train", english * 4),
        ("en_tiny", "dev", english),
        ("de_tiny", "test", german * 2),
    ):
        path = folder / f"UD_{treebank}" / f"{treebank}-ud-{split}.conllu"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(conllu(sentences), encoding="utf-8")
    return folder


def write_ccg(folder: Path, train_copies: int = 4) -> Path:
    """jiant's CCG files: ``ccg.{train,dev,test}`` (``words<TAB>supertags`` per sentence) and
    ``tags_to_id.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sentences = [
        ("Pierre Vinken will join the board .", r"N/N N (S[dcl]\NP)/(S[b]\NP) (S[b]\NP)/NP NP[nb]/N N ."),
        ("He sleeps .", r"NP S[dcl]\NP ."),
        ("The dog runs fast", r"NP[nb]/N N S[dcl]\NP (S\NP)\(S\NP)"),
    ]
    tags: dict[str, int] = {}
    for _, supertags in sentences:
        for tag in supertags.split():
            tags.setdefault(tag, len(tags))
    (folder / "tags_to_id.json").write_text(json.dumps(tags), encoding="utf-8")
    for split, rows in (("train", sentences * train_copies), ("dev", sentences), ("test", sentences[1:])):
        (folder / f"ccg.{split}").write_text("".join(f"{w}\t{t}\n" for w, t in rows), encoding="utf-8")
    return folder


# retrieval: Tatoeba, BUCC 2018

TINY_PAIRS = {
    "deu": [
        ("Die Katze schläft.", "The cat sleeps."),
        ("Der Hund spielt im Garten.", "The dog plays in the garden."),
        ("Ich lese ein Buch.", "I am reading a book."),
        ("Es regnet heute.", "It is raining today."),
        ("Wir kochen Reis.", "We are cooking rice."),
        ("Mein Bruder ist müde.", "My brother is tired."),
    ],
    "fra": [
        ("Le chat dort.", "The cat sleeps."),
        ("Le chien joue.", "The dog plays."),
        ("Il pleut.", "It is raining."),
        ("Nous mangeons.", "We are eating."),
    ],
}


def write_tatoeba(folder: Path) -> Path:
    """LASER's line-aligned ``tatoeba.{iso3}-eng.{iso3}`` / ``.eng`` for deu and fra."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for iso3, pairs in TINY_PAIRS.items():
        (folder / f"tatoeba.{iso3}-eng.{iso3}").write_text("".join(f"{s}\n" for s, _ in pairs), encoding="utf-8")
        (folder / f"tatoeba.{iso3}-eng.eng").write_text("".join(f"{e}\n" for _, e in pairs), encoding="utf-8")
    return folder


def write_bucc(folder: Path) -> Path:
    """BUCC 2018 de-en as XTREME names it: ``de-en.{dev,test}.{de,en,gold}`` (``ID<TAB>sentence``), three
    gold pairs per split and English distractors."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, offset in (("dev", 0), ("test", 3)):
        pairs = [
            (f"de-{i:06d}", f"en-{i:06d}", german, english)
            for i, (german, english) in enumerate(TINY_PAIRS["deu"][offset : offset + 3], start=1)
        ]
        extra_en = [(f"en-{i:06d}", text) for i, (_, text) in enumerate(TINY_PAIRS["fra"], start=10)]
        (folder / f"de-en.{split}.de").write_text("".join(f"{s}\t{g}\n" for s, _, g, _ in pairs), encoding="utf-8")
        (folder / f"de-en.{split}.en").write_text(
            "".join(f"{e}\t{t}\n" for _, e, _, t in pairs) + "".join(f"{e}\t{t}\n" for e, t in extra_en),
            encoding="utf-8",
        )
        (folder / f"de-en.{split}.gold").write_text("".join(f"{s}\t{e}\n" for s, e, _, _ in pairs), encoding="utf-8")
    return folder


# XGLUE: its release layout, xglue_full_dataset/{NER,POS,NC,MLQA,XNLI,PAWSX,QADSM,WPR,QAM}/

#: (word, IOB1 tag) sentences: CoNLL-2003's IOB1, where an entity starts with I- and B- only splits
#: two adjacent entities of one type
XGLUE_NER_SENTENCES = [
    [("Anna", "I-PER"), ("Smith", "I-PER"), ("works", "O"), ("for", "O"), ("Siemens", "I-ORG"), (".", "O")],
    [("Paul", "I-PER"), ("Maria", "B-PER"), ("visit", "O"), ("Berlin", "I-LOC"), ("in", "O"), ("May", "I-MISC")],
]
XGLUE_POS_SENTENCES = [
    [("the", "DET"), ("cat", "NOUN"), ("sleeps", "VERB"), (".", "PUNCT")],
    [("a", "DET"), ("dog", "NOUN"), ("runs", "VERB"), ("fast", "ADV")],
]
#: (title, body, category) rows of NC
_XGLUE_NEWS = [
    ("Team wins the cup", "The home team won the final match.", "sports"),
    ("New soup recipe", "Cook rice and fish with herbs.", "foodanddrink"),
    ("Markets rise", "Shares rose on Monday.", "finance"),
]
#: (query, ad title, ad description, Bad/Good) rows of QADSM
_XGLUE_ADS = [
    ("cheap flights", "Flights from 19 EUR", "Book cheap flights to Europe.", "Good"),
    ("cheap flights", "Garden chairs", "Chairs for your garden.", "Bad"),
]
#: (query, page title, snippet, grade) rows of WPR: two queries of three pages each
_XGLUE_PAGES = [
    ("weather berlin", "Berlin weather today", "Rain and wind in Berlin.", "4"),
    ("weather berlin", "Berlin travel guide", "Museums and parks.", "1"),
    ("weather berlin", "Weather in Paris", "Sunny in Paris.", "0"),
    ("python tutorial", "Learn Python", "A Python tutorial for beginners.", "3"),
    ("python tutorial", "Snakes of the world", "Pythons are large snakes.", "0"),
    ("python tutorial", "Python reference", "The language reference.", "2"),
]
#: (question, passage, 0/1) rows of QAM
_XGLUE_QA_PAIRS = [
    ("where does anna live", "Anna lives in Berlin with her brother.", "1"),
    ("where does anna live", "The train leaves at noon every day.", "0"),
]


def _tsv_file(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def _conll_file(path: Path, sentences) -> None:
    """CoNLL style: a ``-DOCSTART-`` line, then ``word tag`` lines, a blank line after each sentence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = ["-DOCSTART- O\n"] + ["".join(f"{word} {tag}\n" for word, tag in sentence) for sentence in sentences]
    path.write_text("\n".join(blocks) + "\n", encoding="utf-8")


def write_xglue(folder: Path, *, train_copies: int = 3) -> Path:
    """``xglue_full_dataset/`` with every understanding task: English train (``train_copies`` copies of
    the rows) and dev, German dev and test, as XGLUE's release names them (MLQA with XGLUE's
    ``squad1.1/train-v1.1.json``). Returns the ``xglue_full_dataset`` folder."""
    root = Path(folder) / "xglue_full_dataset"
    splits = (("en", "train"), ("en", "dev"), ("de", "dev"), ("de", "test"))
    for name, sentences in (("NER", XGLUE_NER_SENTENCES), ("POS", XGLUE_POS_SENTENCES)):
        for language, split in splits:
            _conll_file(root / name / f"{language}.{split}", sentences * (train_copies if split == "train" else 1))
    for name, rows in (("nc", _XGLUE_NEWS), ("qadsm", _XGLUE_ADS), ("wpr", _XGLUE_PAGES), ("qam", _XGLUE_QA_PAIRS)):
        for language, split in splits:
            path = root / name.upper() / f"xglue.{name}.{language}.{split}"
            _tsv_file(path, rows * (train_copies if split == "train" else 1))
    nli = tiny_nli_examples("en", 6, 1)
    (root / "XNLI").mkdir(parents=True)
    (root / "XNLI" / "multinli.train.en.tsv").write_text(
        "premise\thypo\tlabel\n" + "".join(f"{p}\t{h}\t{l}\n" for p, h, l in nli * train_copies), encoding="utf-8"
    )
    for language, split in splits[1:]:
        rows = tiny_nli_examples(language, 6, 2)
        (root / "XNLI" / f"{language}.{split}").write_text(
            "".join(f"{p}\t{h}\t{l}\n" for p, h, l in rows), encoding="utf-8"
        )
    write_pawsx(root / "paws")
    (root / "paws" / "x-final").rename(root / "PAWSX")
    (root / "paws").rmdir()
    write_mlqa(root / "MLQA", languages=("en", "de"))
    write_squad(root / "MLQA" / "squad1.1" / "train-v1.1.json", TINY_QA["en"] * train_copies)
    return root
