"""Intermediate-task catalog: English tasks trained before the target task, one module per format
family, and the order tables list them in. (The multi-task mixing rules are in `stilts.training.mixing`, used by
the stage kind.)"""

from stilts.core.catalog import declare_table_order
from stilts.intermediate.pair_tasks import ANLI_PLUS, ANLI_ROUND_TASKS, MNLI, QQP, SNLI
from stilts.intermediate.qa_tasks import SQUAD_V1, SQUAD_V2
from stilts.intermediate.tagging_mc_tasks import CCG, COMMONSENSEQA, COPA, COSMOSQA, HELLASWAG, SIQA

# the paper's nine first, then ANLI+'s parts and XTREME-R's commonsense tasks
declare_table_order(
    ANLI_PLUS,
    MNLI,
    QQP,
    SQUAD_V1,
    SQUAD_V2,
    HELLASWAG,
    CCG,
    COSMOSQA,
    COMMONSENSEQA,
    SNLI,
    *ANLI_ROUND_TASKS,
    SIQA,
    COPA,
)
