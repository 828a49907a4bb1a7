"""The proof: train a fixed proxy model on each selection and report accuracy against budget,
next to random selection and the full data (`thresher bench`, `thresher demo`).

Heavy libraries (scikit-learn, torch, sentence-transformers) are imported inside functions.
"""

from thresher.evaluate.api import bench  # the standard library only; the work is imported when it runs
from thresher.evaluate.kl import kl_reduction, selection_kl_reduction  # numpy only

__all__ = ["bench", "kl_reduction", "selection_kl_reduction"]
