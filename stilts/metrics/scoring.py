"""Score one language of one task from a gold file in its original release format and a prediction
file in the official scripts' format (``stilts score``). Each task's declaration names its scoring
function here (`stilts.core.catalog.Scoring`); a plugin's task names its own, built from the helpers here
(`classification`) or not. No branching on task names.

Gold formats: XNLI the XTREME per-language TSV or XNLI-1.0 ``xnli.{dev,test}.tsv``; PAWS-X either TSV
form; UD-POS CoNLL-U (or XTREME's ``token<TAB>tag`` files); PAN-X either ``token<TAB>tag`` form;
XQuAD/MLQA/TyDiQA/SQuAD the SQuAD JSON; BUCC any file of the ``xx-en.SPLIT`` set (the ``.gold`` pairs
are scored; the sentence files check the ids and tell repeated sentences); Tatoeba either file of the pair;
XCOPA/COPA the JSONL files (XTREME-R's ``val-xx.jsonl``, the release's ``xx/{val,test}.xx.jsonl``);
the XGLUE tasks the files of XGLUE's release, their predictions as XGLUE's ``xglue_evaluate.py`` reads
them (``{TASK}/{lang}.prediction``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stilts.core.catalog import TASKS, Task
from stilts.core.errors import BadInput, did_you_mean
from stilts.core.names import NDCG
from stilts.data.readers import nli
from stilts.data.readers.multiple_choice import read_copa, read_xcopa
from stilts.data.readers.pairs import PAWSX_LABELS, read_pawsx
from stilts.data.readers.qa import read_squad, read_tydiqa
from stilts.data.readers.retrieval import bucc_paths, read_bucc_gold, read_bucc_sentences, read_tatoeba, tatoeba_paths
from stilts.data.readers.tagging import PANX_TAGS, UPOS_TAGS, read_conll, read_conllu_upos, read_panx
from stilts.data.readers.xglue import NC, QADSM, QAM, WPR, XGLUE_NER_TAGS, XglueTsv, read_xglue_tagging
from stilts.metrics import mlqa, squad, squad_v2
from stilts.metrics.classification import accuracy
from stilts.metrics.predictions import (
    bucc_file_has_scores,
    read_bucc_candidates,
    read_bucc_pairs,
    read_index_predictions,
    read_label_predictions,
    read_na_probs,
    read_qa_predictions,
    read_score_predictions,
    read_tag_predictions,
)
from stilts.metrics.ranking import mean_ndcg
from stilts.metrics.retrieval import bucc_scores, drop_repeated_sentences, tatoeba_accuracy
from stilts.metrics.tagging import ner_scores, pos_scores


@dataclass(frozen=True)
class Request:
    #: the task scored, as --task names it
    task: str
    gold: Path
    predictions: Path
    language: str
    threshold: float | None = None
    na_probs: Path | None = None


def scored_tasks() -> list[str]:
    """The registered tasks `stilts score` scores (those whose declaration has a `Scoring`), by name."""
    return sorted(name for name, task in TASKS.items() if task.scoring is not None)


def _takers(option: str) -> str:
    """The scored tasks that take ``option`` (a `Scoring` flag), for messages."""
    return ", ".join(name for name in scored_tasks() if getattr(TASKS.get(name).scoring, option))


def _scored_task(name: str) -> Task:
    if name not in TASKS or TASKS.get(name).scoring is None:
        known = scored_tasks()
        what = f"cannot score task '{name}'" if name in TASKS else f"unknown task '{name}'{did_you_mean(name, known)}"
        raise BadInput(f"--task: {what} (tasks: {', '.join(known)})")
    return TASKS.get(name)


def score(task: str, language: str, gold, predictions, threshold: float | None = None, na_probs=None) -> dict:
    """Metrics (0-100) of one prediction file against one gold file, as ``task``'s declaration scores them."""
    declared = _scored_task(task)
    scoring = declared.scoring
    assert scoring is not None  # _scored_task checked it
    if language not in declared.languages:
        raise BadInput(
            f"--language: '{language}' is not a {task} language"
            f"{did_you_mean(language, declared.languages)} ({' '.join(declared.languages)})"
        )
    if threshold is not None and not scoring.takes_threshold:
        raise BadInput(f"--threshold: only {_takers('takes_threshold')} take a threshold, not {task}")
    if na_probs is not None and not scoring.takes_na_probs:
        raise BadInput(f"--na-probs: only {_takers('takes_na_probs')} takes no-answer probabilities, not {task}")
    request = Request(
        task, Path(gold), Path(predictions), language, threshold, Path(na_probs) if na_probs is not None else None
    )
    for path in (request.gold, request.predictions, request.na_probs):
        if path is not None and not path.is_file():
            raise BadInput(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    return scoring.score(request)


# --------------------------------------------------------------------------- classification


def classification(request: Request, examples: list[dict], labels) -> dict:
    """Accuracy of a file of predicted labels, one a line, against ``examples``' gold labels (read from
    ``request.gold`` by the task's reader)."""
    if not examples:
        raise BadInput(f"{request.gold}: no examples")
    if any(e["label"] is None for e in examples):
        raise BadInput(f"{request.gold}: the gold file has no labels")
    predicted = read_label_predictions(request.predictions, len(examples), labels)
    return {"accuracy": accuracy(predicted, [e["label"] for e in examples]), "count": len(examples)}


def score_xnli(request: Request) -> dict:
    return classification(request, nli.read_xnli_file(request.gold, request.language), nli.NLI_LABELS)


def score_pawsx(request: Request) -> dict:
    return classification(request, read_pawsx(request.gold), PAWSX_LABELS)


# --------------------------------------------------------------------------- tagging


def _tagging(request: Request, sentences: list[dict], labels, metric) -> dict:
    if not sentences:
        raise BadInput(f"{request.gold}: no sentences")
    gold = [s["tags"] for s in sentences]
    predicted = read_tag_predictions(request.predictions, gold, labels)
    return {**metric(gold, predicted), "count": len(gold)}


def score_udpos(request: Request) -> dict:
    if request.gold.suffix == ".conllu":
        sentences = read_conllu_upos(request.gold, request.language)
    else:  # XTREME's converted token<TAB>tag files
        sentences = read_conll(request.gold, UPOS_TAGS)
    return _tagging(request, sentences, UPOS_TAGS, pos_scores)


def score_panx(request: Request) -> dict:
    return _tagging(request, read_panx(request.gold, request.language), PANX_TAGS, ner_scores)


# --------------------------------------------------------------------------- QA


def _qa_gold(request: Request, examples: list[dict], allow_unanswerable: bool = False) -> dict[str, list[str]]:
    if not examples:
        raise BadInput(f"{request.gold}: no questions")
    gold: dict[str, list[str]] = {}
    for example in examples:
        if example["id"] in gold:
            raise BadInput(
                f"{request.gold}: question id '{example['id']}' occurs twice; predictions "
                f"could not tell the questions apart"
            )
        gold[example["id"]] = example["answers"]["text"]
    if not allow_unanswerable:
        for question_id, answers in gold.items():
            if not answers:
                raise BadInput(
                    f"{request.gold}: question '{question_id}' has no gold answer (unanswerable questions? they "
                    f"are scored by --task {_takers('takes_na_probs')})"
                )
    return gold


def _qa_result(scores: dict, gold: dict, predictions: dict, ignored: int) -> dict:
    unanswered = sum(1 for k in gold if k not in predictions)
    result = {**scores, "count": len(gold)}
    if unanswered:  # the official scripts score these 0, with a warning
        result["unanswered"] = unanswered
    if ignored:  # predictions for ids that are not gold questions; the official scripts skip them
        result["ignored"] = ignored
    return result


def _squad_v1(request: Request, examples: list[dict]) -> dict:
    gold = _qa_gold(request, examples)
    predictions, ignored = read_qa_predictions(request.predictions, gold, request.language)
    return _qa_result(squad.evaluate(gold, predictions), gold, predictions, ignored)


def score_xquad(request: Request) -> dict:
    return _squad_v1(request, read_squad(request.gold))


def score_squad_v1(request: Request) -> dict:
    return _squad_v1(request, read_squad(request.gold))


def score_tydiqa(request: Request) -> dict:
    return _squad_v1(request, read_tydiqa(request.gold, request.language))


def score_mlqa(request: Request) -> dict:
    gold = _qa_gold(request, read_squad(request.gold))
    predictions, ignored = read_qa_predictions(request.predictions, gold, request.language)
    return _qa_result(mlqa.evaluate(gold, predictions, request.language), gold, predictions, ignored)


def score_squad_v2(request: Request) -> dict:
    """--threshold is the official ``--na-prob-thresh`` (default 1.0); --na-probs its ``--na-prob-file``."""
    gold = _qa_gold(request, read_squad(request.gold), allow_unanswerable=True)
    predictions, ignored = read_qa_predictions(request.predictions, gold, request.language)
    missing = [k for k in gold if k not in predictions]
    if missing:
        raise BadInput(
            f"{request.predictions}: no answer for question '{missing[0]}' ({len(missing)} "
            f'missing; answer "" for no answer)'
        )
    na_probs, na_probs_ignored = (
        read_na_probs(request.na_probs, gold, request.language) if request.na_probs else (None, 0)
    )
    if na_probs is not None and len(na_probs) != len(gold):
        absent = next(k for k in gold if k not in na_probs)
        raise BadInput(f"{request.na_probs}: no probability for question '{absent}'")
    if request.threshold is not None and na_probs is None:
        raise BadInput(f"--threshold: {request.task} thresholds no-answer probabilities; give --na-probs too")
    threshold = 1.0 if request.threshold is None else request.threshold
    result = _qa_result(squad_v2.evaluate(gold, predictions, na_probs, threshold), gold, predictions, ignored)
    if na_probs_ignored:
        result["na_probs_ignored"] = na_probs_ignored
    return result


# --------------------------------------------------------------------------- retrieval


def _check_file_language(path: Path, found: str, wanted: str) -> None:
    if found != wanted:
        raise BadInput(f"{path}: this is {found} data, but --language is {wanted}")


def score_tatoeba(request: Request) -> dict:
    """Line i of the predictions is English sentence i: the index of the non-English line it retrieves
    (XTREME's and the pipeline's direction, `SentenceRetrieval.predict`); right when it is i."""
    source_path, _, language = tatoeba_paths(request.gold)
    _check_file_language(request.gold, language, request.language)
    sources, english = read_tatoeba(request.gold)
    if not sources:
        raise BadInput(f"{request.gold}: no sentences")
    predicted = read_index_predictions(request.predictions, len(english), len(sources), source_path.name)
    return {"accuracy": tatoeba_accuracy(predicted), "count": len(sources)}


def score_bucc(request: Request) -> dict:
    """Scored candidates as XTREME's ``bucc_eval`` and the pipeline score them: candidates of a sentence
    that occurs more than once on its side are dropped (XTREME maps candidates to ids by text); their
    gold pairs stay gold. Mined pairs (a submission file) as XTREME's evaluate.py: the set against the gold."""
    source_path, english_path, gold_path, language = bucc_paths(request.gold)
    _check_file_language(request.gold, language, request.language)
    for path, what in (
        (gold_path, "the gold pairs"),
        (source_path, "the source sentences"),
        (english_path, "the English sentences"),
    ):
        if not path.is_file():
            raise BadInput(f"{path}: no such file ({what} of {request.gold.name})")
    gold = read_bucc_gold(gold_path)
    if not gold:
        raise BadInput(f"{gold_path}: no gold pairs")
    sources, english = read_bucc_sentences(source_path), read_bucc_sentences(english_path)
    if not bucc_file_has_scores(request.predictions):  # pairs already mined: scored as the set they are
        if request.threshold is not None:
            raise BadInput(f"--threshold: {request.predictions} holds mined pairs, not scored candidates")
        mined = read_bucc_pairs(request.predictions, sources, english)
        scores = bucc_scores(dict.fromkeys(mined, 1.0), gold, threshold=1.0)
        return {**{k: v for k, v in scores.items() if k != "threshold"}, "count": len(gold)}
    candidates = drop_repeated_sentences(read_bucc_candidates(request.predictions, sources, english), sources, english)
    return {**bucc_scores(candidates, gold, request.threshold), "count": len(gold)}


# --------------------------------------------------------------------------- multiple choice (XCOPA, COPA)

#: a COPA/XCOPA prediction: the 0-based index of the chosen alternative (0 = choice1, 1 = choice2), one
#: question a line in gold order, as the evaluate stage writes multiple-choice predictions
COPA_CHOICE_INDICES = ("0", "1")
#: the language in an XCOPA/COPA file's name: XTREME-R's ``val-et.jsonl``, the release's ``val.et.jsonl``
_COPA_FILE_LANGUAGE = re.compile(r"(?:train|val|test)[-.]([a-z]{2})\.jsonl")


def _copa(request: Request, examples: list[dict]) -> dict:
    named = _COPA_FILE_LANGUAGE.fullmatch(request.gold.name)
    if named:
        _check_file_language(request.gold, named.group(1), request.language)
    gold = [{**e, "label": None if e["label"] is None else str(e["label"])} for e in examples]
    return classification(request, gold, COPA_CHOICE_INDICES)


def score_xcopa(request: Request) -> dict:
    """Gold: an XCOPA JSONL file (XTREME-R's ``val-xx.jsonl``, the release's ``xx/{val,test}.xx.jsonl``;
    XTREME-R's ``test-xx.jsonl``, whose labels are withheld, is refused)."""
    return _copa(request, read_xcopa(request.gold))


def score_copa(request: Request) -> dict:
    """Gold: English COPA JSONL (XTREME-R's ``train-en.jsonl``/``val-en.jsonl``, SuperGLUE's ``val.jsonl``)."""
    return _copa(request, read_copa(request.gold))


# --------------------------------------------------------------------------- XGLUE
# Gold: the files of XGLUE's release (NER/POS ``{lang}.{split}``, ``xglue.{task}.{lang}.{split}``, XNLI
# ``{lang}.{split}``, PAWS-X ``{lang}/{split}_2k.tsv``, MLQA's JSON); predictions: XGLUE's
# ``{TASK}/{lang}.prediction`` files, read as evaluation/xglue_evaluate.py reads them.

#: the language in an XGLUE file's name: ``de.dev``, ``xglue.wpr.de.test``
_XGLUE_FILE_LANGUAGE = re.compile(r"(?:xglue\.[a-z]+\.)?([a-z]{2})\.(?:train|dev|test)")


def _check_xglue_language(request: Request) -> None:
    named = _XGLUE_FILE_LANGUAGE.fullmatch(request.gold.name)
    if named:
        _check_file_language(request.gold, named.group(1), request.language)


def _xglue_tagging(request: Request, labels, metric) -> dict:
    """Tags one a line (the whole line), a blank line between sentences; a sentence shorter than its gold
    one is padded with ``O`` (xglue_evaluate.py's ``load_ner_pos_data``)."""
    _check_xglue_language(request)
    sentences = read_xglue_tagging(request.gold, labels)
    if not sentences:
        raise BadInput(f"{request.gold}: no sentences")
    if sentences[0]["tags"] is None:
        raise BadInput(f"{request.gold}: the gold file has no tags")
    gold = [s["tags"] for s in sentences]
    predicted = read_tag_predictions(request.predictions, gold, labels, pad="O", whole_line=True)
    return {**metric(gold, predicted), "count": len(gold)}


def score_xglue_ner(request: Request) -> dict:
    """seqeval ``f1_score`` of the IOB1 tags (and precision, recall)."""
    return _xglue_tagging(request, XGLUE_NER_TAGS, ner_scores)


def score_xglue_pos(request: Request) -> dict:
    """``precision``: seqeval ``precision_score`` of the UPOS tags, XGLUE's POS score; ``accuracy``: token
    accuracy (what XGLUE's README calls it); f1 and recall as seqeval gives them."""
    return _xglue_tagging(request, UPOS_TAGS, pos_scores)


def _xglue_tsv(request: Request, spec: XglueTsv) -> list[dict]:
    _check_xglue_language(request)
    return spec.read(request.gold)


def score_xglue_nc(request: Request) -> dict:
    return classification(request, _xglue_tsv(request, NC), NC.labels)


def score_xglue_qadsm(request: Request) -> dict:
    return classification(request, _xglue_tsv(request, QADSM), QADSM.labels)


def score_xglue_qam(request: Request) -> dict:
    return classification(request, _xglue_tsv(request, QAM), QAM.labels)


def score_xglue_wpr(request: Request) -> dict:
    """One score a line; nDCG per query (consecutive rows with the same query), queries of one page
    skipped, the mean over the others (`stilts.metrics.ranking`)."""
    examples = _xglue_tsv(request, WPR)
    if examples[0]["label"] is None:
        raise BadInput(f"{request.gold}: the gold file has no labels")
    scores = read_score_predictions(request.predictions, len(examples))
    value, queries = mean_ndcg([e["text_a"] for e in examples], [float(e["label"]) for e in examples], scores)
    if not queries:
        raise BadInput(f"{request.gold}: no query has two or more pages, so nDCG is not defined")
    return {NDCG: value, "count": len(examples), "queries": queries}


def score_xglue_xnli(request: Request) -> dict:
    """Gold: XGLUE's ``XNLI/{lang}.{dev,test}`` (premise, hypothesis, label) or XNLI-1.0's files."""
    _check_xglue_language(request)
    return classification(request, nli.read_xnli_file(request.gold, request.language), nli.NLI_LABELS)


def score_xglue_pawsx(request: Request) -> dict:
    return classification(request, read_pawsx(request.gold), PAWSX_LABELS)


def score_xglue_mlqa(request: Request) -> dict:
    """XGLUE's MLQA score is the MLQA script's ``f1``; exact match is reported beside it."""
    return score_mlqa(request)
