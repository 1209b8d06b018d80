"""`hpsearch sanity`: numbered pass/fail checks and the exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worker.sanity import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def test_default_model_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(capsys, "--dataset", "digits")
    assert status == 0, out
    for number in range(1, 9):
        assert re.search(rf"^PASS {number}\. ", out, re.MULTILINE), number
    assert "FAIL" not in out
    assert re.search(r"loss 2\.\d+ vs ln\(10\) = 2\.303", out)
    assert "8 of 8 checks passed" in out


def test_model_options_are_used(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(
        capsys,
        "--dataset",
        "spiral",
        "--hidden",
        "30,20",
        "--activation",
        "tanh",
        "--init",
        "xavier",
        "--batchnorm",
        "--set",
        "learning_rate=0.01",
    )
    assert status == 0, out
    assert "hidden 30,20, tanh, init xavier, batchnorm on" in out
    assert "ln(3)" in out


def test_a_collapsing_model_fails_with_a_non_zero_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = run(
        capsys,
        "--dataset",
        "spiral",
        "--hidden",
        "50x6",
        "--activation",
        "tanh",
        "--init",
        "small",
        "--init-std",
        "0.01",
        "--overfit-epochs",
        "30",
    )
    assert status == 1
    assert re.search(r"^FAIL 4\. overfit a tiny subset", out, re.MULTILINE)
    assert re.search(r"^FAIL 5\. activations at init: .*collapsed", out, re.MULTILINE)
    assert re.search(r"^PASS 6\. ", out, re.MULTILINE)  # the demos do not depend on the model


def test_large_init_fails_the_initial_loss_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(
        path,
        X_train=rng.standard_normal((60, 4)),
        y_train=np.arange(60) % 4,
        X_val=rng.standard_normal((8, 4)),
        y_val=np.arange(8) % 4,
    )
    status, out = run(capsys, "--dataset", f"npz:{path}", "--init", "small", "--init-std", "3")
    assert status == 1
    assert re.search(r"^FAIL 1\. initial loss near ln\(C\)", out, re.MULTILINE)
    assert re.search(r"^PASS 2\. adding reg raises the loss", out, re.MULTILINE)


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(capsys, "--dataset", "nope")
    assert status == 2 and "unknown dataset 'nope'" in out
    status, out = run(capsys, "--set", "lr=0.1")
    assert status == 2 and "unknown parameter 'lr'" in out
    with pytest.raises(SystemExit):
        main(["--activation", "swish"])


@pytest.mark.slow  # runs `python -m worker.sanity` as a process
def test_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "worker.sanity", "--dataset", "spiral", "--learning-rate", "0.01"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "8 of 8 checks passed" in out.stdout
