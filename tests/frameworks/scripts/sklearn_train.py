"""A scikit-learn script-mode training script, written the way AWS's samples write them.

It reads its channels and model folder from the SM_* variables the training toolkit sets,
takes hyperparameters as command-line arguments, saves a joblib model and defines
``model_fn`` so the same file serves the model.
"""

import argparse
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--regularization", type=float, default=1.0)
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    args = parser.parse_args()

    data = np.loadtxt(os.path.join(args.train, "train.csv"), delimiter=",")
    labels, features = data[:, 0], data[:, 1:]
    clf = LogisticRegression(C=args.regularization).fit(features, labels)
    print(f"train accuracy: {clf.score(features, labels):.4f}")
    joblib.dump(clf, os.path.join(args.model_dir, "model.joblib"))


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
