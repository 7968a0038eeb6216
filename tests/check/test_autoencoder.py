import numpy as np
import pytest

pytest.importorskip("torch")

from scanflow.check import AutoencoderChecker, CheckerError, load_checker  # noqa: E402

from .data import breast_cancer_split, digits_split  # noqa: E402


@pytest.fixture(scope="module")
def tabular():
    reference, rest = breast_cancer_split()
    return AutoencoderChecker(epochs=30).fit(reference), reference, rest


@pytest.fixture(scope="module")
def images():
    reference, _, rest, _ = digits_split()
    return AutoencoderChecker(epochs=8, latent_dim=12).fit(reference[:600]), rest


def test_tabular_clean_batch_is_ok_and_noise_is_drift(tabular):
    checker, reference, rest = tabular
    clean = checker.check(rest[:100])
    assert clean.verdict == "ok" and clean.p_value > 0.05
    noisy = rest[:100] + np.random.default_rng(0).normal(size=(100, 30)) * reference.std(axis=0) * 0.5
    result = checker.check(noisy)
    assert result.drifted and result.p_value < 1e-4
    assert result.threshold == pytest.approx(checker.threshold)
    assert "reconstruction error" in result.explanation
    assert result.features[0].statistic > 2  # the worst feature reconstructs far worse than before


def test_threshold_is_calibrated_at_the_chosen_false_positive_rate(tabular):
    checker, _, rest = tabular
    assert checker.is_anomaly(rest).mean() < 0.06  # fpr 0.01 on held-out reference errors


def test_novel_samples_reconstruct_worse_and_embed_in_the_latent_space(tabular):
    checker, reference, rest = tabular
    novel = rest[:20] * 3.0
    assert np.median(checker.reconstruction_error(novel)) > 3 * np.median(
        checker.reconstruction_error(rest[:20])
    )
    latent = checker.embed(rest[:7])
    assert latent.shape == (7, 8) and np.isfinite(latent).all()


def test_convolutional_autoencoder_flags_rotated_digits(images):
    checker, rest = images
    assert checker.image_shape == [1, 8, 8]
    assert not checker.check(rest[:100]).drifted
    rotated = np.rot90(rest[:100], axes=(1, 2))
    result = checker.check(rotated)
    assert result.drifted and result.score > 0.3  # many rotated digits exceed the per-sample threshold
    assert result.features[0].feature.startswith("pixel_")


def test_images_with_another_shape_are_a_clear_error(images):
    checker, _ = images
    with pytest.raises(CheckerError, match=r"shape \(n, 1, 8, 8\)"):
        checker.check(np.zeros((3, 9, 9)))


def test_saved_autoencoder_gives_the_same_errors(tabular, tmp_path):
    checker, _, rest = tabular
    checker.save(tmp_path / "ae")
    loaded = load_checker(tmp_path / "ae")
    assert isinstance(loaded, AutoencoderChecker)
    np.testing.assert_allclose(
        loaded.reconstruction_error(rest[:50]), checker.reconstruction_error(rest[:50])
    )
    assert loaded.check(rest[:50]).p_value == pytest.approx(checker.check(rest[:50]).p_value)


def test_mmd_on_the_autoencoder_latent_space_round_trips(tmp_path):
    from scanflow.check import MMDChecker

    reference, rest = breast_cancer_split()
    checker = MMDChecker(reducer="autoencoder", n_permutations=100, autoencoder={"epochs": 15}).fit(reference)
    noisy = rest[:80] + reference.std(axis=0) * 1.0  # every feature one SD higher
    assert checker.check(noisy).drifted
    assert not checker.check(rest[:80]).drifted
    checker.save(tmp_path / "mmd-ae")
    loaded = load_checker(tmp_path / "mmd-ae")
    assert loaded.check(noisy).to_dict() == checker.check(noisy).to_dict()


def test_a_large_reference_trains_on_max_reference_rows_and_still_finds_drift():
    """Fitting cost is bounded: beyond max_reference rows the network learns little more."""
    reference, rest = breast_cancer_split()
    large = np.concatenate([reference] * 20)  # 6000+ rows
    checker = AutoencoderChecker(epochs=20, max_reference=300).fit(large)
    assert len(checker.reference_errors) == 90, "held out: 30% of the 300 rows used"
    noisy = rest[:100] + np.random.default_rng(0).normal(size=(100, 30)) * reference.std(axis=0) * 0.5
    assert checker.check(noisy).drifted and not checker.check(rest[:100]).drifted
