"""Target-task catalog: the XTREME tasks, XTREME-R's XCOPA (and the demo's topic set), trained on
English and evaluated zero-shot, one module per format family."""

from stilts.target import (  # noqa: F401 (they register)
    classification_tasks,
    multiple_choice_tasks,
    pair_retrieval_tasks,
    qa_tasks,
    tagging_tasks,
)
