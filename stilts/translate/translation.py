"""Machine translation of a task's examples with any Hugging Face seq2seq model.

The model is loaded with ``AutoModelForSeq2SeqLM`` + ``AutoTokenizer`` from a Hub id or a local
folder; OPUS-MT (Marian) models such as ``Helsinki-NLP/opus-mt-en-de`` are the intended ones, and any
encoder-decoder MT model with a ``generate`` works (mBART/M2M/NLLB need a target-language token: give
it with ``prefix`` if the model takes it in the source text, as multilingual OPUS-MT ``>>deu<<``).
``MarianTokenizer`` normalises punctuation as OPUS-MT's training data was (Moses) only when
``sacremoses`` is installed, so the ``translate`` extra installs it along with sacrebleu.

How a task is translated (`translate_task`):

1. read the split from the task's source (a local release folder or the Hub), as pipelines do;
2. collect every string of the format's text fields (`stilts.translate.fields`), de-duplicated;
3. translate the strings the cache does not hold yet, longest first in batches of similar token
   length (little padding, and a batch that runs out of memory shows up at the start, not hours in),
   each batch appended to the on-disk cache (`stilts.translate.cache`) as soon as it is done;
4. put the translations back into copies of the examples and write ``{split}.jsonl`` atomically.

Translating strings independently loses context across fields: HellaSwag's context often ends
mid-sentence and each ending continues it, so the pieces may not read as one sentence in the target
language. That is the usual translate-train trade-off (labels stay valid because every choice is
translated the same way); it is the reason a BLEU check (`stilts.translate.bleu`) is worth running.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from stilts.core.errors import BadInput, RunFailed, is_hub_outage
from stilts.formats.span_qa import SpanQA
from stilts.translate import spans
from stilts.translate.cache import TranslationCache
from stilts.translate.fields import (
    apply_translations,
    check_translatable,
    collect_texts,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase
    from transformers.generation import GenerationMixin

#: beam size when the model's generation config sets none (OPUS-MT models carry the beam size of their
#: Marian ``decoder.yml``, and that is used by default); greedy decoding (1) is faster, usually worse
DEFAULT_BEAMS = 4
#: Marian models have 512 positions; also the cap on generated tokens
DEFAULT_MAX_LENGTH = 512
DEFAULT_BATCH_SIZE = 32
#: span QA: how many answered questions' marked contexts are translated first, to find a model that does
#: not copy the answer markers (and would lose every answer) before it translates the rest
MARKER_PROBE = 16


@dataclass
class Translator:
    """A loaded MT model with its decoding settings; ``identity`` keys its translation cache."""

    model: GenerationMixin  # an AutoModelForSeq2SeqLM, in evaluation mode on ``device``
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    model_name: str
    identity: dict
    beams: int = DEFAULT_BEAMS
    max_length: int = DEFAULT_MAX_LENGTH
    batch_size: int = DEFAULT_BATCH_SIZE
    prefix: str = ""


def _model_identity(reference: str, revision: str | None, model) -> dict:
    """What decides the model's weights: a local folder's path and weight files (sizes and
    modification times, so a model retrained in place gets a new cache), or the Hub id + commit."""
    folder = Path(reference).expanduser()
    if folder.is_dir():
        files = sorted(
            path
            for path in folder.iterdir()
            if path.suffix in (".safetensors", ".bin", ".pt") or path.name == "config.json"
        )
        return {
            "folder": str(folder.resolve()),
            "files": [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files],
        }
    commit = getattr(model.config, "_commit_hash", None)
    return {"model": reference, "revision": commit or revision or "main"}


def load_translator(
    reference: str,
    *,
    revision: str | None = None,
    beams: int | None = None,
    max_length: int = DEFAULT_MAX_LENGTH,
    batch_size: int = DEFAULT_BATCH_SIZE,
    prefix: str = "",
    dtype: str = "float32",
    accelerator=None,
    where: str = "--model",
) -> Translator:
    """Load the model on Accelerate's device (a GPU when there is one), in eval mode. ``beams=None``:
    the model's own beam size (its generation config), else `DEFAULT_BEAMS`. ``accelerator``: a
    stage's, whose device it goes on (else one of its own, in one process); ``where``: how messages
    name the model's setting."""
    import torch
    from accelerate import Accelerator
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    for option, value in (("--beams", beams), ("--max-length", max_length), ("--batch-size", batch_size)):
        if value is not None and value < 1:
            raise BadInput(f"{option}: must be at least 1, got {value}")
    if accelerator is None:
        accelerator = Accelerator()
        if accelerator.num_processes > 1:
            raise BadInput(
                "stilts translate runs in one process: start it with `stilts translate`, "
                "not `accelerate launch` (the cache is one file per model)"
            )
    try:
        tokenizer = AutoTokenizer.from_pretrained(reference, revision=revision)
        model = AutoModelForSeq2SeqLM.from_pretrained(reference, revision=revision)
    # transformers raises OSError for a missing model or file (offline included) and ValueError or
    # KeyError for a config that is not a seq2seq model: user-fixable, unless the Hub is down
    except (OSError, ValueError, KeyError) as error:
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else type(error).__name__
        if is_hub_outage(error):
            raise RunFailed(f"{where}: the Hub did not answer for '{reference}': {first_line}") from None
        raise BadInput(f"{where}: cannot load '{reference}' as a seq2seq translation model: {first_line}") from None
    model.to(device=accelerator.device, dtype=getattr(torch, dtype))
    model.eval()
    if beams is None:
        own = getattr(model.generation_config, "num_beams", None) or 1
        beams = own if own > 1 else DEFAULT_BEAMS
    identity = dict(
        _model_identity(reference, revision, model), beams=beams, max_length=max_length, prefix=prefix, dtype=dtype
    )
    return Translator(model, tokenizer, accelerator.device, reference, identity, beams, max_length, batch_size, prefix)


def _length_batches(texts: list[str], lengths: list[int], batch_size: int) -> list[list[str]]:
    """``texts`` sorted by token length, longest first, cut into batches."""
    ordered = [text for _, text in sorted(zip(lengths, texts), key=lambda pair: -pair[0])]
    return [ordered[start : start + batch_size] for start in range(0, len(ordered), batch_size)]


def translate_batch(translator: Translator, texts: list[str]) -> list[str]:
    import torch

    inputs = translator.tokenizer(
        [translator.prefix + text for text in texts],
        padding=True,
        truncation=True,
        max_length=translator.max_length,
        return_tensors="pt",
    ).to(translator.device)
    with torch.inference_mode():
        generated = translator.model.generate(
            **inputs, num_beams=translator.beams, max_new_tokens=translator.max_length
        )
    return [text.strip() for text in translator.tokenizer.batch_decode(generated, skip_special_tokens=True)]


def translate_texts(
    translator: Translator,
    texts: list[str],
    cache: TranslationCache,
    *,
    desc: str = "translating",
    log=print,
    length_setting: str = "--max-length",
) -> dict[str, str]:
    """``{text: translation}`` for every text; what the cache lacks is translated and added to it.
    ``length_setting``: how messages name the setting of the longest text."""
    from tqdm.auto import tqdm

    distinct = list(dict.fromkeys(texts))
    todo = [text for text in distinct if cache.get(text) is None and text.strip()]
    blank = [text for text in distinct if not text.strip()]
    cache.add([(text, text) for text in blank if cache.get(text) is None])  # nothing to translate
    done = len(distinct) - len(todo)
    log(
        f"{len(distinct)} distinct strings: {done} already translated (cache), {len(todo)} to translate"
        + (f"; {cache.skipped_lines} torn cache line(s) skipped" if cache.skipped_lines else "")
    )
    if todo:
        lengths = [len(ids) for ids in translator.tokenizer(todo, truncation=False)["input_ids"]]
        truncated = sum(length > translator.max_length for length in lengths)
        if truncated:
            log(
                f"warning: {truncated} string(s) longer than {length_setting} {translator.max_length} tokens "
                "are cut to that length before translation"
            )
        start = time.perf_counter()
        # unit "sent": tqdm shows the rate as sentences per second
        with tqdm(total=len(todo), desc=desc, unit="sent", dynamic_ncols=True) as progress:
            for batch in _length_batches(todo, lengths, translator.batch_size):
                cache.add(list(zip(batch, translate_batch(translator, batch))))
                progress.update(len(batch))
        seconds = time.perf_counter() - start
        log(f"translated {len(todo)} strings in {seconds:.1f} s ({len(todo) / max(seconds, 1e-9):.1f} sentences/s)")
    return {text: cache.translations[text] for text in distinct}  # every one is there now


def default_cache_folder(output: Path) -> Path:
    """Beside the output folder, so the cache stays with the data it makes and is found on rerun."""
    output = Path(output).expanduser().resolve()
    return output.parent / ".translation-cache"


def translate_task(
    translator: Translator,
    task,
    split: str,
    language: str,
    sources: dict[str, str],
    output: Path,
    cache: TranslationCache,
    *,
    max_examples: int | None = None,
    bleu: dict | None = None,
    log=print,
) -> tuple[Path, int]:
    """Translate ``task``'s ``split`` into ``output/{split}.jsonl``; returns the file and its size.
    ``bleu``, the model's score on a parallel sample, goes into the split's metadata."""
    from stilts.data.loading import load_examples
    from stilts.translate.dataset import write_split

    check_translatable(task)
    examples = load_examples(task, split, task.source_language, sources)
    if max_examples:
        examples = examples[:max_examples]
    fields = task.format.text_fields
    desc = f"{task.name} {split} -> {language}"
    lost: list[str] = []
    if isinstance(task.format, SpanQA):  # answers marked before translation and found after
        marked, texts = spans.strings(examples)
        log(f"{task.name} {split}: {len(examples)} questions, answers marked {' '.join(spans.MARKERS[0])}")
        # a model that does not copy the markers loses every answer: found on a few, before the rest
        probe = [(e, m) for e, m in zip(examples, marked, strict=True) if m.markers][:MARKER_PROBE]
        tried = translate_texts(translator, [m.context for _, m in probe], cache, desc=f"{desc} (markers)", log=log)
        if probe and not any(spans.unmark(tried[m.context], m.markers) for _, m in probe if m.markers):
            raise BadInput(
                f"{task.name} {split}: the answer markers {' '.join(probe[0][1].markers or ())} came through the "
                f"translation of none of the first {len(probe)} answered questions (e.g. '{probe[0][0]['id']}'), so "
                "no answer span can be kept: this model does not copy them; nothing was written"
            )
        translations = translate_texts(translator, texts, cache, desc=desc, log=log)
        translated, lost = spans.translated_examples(examples, marked, translations)
        answered = sum(bool(example["answers"]["text"]) for example in examples)
        if lost:
            log(
                f"warning: {len(lost)} of {answered} questions left out: their answer markers did not come through "
                f"the translation (first: '{lost[0]}')"
            )
    else:
        texts = collect_texts(examples, fields)
        log(f"{task.name} {split}: {len(examples)} examples, fields {', '.join(fields)}")
        translations = translate_texts(translator, texts, cache, desc=desc, log=log)
        translated = apply_translations(examples, fields, translations)
    note = {
        "model": translator.model_name,
        "model_identity": translator.identity,
        "task": task.name,
        "split": split,
        "source_language": task.source_language,
        "target_language": language,
        "count": len(translated),
        "strings": len(texts),
        "data": dict(sources) or "hub",
        "max_examples": max_examples,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if isinstance(task.format, SpanQA):
        note["answers"] = {"kept": "the first answer of each question, found between markers", "lost": len(lost)}
    if bleu:
        note["bleu"] = bleu
    path = write_split(output, split, translated, task=task.name, language=language, note=note)
    return path, len(translated)
