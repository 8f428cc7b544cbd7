"""Tiny random encoders of every architecture family researchers fine-tune for cross-lingual transfer,
each with a real tokenizer of its kind, trained offline in a second with `tokenizers` on the text the
project ships: the architecture matrix of tests/test_encoder_families.py.

==========================  ====================  ==================================================
family                      stands in for         tokenizer
==========================  ====================  ==================================================
``xlm-roberta``             XLM-R, Glot500, BGE-M3  SentencePiece Unigram, ``<s> A </s></s> B </s>``
``xlm-roberta-large-vocab`` XLM-V                 the same, under an embedding matrix 16x the
                                                  tokenizer (rows no token reaches, as padded
                                                  vocabularies have)
``bert``                    mBERT, multilingual-e5  WordPiece, ``[CLS] A [SEP] B [SEP]`` with token types
``deberta-v2``              mDeBERTa-v3           SentencePiece Unigram; relative positions only, no
                                                  pooler, no token-type embeddings
``modernbert``              mmBERT                byte-level BPE without a prefix space (a word at
                                                  the start of a text splits unlike the same word
                                                  after a space); RoPE; no token type ids
``rembert``                 RemBERT               SentencePiece Unigram; input embeddings narrower
                                                  than the hidden states
==========================  ====================  ==================================================

Sizes are the matrix's: hidden 32, 2 layers, 2 heads, a vocabulary of about 1000.
"""

from __future__ import annotations

import json
from pathlib import Path

from stilts.testing import shipped_sentences

FAMILIES = ("xlm-roberta", "xlm-roberta-large-vocab", "bert", "deberta-v2", "modernbert", "rembert")

HIDDEN, LAYERS, HEADS, VOCABULARY = 32, 2, 2, 1000
#: the embedding rows of the large-vocabulary XLM-R, most of which no token of its tokenizer reaches
LARGE_VOCABULARY = 16 * VOCABULARY

#: special tokens of the two conventions: RoBERTa's and BERT's
_ROBERTA = {"bos": "<s>", "pad": "<pad>", "eos": "</s>", "unk": "<unk>", "mask": "<mask>"}
_BERT = {"cls": "[CLS]", "pad": "[PAD]", "sep": "[SEP]", "unk": "[UNK]", "mask": "[MASK]"}


def _sentences() -> list[str]:
    # the shipped corpus plus the words of the tiny task data (names, German, French), so that the
    # tokenizers split them into pieces rather than unknown tokens
    from stilts import testing

    extra = [" ".join(s for s in testing._SUBJECTS[language]) for language in testing._SUBJECTS]
    extra += [" ".join(a for pair in testing._ACTIONS[language] for a in pair) for language in testing._ACTIONS]
    return shipped_sentences() + extra


def _unigram(special: list[str], unk: str):
    """SentencePiece-style Unigram: words marked with a leading ``▁``, as XLM-R's, DeBERTa's, RemBERT's."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=VOCABULARY, special_tokens=special, unk_token=unk)
    tokenizer.train_from_iterator(_sentences(), trainer)
    return tokenizer


def _wordpiece(special: list[str]):
    """BERT's WordPiece: split on white space and punctuation, ``##`` marks a word's later pieces."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token=_BERT["unk"]))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCABULARY, special_tokens=special)
    tokenizer.train_from_iterator(_sentences(), trainer)
    return tokenizer


def _byte_level_bpe(special: list[str]):
    """GPT-2/OLMo-style byte-level BPE without a prefix space (ModernBERT's; mmBERT's Gemma tokenizer
    also adds none): a text's first word is ``word``, the same word after a space ``Ġword``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCABULARY, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_sentences(), trainer)
    return tokenizer


def _template(tokenizer, first: str, last: str, *, between: str, type_ids: bool) -> None:
    """``first A last`` and ``first A last [between] B last`` (B with token type 1 where ``type_ids``)."""
    from tokenizers import processors

    second = 1 if type_ids else 0
    middle = f"{between} " if between else ""
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{first} $A {last}",
        pair=f"{first} $A {last} {middle}$B:{second} {last}:{second}",
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in {first, last}],
    )


def build_tokenizer(family: str):
    """The family's tokenizer as transformers wraps it (``PreTrainedTokenizerFast``)."""
    from transformers import PreTrainedTokenizerFast

    if family.startswith("xlm-roberta"):
        names = _ROBERTA
        tokenizer = _unigram([names[k] for k in ("bos", "pad", "eos", "unk")], names["unk"])
        tokenizer.add_special_tokens([names["mask"]])
        _template(tokenizer, names["bos"], names["eos"], between=names["eos"], type_ids=False)
        special = {"bos_token": names["bos"], "eos_token": names["eos"], "cls_token": names["bos"]}
        special["sep_token"] = names["eos"]
    else:
        names = _BERT
        order = [names[k] for k in ("pad", "unk", "cls", "sep", "mask")]
        if family == "bert":
            tokenizer = _wordpiece(order)
        elif family == "modernbert":
            tokenizer = _byte_level_bpe(order)
        else:  # deberta-v2, rembert: SentencePiece
            tokenizer = _unigram(order, names["unk"])
        # ModernBERT has no token type embeddings: its pairs are one segment, as its tokenizer makes them
        _template(tokenizer, names["cls"], names["sep"], between="", type_ids=family != "modernbert")
        special = {"cls_token": names["cls"], "sep_token": names["sep"]}
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=names["pad"],
        unk_token=names["unk"],
        mask_token=names["mask"],
        model_max_length=512,
        **special,
    )
    wrapped.model_input_names = model_input_names(family)
    return wrapped


def model_input_names(family: str) -> list[str]:
    """What the family's tokenizer gives the encoder: token type ids where the family has segments."""
    if family.startswith("xlm-roberta") or family == "modernbert":
        return ["input_ids", "attention_mask"]
    return ["input_ids", "token_type_ids", "attention_mask"]


def build_config(family: str, tokenizer):
    """A tiny randomly initialised config of ``family`` for ``tokenizer``."""
    import transformers

    sizes = dict(
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=2 * HIDDEN,
        pad_token_id=tokenizer.pad_token_id,
    )
    vocabulary = LARGE_VOCABULARY if family == "xlm-roberta-large-vocab" else len(tokenizer)
    if family.startswith("xlm-roberta"):
        return transformers.XLMRobertaConfig(
            vocab_size=vocabulary,
            max_position_embeddings=514,
            type_vocab_size=1,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sizes,
        )
    if family == "bert":
        return transformers.BertConfig(vocab_size=vocabulary, max_position_embeddings=512, **sizes)
    if family == "deberta-v2":  # mDeBERTa-v3's layout: relative positions only, no token types
        # the config takes settings its signature does not declare (the model reads them with getattr)
        return transformers.DebertaV2Config(  # type: ignore[call-arg]
            vocab_size=vocabulary,
            max_position_embeddings=512,
            type_vocab_size=0,
            relative_attention=True,
            position_buckets=64,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            **sizes,
        )
    if family == "modernbert":
        # as above: global_attn_every_n_layers is read, not declared
        return transformers.ModernBertConfig(  # type: ignore[call-arg]
            vocab_size=vocabulary,
            max_position_embeddings=512,
            global_attn_every_n_layers=2,
            local_attention=16,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            **sizes,
        )
    if family == "rembert":
        return transformers.RemBertConfig(
            vocab_size=vocabulary,
            max_position_embeddings=512,
            input_embedding_size=HIDDEN // 2,
            output_embedding_size=HIDDEN // 2,
            **sizes,
        )
    raise ValueError(f"unknown family {family!r} (one of {', '.join(FAMILIES)})")


def build_tiny_encoder(folder: Path, family: str, *, seed: int = 0) -> Path:
    """Save a tiny random ``family`` encoder and its tokenizer under ``folder``; returns ``folder``.
    The encoder is the family's base model (``AutoModel``), saved without a pooler where it has one."""
    import torch

    from stilts.training.encoder_class import base_model_class, without_pooler

    folder = Path(folder)
    tokenizer = build_tokenizer(family)
    config = build_config(family, tokenizer)
    torch.manual_seed(seed)
    base_model_class(config)(config, **without_pooler(config)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # AutoTokenizer reads the input names from tokenizer_config.json, as it does for a Hub model's
    config_path = folder / "tokenizer_config.json"
    settings = json.loads(config_path.read_text())
    settings["model_input_names"] = model_input_names(family)
    config_path.write_text(json.dumps(settings, indent=2))
    return folder
