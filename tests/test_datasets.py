"""Dataset loaders: built-ins, .npz files, CIFAR-10 folders, validation and caching."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from worker.datasets import DATASET_NAMES, Dataset, DatasetError, load_dataset, validate_spec


def check_shapes(data: Dataset, features: int, classes: int) -> None:
    splits = [(data.X_train, data.y_train), (data.X_val, data.y_val)]
    if data.X_test is not None:
        splits.append((data.X_test, data.y_test))  # type: ignore[arg-type]  # this dataset has a test split
    for X, y in splits:
        assert X.dtype == np.float32 and X.ndim == 2 and X.shape[1] == features
        assert y.dtype == np.int64 and len(y) == len(X)
        assert y.min() >= 0 and y.max() < classes
        assert not X.flags.writeable
    assert data.num_classes == classes


def test_digits_split_is_fixed_and_seeded() -> None:
    data = load_dataset("digits")
    check_shapes(data, 64, 10)
    assert data.image_shape == (1, 8, 8)
    total = len(data.y_train) + len(data.y_val) + len(data.y_test)  # type: ignore[arg-type]  # this dataset has a test split
    assert total == 1797
    assert load_dataset("digits") is data  # cached per process
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(other.y_train, data.y_train)
    train = {row.tobytes() for row in data.X_train}
    assert not any(row.tobytes() in train for row in data.X_test)  # type: ignore[union-attr]


def test_spiral() -> None:
    data = load_dataset("spiral")
    check_shapes(data, 2, 3)
    assert np.abs(data.X_train).max() <= 1.0 + 1e-6
    assert np.bincount(data.y_train).min() > 150  # classes roughly balanced


def test_mnist1d_is_generated_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("mnist1d must not download")

    monkeypatch.setattr(requests, "get", no_network)
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    data = load_dataset("mnist1d")
    assert (np.random.random(), random.random()) == (expected_np, expected_py)  # untouched
    check_shapes(data, 40, 10)
    assert len(data.y_train) + len(data.y_val) == 4000 and len(data.y_test) == 1000  # type: ignore[arg-type]  # this dataset has a test split
    assert not list(Path.cwd().glob("mnist1d_data*.pkl"))


def test_validate_spec() -> None:
    for name in DATASET_NAMES:
        validate_spec(name)
    validate_spec("npz:/data/x.npz")
    validate_spec("cifar10:~/cifar-10-batches-py")
    for bad in ("mnist", "npz:", "cifar10: ", "", "NPZ:/x"):
        with pytest.raises(DatasetError):
            validate_spec(bad)
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def write_npz(path: Path, **arrays: object) -> str:
    np.savez(path, **arrays)
    return f"npz:{path}"


def good_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "X_train": rng.standard_normal((30, 5)),
        "y_train": rng.integers(0, 3, 30),
        "X_val": rng.standard_normal((10, 5)),
        "y_val": rng.integers(0, 3, 10),
    }


def test_npz_loads_and_reloads_when_the_file_changes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = good_arrays(rng)
    spec = write_npz(tmp_path / "d.npz", **arrays)
    data = load_dataset(spec)
    check_shapes(data, 5, 3)
    assert data.X_test is None and data.y_test is None
    assert np.allclose(data.X_train, arrays["X_train"])
    assert load_dataset(spec) is data
    arrays["X_test"], arrays["y_test"] = rng.standard_normal((4, 5)), np.array([0, 1, 2, 1])
    arrays["num_classes"] = np.array(4)
    write_npz(tmp_path / "d.npz", **arrays)
    changed = load_dataset(spec)
    assert changed is not data and changed.num_classes == 4 and len(changed.y_test) == 4  # type: ignore[arg-type]  # this dataset has a test split


def test_npz_images_keep_their_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    first = rng.standard_normal((6, 3, 4, 4))
    spec = write_npz(
        tmp_path / "img.npz",
        X_train=first,
        y_train=np.arange(6) % 2,
        X_val=rng.standard_normal((2, 3, 4, 4)),
        y_val=np.array([0, 1]),
    )
    data = load_dataset(spec)
    assert data.image_shape == (3, 4, 4) and data.X_train.shape == (6, 48)
    assert np.allclose(data.X_train[0], first[0].ravel())
    last = rng.standard_normal((6, 5, 5, 3))  # channels last is moved first
    spec = write_npz(
        tmp_path / "last.npz",
        X_train=last,
        y_train=np.arange(6) % 2,
        X_val=last[:2],
        y_val=np.array([0, 1]),
    )
    data = load_dataset(spec)
    assert data.image_shape == (3, 5, 5)
    assert np.allclose(data.X_train[0], last[0].transpose(2, 0, 1).ravel())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"y_val": None}, "missing key(s) y_val"),
        ({"y_train": np.zeros(29, int)}, "X_train has 30 examples but y_train has 29"),
        ({"y_val": np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, -1])}, "negative label"),
        ({"y_train": np.full(30, 1.5)}, "integer labels"),
        ({"X_val": np.full((10, 5), np.nan)}, "X_val contains NaN"),
        ({"X_val": np.zeros((10, 4))}, "number of features"),
        ({"X_test": np.zeros((2, 5))}, "X_test and y_test must come together"),
        ({"num_classes": np.array(2)}, "out of range for 2 classes"),
        ({"X_train": np.full((30, 5), "a")}, "numeric"),
    ],
)
def test_bad_npz_is_refused_naming_file_and_problem(
    tmp_path: Path, change: dict[str, object], words: str
) -> None:
    arrays: dict[str, object] = dict(good_arrays(np.random.default_rng(0)))
    arrays["y_train"] = np.arange(30) % 3
    for key, value in change.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / "bad.npz"
    with pytest.raises(DatasetError) as info:
        load_dataset(write_npz(path, **arrays))
    assert str(path) in str(info.value) and words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.npz"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=r"garbage\.npz: not a readable \.npz"):
        load_dataset(f"npz:{garbage}")


def write_cifar(folder: Path, per_batch: int = 20, seed: int = 0) -> None:
    """A tiny folder in the CIFAR-10 python-batches layout."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [b"x.png"] * per_batch,
        }
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)


def test_cifar10_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    data = load_dataset(f"cifar10:{folder}")
    check_shapes(data, 3072, 10)
    assert data.image_shape == (3, 32, 32)
    assert len(data.y_train) == 90 and len(data.y_val) == 10 and len(data.y_test) == 20  # type: ignore[arg-type]  # this dataset has a test split
    with (folder / "data_batch_5").open("rb") as f:
        last = pickle.load(f, encoding="bytes")
    assert np.array_equal(data.X_val, last[b"data"][-10:].astype(np.float32))
    assert data.y_val.tolist() == last[b"labels"][-10:]


def test_cifar10_problems_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "cifar"
    write_cifar(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="data_batch_3: missing"):
        load_dataset(f"cifar10:{folder}")
    with (folder / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": np.zeros((5, 100), np.uint8), b"labels": [0] * 5}, f)
    with pytest.raises(DatasetError, match=r"data_batch_3: b'data' must be \(N, 3072\)"):
        load_dataset(f"cifar10:{folder}")
    with (folder / "data_batch_3").open("wb") as f:
        pickle.dump({b"data": np.zeros((5, 3072), np.uint8), b"labels": [0, 1, 2, 3, 10]}, f)
    with pytest.raises(DatasetError, match="out of range for 10 classes"):
        load_dataset(f"cifar10:{folder}")
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset(f"cifar10:{folder / 'test_batch'}")


def test_cifar10_pickles_cannot_run_code(tmp_path: Path) -> None:
    folder = tmp_path / "evil"
    write_cifar(folder)

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (sys.exit, ("pickle ran code",))

    with (folder / "data_batch_1").open("wb") as f:
        pickle.dump({b"data": Boom(), b"labels": []}, f)
    with pytest.raises(DatasetError, match="refusing to load"):
        load_dataset(f"cifar10:{folder}")


def load_within(spec: str, seconds: float = 10.0) -> BaseException | None:
    """What ``load_dataset(spec)`` raised, failing the test if it blocks (as a read of a
    FIFO or a terminal would)."""
    raised: list[BaseException | None] = [None]

    def load() -> None:
        try:
            load_dataset(spec)
        except BaseException as exc:
            raised[0] = exc

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load_dataset({spec!r}) blocked"
    return raised[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "data.npz"
    os.mkfifo(fifo)
    exc = load_within(f"npz:{fifo}")
    assert isinstance(exc, DatasetError) and "not a regular file" in str(exc)
    folder = tmp_path / "cifar"
    write_cifar(folder)
    (folder / "test_batch").unlink()
    os.mkfifo(folder / "test_batch")
    exc = load_within(f"cifar10:{folder}")
    assert isinstance(exc, DatasetError) and "test_batch: not a regular file" in str(exc)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/stdin").exists(), reason="needs /dev/stdin")
def test_dev_stdin_is_refused_without_blocking() -> None:
    read_end, write_end = os.pipe()  # stdin as a pipe nobody writes to: a read would block
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "from worker.datasets import load_dataset\nload_dataset('npz:/dev/stdin')"],
        stdin=read_end, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent,
    )
    os.close(read_end)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("load_dataset('npz:/dev/stdin') blocked") from None
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert b"DatasetError: /dev/stdin: not a regular file (a special file)" in err


def test_a_directory_where_a_file_belongs_is_refused(tmp_path: Path) -> None:
    exc = load_within(f"npz:{tmp_path}")
    assert isinstance(exc, DatasetError) and "not a regular file (a directory)" in str(exc)
