"""The scikit-learn objective of custom_objective.py, driven from your own script with the
Python client instead of `hpsearch worker --objective`.

    hpsearch serve &                      # or point HPSEARCH_SERVER at a running server
    python examples/sdk_sklearn.py --trials 10

It creates the study in custom_objective.yaml (or continues `--study ID`), then claims
trials one after another, trains each one epoch at a time and reports every epoch; the
server prunes the poor ones and refines the ranges stage by stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

import hpsearch

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="default: HPSEARCH_SERVER or http://127.0.0.1:8000")
    parser.add_argument("--study", type=int, help="continue this study instead of creating one")
    parser.add_argument("--trials", type=int, default=None, help="stop after this many trials")
    args = parser.parse_args()

    client = hpsearch.connect(args.server)
    if args.study is None:
        study = client.create_study(Path(__file__).with_name("custom_objective.yaml"))
    else:
        study = client.study(args.study)
    print(f"study {study.id}")

    for trial in study.trials(max_trials=args.trials):
        with trial:  # an exception here fails this trial with its traceback
            p = trial.params
            model = SGDClassifier(alpha=p["reg"], learning_rate="constant",
                                  eta0=p["learning_rate"], random_state=trial.seed)
            for epoch in range(1, trial.epochs + 1):
                model.partial_fit(X_train, y_train, classes=np.arange(10))
                accuracy = model.score(X_val, y_val)
                if trial.report(epoch, val_accuracy=accuracy):
                    break  # pruned by the server (or the trial went to another worker)
        print(f"trial {trial.number} (stage {trial.stage}): {trial.state}, "
              f"val_accuracy {accuracy:.3f}")

    best = study.best_trial
    if best is not None:
        print(f"best: val_accuracy {best.objective:.3f} with {best.params}")


if __name__ == "__main__":
    main()
