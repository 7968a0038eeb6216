"""The labelling page, in real headless Chromium against a real uvicorn server; and the terminal."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from rich.console import Console
from sklearn.datasets import load_digits, load_wine

from scanflow.interact.render import encode_png
from scanflow.interact.schema import Status
from scanflow.interact.session import LabellingSession
from scanflow.interact.sources import open_source, write_dataset
from scanflow.interact.store import Candidate, LabelStore
from scanflow.interact.ui.app import create_app
from scanflow.interact.ui.terminal import label_in_terminal
from tests.interact.conftest import unavailable

CHROMIUM = os.environ.get("SCANFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def queue_samples(store: LabelStore, path: Path, count: int, classes: list) -> list:  # noqa: ANN001
    """Create queue 'q' on the dataset at ``path`` and queue its first ``count`` samples."""
    samples = open_source(path).load()
    store.create_queue(
        "q",
        source=open_source(path).spec(),
        classes=classes,
        image_shape=samples.image_shape,
        model="digits@champion",
    )
    picks = [
        Candidate(ref, "h", 1.0 - i / 100, f"torn between '{i % 10}' and '8'", str(i % 10), 0.5)
        for i, ref in enumerate(samples.ids[:count])
    ]
    return store.enqueue("q", picks, strategy="hybrid")


@pytest.fixture
def digits_queue(tmp_path: Path) -> Iterator[tuple[LabelStore, list]]:
    images, labels = load_digits(return_X_y=True)
    path = write_dataset(
        tmp_path / "pool.npz", images[:20].reshape(-1, 8, 8), ids=[f"d{i}" for i in range(20)]
    )
    with LabelStore(f"sqlite:///{tmp_path / 'labels.db'}") as store:
        yield store, queue_samples(store, path, 5, list(range(10)))


class Server:
    """The real app on a real uvicorn server, in a thread, on a free loopback port."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            threading.Event().wait(0.05)
        raise RuntimeError("the labelling server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def serve(app) -> Iterator[httpx.Client]:  # noqa: ANN001
    """``app`` on a real server, with an HTTP client that keeps its cookies."""
    with Server(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def chromium() -> Iterator:  # noqa: ANN201
    """Headless Chromium; each person a context of their own (own cookies and local storage)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM}: install the Debian package 'chromium'")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: scripts/setup-env dev")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium) -> Iterator:  # noqa: ANN001, ANN201
    context = chromium.new_context()
    yield context
    context.close()


@pytest.mark.browser
def test_a_person_labels_a_batch_with_keys_and_clicks(browser, digits_queue) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    store, queued = digits_queue
    with Server(create_app(LabellingSession(store, "q", who="ana"))) as server:
        page = browser.new_page()
        page.goto(server.url)
        expect(page.get_by_test_id("progress-text")).to_have_text(
            "Batch 1: 0 of 5 done (0 labelled, 0 skipped)"
        )
        expect(page.get_by_test_id("prediction")).to_have_text("0 (50% confident)")
        expect(page.get_by_test_id("reason")).to_contain_text("torn between '0' and '8'")
        image = page.get_by_test_id("sample").locator("img")
        expect(image).to_be_visible()
        assert page.evaluate("document.querySelector('#sample img').naturalWidth") >= 160

        page.keyboard.press("3")  # a digit key labels
        expect(page.get_by_test_id("progress-text")).to_contain_text("1 of 5 done")
        page.get_by_role("button", name="7", exact=True).click()  # so does a click
        expect(page.get_by_test_id("progress-text")).to_contain_text("2 of 5 done")
        page.keyboard.press("s")  # skip
        expect(page.get_by_test_id("progress-text")).to_have_text(
            "Batch 1: 3 of 5 done (2 labelled, 1 skipped)"
        )
        page.keyboard.press("u")  # undo the skip: the same sample comes back
        expect(page.get_by_test_id("progress-text")).to_contain_text("2 of 5 done")
        expect(page.locator("#sample-ref")).to_have_text("d2")
        page.get_by_label("label").fill("12")  # not a class: refused, nothing lost
        page.get_by_label("label").press("Enter")
        expect(page.locator("#message")).to_contain_text("'12' is not a class of queue 'q'")
        page.get_by_label("label").fill("5")
        page.get_by_label("label").press("Enter")
        page.keyboard.press("1")
        page.keyboard.press("s")
        expect(page.get_by_test_id("finished")).to_be_visible()
        expect(page.get_by_test_id("progress-text")).to_have_text(
            "Batch 1: 5 of 5 done (4 labelled, 1 skipped)"
        )
        assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "5"

    assert store.labels("q") == [("d0", 3), ("d1", 7), ("d2", 5), ("d3", 1)]
    assert store.item(queued[4].id).status is Status.SKIPPED
    assert {s.labelled_by for s in store.items("q")} == {"ana"}


@pytest.mark.browser
def test_an_earlier_answer_is_changed_from_the_recent_list(browser, digits_queue) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    store, queued = digits_queue
    store.label(queued[4].id, 9, who="bo")  # someone else's answer is not in ana's list
    store.mark_used("q", ["d4"])
    with Server(create_app(LabellingSession(store, "q", who="ana"))) as server:
        page = browser.new_page()
        page.goto(server.url)
        expect(page.locator("#sample-ref")).to_have_text("d0")
        for key in "37s":
            page.keyboard.press(key)
        recent = page.get_by_role("list", name="your last answers")
        expect(recent.get_by_role("button")).to_have_text(["d2: skipped", "d1: 7", "d0: 3"])
        recent.get_by_role("button", name="d0: 3").click()  # it was an 8
        expect(page.locator("#sample-ref")).to_have_text("d0")
        expect(page.locator("#message")).to_contain_text("Answer d0 again (it was 3)")
        page.keyboard.press("8")
        expect(page.locator("#sample-ref")).to_have_text("d3")  # back to where ana was
        expect(recent.get_by_role("button")).to_have_text(["d0: 8", "d2: skipped", "d1: 7"])

    assert store.labels("q") == [("d0", 8), ("d1", 7), ("d4", 9)]


@pytest.mark.browser
def test_a_team_sharing_one_page_is_shown_different_samples(chromium, digits_queue) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    store, _ = digits_queue
    app = create_app(LabellingSession(store, "q", who="server-user"), token="team-token")
    with Server(app) as server:
        ana, ben = (chromium.new_context().new_page() for _ in range(2))
        for page, name in ((ana, "ana"), (ben, "Benoît")):
            page.goto(f"{server.url}?token=team-token")
            expect(page.locator("#message")).to_contain_text("Type your name")  # asked before anything
            page.get_by_label("your name").fill(name)
            page.get_by_label("your name").press("Enter")
            expect(page.locator("#who")).to_have_text(f"labelling as {name}")
        expect(ana.locator("#sample-ref")).to_have_text("d0")
        expect(ben.locator("#sample-ref")).to_have_text("d1")  # d0 is on ana's screen
        ana.keyboard.press("3")
        expect(ana.locator("#sample-ref")).to_have_text("d2")
        for key in "12":
            ben.keyboard.press(key)
        expect(ben.locator("#sample-ref")).to_have_text("d4")  # ben labelled d1 and d3
        ben.keyboard.press("4")
        expect(ben.get_by_test_id("finished")).to_contain_text("1 more is with other labellers")
        ben.keyboard.press("u")  # ben's undo takes back ben's last label, not ana's
        expect(ben.locator("#sample-ref")).to_have_text("d4")
        ana.reload()  # the name is remembered
        expect(ana.locator("#who")).to_have_text("labelling as ana")
        expect(ana.locator("#sample-ref")).to_have_text("d2")
        ana.close(run_before_unload=True)  # ana leaves: d2 is free for the others at once
        for _ in range(50):
            if store.held_by_others("q", "cy") == 1:  # only ben's d4 is held now
                break
            threading.Event().wait(0.1)
        assert store.next_item("q", who="cy").sample_ref == "d2"

    assert [(s.sample_ref, s.label, s.labelled_by) for s in store.items("q", status=Status.LABELLED)] == [
        ("d0", "3", "ana"),
        ("d1", "1", "Benoît"),
        ("d3", "2", "Benoît"),
    ]


@pytest.mark.browser
def test_tabular_samples_show_as_rows_and_new_batches_appear(browser, tmp_path: Path) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    data = load_wine()
    path = write_dataset(
        tmp_path / "wine.csv",
        data.data[:6],
        ids=[f"w{i}" for i in range(6)],
        feature_names=list(data.feature_names),
    )
    with LabelStore(f"sqlite:///{tmp_path / 'labels.db'}") as store:
        store.create_queue("q", source=open_source(path).spec(), classes=["barolo", "grignolino", "barbera"])
        with Server(create_app(LabellingSession(store, "q"))) as server:
            page = browser.new_page()
            page.goto(server.url)
            expect(page.get_by_test_id("finished")).to_be_visible()
            store.enqueue(
                "q", [Candidate("w4", "h", 0.9, "far from everything labelled")], strategy="diversity"
            )
            expect(page.get_by_test_id("sample")).to_contain_text("alcohol", timeout=10_000)  # polled in
            expect(page.get_by_test_id("sample")).to_contain_text(f"{data.data[4][0]:.6g}")
            page.keyboard.press("1")  # the second class: keys stand for positions when classes are words
            expect(page.get_by_test_id("finished")).to_be_visible()
        assert store.labels("q") == [("w4", "grignolino")]


def test_labels_survive_a_restart_of_the_labelling_server(digits_queue) -> None:  # noqa: ANN001
    store, queued = digits_queue
    with serve(create_app(LabellingSession(store, "q", who="ana"))) as client:
        assert client.post(f"/api/items/{queued[0].id}/label", json={"label": "4"}).status_code == 200
    reopened = LabelStore(store.url)
    with serve(create_app(LabellingSession(reopened, "q", who="ana"))) as client:
        state = client.get("/api/next").json()
        assert state["item"]["sample"] == "d1"
        assert state["progress"]["labelled"] == 1
        assert client.post("/api/undo").json()["undone"]["sample"] == "d0", (
            "undo reaches back across restarts"
        )
    reopened.close()


def test_an_exposed_server_needs_its_token(digits_queue) -> None:  # noqa: ANN001
    store, _ = digits_queue
    with serve(create_app(LabellingSession(store, "q"), token="s3cret")) as client:
        assert client.get("/api/next").status_code == 401
        assert client.get("/?token=s3cret").status_code == 200
        assert client.get("/api/next").status_code == 200, (
            "the cookie set by the first visit carries the token"
        )


def test_a_sample_of_another_queue_is_not_found(digits_queue) -> None:  # noqa: ANN001
    store, _ = digits_queue
    with serve(create_app(LabellingSession(store, "q"))) as client:
        response = client.post("/api/items/999/label", json={"label": "1"})
    assert response.status_code == 404 and "no queued sample with id 999" in response.json()["detail"]


def test_png_encoding_is_a_valid_image() -> None:
    import io

    from PIL import Image

    image = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(image))))
    np.testing.assert_array_equal(decoded, image)


def test_the_terminal_labeller_labels_skips_and_undoes(digits_queue) -> None:  # noqa: ANN001
    store, queued = digits_queue
    answers = iter(["3", "s", "u", "cat", "8", "q"])
    console = Console(record=True, width=100)
    done = label_in_terminal(
        LabellingSession(store, "q", who="bo"), console=console, ask=lambda _: next(answers)
    )
    screen = console.export_text()
    assert "model says 0 (50% confident)" in screen
    assert "@@" in screen or "##" in screen, "the digit is drawn in characters"
    assert "'cat' is not a class of queue 'q'" in screen
    assert store.labels("q") == [("d0", 3), ("d1", 8)]
    assert done == 2
    assert store.next_item("q", who="cy").sample_ref == "d2"  # bo quit: the sample bo saw is free at once


def test_label_serves_the_page_over_https_with_the_given_certificate(digits_queue, tmp_path: Path) -> None:  # noqa: ANN001
    """A team labelling across a network: the page, its token and the labels travel encrypted."""
    import ssl
    import subprocess
    import sys
    import time

    from tracker_server import free_port, self_signed

    cert, key = self_signed(tmp_path)
    port = free_port()
    store, _ = digits_queue
    command = [sys.executable, "-m", "scanflow.cli", "label", "--queue", "q", "--store", store.url]
    command += ["--no-browser", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "Labelling" not in line and time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
        assert f"at https://127.0.0.1:{port}/" in line, line
        trusted = ssl.create_default_context(cafile=cert)
        page = httpx.get(f"https://127.0.0.1:{port}/", verify=trusted, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=30)
