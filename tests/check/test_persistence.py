"""Every built-in checker saves to JSON + .npz (no pickle) and loads back to the same judgement."""

import json

import numpy as np
import pytest

from scanflow.check import CheckResult, load_checker

from .data import mixed_table

CASES = {
    "ks": {},
    "cvm": {},
    "mmd": {"n_permutations": 50},
    "integrity": {},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_gives_the_same_result(name, tmp_path):
    checker = load_checker(name, **CASES[name]).fit(mixed_table(400, seed=0))
    batch = mixed_table(80, seed=1, shift=0.6)
    checker.save(tmp_path / name)
    document = json.loads((tmp_path / name / "checker.json").read_text())
    assert document["checker"] == name and document["config"] == json.loads(json.dumps(checker.config))
    with np.load(tmp_path / name / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)
    loaded = load_checker(tmp_path / name)
    assert loaded.check(batch).to_dict() == checker.check(batch).to_dict()


def test_label_shift_round_trip(tmp_path):
    checker = load_checker("label_shift").fit(np.repeat(["cat", "dog", "eel"], [50, 30, 20]))
    checker.save(tmp_path / "labels")
    batch = np.repeat(["cat", "dog"], [30, 30])
    assert load_checker(tmp_path / "labels").check(batch).to_dict() == checker.check(batch).to_dict()


def test_results_are_json_ready_and_come_back():
    result = load_checker("ks").fit(mixed_table(300, seed=0)).check(mixed_table(50, seed=1))
    text = json.dumps(result.to_dict())
    again = CheckResult.from_dict(json.loads(text))
    assert again.verdict == result.verdict and again.features[0].feature == result.features[0].feature


def test_saving_an_unfitted_checker_or_loading_a_wrong_folder_fails_clearly(tmp_path):
    from scanflow.check import CheckerError, NotFittedError

    with pytest.raises(NotFittedError):
        load_checker("ks").save(tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckerError, match="not a saved checker"):
        load_checker(tmp_path / "empty")


def test_a_damaged_arrays_file_says_to_save_the_checker_again(tmp_path):
    from scanflow.check import CheckerError

    load_checker("ks").fit(mixed_table(200, seed=0)).save(tmp_path / "ks")
    arrays = tmp_path / "ks" / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:100])  # a copy cut short
    with pytest.raises(CheckerError, match="arrays.npz is damaged.*fit and save the checker again"):
        load_checker(tmp_path / "ks")


@pytest.mark.parametrize(
    "name, expected",
    [("batch.npy", "it is not a NumPy .npy array"), ("batch.npz", "it is not a NumPy .npz archive")],
)
def test_a_numpy_file_that_is_not_one_is_named_without_pickle_advice(tmp_path, name, expected):
    from scanflow.check import CheckerError
    from scanflow.check.files import read_dataset

    (tmp_path / name).write_text("id,x\n1,2\n")
    with pytest.raises(CheckerError, match=expected) as caught:
        read_dataset(tmp_path / name)
    assert "pickle" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "age;income;city\n41,5;5000;a\n39;4200,25;b\n",
        "age;income;city\n41.5;5000;a\n39;4200.25;b\n",
        "age|income|city\n41.5|5000|a\n39|4200.25|b\n",
    ],
)
def test_a_table_with_another_separator_is_read_by_its_columns(tmp_path, text):
    from scanflow.check.files import read_dataset

    (tmp_path / "batch.csv").write_text(text)
    table = read_dataset(tmp_path / "batch.csv")
    assert list(table.columns) == ["age", "income", "city"]
    assert table["age"].tolist() == [41.5, 39.0] and table["income"].tolist() == [5000.0, 4200.25]
