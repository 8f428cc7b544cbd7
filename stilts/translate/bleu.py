"""How good is the MT model? sacreBLEU on a line-aligned parallel sample (e.g. Tatoeba).

``tatoeba.deu-eng.eng`` -> ``tatoeba.deu-eng.deu`` checks an en->de model on 1000 short sentences
in seconds, before hours of translating a training set. sacrebleu is an optional dependency
(``pip install "stilts[translate]"``), imported only here.

Tokenisation is sacreBLEU's default ``13a``, except for target languages written without spaces:
``zh`` uses sacreBLEU's Chinese tokenizer (its own default for zh), ``ja`` and ``th`` characters
(sacreBLEU's ``ja-mecab`` needs MeCab, which stilts does not install).
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.errors import BadInput
from stilts.data.readers._io import numbered_lines

_TOKENIZE = {"zh": "zh", "ja": "char", "th": "char"}


def require_sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise BadInput("--eval-bleu needs sacrebleu: pip install 'stilts[translate]'") from None
    return sacrebleu


def read_parallel(source: Path, reference: Path, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Line-aligned source and reference sentences (the first ``limit`` pairs)."""
    sources = [line for _, line in numbered_lines(source)]
    references = [line for _, line in numbered_lines(reference)]
    if len(sources) != len(references):
        raise BadInput(
            f"--eval-bleu: {source} has {len(sources)} lines but {reference} has "
            f"{len(references)}; the files must be line-aligned"
        )
    if not sources:
        raise BadInput(f"--eval-bleu: {source} is empty")
    if limit:
        sources, references = sources[:limit], references[:limit]
    return sources, references


def corpus_bleu(hypotheses: list[str], references: list[str], language: str | None) -> tuple[float, str]:
    """sacreBLEU's corpus BLEU (0-100) and its signature (what was computed, for reports)."""
    sacrebleu = require_sacrebleu()
    metric = sacrebleu.BLEU(tokenize=_TOKENIZE.get(language or "", "13a"))
    score = metric.corpus_score(hypotheses, [references])
    return float(score.score), str(metric.get_signature())
