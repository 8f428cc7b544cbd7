"""The output heads of the task formats (torch modules). A format's ``build_head`` imports its head
from here, so that the format modules, which every catalog imports, stay free of torch (see
`stilts.formats.base`).
"""

from __future__ import annotations

import torch
from torch import nn

#: initialisation of a fresh MLM head's dense layer (transformers' default initializer_range)
MLM_INIT_STD = 0.02


class ClassificationHead(nn.Module):
    """RoBERTa's classification head on the first token's state: dense + tanh + dropout + projection."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden_size, num_labels)

    def forward(self, first_token_state: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.dense(self.dropout(first_token_state)))
        return self.out_proj(self.dropout(hidden))


class ChoiceScoringHead(nn.Module):
    """Multiple choice: dropout + a linear layer from each pair's first-token state to one score."""

    def __init__(self, hidden_size: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.scorer = nn.Linear(hidden_size, 1)

    def forward(self, first_token_states: torch.Tensor) -> torch.Tensor:
        return self.scorer(self.dropout(first_token_states)).squeeze(-1)


class SpanHead(nn.Module):
    """One linear layer to a start and an end logit per token (HF ``*ForQuestionAnswering``)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.qa_outputs(states)


class TaggingHead(nn.Module):
    """Dropout + a linear layer over every token state."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, token_states: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(token_states))


class MaskedLMHead(nn.Module):
    """RoBERTa's LM head whose decoder is the encoder's input embedding matrix (passed to `forward`,
    so the weights are tied by construction and the head itself holds no vocabulary-sized matrix).
    The bias is vocabulary-sized; `MaskedLM.init_head` creates it once the encoder is known."""

    def __init__(self, hidden_size: int, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        nn.init.normal_(self.dense.weight, std=MLM_INIT_STD)
        nn.init.zeros_(self.dense.bias)
        self.register_parameter("bias", None)

    def set_vocabulary_size(self, size: int) -> None:
        self.bias = nn.Parameter(torch.zeros(size, device=self.dense.weight.device))

    def forward(self, states: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, vocabulary)`` for ``n`` hidden states ``(n, hidden)``."""
        if self.bias is None:
            raise RuntimeError("MaskedLMHead has no vocabulary yet: call MaskedLM.init_head first")
        hidden = self.layer_norm(nn.functional.gelu(self.dense(states)))
        return nn.functional.linear(hidden, embeddings, self.bias)
