"""A PyTorch MLP on scikit-learn's 8x8 digits (CPU), tuned with the Python client's trial
loop. PyTorch is not a dependency of hpsearch: install it yourself.

    hpsearch serve &
    python examples/sdk_pytorch.py --trials 12

Coarse to fine: 12 short trials over the learning rate, weight decay, width and dropout,
then 4 longer ones in the narrowed ranges.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import hpsearch

SPEC = {
    "name": "digits-pytorch-mlp",
    "task": {"type": "custom"},
    "space": {
        "learning_rate": {"type": "log_uniform", "low": 1e-4, "high": 1e-1},
        "weight_decay": {"type": "log_uniform", "low": 1e-6, "high": 1e-2},
        "hidden": {"type": "choice", "values": [32, 64, 128]},
        "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
    },
    "stages": [{"trials": 12, "epochs": 4}, {"trials": 4, "epochs": 12}],
    "seed": 0,
}

X, y = load_digits(return_X_y=True)
X_tr, X_va, y_tr, y_va = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)
X_train, y_train = torch.tensor(X_tr, dtype=torch.float32), torch.tensor(y_tr)
X_val, y_val = torch.tensor(X_va, dtype=torch.float32), torch.tensor(y_va)


def build(params: dict) -> nn.Module:
    return nn.Sequential(nn.Linear(64, params["hidden"]), nn.ReLU(),
                         nn.Dropout(params["dropout"]), nn.Linear(params["hidden"], 10))


def train_one_epoch(model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> float:
    model.train()
    total = 0.0
    for batch in torch.randperm(len(X_train), generator=generator).split(64):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X_train[batch]), y_train[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(X_train)


@torch.no_grad()
def evaluate(model: nn.Module) -> tuple[float, float]:
    model.eval()
    logits = model(X_val)
    loss = nn.functional.cross_entropy(logits, y_val).item()
    return (logits.argmax(1) == y_val).float().mean().item(), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="default: HPSEARCH_SERVER or http://127.0.0.1:8000")
    parser.add_argument("--study", type=int, help="continue this study instead of creating one")
    parser.add_argument("--trials", type=int, default=None, help="stop after this many trials")
    args = parser.parse_args()

    client = hpsearch.connect(args.server)
    study = client.study(args.study) if args.study else client.create_study(SPEC)
    print(f"study {study.id}")
    for trial in study.trials(max_trials=args.trials):
        with trial:
            torch.manual_seed(trial.seed)
            generator = torch.Generator().manual_seed(trial.seed)
            model = build(trial.params)
            optimizer = torch.optim.AdamW(model.parameters(), lr=trial.params["learning_rate"],
                                          weight_decay=trial.params["weight_decay"])
            for epoch in range(1, trial.epochs + 1):
                train_loss = train_one_epoch(model, optimizer, generator)
                val_accuracy, val_loss = evaluate(model)
                if trial.report(epoch, train_loss=train_loss, val_loss=val_loss,
                                val_accuracy=val_accuracy):
                    break
        print(f"trial {trial.number} (stage {trial.stage}, {trial.epochs} epochs): "
              f"{trial.state}, val_accuracy {val_accuracy:.3f}")
    best = study.best_trial
    if best is not None:
        print(f"best: val_accuracy {best.objective:.3f} with {best.params}")


if __name__ == "__main__":
    main()
