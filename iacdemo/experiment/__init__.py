"""The experiment: corpus slice -> CPT -> measurements of every system -> a report folder.

`python -m train.experiment experiments/NAME.toml` runs it (see `pipeline.run_experiment`).
"""
