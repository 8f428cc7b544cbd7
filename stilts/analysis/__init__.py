"""Analysis math for issue 33: which intermediate task to train before paying for it, and where transfer works.

Each module is plain numpy/pandas arithmetic on arrays and tables that other parts of stilts gather (features
from a forward pass, scores.csv, per-example predictions); none imports torch or another stilts module:

- `stilts.analysis.transferability`: LogME, (shrinkage) H-score, TextEmb similarity and the data-size baseline;
- `stilts.analysis.ranking_quality`: Regret@k, NDCG, Spearman and Kendall of a predicted ranking against the
  grid's results, and the noise ceiling from disjoint halves of the seeds;
- `stilts.analysis.languages`: family, script, resource class and typological distance to English of every
  language stilts' target tasks use (``languages.csv``), grouping, and the slope of per-language deltas
  against distance with a bootstrap interval;
- `stilts.analysis.calibration`: expected calibration error, reliability-diagram bins and temperature scaling.
"""
