"""A processing script as SKLearnProcessor runs it: container paths, inputs in, splits out."""

import os

import numpy as np
from sklearn.model_selection import train_test_split

base = "/opt/ml/processing"
data = np.loadtxt(os.path.join(base, "input/raw/data.csv"), delimiter=",")
train, test = train_test_split(data, test_size=0.25, random_state=0)
for name, part in (("train", train), ("test", test)):
    os.makedirs(os.path.join(base, name), exist_ok=True)
    np.savetxt(os.path.join(base, name, f"{name}.csv"), part, delimiter=",", fmt="%.5f")
print(f"split {len(data)} rows into {len(train)} train and {len(test)} test")
