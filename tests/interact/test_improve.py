"""The improve loop promotes a better model, refuses a worse one, and tracks every step."""

from __future__ import annotations

import json
import secrets
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from scanflow.interact.improve import improve
from scanflow.interact.labellers import LabellingTimeout, Oracle, WaitForPeople
from scanflow.interact.models import register_model
from scanflow.interact.schema import Status
from scanflow.interact.sources import write_dataset
from scanflow.interact.store import LabelStore
from scanflow.interact.trainers import FunctionTrainer, TrainingError, WorkflowTrainer
from scanflow.track.store import open_client


def fit(features: np.ndarray, labels: np.ndarray) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(features, labels)


@pytest.fixture
def digits(tmp_path: Path) -> dict[str, Path]:
    """Reference (40 labelled images), a pool with hidden labels, and a held-out set, as files."""
    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(labels))
    parts = {"reference": order[:40], "holdout": order[40:440], "pool": order[440:1000]}
    ids = np.array([f"d{i}" for i in range(len(labels))])
    paths = {}
    for name, rows in parts.items():
        paths[name] = write_dataset(
            tmp_path / f"{name}.npz", images[rows].reshape(-1, 8, 8), labels[rows], list(ids[rows])
        )
    # The pool as production sees it: no labels. The oracle file knows them.
    pool = parts["pool"]
    paths["oracle"] = paths["pool"]
    paths["pool"] = write_dataset(
        tmp_path / "unlabelled.npz", images[pool].reshape(-1, 8, 8), ids=list(ids[pool])
    )
    return paths


@pytest.fixture
def champion(tracking_uri: str, digits: dict[str, Path], tmp_path: Path) -> str:
    """A registered model trained on the reference only, aliased 'champion'; returns its name."""
    name = f"digits-{secrets.token_hex(3)}"
    client = open_client(tracking_uri)
    data = np.load(digits["reference"])
    # An explicit location: MLflow's default is ./mlruns of wherever the store was first opened.
    artifacts = (tmp_path / "artifacts").as_uri()
    run = client.create_run(client.create_experiment(f"train-{name}", artifact_location=artifacts))
    version = register_model(client, run.info.run_id, fit(data["X"].reshape(40, -1), data["y"]), name)
    client.set_registered_model_alias(name, "champion", version)
    return name


def run_improve(champion: str, digits: dict[str, Path], tracking_uri: str, **options):  # noqa: ANN003, ANN201
    settings = {
        "pool": digits["pool"],
        "holdout": digits["holdout"],
        "reference": digits["reference"],
        "trainer": FunctionTrainer(fit),
        "labeller": Oracle(digits["oracle"]),
        "batch_size": 30,
        "tracking_uri": tracking_uri,
        "experiment": f"improve-{champion}",
        "seed": 0,
    }
    return improve(champion, **{**settings, **options})


def test_a_better_model_is_promoted_and_every_step_is_tracked(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    result = run_improve(champion, digits, tracking_uri)

    (round_,) = result.rounds
    assert (round_.queued, round_.labelled, round_.skipped) == (30, 30, 0)
    assert round_.comparison.challenger_score > round_.comparison.champion_score + 0.05
    assert round_.promoted and result.champion_version == "2"
    client = open_client(tracking_uri)
    assert str(client.get_model_version_by_alias(champion, "champion").version) == "2"

    runs = client.search_runs(
        [client.get_experiment_by_name(f"improve-{champion}").experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{round_.mlflow_run_id}'",
    )
    steps = {run.info.run_name: run for run in runs}
    assert set(steps) == {"select", "label", "train", "promote"}
    decision = steps["promote"].data
    assert decision.tags["scanflow.decision"] == "promoted"
    assert "challenger is better" in decision.tags["scanflow.reason"]
    assert decision.metrics["challenger_score"] == pytest.approx(round_.comparison.challenger_score)
    assert decision.params["champion_version"] == "1"
    assert steps["select"].data.metrics["selected"] == 30
    artifacts = [a.path for a in client.list_artifacts(steps["train"].info.run_id, "labelled")]
    assert artifacts == [f"labelled/{champion}-improve.npz"]
    (dataset,) = client.get_run(steps["train"].info.run_id).inputs.dataset_inputs  # MLflow's "Datasets"
    assert dataset.dataset.name == f"{champion}-improve"
    assert json.loads(dataset.dataset.profile)["targets_shape"] == [30]
    assert json.loads(dataset.dataset.source)["uri"].endswith(f"/labelled/{champion}-improve.npz")
    assert [(tag.key, tag.value) for tag in dataset.tags] == [("mlflow.data.context", "training")]


def test_labels_are_used_once_and_later_rounds_pick_new_samples(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    result = run_improve(champion, digits, tracking_uri, rounds=2, batch_size=10)
    with LabelStore() as store:
        used = store.items(result.queue, status=Status.USED)
    assert len(used) == 20 and len({s.sample_ref for s in used}) == 20
    assert [r.champion_version for r in result.rounds] == [
        "1",
        result.rounds[0].challenger_version if result.rounds[0].promoted else "1",
    ]


def test_a_flat_pool_is_queued_to_be_shown_as_images(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    images = np.load(digits["pool"])
    flat = write_dataset(
        tmp_path / "flat.npz", images["X"].reshape(len(images["X"]), -1), ids=list(images["ids"])
    )
    with pytest.raises(ValueError, match="image shape 8x9 holds 72 values but each sample has 64"):
        run_improve(champion, digits, tracking_uri, pool=flat, batch_size=5, image_shape=(8, 9))
    result = run_improve(champion, digits, tracking_uri, pool=flat, batch_size=5, image_shape=(8, 8))
    with LabelStore() as store:
        assert store.queue(result.queue).image_shape == [8, 8]
        assert len(store.labels(result.queue)) == 5


def test_a_pool_of_another_width_names_the_model_and_both_widths(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    from scanflow.interact.models import ModelError

    images = np.load(digits["pool"])
    cropped = write_dataset(tmp_path / "cropped.npz", images["X"][:, :, :6].reshape(len(images["X"]), -1))
    with pytest.raises(
        ModelError, match=r"models:/digits-\w+/1 takes 64 features per sample, but the data has 48"
    ):
        run_improve(champion, digits, tracking_uri, pool=cropped, batch_size=5, queue="cropped")
    with LabelStore() as store:
        assert store.find_queue("cropped") is None or not store.labels("cropped"), "nothing labelled"


def test_an_oracle_file_without_ids_answers_by_content(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    known = np.load(digits["oracle"])
    anonymous = write_dataset(
        tmp_path / "answers.npz", known["X"], known["y"]
    )  # no ids, as a person might keep
    result = run_improve(champion, digits, tracking_uri, labeller=Oracle(anonymous), batch_size=8)
    assert (result.rounds[0].labelled, result.rounds[0].skipped) == (8, 0)
    truth = dict(zip(known["ids"].tolist(), known["y"].tolist(), strict=True))
    with LabelStore() as store:
        assert all(truth[ref] == label for ref, label in store.labels(result.queue))


def test_a_prediction_log_pool_holds_only_the_improved_models_predictions(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    import datetime

    from sqlalchemy import MetaData

    from scanflow.database import make_engine
    from scanflow.interact.sources import prediction_log_table

    images = np.load(digits["oracle"])["X"]

    def served(path: Path, *models: str) -> str:
        """A prediction log where each model saw 40 images of the pool, as the server writes it."""
        url = f"sqlite:///{path}"
        rows = [
            {
                "id": f"{model}/{i}",
                "created_at": datetime.datetime.now(datetime.UTC),
                "model_name": model,
                "model_version": "1",
                "input": images[i + 100 * n].tolist(),
                "output": {"prediction": 0},
                "probabilities": None,
            }
            for n, model in enumerate(models)
            for i in range(40)
        ]
        engine = make_engine(url)
        table = prediction_log_table(MetaData())
        table.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), rows)
        engine.dispose()
        return url

    both = served(tmp_path / "both.db", champion, "other-model")
    result = run_improve(champion, digits, tracking_uri, pool=both, batch_size=10, queue="from-the-log")
    with LabelStore() as store:
        picked = [sample.sample_ref for sample in store.items(result.queue)]
    assert len(picked) == 10 and all(ref.startswith(f"{champion}/") for ref in picked)
    assert result.rounds[0].labelled == 10  # the oracle file knows them by content

    others_only = served(tmp_path / "others.db", "other-model")
    with pytest.raises(ValueError, match=f"prediction log of model '{champion}' .* holds no samples"):
        run_improve(champion, digits, tracking_uri, pool=others_only, queue="from-another-log")


def test_data_tracked_in_mlflow_is_read_through_the_projects_tracker(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    client = open_client(tracking_uri)
    run_id = client.create_run(client.get_experiment_by_name(f"train-{champion}").experiment_id).info.run_id
    for name in ("reference", "holdout", "pool"):
        client.log_artifact(run_id, str(digits[name]), "data")
    tracked = {name: f"runs:/{run_id}/data/{digits[name].name}" for name in ("reference", "holdout", "pool")}
    result = run_improve(champion, digits, tracking_uri, batch_size=10, **tracked)
    assert (result.rounds[0].queued, result.rounds[0].labelled) == (10, 10)


def test_the_loop_stops_when_the_pool_is_used_up(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    known = np.load(digits["pool"])
    small = write_dataset(tmp_path / "small.npz", known["X"][:12], ids=list(known["ids"][:12]))
    said: list[str] = []
    result = run_improve(
        champion, digits, tracking_uri, pool=small, batch_size=10, rounds=5, report=said.append
    )
    assert [r.queued for r in result.rounds] == [10, 2, 0]  # rounds 4 and 5 are not run
    assert "nothing left to pick: the pool is used up; new production data brings more" in said


def test_a_worse_model_is_refused_and_the_alias_stays(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    worse = FunctionTrainer(lambda x, y: DummyClassifier(strategy="most_frequent").fit(x, y))
    result = run_improve(champion, digits, tracking_uri, trainer=worse)

    (round_,) = result.rounds
    assert not round_.promoted
    assert "challenger is not better" in round_.decision.reason
    client = open_client(tracking_uri)
    assert str(client.get_model_version_by_alias(champion, "champion").version) == "1"
    refused = client.get_model_version(champion, round_.challenger_version).tags
    assert refused["scanflow.decision"] == "refused"  # the registry says why the version is not served
    assert refused["scanflow.reason"].startswith("challenger is not better: accuracy")


def test_a_better_model_waits_for_a_person_who_can_decline(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    asked = []
    result = run_improve(champion, digits, tracking_uri, approve=lambda c: asked.append(c) or False)
    assert len(asked) == 1 and asked[0].gain > 0
    assert not result.promoted
    assert "declined" in result.rounds[0].decision.reason
    assert str(open_client(tracking_uri).get_model_version_by_alias(champion, "champion").version) == "1"


def test_the_loop_waits_for_labels_given_by_people(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    oracle = Oracle(digits["oracle"])

    def person() -> None:
        with LabelStore() as store:
            done = 0
            while done < 5:
                item = store.next_item(f"{champion}-improve")
                if item is None:
                    threading.Event().wait(0.05)
                    continue
                store.label(item.id, oracle.labels[item.sample_ref], who="ana")
                done += 1

    helper = threading.Thread(target=person, daemon=True)
    helper.start()
    result = run_improve(
        champion, digits, tracking_uri, batch_size=5, labeller=WaitForPeople(timeout=60, poll=0.05)
    )
    helper.join(5)
    assert result.rounds[0].labelled == 5
    with LabelStore() as store:
        assert {s.labelled_by for s in store.items(result.queue)} == {"ana"}


def test_unlabelled_batch_times_out_keeping_what_was_labelled(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    with pytest.raises(LabellingTimeout, match="not labelled after 0 s.*scanflow label --queue"):
        run_improve(champion, digits, tracking_uri, labeller=WaitForPeople(timeout=0.2, poll=0.05))
    with LabelStore() as store:
        assert store.progress(f"{champion}-improve").queued == 30


def test_running_again_after_a_timeout_asks_the_waiting_batch_first(
    champion: str, digits: dict[str, Path], tracking_uri: str
) -> None:
    timed_out = WaitForPeople(timeout=0.2, poll=0.05)
    with pytest.raises(LabellingTimeout):
        run_improve(champion, digits, tracking_uri, labeller=timed_out, batch_size=6)
    queue = f"{champion}-improve"
    with LabelStore() as store:
        first = store.items(queue)
        store.label(first[0].id, 0, who="ana")  # a person labelled one before leaving
    said: list[str] = []
    result = run_improve(champion, digits, tracking_uri, rounds=2, batch_size=6, report=said.append)
    assert "round 1: 5 samples of batch 1 still wait for labels; asking them before picking more" in said
    with LabelStore() as store:
        batches = [sample.batch for sample in store.items(queue)]
    assert batches == [1] * 6 + [2] * 6  # round 1 finished batch 1; only round 2 picked more
    assert (result.rounds[0].queued, result.rounds[0].labelled) == (5, 6)


TRAIN_SCRIPT = """
import argparse

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import LogisticRegression

parser = argparse.ArgumentParser()
parser.add_argument("--reference")
parser.add_argument("--labelled")
parser.add_argument("--registered_model")
args = parser.parse_args()
reference, labelled = np.load(args.reference), np.load(args.labelled)
features = np.vstack([data["X"].reshape(len(data["X"]), -1) for data in (reference, labelled)])
labels = np.concatenate([reference["y"], labelled["y"]])
print(f"training on {len(labels)} samples")
model = LogisticRegression(max_iter=500).fit(features, labels)
with mlflow.start_run():
    mlflow.sklearn.log_model(
        model,
        name="model",
        registered_model_name=args.registered_model,
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
    )
"""


def write_workflow(folder: Path, reference: Path, script: str) -> Path:
    (folder / "train.py").write_text(script)
    spec = folder / "workflow.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""
            name: digits-training
            nodes:
              - executor: prepare
                function: builtins:print
                env_manager: current
              - executor: train
                file: train.py
                env_manager: current
                parameters:
                  reference: {reference}
            """
        )
    )
    return spec


def test_the_workflow_training_step_runs_with_the_labelled_file(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    trainer = WorkflowTrainer(write_workflow(tmp_path, digits["reference"], TRAIN_SCRIPT), "train")
    result = run_improve(champion, digits, tracking_uri, trainer=trainer)
    assert result.promoted
    client = open_client(tracking_uri)
    version = client.get_model_version(champion, result.champion_version)
    step_run = client.get_run(version.run_id)
    assert step_run.data.tags["scanflow.node"] == "train"
    assert step_run.data.params["labelled"] == "labelled.npz"
    log = client.download_artifacts(version.run_id, "logs")
    assert "training on 70 samples" in (Path(log) / "train.log").read_text()


def test_a_failing_training_step_reports_its_log(
    champion: str, digits: dict[str, Path], tracking_uri: str, tmp_path: Path
) -> None:
    broken = "raise SystemExit('no GPU found on this machine')\n"
    trainer = WorkflowTrainer(write_workflow(tmp_path, digits["reference"], broken), "train")
    with pytest.raises(
        TrainingError, match="step 'train' of workflow 'digits-training' did not succeed(.|\n)*no GPU"
    ):
        run_improve(champion, digits, tracking_uri, trainer=trainer)
    with LabelStore() as store:  # the labels stay, for the next try
        assert len(store.labels(f"{champion}-improve")) == 30
    client = open_client(tracking_uri)
    experiment = client.get_experiment_by_name(f"improve-{champion}").experiment_id
    statuses = {run.info.run_name: run.info.status for run in client.search_runs([experiment])}
    assert statuses == {  # every run closed, the failure marked where it happened
        f"improve-{champion}": "FAILED",
        "round-1": "FAILED",
        "select": "FINISHED",
        "label": "FINISHED",
        "train": "FAILED",
    }


def test_an_unknown_training_step_names_the_steps(tmp_path: Path, digits: dict[str, Path]) -> None:
    with pytest.raises(
        ValueError, match="no step 'trian' \\(did you mean 'train'\\?\\); its steps: prepare, train"
    ):
        WorkflowTrainer(write_workflow(tmp_path, digits["reference"], TRAIN_SCRIPT), "trian")


def test_a_missing_champion_says_how_to_set_the_alias(digits: dict[str, Path], tracking_uri: str) -> None:
    with pytest.raises(LookupError, match="no version of registered model 'nobody' with alias 'champion'"):
        run_improve("nobody", digits, tracking_uri)
