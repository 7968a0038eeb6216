"""Each query strategy ranks constructed pools the way its idea says it should."""

from __future__ import annotations

import numpy as np
import pytest

from scanflow.interact.latent import PCALatentSpace
from scanflow.interact.pool import Pool
from scanflow.interact.strategies import (
    DEFAULT_STRATEGY,
    KCenterGreedy,
    MarginClusters,
    Novelty,
    QueryStrategy,
    StrategyInputError,
    available_strategies,
    make_strategy,
    register_strategy,
)
from scanflow.interact.strategies.typical import typical_uncovered

PROBABILITIES = np.array(
    [
        [0.90, 0.05, 0.05],  # 0: confident
        [0.50, 0.49, 0.01],  # 1: torn between two classes (smallest margin)
        [0.34, 0.33, 0.33],  # 2: spread over all three (highest entropy, lowest confidence)
        [0.60, 0.20, 0.20],  # 3
        [0.45, 0.40, 0.15],  # 4
    ]
)


def pool_of(probabilities: np.ndarray, **extra: object) -> Pool:
    return Pool(np.arange(len(probabilities), dtype=float)[:, None], probabilities=probabilities, **extra)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("margin", [1, 2, 4, 3, 0]),
        ("least-confidence", [2, 4, 1, 3, 0]),
        ("entropy", [2, 4, 3, 1, 0]),
    ],
)
def test_uncertainty_strategies_rank_by_their_measure(name: str, expected: list[int]) -> None:
    selection = make_strategy(name).select(pool_of(PROBABILITIES), batch_size=5)
    assert selection.ids == expected
    assert list(selection.scores) == sorted(selection.scores, reverse=True)


def test_margin_reason_names_the_two_classes_the_model_hesitates_between() -> None:
    pool = pool_of(PROBABILITIES, classes=["cat", "dog", "fox"])
    selection = make_strategy("margin").select(pool, batch_size=1)
    assert selection.reasons == ["torn between 'cat' (50%) and 'dog' (49%)"]


def test_selection_uses_the_pool_ids() -> None:
    pool = pool_of(PROBABILITIES, ids=["a", "b", "c", "d", "e"])
    assert make_strategy("margin").select(pool, batch_size=2).ids == ["b", "c"]


def test_a_strategy_that_needs_probabilities_says_so() -> None:
    with pytest.raises(StrategyInputError, match="'margin' needs the pool's probabilities"):
        make_strategy("margin").select(Pool(np.zeros((3, 2))), batch_size=1)


def test_batch_larger_than_pool_returns_the_whole_pool() -> None:
    assert sorted(make_strategy("margin").select(pool_of(PROBABILITIES), 50).ids) == [0, 1, 2, 3, 4]


def test_random_is_reproducible_by_seed_and_never_repeats() -> None:
    pool = Pool(np.zeros((100, 2)))
    first = make_strategy("random").select(pool, 30, seed=7).ids
    assert first == make_strategy("random").select(pool, 30, seed=7).ids
    assert first != make_strategy("random").select(pool, 30, seed=8).ids
    assert len(set(first)) == 30


def three_clusters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat([0, 1, 2], 100)
    return centers[labels] + rng.normal(scale=0.3, size=(300, 2)), labels


def test_diversity_covers_clusters_the_labelled_set_does_not() -> None:
    features, cluster = three_clusters(np.random.default_rng(0))
    labelled = features[cluster == 0][:5]
    selection = KCenterGreedy().select(Pool(features, labelled=labelled), batch_size=2)
    assert sorted(cluster[selection.positions]) == [1, 2]


def test_diversity_without_labels_spreads_a_batch_over_every_cluster() -> None:
    features, cluster = three_clusters(np.random.default_rng(1))
    selection = KCenterGreedy().select(Pool(features), batch_size=3)
    assert sorted(cluster[selection.positions]) == [0, 1, 2]


def test_hybrid_spreads_a_batch_where_margin_asks_near_copies() -> None:
    """Forty near-duplicates hold the smallest margins; a second confusion sits elsewhere."""
    rng = np.random.default_rng(2)
    copies = rng.normal(scale=0.05, size=(40, 2))
    other = np.array([8.0, 8.0]) + rng.normal(scale=0.05, size=(10, 2))
    easy = rng.normal(loc=-8.0, size=(200, 2))
    features = np.vstack([copies, other, easy])
    gap = np.concatenate(
        [rng.uniform(0.00, 0.05, 40), rng.uniform(0.06, 0.10, 10), rng.uniform(0.6, 0.9, 200)]
    )
    probabilities = np.column_stack([(1 + gap) / 2, (1 - gap) / 2])
    pool = Pool(features, probabilities=probabilities)

    margin_picks = make_strategy("margin").select(pool, batch_size=4).positions
    hybrid_picks = (
        MarginClusters(candidates=12.5, cold_start_candidates=12.5, typical_per_class=0)
        .select(pool, batch_size=4, seed=0)
        .positions
    )
    assert (margin_picks < 40).all()
    assert ((hybrid_picks >= 40) & (hybrid_picks < 50)).any()
    assert (hybrid_picks < 50).all(), "it still asks only uncertain samples"


def test_hybrid_looks_wider_while_the_model_has_few_labels() -> None:
    """Margins of a model trained on five samples say little: the batch spreads over more candidates."""
    rng = np.random.default_rng(5)
    features = rng.uniform(size=(400, 2))
    gap = np.linspace(0.0, 0.8, 400)  # sample i has the i-th smallest margin
    probabilities = np.column_stack([(1 + gap) / 2, (1 - gap) / 2])
    strategy = MarginClusters(candidates=5, cold_start_candidates=20, cold_start_per_class=20)

    def picks(labelled: int) -> np.ndarray:
        pool = Pool(features, probabilities=probabilities, labelled=features[:labelled])
        return strategy.select(pool, batch_size=4, seed=0).positions

    assert picks(100).max() < 20, "an experienced model: only the 5 x 4 smallest margins"
    assert picks(5).max() < 80 and picks(5).max() >= 20, "a new model: among the 20 x 4 smallest"


def three_blobs_and_an_outlier(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Blobs of 200, 120 and 80 samples (clusters 0, 1, 2), and one far outlier (cluster 3)."""
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    cluster = np.repeat([0, 1, 2], [200, 120, 80])
    features = centers[cluster] + rng.normal(size=(400, 2))
    return np.vstack([features, [[30.0, 30.0]]]), np.append(cluster, 3)


def test_typical_uncovered_asks_the_middle_of_the_largest_unlabelled_clusters() -> None:
    features, cluster = three_blobs_and_an_outlier(np.random.default_rng(6))
    labelled = features[cluster == 0][:3]
    picks = typical_uncovered(features, labelled, 2, np.random.default_rng(0))
    assert list(cluster[picks]) == [1, 2], "the largest uncovered cluster first; never the labelled one"
    for pick in picks:
        members = features[cluster == cluster[pick]]
        spread = np.linalg.norm(members - members.mean(axis=0), axis=1)
        assert np.linalg.norm(features[pick] - members.mean(axis=0)) < np.percentile(spread, 25)


def test_hybrid_starts_from_typical_samples_while_labels_are_fewer_than_two_per_class() -> None:
    """A model from three labels has meaningless margins: ask where no label is, not its doubts."""
    features, cluster = three_blobs_and_an_outlier(np.random.default_rng(7))
    gap = np.where(cluster == 0, 0.01, 0.9)  # the model only doubts the labelled blob
    probabilities = np.column_stack([(1 + gap) / 2, (1 - gap) / 2])

    def picks(labelled: int) -> np.ndarray:
        pool = Pool(features, probabilities=probabilities, labelled=features[cluster == 0][:labelled])
        return cluster[make_strategy("hybrid").select(pool, batch_size=2, seed=0).positions]

    assert sorted(picks(3)) == [1, 2]
    assert (picks(10) == 0).all(), "with enough labels, the margins lead"


def test_hybrid_explores_uncovered_clusters_once_the_model_is_sure_of_everything() -> None:
    """Margins all above 0.8, the smallest in a tight labelled blob: ask the blobs without labels."""
    rng = np.random.default_rng(8)
    features = np.vstack(
        [
            rng.normal(scale=0.3, size=(30, 2)),
            rng.normal(size=(150, 2)) + [10, 0],
            rng.normal(size=(100, 2)) + [0, 10],
        ]
    )
    labelled = features[:4]
    sure = np.where(np.arange(280) < 30, 0.85, 0.95)
    probabilities = np.column_stack([(1 + sure) / 2, (1 - sure) / 2])
    for seed in range(5):
        selection = make_strategy("hybrid").select(
            Pool(features, probabilities=probabilities, labelled=labelled), batch_size=3, seed=seed
        )
        assert (selection.positions >= 30).all()
        assert "no label covers" in selection.reasons[0]
    strict = MarginClusters(sure_margin=0.9).select(
        Pool(features, probabilities=probabilities, labelled=labelled), batch_size=3, seed=0
    )
    assert strict.positions[0] < 30 and "torn between" in strict.reasons[0], "under sure_margin, margins lead"


def test_hybrid_asks_the_most_uncertain_of_each_cluster_once_labels_are_plenty() -> None:
    """Central samples while the model learns the classes; the boundary cases once it knows them."""
    rng = np.random.default_rng(9)
    features = rng.uniform(size=(400, 2))
    gap = rng.uniform(0.0, 0.7, 400)
    probabilities = np.column_stack([(1 + gap) / 2, (1 - gap) / 2])

    def picks(labelled: int, pick: str = "auto") -> list[int]:
        pool = Pool(features, probabilities=probabilities, labelled=features[:labelled])
        return sorted(MarginClusters(pick=pick).select(pool, batch_size=4, seed=0).ids)

    assert picks(10) == picks(10, "central") != picks(10, "uncertain")
    assert picks(30) == picks(30, "uncertain") != picks(30, "central")


def test_novelty_ranks_off_manifold_and_far_samples_above_familiar_ones() -> None:
    rng = np.random.default_rng(3)
    # Reference: points near a 2-d plane in 6-d space.
    basis = rng.normal(size=(2, 6))
    reference = rng.normal(size=(300, 2)) @ basis + rng.normal(scale=0.05, size=(300, 6))
    familiar = rng.normal(size=(50, 2)) @ basis + rng.normal(scale=0.05, size=(50, 6))
    off_plane = familiar[:5] + rng.normal(scale=3.0, size=(5, 6))  # high reconstruction error
    far_along = rng.normal(size=(5, 2)) @ basis * 8  # on the plane, far from the reference
    pool = Pool(np.vstack([familiar, off_plane, far_along]))

    strategy = Novelty.of(PCALatentSpace(components=2).fit(reference), reference=reference)
    error, distance = strategy.parts(pool)
    assert error[50:55].min() > error[:50].max()
    assert distance[55:].min() > distance[:50].max()
    selection = strategy.select(pool, batch_size=10)
    assert set(selection.positions) == set(range(50, 60))
    assert "reconstruction error" in selection.reasons[0]


def test_novelty_takes_any_embed_and_reconstruction_error_callables() -> None:
    calls: list[str] = []

    def embed(x: np.ndarray) -> np.ndarray:
        calls.append("embed")
        return x[:, :1]

    def reconstruction_error(x: np.ndarray) -> np.ndarray:
        calls.append("error")
        return np.abs(x[:, 1])

    reference = np.column_stack([np.linspace(0, 1, 20), np.zeros(20) + 0.1])
    pool = Pool(np.array([[0.5, 0.1], [0.5, 5.0], [9.0, 0.1]]))
    ranked = Novelty(embed, reconstruction_error, reference=reference).select(pool, 3).ids
    assert ranked[-1] == 0 and set(ranked[:2]) == {1, 2}
    assert {"embed", "error"} <= set(calls)


def test_novelty_defaults_to_the_pool_labelled_samples_as_reference() -> None:
    rng = np.random.default_rng(4)
    labelled = rng.normal(size=(100, 3))
    pool = Pool(np.vstack([rng.normal(size=(20, 3)), [[12.0, 12.0, 12.0]]]), labelled=labelled)
    assert make_strategy("novelty").select(pool, 1).ids == [20]


def test_unknown_strategy_names_the_close_one_and_the_choices() -> None:
    with pytest.raises(ValueError, match="did you mean 'margin'.*choose one of: diversity, entropy"):
        make_strategy("margn")


def test_default_strategy_is_the_hybrid() -> None:
    assert isinstance(make_strategy(DEFAULT_STRATEGY), MarginClusters)


def test_plugins_register_by_name() -> None:
    class Last(QueryStrategy):
        name = "test-last"

        def _select(self, pool, batch_size, rng):  # noqa: ANN001, ANN202
            positions = np.arange(len(pool))[::-1][:batch_size]
            return positions, np.ones(batch_size), ["last"] * batch_size

    register_strategy(Last)
    assert "test-last" in available_strategies()
    assert make_strategy("test-last").select(Pool(np.zeros((4, 1))), 2).ids == [3, 2]


def test_a_strategy_is_named_by_its_class_path(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    (tmp_path / "my_strategies.py").write_text(
        "import numpy as np\n"
        "from scanflow.interact import QueryStrategy\n"
        "class Last(QueryStrategy):\n"
        "    name = 'last'\n"
        "    def _select(self, pool, batch_size, rng):\n"
        "        positions = np.arange(len(pool))[::-1][:batch_size]\n"
        "        return positions, np.ones(len(positions)), ['last'] * len(positions)\n"
        "NOT_A_STRATEGY = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert make_strategy("my_strategies:Last").select(Pool(np.zeros((4, 1))), 2).ids == [3, 2]
    with pytest.raises(ValueError, match="module 'my_strategies' has no 'First'"):
        make_strategy("my_strategies:First")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        make_strategy("no_such_module:Last")
    with pytest.raises(ValueError, match="'my_strategies:NOT_A_STRATEGY' is not a QueryStrategy subclass"):
        make_strategy("my_strategies:NOT_A_STRATEGY")
