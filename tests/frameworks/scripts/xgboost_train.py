"""An XGBoost script-mode script (the ``XGBoost(entry_point=...)`` framework estimator): CSV
from the ``train`` channel with the label first, booster parameters as arguments, the model
saved where the inference container's ``model_fn`` finds it."""

import argparse
import os

import numpy as np
import xgboost as xgb

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int, default=20)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--eta", type=float, default=0.3)
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    args = parser.parse_args()

    data = np.loadtxt(os.path.join(args.train, "train.csv"), delimiter=",", ndmin=2)
    dtrain = xgb.DMatrix(data[:, 1:], label=data[:, 0])
    params = {"max_depth": args.max_depth, "eta": args.eta, "objective": "binary:logistic"}
    booster = xgb.train(params, dtrain, num_boost_round=args.num_round)
    error = float(np.mean((booster.predict(dtrain) > 0.5) != data[:, 0]))
    print(f"train error: {error:.4f}")
    booster.save_model(os.path.join(args.model_dir, "xgboost-model.json"))


def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model.json"))
    return booster
