"""A custom objective: `hpsearch worker --objective custom_objective:objective` (run from
this folder, or `examples.custom_objective:objective` from the repository root).

scikit-learn's linear SVM trained by SGD on the 8x8 digits, one pass per epoch: the study
samples ``learning_rate`` and ``reg``; ``report`` streams each epoch to the server and
returns True when the server prunes the trial. See examples/custom_objective.yaml.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def objective(params, report):
    model = SGDClassifier(alpha=params["reg"], learning_rate="constant",
                          eta0=params["learning_rate"], random_state=report.seed)
    for epoch in range(1, report.epochs + 1):
        model.partial_fit(X_train, y_train, classes=np.arange(10))
        accuracy = model.score(X_val, y_val)
        if report(epoch, {"val_accuracy": accuracy}):  # True: pruned, stop early
            break
    return {"val_accuracy": accuracy, "train_accuracy": model.score(X_train, y_train)}
