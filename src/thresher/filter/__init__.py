"""Filters: exact and near-duplicate removal, quality rules, decontamination.

Each is a `Filter` whose `apply(pool)` returns a `Selection` in which every dropped record
carries its reason, so filters chain with selectors (`picked & NearDedup().apply(pool)`).
Heavy libraries (numba) load only when a filter runs.
"""

from thresher.filter.base import Filter
from thresher.filter.decontaminate import Decontaminate
from thresher.filter.exact import ExactDedup
from thresher.filter.lsh import Banding, choose_banding
from thresher.filter.near import NearDedup
from thresher.filter.quality import QualityFilter

__all__ = ["Banding", "Decontaminate", "ExactDedup", "Filter", "NearDedup", "QualityFilter", "choose_banding"]
