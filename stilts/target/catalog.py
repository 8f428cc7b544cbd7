"""Target-task catalog: the XTREME tasks, XTREME-R's XCOPA, XGLUE's understanding tasks (and the demo's
topic set), trained on English and evaluated zero-shot, one module per format family (XGLUE: one
module for the benchmark), and the benchmarks that group them."""

from stilts.target import (  # noqa: F401 (they register)
    benchmarks,
    classification_tasks,
    multiple_choice_tasks,
    pair_retrieval_tasks,
    qa_tasks,
    tagging_tasks,
    xglue_tasks,
)
