"""Every default that comes from the paper, named once.

Source: Phang et al. 2020, "English Intermediate-Task Training Improves Zero-Shot Cross-Lingual
Transfer Too", Tables 4-5 and App. A (see docs/method.md); T5 for the mixing cap; XLM for
the language sampling exponent. Defaults that are ours, not the paper's, say so.
"""

# Learning rates (paper App. A.1 / A.2).
INTERMEDIATE_LEARNING_RATE = 1e-5
INTERMEDIATE_LEARNING_RATE_WITH_MLM = 5e-6
TARGET_LEARNING_RATE = 3e-6

# Optimisation shared by all phases (paper App. A): AdamW, linear warm-up over 10% of the steps,
# then linear decay to 0.
WARMUP_RATIO = 0.1
WEIGHT_DECAY = 0.0  # ours: jiant's default for these runs
ADAM_EPSILON = 1e-8  # ours: transformers' default
MAX_GRAD_NORM = 1.0  # ours: jiant's and transformers' default

# Early stopping (paper App. A.1): validate on the first 500 dev examples of each task, patience 30.
VALIDATION_EXAMPLES = 500
PATIENCE = 30
VALIDATE_EVERY_STEPS = 1000  # ours: the paper does not say how often jiant validated

# Batch size and epochs per task (paper Table 4 for intermediate tasks, Table 5 for target tasks): each
# task's declaration holds its row (`stilts.core.catalog.Task.paper_batch_epochs`).
MULTITASK_EPOCHS = 3  # "mixed/3": 3 epochs over the capped task sizes
FALLBACK_BATCH_EPOCHS = (16, 3)  # ours: for tasks the paper has no row for

# Multi-task mixing (T5, as used by the paper): r_m = min(e_m, K) / sum_n min(e_n, K).
MIXING_CAP_K = 2**17

# Multilingual MLM (paper §2.3; XLM's lg_sampling_factor): q_i ∝ p_i^alpha.
MLM_LANGUAGE_ALPHA = 0.3
MLM_CORPUS_SENTENCES = 2_000_000
MLM_MASK_PROBABILITY = 0.15  # of which 80% <mask>, 10% random, 10% unchanged (BERT)

# Sequence lengths (XTREME's scripts: 128 for sentence tasks, 384/128 windows for QA).
MAX_SEQ_LENGTH = 128
QA_MAX_SEQ_LENGTH = 384
QA_DOC_STRIDE = 128

SEED = 1

# Few-shot fine-tuning on k examples of a target language (a `few_shot` stage), after the target stage:
# ours, not the paper's (it has no few-shot setting). The learning rate and batch size (at most k) are
# the target stage's unless the stage sets them.
FEW_SHOT_EPOCHS = 10
FEW_SHOT_SETS = 5  # ours: the scores of several sets are averaged, as the choice of shots moves them (Zhao et al. 2021)
