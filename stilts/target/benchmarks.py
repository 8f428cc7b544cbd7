"""The benchmarks whose scores `stilts table --best` reports: XTREME's nine targets and XGLUE's nine
understanding tasks, each in the order of its paper's tables (docs/method.md, "Reporting")."""

from __future__ import annotations

from stilts.core.catalog import Benchmark, register_benchmark
from stilts.target.classification_tasks import XNLI
from stilts.target.pair_retrieval_tasks import BUCC, PAWSX, TATOEBA
from stilts.target.qa_tasks import MLQA, TYDIQA, XQUAD
from stilts.target.tagging_tasks import PANX, UDPOS
from stilts.target.xglue_tasks import (
    XGLUE_MLQA,
    XGLUE_NC,
    XGLUE_NER,
    XGLUE_PAWSX,
    XGLUE_POS,
    XGLUE_QADSM,
    XGLUE_QAM,
    XGLUE_WPR,
    XGLUE_XNLI,
)

XTREME = register_benchmark(
    Benchmark(
        name="xtreme",
        label="XTREME",
        targets=tuple(task.name for task in (XNLI, PAWSX, UDPOS, PANX, XQUAD, MLQA, TYDIQA, BUCC, TATOEBA)),
        caption="XTREME score: mean over the 9 XTREME tasks, a QA task counting as mean(F1, EM).",
    )
)

#: the XGLUE paper's table order: NER POS NC MLQA XNLI PAWS-X QADSM WPR QAM (MLQA, XNLI and PAWS-X are
#: XGLUE's views of them: its files, languages and scores)
XGLUE = register_benchmark(
    Benchmark(
        name="xglue",
        label="XGLUE",
        targets=tuple(
            task.name
            for task in (
                XGLUE_NER,
                XGLUE_POS,
                XGLUE_NC,
                XGLUE_MLQA,
                XGLUE_XNLI,
                XGLUE_PAWSX,
                XGLUE_QADSM,
                XGLUE_WPR,
                XGLUE_QAM,
            )
        ),
        caption="XGLUE score: mean over XGLUE's 9 understanding tasks (its AVG), MLQA counting its F1, POS its "
        "seqeval precision, WPR its nDCG.",
    )
)
