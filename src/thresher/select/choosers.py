"""The shared choosers, where selection methods look for them (`thresher.choosers`
holds them: a selection re-cuts itself with them, below the methods' layer)."""

from thresher.choosers import *  # noqa: F401,F403
from thresher.choosers import __all__  # noqa: F401
