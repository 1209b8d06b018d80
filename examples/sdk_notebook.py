# %% [markdown]
# # hpsearch from a notebook
# Create a study, let two worker processes run an objective on it, and look at the trials
# as a DataFrame (needs pandas). Start a server first (`hpsearch serve`) or set
# HPSEARCH_SERVER. Run as a script (`python examples/sdk_notebook.py`) or cell by cell.
#
# `optimize(n_workers=2)` spawns processes that import the objective: in a notebook, put the
# objective in a module of its own; in a script, keep the work under `__main__`.

# %%
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

import hpsearch

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def objective(trial):
    """One pass of SGD per epoch; the value returned is the study's metric."""
    model = SGDClassifier(loss="log_loss", alpha=trial.params["reg"], learning_rate="constant",
                          eta0=trial.params["learning_rate"], random_state=trial.seed)
    for epoch in range(1, trial.epochs + 1):
        model.partial_fit(X_train, y_train, classes=np.arange(10))
        accuracy = model.score(X_val, y_val)
        if trial.report(epoch, val_accuracy=accuracy):
            break
    return accuracy


if __name__ == "__main__":
    # %%
    client = hpsearch.connect()
    study = client.create_study({
        "name": "notebook-sgd",
        "task": {"type": "custom"},
        "space": {"learning_rate": {"type": "log_uniform", "low": 1e-4, "high": 1.0},
                  "reg": {"type": "log_uniform", "low": 1e-6, "high": 1e-1}},
        "stages": [{"trials": 12, "epochs": 3}, {"trials": 4, "epochs": 8}],
    })

    # %%
    study.optimize(objective, n_workers=2)

    # %%
    frame = study.trials_dataframe()
    print(frame[["trial_id", "stage", "state", "params.learning_rate", "params.reg",
                 "metrics.val_accuracy"]].sort_values("metrics.val_accuracy", ascending=False))
    print("best:", study.best_trial)
