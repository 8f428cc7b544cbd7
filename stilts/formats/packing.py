"""Padding-free batches: a batch's examples in one row, without padding tokens.

A packed batch is the batch's features one after the other in a single row (batch dimension 1): its
token columns concatenated, ``position_ids`` numbering each example from the encoder's first position
(`position_offset`: 2 for RoBERTa/XLM-R, whose positions start after the padding index; 0 for BERT),
``cu_seq_lens`` where each example starts (and the row ends), and ``max_length`` its longest example.
The same examples as the padded batch, the same loss (a mean over examples), with no token spent on
padding.

How the encoder is told where one example ends depends on its attention kernel (``config._attn_implementation``):

- flash_attention_2 (and kernels that build no mask): ``cu_seq_lens_q/k`` and ``max_length_q/k``,
  the variable-length interface transformers passes to every layer's attention
  (``DataCollatorWithFlattening(return_flash_attn_kwargs=True)`` makes the same);
- every kernel with a mask (flex's block-sparse BlockMask; sdpa's and eager's dense block-diagonal
  masks, which the tests compare against padded batches): the mask transformers itself builds from
  packed position ids (``masking_utils.create_bidirectional_mask``), passed to the encoder ready-made,
  so that encoders whose forward does not hand their position ids to the mask builder (ModernBERT) get
  it too; models whose config names layer types (ModernBERT's sliding-window layers) get one mask per
  type (``create_bidirectional_sliding_window_mask`` for the sliding ones), as their forward takes them.

Which kernels a pipeline may pack with is `stilts.training.attention`'s business; which formats pack is
each format's ``packs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import torch

#: the batch keys that mark and describe a packed batch (`packed_batch`)
CU_SEQ_LENS, MAX_LENGTH = "cu_seq_lens", "max_length"
#: token columns a packed row concatenates; attention_mask is left out (a packed row has no padding)
PACKED_TOKEN_COLUMNS = ("input_ids", "token_type_ids")
#: the layer types whose packed masks can be built, and transformers' builder of each (by name)
MASK_BUILDERS = {
    "full_attention": "create_bidirectional_mask",
    "sliding_attention": "create_bidirectional_sliding_window_mask",
}


def packed_batch(rows: pa.Table, scalar_columns: list[str], offset: int) -> dict[str, torch.Tensor | int]:
    """The features ``rows`` (an Arrow table of token columns and ``scalar_columns``) as one packed row,
    positions numbered from ``offset``."""
    import torch

    batch: dict[str, torch.Tensor | int] = {}
    lengths = None
    for key in PACKED_TOKEN_COLUMNS:
        if key not in rows.column_names:
            continue
        column = rows.column(key)
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.int64)
        batch[key] = torch.from_numpy(flat).unsqueeze(0)
    if lengths is None:
        raise ValueError("a packed batch needs input_ids")
    if (lengths == 0).any():
        raise ValueError("a feature without tokens cannot be packed")
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    positions = np.arange(int(starts[-1]), dtype=np.int64) - np.repeat(starts[:-1], lengths) + offset
    batch["position_ids"] = torch.from_numpy(positions).unsqueeze(0)
    batch[CU_SEQ_LENS] = torch.from_numpy(starts.astype(np.int32))
    batch[MAX_LENGTH] = int(lengths.max())
    for key in scalar_columns:
        batch[key] = torch.from_numpy(rows.column(key).to_numpy(zero_copy_only=False).astype(np.int64))
    return batch


def is_packed(batch) -> bool:
    return CU_SEQ_LENS in batch


def first_tokens(batch) -> torch.Tensor:
    """The row positions of each packed example's first token."""
    return batch[CU_SEQ_LENS][:-1].long()


def packed_encoder_inputs(encoder, batch) -> dict:
    """The keyword arguments that run ``encoder`` on the packed ``batch``, each example attending to
    itself only (see the module's docstring for how, per kernel)."""
    import torch

    inputs = {key: batch[key] for key in (*PACKED_TOKEN_COLUMNS, "position_ids") if key in batch}
    config = encoder.config
    implementation = config._attn_implementation
    from transformers import masking_utils

    builds_mask = masking_utils.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping.get(implementation)
    if builds_mask is None or builds_mask is masking_utils.flash_attention_mask:
        bounds = batch[CU_SEQ_LENS].to(torch.int32)
        inputs.update(
            cu_seq_lens_q=bounds, cu_seq_lens_k=bounds, max_length_q=batch[MAX_LENGTH], max_length_k=batch[MAX_LENGTH]
        )
        return inputs
    positions = batch["position_ids"]
    # what the mask builders read of the embeddings: batch size, length, device, and the dtype of the
    # hidden states the mask is added to (eager's additive mask); no hidden size is needed
    parameter = next(encoder.parameters())
    shape = torch.empty((1, positions.shape[1], 0), dtype=parameter.dtype, device=positions.device)
    layer_types = sorted(set(getattr(config, "layer_types", None) or ["full_attention"]))
    masks = {}
    for layer_type in layer_types:
        if layer_type not in MASK_BUILDERS:
            raise ValueError(f"no packed attention mask for {layer_type} layers")
        build = getattr(masking_utils, MASK_BUILDERS[layer_type])
        masks[layer_type] = build(config=config, inputs_embeds=shape, attention_mask=None, position_ids=positions)
    inputs["attention_mask"] = masks if layer_types != ["full_attention"] else masks["full_attention"]
    return inputs


def packing_problem(layer_types) -> str | None:
    """Why an encoder whose config has ``layer_types`` (None: all full attention) cannot take packed
    rows, or None: a layer type without a packed mask."""
    unknown = sorted(set(layer_types or []) - set(MASK_BUILDERS))
    if unknown:
        return f"its {', '.join(unknown)} layers take no packed attention mask stilts can build"
    return None


def position_offset(encoder, candidates: int | None = None) -> int | None:
    """The position id the encoder gives an example's first token, found by running it: on a short
    unpadded input, the offset ``o`` for which explicit ``position_ids`` ``o, o+1, ...`` give the outputs
    the encoder's own numbering gives. 2 for XLM-R (positions after padding index 1), 0 for BERT; any
    offset fits an encoder that reads only relative positions (rotary, DeBERTa's), and 0 is returned.
    ``candidates``: the offsets tried, 0 to the padding id + 1 by default. None: none of them fits."""
    import torch

    config = encoder.config
    pad = config.pad_token_id if isinstance(config.pad_token_id, int) else 0
    tokens = [token for token in range(3, 3 + 8) if token != pad][:5]
    input_ids = torch.tensor([tokens], device=next(encoder.parameters()).device)
    training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            own = encoder(input_ids=input_ids).last_hidden_state
            for offset in range(candidates if candidates is not None else pad + 2):
                positions = torch.arange(offset, offset + len(tokens), device=input_ids.device).unsqueeze(0)
                given = encoder(input_ids=input_ids, position_ids=positions).last_hidden_state
                if torch.allclose(own, given, atol=1e-5, rtol=1e-4):
                    return offset
    finally:
        encoder.train(training)
    return None
