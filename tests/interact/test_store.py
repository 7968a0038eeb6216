"""The label store keeps queues and labels in a real database, across restarts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from scanflow.interact.schema import Status
from scanflow.interact.store import Candidate, LabelStore, LabelStoreError

SOURCE = {"kind": "dataset", "uri": "/data/pool.npz"}


def candidates(*refs: str) -> list[Candidate]:
    return [
        Candidate(ref, f"hash-{ref}", score=1.0 - i / 10, reason=f"why {ref}") for i, ref in enumerate(refs)
    ]


@pytest.fixture
def store(database_url: str):  # noqa: ANN201
    with LabelStore(database_url) as opened:
        opened.create_queue("digits", source=SOURCE, classes=list(range(10)), image_shape=[8, 8])
        yield opened


def test_a_batch_is_queued_in_order_and_labelled_one_by_one(store: LabelStore) -> None:
    queued = store.enqueue("digits", candidates("a", "b", "c"), strategy="margin")
    assert [s.sample_ref for s in queued] == ["a", "b", "c"]
    assert store.next_item("digits").sample_ref == "a"

    store.label(queued[0].id, "3", who="ana")
    store.skip(queued[1].id, who="ana")
    labelled = store.item(queued[0].id)
    assert (labelled.status, labelled.label, labelled.labelled_by) == (Status.LABELLED, "3", "ana")
    assert labelled.labelled_at is not None
    assert store.next_item("digits").sample_ref == "c"
    progress = store.progress("digits")
    assert (progress.total, progress.labelled, progress.skipped, progress.queued) == (3, 1, 1, 1)
    assert store.labels("digits") == [("a", 3)]


def test_people_labelling_together_are_shown_different_samples(store: LabelStore) -> None:
    store.enqueue("digits", candidates("a", "b", "c"), strategy="margin")
    assert store.next_item("digits", who="ana").sample_ref == "a"
    assert store.next_item("digits", who="ben").sample_ref == "b"  # ana has 'a' on screen
    assert store.next_item("digits", who="ana").sample_ref == "a"  # asking again keeps it
    assert store.next_item("digits", who="cy").sample_ref == "c"
    assert store.next_item("digits", who="dee") is None  # the rest is with others
    assert store.held_by_others("digits", "dee") == 3

    store.label(store.next_item("digits", who="ben").id, 4, who="ben")
    assert store.held_by_others("digits", "dee") == 2  # a labelled sample is held by no one
    store.skip(store.next_item("digits", who="ana").id, who="ana")
    assert store.next_item("digits", who="ana") is None  # only cy's 'c' waits
    assert store.held_by_others("digits", "ana") == 1


def test_a_sample_left_on_screen_goes_to_someone_else_after_a_while(store: LabelStore) -> None:
    import datetime

    store.enqueue("digits", candidates("a", "b"), strategy="margin")
    moment = datetime.timedelta(milliseconds=50)
    assert store.next_item("digits", who="ana", hold=moment).sample_ref == "a"
    assert store.next_item("digits", who="ben").sample_ref == "b"
    time.sleep(0.1)  # ana walked away
    assert store.next_item("digits", who="cy").sample_ref == "a"


def test_people_asking_at_the_same_moment_never_get_the_same_sample(database_url: str) -> None:
    with LabelStore(database_url) as store:
        store.create_queue("digits", source=SOURCE, classes=list(range(10)))
        store.enqueue("digits", candidates(*"abcdef"), strategy="margin")
    start = threading.Barrier(6)

    def ask(person: str) -> str | None:
        with LabelStore(database_url) as own:  # each person their own process's connections
            start.wait()
            item = own.next_item("digits", who=person)
            return None if item is None else item.sample_ref

    with ThreadPoolExecutor(6) as pool:
        shown = list(pool.map(ask, [f"person{i}" for i in range(6)]))
    assert sorted(shown) == list("abcdef")


def test_samples_already_queued_are_not_asked_again(store: LabelStore) -> None:
    store.enqueue("digits", candidates("a", "b"), strategy="margin")
    again = store.enqueue("digits", candidates("b", "c"), strategy="margin")
    assert [s.sample_ref for s in again] == ["c"]
    assert again[0].batch == 2
    assert store.known_refs("digits") == {"a", "b", "c"}


def test_undo_restores_the_previous_state_step_by_step(store: LabelStore) -> None:
    a, b = store.enqueue("digits", candidates("a", "b"), strategy="margin")
    store.label(a.id, 1, who="ana")
    store.label(a.id, 7, who="ana")  # changed her mind
    store.skip(b.id, who="ana")

    assert store.undo("digits").sample_ref == "b"
    assert store.item(b.id).status is Status.QUEUED
    assert store.undo("digits").label == "1"
    undone = store.undo("digits")
    assert (undone.status, undone.label) == (Status.QUEUED, None)
    assert store.undo("digits") is None


def test_undo_only_reverts_the_labeller_who_asks(store: LabelStore) -> None:
    a, b = store.enqueue("digits", candidates("a", "b"), strategy="margin")
    store.label(a.id, 1, who="ana")
    store.label(b.id, 2, who="bo")
    assert store.undo("digits", who="ana").sample_ref == "a"
    assert store.item(b.id).label == "2"


def test_a_label_outside_the_classes_is_refused_and_changes_nothing(store: LabelStore) -> None:
    (a,) = store.enqueue("digits", candidates("a"), strategy="margin")
    with pytest.raises(LabelStoreError, match="'cat' is not a class of queue 'digits'; use one of: 0, 1, 2"):
        store.label(a.id, "cat")
    assert store.item(a.id).status is Status.QUEUED


def test_labels_used_for_training_are_frozen(store: LabelStore) -> None:
    a, b = store.enqueue("digits", candidates("a", "b"), strategy="margin")
    store.label(a.id, 4)
    assert store.mark_used("digits", ["a", "b"]) == 1  # b has no label: not used
    with pytest.raises(LabelStoreError, match="already used for training with label '4'"):
        store.label(a.id, 5)
    assert store.undo("digits") is None
    assert store.labels("digits") == [("a", 4)]
    assert store.labels("digits", include_used=False) == []


def test_a_label_racing_the_training_that_takes_the_sample_is_refused(
    store: LabelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (a,) = store.enqueue("digits", candidates("a"), strategy="margin")
    store.label(a.id, 4)
    seen_before_training = store.item(a.id)
    store.mark_used("digits", ["a"])
    monkeypatch.setattr(store, "item", lambda item_id: seen_before_training)  # read just before training
    with pytest.raises(LabelStoreError, match="used for training a moment ago"):
        store.label(a.id, 5)
    monkeypatch.undo()
    assert (store.item(a.id).status, store.item(a.id).label) == (Status.USED, "4")  # what trained stays


def test_unknown_queue_lists_the_queues_there_are(store: LabelStore) -> None:
    with pytest.raises(LabelStoreError, match="no label queue 'digit'.*queues here: digits"):
        store.queue("digit")


def test_reopening_a_queue_with_other_classes_is_refused(store: LabelStore) -> None:
    assert store.create_queue("digits", source=SOURCE, classes=list(range(10))).image_shape == [8, 8]
    with pytest.raises(LabelStoreError, match="exists with classes"):
        store.create_queue("digits", source=SOURCE, classes=["cat", "dog"])


def test_reopening_a_queue_on_other_samples_is_refused(store: LabelStore) -> None:
    store.create_queue("digits", source=SOURCE, classes=list(range(10)))
    store.enqueue("digits", candidates("a"), "margin")
    store.label(store.next_item("digits").id, 3)
    other = {"kind": "prediction_log", "url": "postgresql://ana:secret@db/serve"}
    with pytest.raises(
        LabelStoreError, match="takes its samples from .*, not postgresql://ana:\\*\\*\\*@db/serve"
    ) as error:
        store.create_queue("digits", source=other, classes=list(range(10)))
    assert "secret" not in str(error.value)
    assert store.labels("digits") == [("a", 3)]
    narrower = {**SOURCE, "label_column": "digit"}  # the same file read another way is other samples
    with pytest.raises(
        LabelStoreError, match="from /data/pool.npz, not /data/pool.npz \\(label_column=digit\\)"
    ):
        store.create_queue("digits", source=narrower, classes=list(range(10)))


def test_reopening_a_queue_with_an_image_shape_changes_only_how_it_is_shown(store: LabelStore) -> None:
    store.create_queue("q", source={"kind": "dataset", "uri": "/x.npz"}, classes=[0, 1])
    store.enqueue("q", candidates("a", "b"), "margin")
    reopened = store.create_queue(
        "q", source={"kind": "dataset", "uri": "/x.npz"}, classes=[0, 1], image_shape=(8, 8)
    )
    assert reopened.image_shape == [8, 8]
    assert store.create_queue(
        "q", source={"kind": "dataset", "uri": "/x.npz"}, classes=[0, 1]
    ).image_shape == [8, 8]
    assert store.progress("q").queued == 2
    assert store.set_image_shape("q", None).image_shape is None


def test_labels_survive_a_restart_of_the_process(database_url: str) -> None:
    """One process queues and labels, then exits; a new process finds every label."""
    script = textwrap.dedent(
        """
        import sys
        from scanflow.interact.store import Candidate, LabelStore
        store = LabelStore(sys.argv[1])
        store.create_queue("q", source={"kind": "dataset", "uri": "/x.npz"}, classes=["a", "b"])
        items = store.enqueue("q", [Candidate(f"s{i}", f"h{i}", 1.0) for i in range(3)], "margin")
        store.label(items[0].id, "b", who="ana")
        store.skip(items[1].id, who="ana")
        """
    )
    subprocess.run([sys.executable, "-c", script, database_url], check=True, timeout=60)
    with LabelStore(database_url) as reopened:
        assert reopened.labels("q") == [("s0", "b")]
        assert reopened.progress("q").skipped == 1
        assert reopened.next_item("q").sample_ref == "s2"
        assert reopened.queue("q").source == {"kind": "dataset", "uri": "/x.npz"}


def test_default_store_lives_in_the_project_folder(project) -> None:  # noqa: ANN001
    with LabelStore() as store:
        store.create_queue("q", source=SOURCE, classes=[0, 1])
    assert (project / ".scanflow" / "labels.db").is_file()


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(LabelStoreError, match="cannot open the label store postgresql"):
        LabelStore("postgresql://nobody:secret@127.0.0.1:1/none")


def test_several_processes_may_open_a_new_store_at_once(tmp_path) -> None:  # noqa: ANN001
    """The labelling page and the improve loop often start together on a store not created yet."""
    import threading

    failures: list[Exception] = []

    def open_store(url: str) -> None:
        try:
            LabelStore(url).close()
        except Exception as error:  # collected: a thread's exception would not fail the test
            failures.append(error)

    for trial in range(10):
        url = f"sqlite:///{tmp_path / f'new-{trial}.db'}"
        threads = [threading.Thread(target=open_store, args=(url,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
