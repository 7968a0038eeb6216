"""Load scikit-learn's digits (8x8 images of handwritten digits) into the data directory."""

import numpy as np
from sklearn.datasets import load_digits

import scanflow

digits = load_digits()
np.savez_compressed("digits.npz", X=digits.data, y=digits.target)
scanflow.log_param("samples", len(digits.target))
print(f"saved {digits.data.shape[0]} images of {digits.data.shape[1]} pixels to digits.npz")
