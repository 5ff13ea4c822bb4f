"""The fastbp command."""

import subprocess
import sys

import numpy as np
import pytest

from fastbp.cli import main


def test_info_lists_every_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("numpy", "numba", "cuda"):
        assert name in out
    assert "auto picked" in out


def test_train_xor_prints_progress_and_report(capsys, tmp_path):
    model = tmp_path / "m.npz"
    rc = main(
        [
            "train",
            "--dataset",
            "xor",
            "--backend",
            "numpy",
            "--epochs",
            "300",
            "--seed",
            "0",
            "--no-progress",
            "--save",
            str(model),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "[INFO] epoch=1, loss=" in out and "[INFO] epoch=300, loss=" in out
    assert "precision" in out and "final loss" in out
    assert model.exists()


def test_train_plot_saves_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "loss.png"
    assert (
        main(
            [
                "train",
                "--dataset",
                "xor",
                "--backend",
                "numpy",
                "--epochs",
                "50",
                "--seed",
                "0",
                "--quiet",
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc = main(
        [
            "train",
            "--dataset",
            "xor",
            "--backend",
            "numpy",
            "--epochs",
            "5",
            "--quiet",
            "--plot",
            str(tmp_path / "x.png"),
        ]
    )
    assert rc == 2
    assert 'pip install "fastbp[plot]"' in capsys.readouterr().err


def test_bad_arguments_give_clear_errors(capsys):
    assert main(["train", "--dataset", "xor", "--backend", "tpu"]) == 2
    assert "unknown backend 'tpu'" in capsys.readouterr().err
    assert main(["train", "--dataset", "xor", "--backend", "numpy", "--alpha", "-1"]) == 2
    assert "alpha must be a positive finite number" in capsys.readouterr().err


def test_npz_dataset(tmp_path, capsys):
    rng = np.random.RandomState(0)
    Xtr = rng.rand(40, 3)
    ytr = (Xtr[:, 0] > 0.5).astype(int) + (Xtr[:, 1] > 0.5).astype(int)
    path = tmp_path / "data.npz"
    np.savez(path, X_train=Xtr, y_train=ytr, X_test=Xtr[:10], y_test=ytr[:10])
    assert (
        main(
            [
                "train",
                "--dataset",
                str(path),
                "--backend",
                "numpy",
                "--layers",
                "3,5,3",
                "--epochs",
                "20",
                "--quiet",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    assert "accuracy" in capsys.readouterr().out


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "fastbp", "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "numpy" in r.stdout
