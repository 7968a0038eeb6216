"""The denoising autoencoders behind the autoencoder checker, and how they are trained.

Dense for tables, convolutional for images; both small enough to train on a
CPU in seconds. Weights travel as plain arrays (``state_arrays``), never pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scanflow.check.optional import import_optional

torch = import_optional("torch", "deep")
nn = torch.nn


class DenseAutoencoder(nn.Module):
    def __init__(self, width: int, latent: int, hidden: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, width))

    def forward(self, x: Any) -> Any:
        return self.decoder(self.encoder(x))


class ConvAutoencoder(nn.Module):
    """Two convolutions down to a latent vector and back up to the image's own size."""

    def __init__(self, channels: int, height: int, width: int, latent: int) -> None:
        super().__init__()
        small = ((height + 1) // 2, (width + 1) // 2)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * small[0] * small[1], latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 32 * small[0] * small[1]),
            nn.ReLU(),
            nn.Unflatten(1, (32, *small)),
            nn.Upsample(size=(height, width)),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, channels, 3, padding=1),
        )

    def forward(self, x: Any) -> Any:
        return self.decoder(self.encoder(x))


def build(shape: list[int], latent: int) -> Any:
    """A dense network for ``[width]``, a convolutional one for ``[channels, height, width]``."""
    if len(shape) == 1:
        return DenseAutoencoder(shape[0], latent, hidden=max(16, min(128, 2 * shape[0])))
    return ConvAutoencoder(shape[0], shape[1], shape[2], latent)


def train(
    model: Any, data: np.ndarray, epochs: int, batch_size: int, noise: float, learning_rate: float, seed: int
) -> list[float]:
    """Denoising training: reconstruct each sample from a noisy copy. Returns the loss per epoch.

    Runs on one thread: these networks are too small to gain from more, and
    threads fight over the cores with everything else running.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(model, data, epochs, batch_size, noise, learning_rate, seed)
    finally:
        torch.set_num_threads(threads)


def _train(
    model: Any, data: np.ndarray, epochs: int, batch_size: int, noise: float, learning_rate: float, seed: int
) -> list[float]:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    tensor = torch.as_tensor(data, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    losses = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(tensor), generator=generator)
        total = 0.0
        for start in range(0, len(tensor), batch_size):
            clean = tensor[order[start : start + batch_size]]
            noisy = clean + noise * torch.randn(clean.shape, generator=generator)
            loss = torch.mean((model(noisy) - clean) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(clean)
        losses.append(total / len(tensor))
    model.eval()
    return losses


def run(model: Any, data: np.ndarray, part: str = "all") -> np.ndarray:
    """Reconstructions (``part="all"``) or latent vectors (``part="encoder"``), without gradients."""
    with torch.inference_mode():
        tensor = torch.as_tensor(data, dtype=torch.float32)
        network = model.encoder if part == "encoder" else model
        return network(tensor).numpy()


def state_arrays(model: Any) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy() for name, value in model.state_dict().items()}


def load_arrays(model: Any, arrays: dict[str, np.ndarray]) -> None:
    model.load_state_dict({name: torch.as_tensor(value) for name, value in arrays.items()})
    model.eval()
