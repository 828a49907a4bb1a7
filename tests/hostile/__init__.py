"""The hostile suite: defects found by hostile input, faults and kills (issue #13).

Planted checkpoint files, rewritten inputs, concurrent runs, signals, odd file names,
corrupt and truncated files, edge budgets. Each test builds its own data in a temporary
folder; the suite runs alone with `python -m pytest tests/hostile`.
"""
