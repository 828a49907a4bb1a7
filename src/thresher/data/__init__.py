"""Pools of records: readers, bad-record handling, and writing chosen records."""

from thresher.data.fields import FieldSpec
from thresher.data.pool import Pool
from thresher.data.records import BadRecord, BadRecordLog
from thresher.data.scan import PoolIndex, count_tokens

__all__ = ["BadRecord", "BadRecordLog", "FieldSpec", "Pool", "PoolIndex", "count_tokens"]
