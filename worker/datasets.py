"""Datasets the workers train on; nothing is downloaded at run time.

Specs: ``digits`` (scikit-learn's bundled 8x8 digits), ``mnist1d`` (generated locally by
the mnist1d package with its default arguments), ``spiral`` (the CS231n toy), ``npz:PATH``
(X_train, y_train, X_val, y_val and optionally X_test, y_test) and ``cifar10:DIR`` (the
CIFAR-10 python batches: data_batch_1..5 and test_batch). Sources without a split get a
fixed split seeded by ``seed``. Loaded datasets are cached per process, and their arrays
are read-only.
"""

from __future__ import annotations

import functools
import os
import pickle
import random
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from hpsearch.wire import DATASET_NAMES as DATASET_NAMES
from hpsearch.wire import dataset_problem

Array = np.ndarray
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15
CIFAR_VAL = 1000  # the last examples of the training batches, as in the CS231n assignments


class DatasetError(ValueError):
    """A dataset spec or file is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class Dataset:
    """Float32 features flattened to (N, D), int64 labels in [0, num_classes)."""

    X_train: Array
    y_train: Array
    X_val: Array
    y_val: Array
    X_test: Array | None
    y_test: Array | None
    num_classes: int
    name: str
    image_shape: tuple[int, ...] | None = None  # (C, H, W), channels first


def validate_spec(spec: str) -> None:
    """Check the syntax of a dataset spec without loading anything."""
    problem = dataset_problem(spec)
    if problem is not None:
        raise DatasetError(problem)


def load_dataset(spec: str, seed: int = 0) -> Dataset:
    """Load (or return the cached) dataset for ``spec``; file-based specs are re-read when
    the file changes."""
    validate_spec(spec)
    stamp: tuple[int, ...] = ()
    if ":" in spec:
        path = Path(spec.split(":", 1)[1]).expanduser()
        want_dir = spec.startswith("cifar10:")
        info = _stat(path, directory=want_dir)
        stamp = (info.st_mtime_ns, info.st_size)
        if want_dir:
            stamp += tuple(p.stat().st_mtime_ns for p in sorted(path.iterdir()) if p.is_file())
    return _load_cached(spec, seed, stamp)


def _stat(path: Path, *, directory: bool = False) -> os.stat_result:
    """``path``'s stat when it is a regular file (or a directory); anything else (a FIFO,
    a device such as /dev/stdin, a socket) is refused before it is opened, since reading
    it could block the worker forever."""
    try:
        info = path.stat()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if directory and not stat.S_ISDIR(info.st_mode):
        raise DatasetError(f"{path}: not a directory")
    if not directory and not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a special file"
        raise DatasetError(f"{path}: not a regular file ({kind})")
    return info


def _open_file(path: Path) -> BinaryIO:
    """Open a regular file for reading. The open itself cannot block (O_NONBLOCK), and the
    opened file is checked again, in case the path was swapped for a FIFO after ``_stat``."""
    _stat(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DatasetError(f"{path}: not a regular file")
    return os.fdopen(fd, "rb")


@functools.lru_cache(maxsize=4)
def _load_cached(spec: str, seed: int, stamp: tuple[int, ...]) -> Dataset:
    del stamp  # only part of the cache key
    if spec == "digits":
        data = _digits(seed)
    elif spec == "mnist1d":
        data = _mnist1d(seed)
    elif spec == "spiral":
        data = _spiral(seed)
    elif spec.startswith("npz:"):
        data = _npz(Path(spec[4:]).expanduser())
    else:
        data = _cifar10(Path(spec[len("cifar10:") :]).expanduser())
    for array in (data.X_train, data.y_train, data.X_val, data.y_val, data.X_test, data.y_test):
        if array is not None:
            array.flags.writeable = False
    return data


# -- built-in sources ----------------------------------------------------------------------


def _split(
    X: Array,
    y: Array,
    seed: int,
    name: str,
    num_classes: int,
    image_shape: tuple[int, ...] | None = None,
    with_test: bool = True,
) -> Dataset:
    """Fixed seeded split into train/val(/test)."""
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = round(len(y) * VAL_FRACTION)
    n_test = round(len(y) * TEST_FRACTION) if with_test else 0
    val, test, train = np.split(order, [n_val, n_val + n_test])
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = y.astype(np.int64)
    return Dataset(
        X[train],
        y[train],
        X[val],
        y[val],
        X[test] if with_test else None,
        y[test] if with_test else None,
        num_classes,
        name,
        image_shape,
    )


def _digits(seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _split(bunch.data, bunch.target, seed, "digits", 10, (1, 8, 8))


def _mnist1d(seed: int) -> Dataset:
    """mnist1d's own train/test split; our val split comes out of its training part."""
    from mnist1d.data import make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset seeds the global generators; leave them as they were
        raw = make_dataset()
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    data = _split(raw["x"], raw["y"], seed, "mnist1d", 10, with_test=False)
    X_test = np.ascontiguousarray(raw["x_test"], dtype=np.float32)
    return Dataset(
        data.X_train,
        data.y_train,
        data.X_val,
        data.y_val,
        X_test,
        raw["y_test"].astype(np.int64),
        10,
        "mnist1d",
        None,
    )


def _spiral(seed: int, per_class: int = 300, classes: int = 3) -> Dataset:
    """Noisy interleaved spirals in 2-D (the CS231n linear-vs-network toy)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((per_class * classes, 2))
    y = np.repeat(np.arange(classes), per_class)
    for j in range(classes):
        r = np.linspace(0.0, 1.0, per_class)
        t = np.linspace(j * 4, (j + 1) * 4, per_class) + rng.standard_normal(per_class) * 0.2
        X[j * per_class : (j + 1) * per_class] = np.c_[r * np.sin(t), r * np.cos(t)]
    return _split(X, y, seed, "spiral", classes)


# -- files ---------------------------------------------------------------------------------


def _check_split(path: Path, xn: str, yn: str, X: Any, y: Any) -> tuple[Array, Array]:
    """Validate one split's arrays (named xn, yn); return (X flattened float32, y int64)."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2 or X.shape[0] == 0:
        raise DatasetError(f"{path}: {xn} must hold at least one example, shape {X.shape}")
    if y.ndim != 1:
        raise DatasetError(f"{path}: {yn} must be 1-D, got shape {y.shape}")
    if len(X) != len(y):
        raise DatasetError(f"{path}: {xn} has {len(X)} examples but {yn} has {len(y)} labels")
    if not (np.issubdtype(X.dtype, np.number) and not np.iscomplexobj(X)):
        raise DatasetError(f"{path}: {xn} must be numeric, got dtype {X.dtype}")
    X = np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)
    if not np.isfinite(X).all():
        raise DatasetError(f"{path}: {xn} contains NaN or infinite values")
    if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        raise DatasetError(f"{path}: {yn} must hold integer labels, got dtype {y.dtype}")
    if not np.issubdtype(y.dtype, np.integer) and not (
        np.isfinite(y).all() and (y == np.round(y)).all()
    ):
        raise DatasetError(f"{path}: {yn} must hold integer labels")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DatasetError(f"{path}: {yn} has a negative label {int(y.min())}")
    return X, y


def _image_shape(X: Array) -> tuple[tuple[int, ...] | None, Array]:
    """(C, H, W) of image-shaped data (channels-last input is moved first) and X."""
    if X.ndim == 3:
        return (1, *X.shape[1:]), X
    if X.ndim == 4:
        if X.shape[-1] in (1, 3, 4) and X.shape[1] not in (1, 3, 4):
            X = X.transpose(0, 3, 1, 2)
        return tuple(X.shape[1:]), X
    return None, X


def _finish(
    path: Path,
    splits: dict[str, tuple[Array, Array]],
    name: str,
    image_shape: tuple[int, ...] | None,
    num_classes: int | None = None,
) -> Dataset:
    """Cross-split checks (feature count, label range) and the Dataset."""
    dims = {s: X.shape[1] for s, (X, _) in splits.items()}
    if len(set(dims.values())) > 1:
        raise DatasetError(f"{path}: splits disagree on the number of features: {dims}")
    top = max(int(y.max()) for _, y in splits.values())
    classes = num_classes if num_classes is not None else top + 1
    if top >= classes:
        raise DatasetError(f"{path}: label {top} out of range for {classes} classes")
    if classes < 2:
        raise DatasetError(f"{path}: need at least 2 classes, labels are all {top}")
    test = splits.get("test")
    return Dataset(
        *splits["train"],
        *splits["val"],
        test[0] if test else None,
        test[1] if test else None,
        classes,
        name,
        image_shape,
    )


def _npz(path: Path) -> Dataset:
    """X_train, y_train, X_val, y_val [, X_test, y_test] [, num_classes]; X may be image-shaped
    ((N, H, W), (N, C, H, W) or (N, H, W, C))."""
    try:
        with _open_file(path) as file, np.load(file, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in arrays]
    if missing:
        raise DatasetError(
            f"{path}: missing key(s) {', '.join(missing)}; found {', '.join(sorted(arrays))}"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DatasetError(f"{path}: X_test and y_test must come together")
    image_shape, _ = _image_shape(np.asarray(arrays["X_train"]))
    splits = {}
    for split in ("train", "val", "test"):
        if f"X_{split}" in arrays:
            _, X = _image_shape(np.asarray(arrays[f"X_{split}"]))
            splits[split] = _check_split(path, f"X_{split}", f"y_{split}", X, arrays[f"y_{split}"])
    num_classes = None
    if "num_classes" in arrays:
        value = np.asarray(arrays["num_classes"])
        if value.shape != () or not np.issubdtype(value.dtype, np.integer):
            raise DatasetError(f"{path}: num_classes must be one integer")
        num_classes = int(value)
    return _finish(path, splits, f"npz:{path}", image_shape, num_classes)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only (no arbitrary code from a data folder)."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def _cifar_batch(path: Path) -> tuple[Array, Array]:
    if not path.exists():
        raise DatasetError(
            f"{path}: missing (CIFAR-10 folder needs data_batch_1..5 and test_batch)"
        )
    try:
        with _open_file(path) as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except DatasetError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{path}: expected a dict with b'data' and b'labels'")
    X = np.asarray(batch[b"data"])
    if X.ndim != 2 or X.shape[1] != 3072:
        raise DatasetError(f"{path}: b'data' must be (N, 3072), got shape {X.shape}")
    return _check_split(path, "b'data'", "b'labels'", X, batch[b"labels"])


def _cifar10(folder: Path) -> Dataset:
    """Training batches 1..5 minus their last 1000 examples (val); test_batch is the test."""
    _stat(folder, directory=True)
    parts = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    n_val = min(CIFAR_VAL, len(y) // 10) or 1
    if len(y) <= n_val:
        raise DatasetError(f"{folder}: too few training examples ({len(y)})")
    splits = {
        "train": (X[:-n_val], y[:-n_val]),
        "val": (X[-n_val:], y[-n_val:]),
        "test": _cifar_batch(folder / "test_batch"),
    }
    return _finish(folder, splits, f"cifar10:{os.fspath(folder)}", (3, 32, 32), 10)
