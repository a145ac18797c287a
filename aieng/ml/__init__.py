"""Machine-learning foundations that later chapters reuse, from Months 4 and 5.

Month 4 (chapters/04-math) builds the bootstrap and the paired permutation test of
:mod:`aieng.ml.stats`; Month 5 (chapters/05-machine-learning) the drift statistics of
:mod:`aieng.ml.drift`, which the monitoring of Month 11 reuses.
"""

from aieng.ml.drift import DriftMonitor, DriftReport, ks_statistic, psi, psi_level
from aieng.ml.stats import BootstrapInterval, PermutationResult, bootstrap_ci, paired_permutation_test

__all__ = ["BootstrapInterval", "PermutationResult", "bootstrap_ci", "paired_permutation_test",
           "DriftMonitor", "DriftReport", "psi", "psi_level", "ks_statistic"]
