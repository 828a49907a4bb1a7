"""thresher: separate the training data that matters from the chaff.

    import thresher
    pool = thresher.Pool.from_jsonl("pool.jsonl", text_field="text")
    sel = thresher.select(pool, method="random", budget="10%", seed=0)
    pool.take(sel).to_jsonl("picked.jsonl")
"""

import logging as _logging

from thresher._version import __version__
from thresher.budget import Budget
from thresher.data import Pool
from thresher.errors import BadRecordError, ThresherError, UsageError
from thresher.progress import set_progress
from thresher.select import get_method, methods, select
from thresher.selection import Selection

# Diagnostics go to the "thresher" logger (child loggers "thresher.<module>"); a library
# user sees them after configuring logging, the `thresher` command shows them on stderr.
_logging.getLogger("thresher").addHandler(_logging.NullHandler())

__all__ = [
    "BadRecordError",
    "Budget",
    "Pool",
    "Selection",
    "ThresherError",
    "UsageError",
    "__version__",
    "get_method",
    "methods",
    "select",
    "set_progress",
]
