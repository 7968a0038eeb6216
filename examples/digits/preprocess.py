"""Split the digits into train and test sets and scale pixels to [0, 1]."""

import argparse

import numpy as np
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--test_size", type=float, default=0.25)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

data = np.load("digits.npz")
X = data["X"] / 16.0  # pixels are 0..16
X_train, X_test, y_train, y_test = train_test_split(
    X, data["y"], test_size=args.test_size, random_state=args.seed, stratify=data["y"]
)
np.savez_compressed("train.npz", X=X_train, y=y_train)
np.savez_compressed("test.npz", X=X_test, y=y_test)
print(f"train: {len(y_train)} images, test: {len(y_test)} images")
