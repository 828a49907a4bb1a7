from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from thresher import Selection  # noqa: E402
from thresher.errors import UsageError  # noqa: E402
from thresher.train import CurriculumSampler, pacing_fraction  # noqa: E402

N = 100
DIFFICULTY = np.random.default_rng(0).permutation(N).astype(float)  # example i has difficulty DIFFICULTY[i]


def epoch_set(sampler, epoch):
    sampler.set_epoch(epoch)
    return np.array(list(sampler))


def test_easy_to_hard_opens_from_the_easiest_examples():
    sampler = CurriculumSampler(N, DIFFICULTY, start=0.2, ramp_epochs=4, pacing="linear")
    sizes = []
    for epoch in range(6):
        chosen = epoch_set(sampler, epoch)
        sizes.append(len(chosen))
        assert DIFFICULTY[chosen].max() == len(chosen) - 1, "exactly the easiest share is available"
    assert sizes == [20, 40, 60, 80, 100, 100]


def test_hard_to_easy_opens_from_the_hardest_examples():
    sampler = CurriculumSampler(N, DIFFICULTY, order="hard_to_easy", start=0.3, ramp_epochs=2)
    chosen = epoch_set(sampler, 0)
    assert sorted(DIFFICULTY[chosen]) == list(range(70, 100))


def test_cyclical_rises_and_falls_back():
    sampler = CurriculumSampler(N, DIFFICULTY, order="cyclical", start=0.25, ramp_epochs=3)
    fractions = [sampler.available_fraction(e) for e in range(8)]
    assert fractions[0] == 0.25 and fractions[3] == 1.0 and fractions[6] == 0.25
    assert fractions[0] < fractions[1] < fractions[2] < fractions[3] > fractions[4] > fractions[5]
    assert DIFFICULTY[epoch_set(sampler, 6)].max() == 24, "back to the easy quarter"


def test_pacing_functions_start_end_and_shape():
    for pacing in ("linear", "root", "geometric", "step"):
        values = [pacing_fraction(pacing, e, 10, 0.1) for e in range(12)]
        assert values[0] == pytest.approx(0.1) and values[10] == values[11] == 1.0
        assert all(a <= b for a, b in zip(values, values[1:]))
    assert pacing_fraction("root", 2, 10, 0.1) > pacing_fraction("linear", 2, 10, 0.1) > pacing_fraction(
        "geometric", 2, 10, 0.1)
    assert pacing_fraction(lambda t: t ** 3, 5, 10, 0.0) == pytest.approx(0.125)


def test_scores_from_a_selection_mean_easier_when_higher():
    chosen = np.arange(50)
    dropped = np.arange(50, N)
    sel = Selection.create(chosen, scores=100.0 - chosen, dropped_ids=dropped, dropped_scores=100.0 - dropped)
    sampler = CurriculumSampler(N, sel, start=0.1, ramp_epochs=5)
    assert sorted(epoch_set(sampler, 0)) == list(range(10)), "the highest-scoring tenth comes first"


def test_losses_fed_back_drive_the_ranking_when_no_scores_are_given():
    sampler = CurriculumSampler(N, start=0.5, ramp_epochs=5, num_samples=30)
    first = epoch_set(sampler, 0)
    assert len(first) == 30
    sampler.update(np.arange(N), DIFFICULTY)
    chosen = epoch_set(sampler, 1)
    assert len(chosen) == 30 and DIFFICULTY[chosen].max() < 60


def test_bad_scores_are_refused():
    with pytest.raises(UsageError, match="scores has 3 values"):
        CurriculumSampler(N, [1.0, 2.0, 3.0])
    with pytest.raises(UsageError, match="order"):
        CurriculumSampler(N, DIFFICULTY, order="random")
