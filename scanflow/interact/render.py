"""How a queued sample is shown to a person: an image (PNG, or text shades) or a table row.

The web page and the terminal labeller show the same things, built here: the
sample's values, its image when the queue's samples are images, the model's
prediction and confidence, and why the strategy picked it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from scanflow.interact.sources import Samples
from scanflow.interact.store import Queue, QueuedSample

_SHADES = " .:-=+*#%@"
MIN_IMAGE_SIDE = 160  # pixels: small images (8x8 digits) are scaled up, each pixel a sharp square


@dataclass(frozen=True)
class SampleView:
    """Everything a labeller sees about one sample."""

    item: QueuedSample
    values: np.ndarray  # the sample's features, flat
    image_shape: tuple[int, ...] | None
    feature_names: list[str]

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None

    def image(self) -> np.ndarray:
        """The sample as an image of 0-255 values (height, width[, channels])."""
        assert self.image_shape is not None
        image = self.values.reshape(self.image_shape).astype(float)
        low, high = float(image.min()), float(image.max())
        scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
        return np.round(scaled * 255).astype(np.uint8)

    def png(self) -> bytes:
        image = self.image()
        factor = max(1, -(-MIN_IMAGE_SIDE // max(image.shape[:2])))
        return encode_png(image.repeat(factor, axis=0).repeat(factor, axis=1))

    def text_image(self) -> str:
        """The image in characters, darker pixels as denser shades, two characters a pixel."""
        image = self.image()
        if image.ndim == 3:
            image = image.mean(axis=2)
        steps = len(_SHADES) - 1
        return "\n".join("".join(_SHADES[round(v / 255 * steps)] * 2 for v in row) for row in image)

    def rows(self) -> list[tuple[str, str]]:
        """(feature name, value) pairs for a tabular sample."""
        return [(name, _number(v)) for name, v in zip(self.feature_names, self.values, strict=False)]

    def to_json(self) -> dict[str, Any]:
        item = self.item
        return {
            "id": item.id,
            "sample": item.sample_ref,
            "batch": item.batch,
            "strategy": item.strategy,
            "score": item.score,
            "reason": item.reason,
            "prediction": item.prediction,
            "confidence": item.confidence,
            "status": item.status.value,
            "label": item.label,
            "kind": "image" if self.is_image else "table",
            "image_url": f"api/items/{item.id}/image.png" if self.is_image else None,
            "rows": None if self.is_image else [{"name": n, "value": v} for n, v in self.rows()],
        }


def view_of(item: QueuedSample, queue: Queue, samples: Samples) -> SampleView:
    """The view of ``item``, with its values looked up in the queue's loaded ``samples``."""
    values = samples.features[samples.positions([item.sample_ref])[0]]
    shape = tuple(queue.image_shape) if queue.image_shape else samples.image_shape
    names = queue.feature_names or samples.feature_names or [f"x{i}" for i in range(len(values))]
    return SampleView(item, values, tuple(shape) if shape else None, list(names))


def _number(value: float) -> str:
    return f"{value:.6g}"


def encode_png(image: np.ndarray) -> bytes:
    """An 8-bit grayscale (h, w) or RGB (h, w, 3) image as PNG bytes (standard library only)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 2:
        colour = 0
    elif image.ndim == 3 and image.shape[2] == 3:
        colour = 2
    else:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG: give (h, w) or (h, w, 3)")
    height, width = image.shape[:2]
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))  # filter 0 on each line

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
