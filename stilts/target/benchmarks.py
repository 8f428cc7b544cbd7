"""The benchmarks whose scores `stilts table --best` reports: XTREME's nine targets, XTREME-R's ten
tasks (the eight stilts has) and XGLUE's nine understanding tasks, each in the order of its paper's
tables (docs/method.md, "Reporting"; docs/tasks.md, "Benchmarks")."""

from __future__ import annotations

from stilts.core.catalog import Benchmark, register_benchmark
from stilts.target.classification_tasks import XNLI
from stilts.target.multiple_choice_tasks import XCOPA
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

#: XTREME-R (Ruder et al. 2021) in its paper's table order: XNLI XCOPA UD-POS WikiANN-NER XQuAD MLQA
#: TyDiQA-GoldP Mewsli-X LAReQA Tatoeba; its score, as its evaluate.py computes it (``all_task``), is the
#: unweighted mean over the ten tasks of each one's language average, a QA task counting as mean(F1, EM)
#: and the retrieval tasks Mewsli-X and LAReQA their mAP@20. stilts has no declaration of those two
#: (``absent``), and declares UD-POS, PAN-X, Tatoeba and XQuAD with XTREME's languages, to which XTREME-R
#: adds some (UD-POS lt pl ro uk wo; PAN-X az gu lt pa pl qu ro uk; Tatoeba az lt pl ro uk; XQuAD ro):
#: a stilts XTREME-R score is not the leaderboard's, and its tables say so.
XTREME_R = register_benchmark(
    Benchmark(
        name="xtreme_r",
        label="XTREME-R",
        targets=tuple(task.name for task in (XNLI, XCOPA, UDPOS, PANX, XQUAD, MLQA, TYDIQA, TATOEBA)),
        caption="XTREME-R score: mean over XTREME-R's tasks, a QA task counting as mean(F1, EM); stilts has no "
        "Mewsli-X or LAReQA, and scores UD-POS, PAN-X, Tatoeba and XQuAD in XTREME's languages (XTREME-R adds "
        "some).",
        absent=("mewslix", "lareqa"),
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
