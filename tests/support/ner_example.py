"""The flagship example (``examples/ner_bert``) cut down to a run of a few minutes: what the
end-to-end tests on each runtime give its ``pipeline.Config``."""

from __future__ import annotations

#: A reduced corpus and three training steps; a gate of 0 so the tiny model still deploys.
TINY_CONFIG = {
    "train_cards": 40,
    "test_cards": 10,
    "max_length": 32,
    "hyperparameters": {"epochs": 1, "batch_size": 8, "max_steps": 3, "log_interval": 1},
    "f1_threshold": 0.0,
}
