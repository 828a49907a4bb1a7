"""`llkd`: which unlabelled records to train a student on, with a teacher's labels.

After LLKD (Li et al. 2025, "Learning with Less: Knowledge Distillation from Large
Language Models via Unlabeled Data"): a teacher labels an unlabelled pool; a student is
trained in rounds on what has been chosen so far; each round takes the records where the
teacher is confident (its label is likely right) and the student is unsure of that label
(it still has something to learn), with thresholds set per class and round, and weights
each by both.

Here the labelled examples come as the target (`--target labelled.jsonl --target-label-field
y`, or `target=Pool(..., label_field="y")`): the teacher is logistic regression on their
embeddings (the paper's teacher is an LLM; any labels you trust will do). The pool is the
unlabelled records to choose from (its labels, if any, are not read). In each of `rounds`
rounds, with the student (logistic regression on the records chosen so far with the
teacher's labels, each weighted; as the paper's, it never sees the labelled examples, and
before the first round it knows nothing, so the first round goes by the teacher alone)
refitted first:

- teacher confidence c = max_y p_teacher(y | x), the teacher's label y* = argmax;
- student need u = 1 - p_student(y* | x);
- eligible: c at least the mean c, and u at least the mean u, of the candidates the teacher
  gives the same label (per-class thresholds, recomputed every round);
- the round's share of the budget is split over the teacher's labels in proportion to
  how many open records carry each, and each label's part goes to its eligible records
  with the largest c * u; if too few are eligible, then to those the teacher is sure of
  (c at least the mean) by c * u, and only then to the rest.

The selection's weights are c * u scaled to mean 1; its group column is the teacher's label
of each chosen record, named by `meta["llkd"]["classes"]` (so `classes[group]` is the label
to train on). The same pool gives the same selection for
any seed (logistic regression by lbfgs on one thread; ties go to the lower position).

Measured (`benchmarks/llkd.py`, README): see the README's llkd table.
"""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit
from thresher.errors import UsageError
from thresher.select._embedding import EMBEDDING_PARAMS, EmbeddingSelector, Walk, budget_records
from thresher.select.base import Choice, Context, Param, SetSelector
from thresher.select.registry import register

WEIGHT_FLOOR = 1e-6  # a chosen record's weight is never 0 (a student certain of the teacher's label)


@register
class LLKD(EmbeddingSelector, SetSelector):
    """Teacher-confident, student-unsure records of the unlabelled part of a pool, in rounds
    (see the module docstring). Needs labelled examples as the target; the pool needs no
    labels. Gains: c * u of each record when it was taken."""

    name = "llkd"
    summary = "unlabelled records the teacher is sure of and the student is not, with the teacher's labels"
    paper = ('Li et al. 2025, "Learning with Less: Knowledge Distillation from Large Language Models via '
             'Unlabeled Data" (NAACL)')
    needs = ("target", "features")
    params = {
        **EMBEDDING_PARAMS,
        "rounds": Param(5, int, "rounds the budget is spent in; the student is refitted before each"),
        "teacher_c": Param(1.0, float, "inverse L2 strength of the teacher (logistic regression on the labelled)"),
        "student_c": Param(1.0, float, "inverse L2 strength of the student (logistic regression on the chosen)"),
    }

    def validate(self) -> None:
        config = self.config
        if config["rounds"] < 1:
            raise UsageError(f"llkd: rounds={config['rounds']}: give at least 1.")
        for key in ("teacher_c", "student_c"):
            if not config[key] > 0:
                raise UsageError(f"llkd: {key}={config[key]}: give a positive number.")

    def check(self, pool, target) -> None:
        from thresher.data.pool import Pool

        if not isinstance(target, Pool) or not target.fields.label_field:
            raise UsageError("method llkd trains its teacher on labelled examples and chooses among the pool's "
                             "(unlabelled) records: give them as one --target with --target-label-field FIELD "
                             "(target=Pool(..., label_field=...)).")
        super().check(pool, target)

    def choose(self, ctx: Context, state, limit: Limit) -> Choice:
        from thresher.choosers import filled_labels, group_codes
        from thresher.features.vectors import prepare

        codes, classes = group_codes(filled_labels(ctx.target.index().labels))
        x = prepare(self.embeddings(ctx))
        known_x = prepare(self.target_embeddings(ctx.target, x.shape[1]))
        teacher = _fit(known_x, codes, None, self.config["teacher_c"], len(classes))
        p_teacher = teacher(x)
        said = p_teacher.argmax(axis=1)
        confidence = p_teacher.max(axis=1)

        walk = Walk(limit, ctx.index.tokens, ctx.index.n)
        wanted = budget_records(limit, ctx)
        rounds = min(self.config["rounds"], max(wanted, 1))
        taken = np.zeros(ctx.index.n, dtype=bool)
        chosen, gains, log = [], [], []
        for r in range(rounds):
            quota = wanted * (r + 1) // rounds - len(chosen)
            if quota <= 0 or not walk.open:
                continue
            picked = np.asarray(chosen, dtype=np.int64)
            open_ = np.flatnonzero(~taken)
            if len(picked):  # (a student that has seen one label says that one, surely: `_fit`)
                weights = np.maximum(np.asarray(gains), WEIGHT_FLOOR)
                student = _fit(x[picked], said[picked], weights / weights.mean(), self.config["student_c"],
                               len(classes))
                need = 1.0 - student(x[open_])[np.arange(len(open_)), said[open_]]
            else:  # it has learnt nothing yet: as unsure of every label
                need = np.full(len(open_), 1.0 - 1.0 / len(classes))
            value = confidence[open_] * need
            tier = _tiers(confidence[open_], need, said[open_], len(classes))
            order = _round_order(said[open_], value, tier, quota, len(classes))
            took = 0
            for i in order:
                if took >= quota or not walk.offer(int(open_[i])):
                    break
                taken[open_[i]] = True
                chosen.append(int(open_[i]))
                gains.append(float(value[i]))
                took += 1
            log.append({"round": r + 1, "eligible": int((tier == 0).sum()), "teacher_sure": int((tier <= 1).sum()),
                        "taken": took,
                        "mean_confidence": round(float(confidence[open_[order[:took]]].mean()), 4) if took else None,
                        "mean_need": round(float(need[order[:took]].mean()), 4) if took else None})
        gain = np.asarray(gains, dtype=np.float64)
        weights = np.maximum(gain, WEIGHT_FLOOR)
        meta = {"llkd": {"classes": classes, "labelled": int(len(codes)), "unlabelled": int(ctx.index.n),
                         "teacher": {"model": "logistic regression", "C": self.config["teacher_c"]},
                         "student": {"model": "logistic regression", "C": self.config["student_c"]},
                         "rounds": log,
                         "teacher_labels_of_chosen": {c: int(n) for c, n in zip(
                             classes, np.bincount(said[np.asarray(chosen, dtype=np.int64)], minlength=len(classes)))
                             if n}}}
        return Choice(np.asarray(chosen, dtype=np.int64), gains=gain,
                      weights=weights / weights.mean() if len(weights) else None, meta=meta, groups=said.astype(np.int64))


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, c: float, classes: int):
    """predict(x) -> (m, classes) probabilities of logistic regression fitted on (x, y); a class
    the fit did not see gets probability 0; a single class gets probability 1."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    seen = np.unique(y)
    if len(seen) < 2:  # one class (or none): that class, surely
        def constant(rows: np.ndarray) -> np.ndarray:
            out = np.zeros((len(rows), classes))
            out[:, seen[0] if len(seen) else 0] = 1.0
            return out

        return constant
    with threadpool_limits(1):
        model = LogisticRegression(C=c, max_iter=1000).fit(x, y, sample_weight=weights)

    def predict(rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), classes))
        with threadpool_limits(1):
            out[:, model.classes_] = model.predict_proba(rows)
        return out

    return predict


def _round_order(said: np.ndarray, value: np.ndarray, tier: np.ndarray, quota: int, classes: int) -> np.ndarray:
    """Indices of the round's picks, in the order offered: each teacher label takes a share of
    `quota` in proportion to how many open records carry it, filled by tier (`_tiers`), then
    by c * u (ties: the lower index)."""
    from thresher.choosers import allocate

    counts = np.bincount(said, minlength=classes)
    shares = allocate(counts, min(quota, len(said)), counts.astype(np.float64))
    ranked = np.lexsort((np.arange(len(said)), -value, tier, said))  # by label, then best first
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    picks = np.concatenate([ranked[s:s + q] for s, q in zip(starts, shares)]).astype(np.int64)
    return picks[np.lexsort((picks, -value[picks], tier[picks]))]


def _tiers(confidence: np.ndarray, need: np.ndarray, said: np.ndarray, classes: int) -> np.ndarray:
    """(m,) int: 0 where confidence and need are both at least the means of the records given
    the same label, 1 where only the confidence is, 2 elsewhere (taken in that order)."""
    counts = np.maximum(np.bincount(said, minlength=classes), 1)
    mean_c = np.bincount(said, weights=confidence, minlength=classes) / counts
    mean_u = np.bincount(said, weights=need, minlength=classes) / counts
    sure = confidence >= mean_c[said] - 1e-12
    return np.where(sure & (need >= mean_u[said] - 1e-12), 0, np.where(sure, 1, 2))
