"""Selectors on model signals: what a cheap proxy trained on the pool makes of each record
(`thresher.features.signals`): EL2N/GraNd, forgetting events, AUM, dataset cartography,
the moderate band, coverage-centric pruning (CCS), and label-issue removal (confident
learning through cleanlab).

Every one needs the pool's labels (the proxy learns them) and features (the pool's
embeddings, or its text embedded). The proxy's training is shared: every selector with the
same proxy options on the same pool reads the same feature-store entries.

Which records to keep: a difficulty score (higher = harder) and `keep`: `hard` keeps the
hardest, `easy` the easiest, `auto` applies the rule of Sorscher et al. 2022 ("Beyond
neural scaling laws"): keep easy records when the budget keeps less than `easy_below` of
the pool, hard ones otherwise. Hard records are where mislabelled ones sit, which is why
pruning to the hardest at small budgets loses to random.

Measured (`thresher bench -m random,random+kd,el2n,el2n:keep=easy,forgetting,aum,cartography,
moderate,ccs,d2`, 5 seeds, logistic regression on MiniLM / pixels; benchmarks/results/
signals_suite.json): the hard-first scores (el2n, forgetting, aum, cartography's
ambiguous region, d2) lose to random by 20 to 60 points at 1-20% on digits, trec and
sst2, where they pick the confusing and mislabelled records (on sst2 a proxy trained on
el2n's 20% scores 22.8% against random's 80.0%); at 50% they come near full data
(digits: el2n 96.4, aum 96.2 against 95.8; trec: aum 90.2 against 90.4). `keep=easy` loses
too at the smallest budgets. `moderate` beats random at 1-5% on all three (trec 79.4 vs
74.6 at 5%, sst2 75.0 vs 69.3 at 1%) and loses at 30-50% on digits. `ccs` is within a point
or two of random throughout. Training the proxy with a teacher (`random+kd`, the bench)
beats every one of them at every budget measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresher.errors import UsageError
from thresher.budget import Limit
from thresher.select._embedding import EMBEDDING_PARAMS, EmbeddingSelector, Walk, budget_fraction
from thresher.select.base import Choice, Context, Param, Scores, ScoreSelector, SetSelector
from thresher.select.registry import register

SIGNAL_PARAMS = {
    **EMBEDDING_PARAMS,
    "proxy": Param("softmax", str, "the proxy trained on the features: softmax regression or a small MLP",
                   ("softmax", "mlp")),
    "epochs": Param(20, int, "epochs the proxy trains (signals are read after each)"),
    "proxy_seeds": Param(3, int, "proxy trainings (seeds 0..k-1) the signals are averaged over"),
}
KEEP_PARAMS = {
    "keep": Param("hard", str, "hard: the hardest first; easy: the easiest; auto: easy below easy_below of the "
                               "pool, hard above (Sorscher et al. 2022)", ("hard", "easy", "auto")),
    "easy_below": Param(0.3, float, "with keep=auto: the budget share below which easy records are kept"),
}
SIGNALS = ("el2n", "grand", "forgetting", "aum", "confidence", "variability", "loss")
HARDER_IS_LOWER = {"aum", "confidence"}  # for these, a low value is a hard record


def label_codes(labels) -> tuple[np.ndarray, list]:
    """(codes (n,) int64, class names) of a label column (`PoolIndex.labels`); a missing
    label is its own class."""
    from thresher.choosers import filled_labels, group_codes

    return group_codes(filled_labels(labels))


def signal_spec(config: dict):
    """The `SignalSpec` a selector's (or command's) proxy options ask for."""
    from thresher.features.signals import SignalSpec

    return SignalSpec(proxy=config["proxy"], epochs=config["epochs"], seeds=tuple(range(config["proxy_seeds"])))


@dataclass(frozen=True)
class Recorded:
    """A signal selector's state: the signals, the label codes and the class names."""

    signals: object
    labels: np.ndarray
    classes: list


class SignalMethod(EmbeddingSelector):
    """What a method on model signals shares (mixed in before the shape): its parameters,
    checks, `fit` (the recorded signals) and the difficulty of a named signal."""

    needs = ("label", "features")
    params = SIGNAL_PARAMS
    out_of_fold = False

    def validate(self) -> None:
        config = self.config
        if config["epochs"] < 2:
            raise UsageError(f"{self.name}: epochs={config['epochs']}: give at least 2.")
        if config["proxy_seeds"] < 1:
            raise UsageError(f"{self.name}: proxy_seeds={config['proxy_seeds']}: give at least 1.")
        if "easy_below" in config and not 0 <= config["easy_below"] <= 1:
            raise UsageError(f"{self.name}: easy_below={config['easy_below']} is a share; give 0 to 1.")

    def required(self) -> list[tuple[str, str]]:
        """(module, extra) pairs this method needs, checked before any work."""
        return [("torch", "signals")]

    def check(self, pool, target) -> None:
        import importlib.util

        from thresher.errors import MissingDependencyError

        if not pool.fields.label_field:
            raise UsageError(f"method {self.name} trains a proxy on the pool's labels to score each record: name "
                             "the label field with --label-field (label_field=).")
        for module, extra in self.required():
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(module, extra, f"method {self.name}")
        super().check(pool, target)

    def fit(self, ctx: Context) -> Recorded:
        from thresher.features.signals import record_signals

        labels, classes = label_codes(ctx.index.labels)
        x = np.asarray(self.embeddings(ctx), dtype=np.float32)
        signals = record_signals(x, labels, len(classes), signal_spec(self.config), out_of_fold=self.out_of_fold,
                                 progress_label=self.name)
        return Recorded(signals, labels, classes)

    def difficulty(self, state: Recorded, signal: str) -> np.ndarray:
        """(n,) the named signal as a difficulty: higher = harder."""
        if signal not in SIGNALS:
            raise UsageError(f"{self.name}: signal={signal!r}: use one of {', '.join(SIGNALS)}.")
        values = getattr(state.signals, signal)()
        return -values if signal in HARDER_IS_LOWER else values


class SignalSelector(SignalMethod, ScoreSelector):
    """A score selector on model signals: a difficulty, kept hardest or easiest first."""

    def kept(self, ctx: Context, difficulty: np.ndarray, meta: dict | None = None) -> Scores:
        """Scores that keep the hardest or easiest first, as `keep` says."""
        keep = self.config["keep"]
        if keep == "auto":
            keep = "easy" if budget_fraction(ctx.limit, ctx) < self.config["easy_below"] else "hard"
        return Scores(difficulty if keep == "hard" else -difficulty, meta={"kept": keep, **(meta or {})})


@register
class EL2N(SignalSelector):
    """EL2N (Paul et al. 2021): the L2 norm of the proxy's error vector early in training,
    averaged over proxy seeds; `score=grand` takes the last layer's gradient norm instead.
    Scores: the difficulty (its negative when keeping easy records)."""

    name = "el2n"
    summary = "error norm of a proxy early in training (or GraNd); keep the hardest, or by budget"
    paper = 'Paul et al. 2021, "Deep Learning on a Data Diet: Finding Important Examples Early in Training"'
    params = {**SIGNAL_PARAMS, **KEEP_PARAMS,
              "score": Param("el2n", str, "el2n, or grand (the last layer's gradient norm)", ("el2n", "grand")),
              "at_epoch": Param(0, int, "the epoch the score is read at; 0: a fifth of the training")}

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.config["at_epoch"] <= self.config["epochs"]:
            raise UsageError(f"el2n: at_epoch={self.config['at_epoch']}: give 0 to epochs={self.config['epochs']}.")

    def score(self, ctx: Context, state: Recorded) -> Scores:
        epoch = self.config["at_epoch"] or None
        signals = state.signals
        values = signals.el2n(epoch) if self.config["score"] == "el2n" else signals.grand(epoch)
        return self.kept(ctx, values, {"at_epoch": epoch or signals.early_epoch})


@register
class Forgetting(SignalSelector):
    """Forgetting events (Toneva et al. 2019): how often a record the proxy had right is
    wrong one epoch later; never learned counts more than any. Keeps the most forgotten:
    the unforgettable ones are what the paper drops first. Scores: the events."""

    name = "forgetting"
    summary = "how often the proxy forgets a record between epochs; drop the unforgettable first"
    paper = 'Toneva et al. 2019, "An Empirical Study of Example Forgetting during Deep Neural Network Learning"'
    params = {**SIGNAL_PARAMS, **KEEP_PARAMS}

    def score(self, ctx: Context, state: Recorded) -> Scores:
        return self.kept(ctx, self.difficulty(state, "forgetting"))


@register
class AUM(SignalSelector):
    """Area under the margin (Pleiss et al. 2020): the given label's logit minus the largest
    other, averaged over epochs and seeds. Low (negative) is hard, and where mislabelled
    records sit; `keep=easy` keeps the highest margins. Scores: minus the AUM."""

    name = "aum"
    summary = "area under the margin of a proxy; low is hard (or mislabelled)"
    paper = 'Pleiss et al. 2020, "Identifying Mislabeled Data using the Area Under the Margin Ranking"'
    params = {**SIGNAL_PARAMS, **KEEP_PARAMS}

    def score(self, ctx: Context, state: Recorded) -> Scores:
        return self.kept(ctx, self.difficulty(state, "aum"))


@register
class Cartography(SignalSelector):
    """Dataset cartography (Swayamdipta et al. 2020): confidence (mean probability of the
    given label over epochs) and variability (its spread). `region=ambiguous` keeps the most
    variable records, the paper's best for out-of-distribution generalisation; `hard` the
    least confident; `easy` the most. Scores: variability, minus confidence, or confidence."""

    name = "cartography"
    summary = "data maps: keep the ambiguous (variable), hard (unconfident) or easy records"
    paper = 'Swayamdipta et al. 2020, "Dataset Cartography: Mapping and Diagnosing Datasets with Training Dynamics"'
    params = {**SIGNAL_PARAMS,
              "region": Param("ambiguous", str, "ambiguous, hard or easy", ("ambiguous", "hard", "easy"))}

    def score(self, ctx: Context, state: Recorded) -> Scores:
        region = self.config["region"]
        confidence = state.signals.confidence()
        values = {"ambiguous": state.signals.variability(), "hard": -confidence, "easy": confidence}[region]
        return Scores(values, meta={"region": region})


@register
class Moderate(SignalSelector):
    """Moderate coreset (Xia et al. 2023): the records whose difficulty is nearest the
    median, neither the easiest nor the hardest. Scores: minus the distance to the median."""

    name = "moderate"
    summary = "the band of records around the median difficulty"
    paper = 'Xia et al. 2023, "Moderate Coreset: A Universal Method of Data Selection for Real-world Data-efficient Deep Learning"'
    params = {**SIGNAL_PARAMS, "signal": Param("el2n", str, "the difficulty signal", SIGNALS)}

    def score(self, ctx: Context, state: Recorded) -> Scores:
        difficulty = self.difficulty(state, self.config["signal"])
        median = float(np.median(difficulty))
        return Scores(-np.abs(difficulty - median), meta={"median": median})


@register
class CCS(SignalSelector):
    """Coverage-centric coreset selection (Zheng et al. 2023): drop the hardest `beta` of the
    pool (at most what the budget leaves out), cut the rest into `strata` equal-width bins of difficulty, and fill the budget
    evenly across the bins, a bin with fewer records than its share giving the rest to the
    others; random within a bin. Scores: a random draw (NaN for the dropped hardest); the
    bins are the clusters of its quota chooser."""

    name = "ccs"
    summary = "coverage-centric: drop the hardest, then spread the budget evenly over difficulty strata"
    paper = 'Zheng et al. 2023, "Coverage-centric Coreset Selection for High Pruning Rates"'
    provides_clusters = True
    default_chooser = "quota(by=cluster, proportions=equal)"
    params = {**SIGNAL_PARAMS, "signal": Param("aum", str, "the difficulty signal", SIGNALS),
              "beta": Param(0.1, float, "share of the pool, the hardest, dropped before stratifying"),
              "strata": Param(50, int, "equal-width bins of difficulty the budget is spread over")}

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.config["beta"] < 1:
            raise UsageError(f"ccs: beta={self.config['beta']}: give a share in [0, 1).")
        if self.config["strata"] < 1:
            raise UsageError(f"ccs: strata={self.config['strata']}: give at least 1.")

    def score(self, ctx: Context, state: Recorded) -> Scores:
        difficulty = self.difficulty(state, self.config["signal"])
        n = len(difficulty)
        # Never drop so many that the budget cannot be met: at most the share the budget leaves out.
        left_out = n - ctx.limit.count if ctx.limit.count is not None else (1 - budget_fraction(ctx.limit, ctx)) * n
        dropped_n = int(max(0, min(np.floor(self.config["beta"] * n), np.floor(left_out))))
        order = np.lexsort((np.arange(n), -difficulty))  # hardest first, ties by position
        dropped = np.zeros(n, dtype=bool)
        dropped[order[:dropped_n]] = True
        kept = difficulty[~dropped]
        low, high = (float(kept.min()), float(kept.max())) if len(kept) else (0.0, 1.0)
        width = (high - low) / self.config["strata"] or 1.0
        strata = np.clip(((difficulty - low) / width).astype(np.int64), 0, self.config["strata"] - 1)
        values = np.where(dropped, np.nan, ctx.rng.random(n))
        cut = float(difficulty[order[dropped_n - 1]]) if dropped_n else None

        def reasons_for(positions: np.ndarray):
            return [("hardest", f"{self.config['signal']} difficulty {difficulty[p]:.4g}, among the hardest "
                                f"{self.config['beta']:.0%}") if dropped[p] else None for p in positions]

        return Scores(values, clusters=strata, reasons_for=reasons_for,
                      meta={"dropped_hardest": dropped_n, "difficulty_cut": cut, "strata": self.config["strata"]})


@register
class D2(SignalMethod, SetSelector):
    """D2 pruning (Maharana et al. 2024): difficulty and diversity on the kNN graph of the
    embeddings. Each record's difficulty first takes in its `neighbours`' (forward message
    passing: s_i + sum_j exp(-gamma_forward d_ij) s_j over i's neighbours j, d the cosine
    distance); then the
    highest-scoring record is taken and its neighbours' scores are lowered by
    exp(-gamma_reverse d_ij) times its own (reverse message passing), so the next pick is
    hard but not beside the last. Difficulties are shifted to start at 0. Gains: the score
    of each record when taken."""

    name = "d2"
    summary = "message passing on the kNN graph: hard records, spread out"
    paper = 'Maharana et al. 2024, "D2 Pruning: Message Passing for Balancing Diversity and Difficulty in Data Pruning"'
    params = {**SIGNAL_PARAMS, "signal": Param("el2n", str, "the difficulty signal", SIGNALS),
              "neighbours": Param(10, int, "neighbours of each record in the graph"),
              "gamma_forward": Param(1.0, float, "decay of the forward messages with distance"),
              "gamma_reverse": Param(1.0, float, "decay of the reverse messages with distance")}

    def validate(self) -> None:
        super().validate()
        if self.config["neighbours"] < 1:
            raise UsageError(f"d2: neighbours={self.config['neighbours']}: give at least 1.")

    def choose(self, ctx: Context, state: Recorded, limit: Limit) -> Choice:
        import heapq

        from thresher.features.vectors import knn

        walk = Walk(limit, ctx.index.tokens, ctx.index.n)
        if not walk.open:
            return Choice(walk.positions())
        difficulty = self.difficulty(state, self.config["signal"])
        difficulty = difficulty - difficulty.min()
        neighbours, sims = knn(np.asarray(self.embeddings(ctx), dtype=np.float32), self.config["neighbours"] + 1,
                               seed=ctx.seed)
        forward = _graph(neighbours, sims, self.config["gamma_forward"])
        reverse = _graph(neighbours, sims, self.config["gamma_reverse"])
        score = difficulty + forward @ difficulty
        heap = [(-value, position) for position, value in enumerate(score.tolist())]  # ties: lowest position
        heapq.heapify(heap)
        taken = np.zeros(len(score), dtype=bool)
        gains = []
        while heap and walk.open:
            value, position = heapq.heappop(heap)
            if taken[position]:
                continue
            if -value != score[position]:  # lowered since it was pushed
                heapq.heappush(heap, (-score[position], position))
                continue
            if not walk.offer(position):
                break
            taken[position] = True
            gains.append(score[position])
            start, end = reverse.indptr[position], reverse.indptr[position + 1]
            around = reverse.indices[start:end]
            score[around] -= reverse.data[start:end] * score[position]
            for other in around[~taken[around]].tolist():
                heapq.heappush(heap, (-score[other], other))
        return Choice(walk.positions(), gains=np.asarray(gains, dtype=np.float64))


def _graph(neighbours: np.ndarray, sims: np.ndarray, gamma: float):
    """The kNN graph (n, n) CSR, row i holding i's neighbours (itself excluded) with weights
    exp(-gamma * cosine distance)."""
    from scipy import sparse

    n = len(neighbours)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = neighbours.ravel()
    keep = (cols >= 0) & (cols != rows)
    weights = np.exp(-gamma * (1.0 - sims.ravel()[keep].astype(np.float64)))
    graph = sparse.csr_matrix((weights, (rows[keep], cols[keep])), shape=(n, n))
    graph.sort_indices()
    return graph


@register
class LabelIssues(SignalSelector):
    """Label-noise removal: every record but those whose label looks wrong.

    `rule=cleanlab` (default): confident learning (Northcutt et al. 2021) through
    `cleanlab.filter.find_label_issues` on out-of-fold probabilities of the proxy (each
    record predicted by a proxy that never saw it; the [signals] extra). `rule=aum`: AUM's
    threshold samples (Pleiss et al. 2020): a random 1/(classes+1) of the records is given
    a fake class, and a record whose AUM is below the 99th percentile of theirs is an issue;
    done twice with disjoint threshold sets so every record is judged. With the default
    budget (100%) it keeps everything else; a smaller budget keeps the records whose given
    label the proxy believes most. Scores: the out-of-fold probability of the given label
    (NaN for an issue, with "label-issue: given X, model says Y with p=0.97").

    Measured with 20% of the labels flipped (benchmarks/label_noise.py, MiniLM embeddings):
    on banking77 cleanlab finds 80% of the flipped records at precision 0.87, yet logistic
    regression on what it keeps scores 89.4% against 90.3% on the whole noisy pool (the clean
    records it drops cost more than the noise); rule=aum finds 96% at precision 0.73 and
    its kept records score 91.5%. On sst2 (two classes, a proxy right 81% of the time)
    cleanlab reaches precision 0.51 at recall 0.75, and rule=aum fails: a third of the pool
    becomes threshold samples and it drops 93% of the records."""

    name = "label-issues"
    summary = "drop records whose label a cross-fitted proxy disputes (confident learning via cleanlab, or AUM)"
    paper = 'Northcutt et al. 2021, "Confident Learning: Estimating Uncertainty in Dataset Labels"'
    out_of_fold = True
    fills_budget = False  # the issues are never kept, whatever the budget
    params = {**SIGNAL_PARAMS,
              "rule": Param("cleanlab", str, "cleanlab (confident learning) or aum (threshold samples)",
                            ("cleanlab", "aum")),
              "filter_by": Param("prune_by_noise_rate", str, "cleanlab's rule for which records are issues",
                                 ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                                  "predicted_neq_given")),
              "percentile": Param(99.0, float, "rule=aum: the threshold samples' AUM percentile below which a "
                                               "record is an issue")}

    def required(self) -> list[tuple[str, str]]:
        return super().required() + ([("cleanlab", "signals")] if self.config["rule"] == "cleanlab" else [])

    def validate(self) -> None:
        super().validate()
        if not 0 < self.config["percentile"] <= 100:
            raise UsageError(f"label-issues: percentile={self.config['percentile']}: give (0, 100].")

    def score(self, ctx: Context, state: Recorded) -> Scores:
        probabilities = state.signals.out_of_fold
        labels, classes = state.labels, state.classes
        rows = np.arange(len(labels))
        given = probabilities[rows, labels].astype(np.float64)
        if self.config["rule"] == "cleanlab":
            issues = self._cleanlab(labels, probabilities)
        else:
            issues = self._aum_threshold(ctx, labels, len(classes))
        predicted = probabilities.argmax(axis=1)

        def reasons_for(positions: np.ndarray):
            return [("label-issue", f"given {classes[labels[p]]}, model says {classes[predicted[p]]} with "
                                    f"p={probabilities[p, predicted[p]]:.2f}") if issues[p] else None
                    for p in positions]

        return Scores(np.where(issues, np.nan, given), reasons_for=reasons_for,
                      meta={"label_issues": int(issues.sum()), "rule": self.config["rule"]})

    def _cleanlab(self, labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        from thresher.errors import MissingDependencyError

        try:
            from cleanlab.filter import find_label_issues
        except ImportError as err:
            raise MissingDependencyError("cleanlab", "signals", "label-issues") from err
        probabilities = np.asarray(probabilities, dtype=np.float64)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        # n_jobs=1: cleanlab would otherwise fork workers, which hang after torch has started its threads.
        return np.asarray(find_label_issues(labels, probabilities, filter_by=self.config["filter_by"], n_jobs=1),
                          dtype=bool)

    def _aum_threshold(self, ctx: Context, labels: np.ndarray, classes: int) -> np.ndarray:
        from thresher.features.signals import record_signals

        n = len(labels)
        x = np.asarray(self.embeddings(ctx), dtype=np.float32)
        spec = signal_spec(self.config)
        order = np.random.default_rng(np.random.SeedSequence([ctx.seed, 0xA0B])).permutation(n)
        share = max(1, n // (classes + 1))
        issues = np.zeros(n, dtype=bool)
        for judged, threshold_set in ((order[share:], order[:share]), (order[:share], order[share:2 * share])):
            fake = labels.copy()
            fake[threshold_set] = classes  # a class of its own: their margins are what "wrong" looks like
            aum = record_signals(x, fake, classes + 1, spec, progress_label="label-issues (aum)").aum()
            cut = np.percentile(aum[threshold_set], self.config["percentile"])
            issues[judged] = aum[judged] < cut
        return issues


__all__ = ["AUM", "CCS", "Cartography", "D2", "EL2N", "Forgetting", "LabelIssues", "Moderate", "SignalMethod", "SignalSelector", "label_codes"]
