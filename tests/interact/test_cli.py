"""`scanflow label` and `scanflow improve`, as a user types them."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.interact.sources import write_dataset
from scanflow.interact.store import Candidate, LabelStore

runner = CliRunner()


def flat(output: str) -> str:
    """The output without the line breaks the console adds at its width."""
    return " ".join(output.split())


def test_label_in_the_terminal_queues_a_batch_then_saves_each_answer(tmp_path: Path) -> None:
    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(
        tmp_path / "pool.npz", images[:30].reshape(-1, 8, 8), ids=[f"d{i}" for i in range(30)]
    )
    result = runner.invoke(
        app,
        ["label", "--queue", "q", "--source", str(pool), "--classes", ",".join("0123456789"),
         "--strategy", "diversity", "--batch", "3", "--terminal", "--who", "ana"],
        input="4\ns\nq\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "queued 3 of 30 samples (diversity) in 'q'" in result.output
    with LabelStore() as store:
        assert [label for _, label in store.labels("q")] == [4]  # numeric classes are numbers
        assert store.progress("q").skipped == 1
        assert store.progress("q").queued == 1


def test_flat_pixels_are_shown_as_images_with_image_shape(tmp_path: Path) -> None:
    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(tmp_path / "pool.npz", images[:20], ids=[f"d{i}" for i in range(20)])  # 64 columns
    queue = ["label", "--queue", "q", "--classes", ",".join("0123456789"), "--terminal"]
    as_rows = runner.invoke(app, [*queue, "--source", str(pool), "-s", "diversity", "-n", "2"], input="q\n")
    assert as_rows.exit_code == 0, as_rows.output
    assert " x63 " in as_rows.output and "@@" not in as_rows.output  # a table of 64 values

    as_images = runner.invoke(app, [*queue, "--image-shape", "8x8"], input="q\n")  # the queue keeps it
    assert as_images.exit_code == 0, as_images.output
    assert "@@" in as_images.output and " x63 " not in as_images.output  # 8 rows of shades
    with LabelStore() as store:
        assert store.queue("q").image_shape == [8, 8]


@pytest.mark.parametrize(
    ("shape", "message"),
    [("8y8", "'8y8' is not a shape: give HEIGHTxWIDTH"), ("7x7", "image shape 7x7 holds 49 values but each"
     " sample has 64")],
)  # fmt: skip
def test_a_wrong_image_shape_is_a_clear_error(tmp_path: Path, shape: str, message: str) -> None:
    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(tmp_path / "pool.npz", images[:20])
    result = runner.invoke(
        app,
        [
            "label",
            "--queue",
            "q",
            "--source",
            str(pool),
            "--classes",
            "0,1",
            "--image-shape",
            shape,
            "--terminal",
        ],
    )
    assert result.exit_code != 0
    assert message in flat(result.output)
    with LabelStore() as store:
        assert store.find_queue("q") is None  # refused before anything was queued


def test_labels_lists_queues_and_exports_what_people_labelled(tmp_path: Path, tracking_uri: str) -> None:
    from scanflow.interact.sources import open_source
    from scanflow.track.store import open_client

    assert "No label queue yet" in runner.invoke(app, ["labels"]).output
    for looking in (["labels", "show", "digits"], ["labels", "export", "digits", "x.npz"]):
        refused = runner.invoke(app, looking)
        assert refused.exit_code != 0
        assert "no label store at sqlite:///" in flat(refused.output), refused.output
    assert "--source DATA` starts one" in flat(
        runner.invoke(app, ["label", "-q", "digits", "--terminal"]).output
    )
    assert not Path(".scanflow/labels.db").exists()  # looking creates nothing
    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(tmp_path / "pool.npz", images[:30], ids=[f"d{i}" for i in range(30)])
    queued = ["label", "-q", "digits", "--source", str(pool), "--classes", ",".join("0123456789")]
    labelled = runner.invoke(
        app, [*queued, "-s", "random", "-n", "4", "--image-shape", "8x8", "--terminal"], input="7\n1\ns\nq\n"
    )
    assert labelled.exit_code == 0, labelled.output

    listed = runner.invoke(app, ["labels"])
    assert listed.exit_code == 0, listed.output
    rows = table_rows(listed.output)
    assert rows[0][:5] == ["digits", "1", "2", "1", "0"]  # queued, labelled, skipped, used
    assert pool.parent == Path.cwd() and rows[0][5] == "pool.npz", "a source here is shown relative"
    as_json = json.loads(runner.invoke(app, ["labels", "--json"]).stdout)
    assert as_json == [
        {"queue": "digits", "queued": 1, "labelled": 2, "skipped": 1, "used": 0, "source": str(pool)}
    ]

    exported = runner.invoke(
        app,
        ["labels", "export", "digits", str(tmp_path / "out.npz"), "--track", "--tracking-uri", tracking_uri],
    )
    assert exported.exit_code == 0, exported.output
    assert "wrote 2 labelled samples of 'digits'" in flat(exported.output)
    artifact = flat(exported.output).split("tracked as ")[1].strip()
    tracked = open_client(tracking_uri).get_run(artifact.split("/")[1])
    assert [d.dataset.name for d in tracked.inputs.dataset_inputs] == ["out"]  # listed under "Datasets"
    samples = open_source(artifact, tracking_uri=tracking_uri).load()
    assert sorted(samples.targets.tolist()) == [1, 7]  # labels stay as the classes people chose
    assert samples.image_shape == (8, 8)  # the queue's image shape travels with the file


def test_labels_show_tells_each_batch_and_each_person_apart() -> None:
    with LabelStore() as store:
        store.create_queue(
            "q", source={"kind": "dataset", "uri": "/data/x.npz"}, classes=[0, 1], model="m@champion"
        )
        first = store.enqueue("q", [Candidate(f"a{i}", f"h{i}", 1.0) for i in range(3)], "margin")
        store.enqueue("q", [Candidate("b0", "hb", 1.0)], "margin")
        store.label(first[0].id, 1, who="ana")
        store.label(first[1].id, 0, who="ben")
        store.skip(first[2].id, who="ben")
        store.mark_used("q", ["a0"])
    shown = runner.invoke(app, ["labels", "show", "q"])
    assert shown.exit_code == 0, shown.output
    assert "samples from /data/x.npz" in shown.output and "classes: 0, 1; model m@champion" in shown.output
    tables, per_class = shown.output.split("Labels per class")
    rows = {cells[0]: cells[1:] for cells in table_rows(tables)}
    assert rows["1"] == ["0", "1", "1", "1"]  # batch 1: queued, labelled, skipped, used
    assert rows["2"] == ["1", "0", "0", "0"]
    assert rows["ana"] == ["0", "0", "1"] and rows["ben"] == ["1", "1", "0"]  # labelled, skipped, used
    assert table_rows(per_class) == [["0", "1", "0"], ["1", "0", "1"]]  # class: labelled, used

    document = json.loads(runner.invoke(app, ["labels", "show", "q", "--json"]).stdout)
    assert (document["source"], document["classes"], document["model"]) == (
        "/data/x.npz",
        [0, 1],
        "m@champion",
    )
    assert document["batches"][0] == {"batch": 1, "queued": 0, "labelled": 1, "skipped": 1, "used": 1}
    assert {row["who"]: row["skipped"] for row in document["labellers"]} == {"ana": 0, "ben": 1}
    assert [row["class"] for row in document["labels_per_class"]] == [0, 1]


def table_rows(output: str) -> list[list[str]]:
    """The cells of every row of the tables a command printed."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_labels_of_data_replaced_since_are_refused_not_trained_on(tmp_path: Path) -> None:
    images, _ = load_digits(return_X_y=True)
    ids = [f"d{i}" for i in range(20)]
    pool = write_dataset(tmp_path / "pool.npz", images[:20], ids=ids)
    queued = ["label", "-q", "q", "--source", str(pool), "--classes", "0,1,2,3,4,5,6,7,8,9", "-s", "random"]
    assert runner.invoke(app, [*queued, "-n", "2", "--terminal"], input="1\n2\n").exit_code == 0
    write_dataset(pool, images[20:40], ids=ids)  # someone replaced the file, ids and all

    result = runner.invoke(app, ["labels", "export", "q", str(tmp_path / "out.npz")])
    assert result.exit_code == 1
    assert "2 labelled samples of queue 'q' hold other values in its source" in flat(result.output)
    assert not (tmp_path / "out.npz").exists()
    with LabelStore() as store:
        assert len(store.labels("q")) == 2  # nothing lost: restoring the file makes them usable again


def test_labelling_samples_gone_from_a_replaced_file_says_how_to_go_on(tmp_path: Path) -> None:
    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(tmp_path / "pool.npz", images[:20])  # no ids: content hashes
    queued = ["label", "-q", "q", "--source", str(pool), "--classes", "0,1,2,3,4,5,6,7,8,9", "-s", "random"]
    assert runner.invoke(app, [*queued, "-n", "2", "--terminal"], input="q\n").exit_code == 0
    write_dataset(pool, images[20:40])  # other samples: the queued hashes match no row

    result = runner.invoke(app, ["label", "-q", "q", "--terminal"], input="q\n")
    assert result.exit_code == 1
    assert "is not in the queue's data any more (was the file replaced?)" in flat(result.output)
    assert "put the data the queue was made from back" in flat(result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    with LabelStore() as store:
        assert store.progress("q").queued == 2  # nothing skipped or lost meanwhile


def test_a_tracked_export_is_a_source_to_label_from(tmp_path: Path, tracking: str) -> None:
    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(tmp_path / "pool.npz", images[:20], ids=[f"d{i}" for i in range(20)])
    classes = ["--classes", ",".join("0123456789"), "-s", "random", "--terminal"]
    first = runner.invoke(
        app, ["label", "-q", "first", "--source", str(pool), "-n", "2", *classes], input="1\n2\n"
    )
    assert first.exit_code == 0, first.output
    exported = runner.invoke(app, ["labels", "export", "first", str(tmp_path / "first.npz"), "--track"])
    artifact = flat(exported.output).split("tracked as ")[1].strip()  # in the project's embedded tracker

    again = runner.invoke(
        app, ["label", "-q", "again", "--source", artifact, "-n", "1", *classes], input="q\n"
    )
    assert again.exit_code == 0, again.output
    assert "queued 1 of 2 samples (random) in 'again'" in flat(again.output)


def test_exporting_a_queue_without_labels_says_how_to_label(tmp_path: Path) -> None:
    with LabelStore() as store:
        store.create_queue("empty", source={"kind": "dataset", "uri": "/x.npz"}, classes=[0, 1])
    result = runner.invoke(app, ["labels", "export", "empty", str(tmp_path / "out.npz")])
    assert result.exit_code == 1
    assert "queue 'empty' has no labels yet" in flat(result.output)
    assert not (tmp_path / "out.npz").exists()


def test_labelling_on_a_taken_port_says_so_before_queueing(tmp_path: Path) -> None:
    import socket

    images, _ = load_digits(return_X_y=True)
    pool = write_dataset(tmp_path / "pool.npz", images[:20])
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        queued = ["label", "-q", "q", "--source", str(pool), "--classes", "0,1"]
        result = runner.invoke(app, [*queued, "--port", str(port), "--no-browser"])
    assert result.exit_code == 1
    taken = f"port {port} on 127.0.0.1 is taken: choose another with --port, or label with --terminal"
    assert taken in flat(result.output)
    with LabelStore() as store:
        assert store.queue_names() == [], "nothing was queued"


def test_label_an_unknown_queue_lists_the_known_ones() -> None:
    with LabelStore() as store:
        store.create_queue("digits", source={"kind": "dataset", "uri": "/x.npz"}, classes=[0, 1])
    result = runner.invoke(app, ["label", "--queue", "digts", "--terminal"])
    assert result.exit_code == 2
    assert "no label queue 'digts'" in flat(result.output) and "queues here: digits" in flat(result.output)


@pytest.mark.parametrize(
    "url, words",
    [
        ("labels.db", "'labels.db' is not a database URL: use sqlite:///path/to/file.db or postgresql://"),
        ("mysql://me@db/labels", "SQLite or PostgreSQL, not mysql"),
    ],
)
def test_a_store_url_scanflow_cannot_open_is_named_with_the_forms_it_takes(url: str, words: str) -> None:
    result = runner.invoke(app, ["labels", "--store", url])
    assert result.exit_code == 2 and words in flat(result.output), result.output


def test_improve_with_an_oracle_promotes_and_says_so(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    from scanflow.interact.models import register_model
    from scanflow.track.store import open_client

    images, labels = load_digits(return_X_y=True)
    ids = [f"d{i}" for i in range(len(labels))]
    # The champion never saw an 8 or a 9; the pool has them, so 20 well-chosen labels
    # help by a wide margin whatever the exact picks (a balanced start could tie).
    known = np.flatnonzero(labels[:60] < 8)[:30]
    write_dataset(tmp_path / "reference.npz", images[known], labels[known], [ids[i] for i in known])
    write_dataset(tmp_path / "holdout.npz", images[30:330], labels[30:330], ids[30:330])
    write_dataset(tmp_path / "oracle.npz", images[330:900], labels[330:900], ids[330:900])
    write_dataset(tmp_path / "pool.npz", images[330:900], ids=ids[330:900])
    (tmp_path / "fitting.py").write_text(
        textwrap.dedent(
            """
            from sklearn.linear_model import LogisticRegression

            def fit(features, labels):
                return LogisticRegression(max_iter=500).fit(features, labels)
            """
        )
    )
    monkeypatch.setattr(sys, "path", list(sys.path))  # fitting.py is found in the project folder
    client = open_client(tracking_uri)
    experiment = client.create_experiment("cli-train", artifact_location=(tmp_path / "artifacts").as_uri())
    run = client.create_run(experiment)
    model = LogisticRegression(max_iter=500).fit(images[known], labels[known])
    client.set_registered_model_alias(
        "cli-digits", "champion", register_model(client, run.info.run_id, model, "cli-digits")
    )

    result = runner.invoke(
        app,
        ["improve", "cli-digits", "--pool", "pool.npz", "--holdout", "holdout.npz",
         "--reference", "reference.npz", "--fit", "fitting:fit", "--oracle", "oracle.npz", "--batch", "20",
         "--seed", "0", "--tracking-uri", tracking_uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "round 1: hybrid picked 20 of 570 samples" in result.output
    assert "cli-digits@champion: promoted v2" in result.output
    assert np.isclose(float(client.get_model_version_by_alias("cli-digits", "champion").version), 2)


def test_improve_approve_without_a_terminal_is_refused_before_any_work() -> None:
    result = runner.invoke(
        app, ["improve", "m", "--pool", "p.npz", "--holdout", "h.npz", "--fit", "x:fit", "--approve"]
    )
    assert result.exit_code == 2
    assert "--approve asks for a yes in this terminal, but the input is not one" in flat(result.output)
    assert not Path(".scanflow/labels.db").exists()


def test_improve_without_a_trainer_says_what_to_give() -> None:
    result = runner.invoke(app, ["improve", "m", "--pool", "p.npz", "--holdout", "h.npz"])
    assert result.exit_code == 2
    assert "give the trainer: --workflow FILE --step NAME, or --fit pkg.module:function" in flat(
        result.output
    )
