"""The fastbp command."""

import subprocess
import sys
import time

import numpy as np
import pytest

from fastbp.cli import main


def test_info_lists_every_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("numpy", "numba", "cuda"):
        assert name in out
    assert "auto picked" in out


def test_info_lists_this_machines_gpu_decisions_and_refusals(capsys, tmp_path, monkeypatch):
    from fastbp.backends.cuda import record
    from fastbp.backends.cuda.source import kernels_hash

    monkeypatch.setenv("FASTBP_CACHE_DIR", str(tmp_path))
    assert main(["info"]) == 0
    assert "cuda kernel decisions on this machine: none yet" in capsys.readouterr().out
    w = record.Workload.of([65, 33, 17, 10], "float32", ("sigmoid", "sigmoid"), 8)
    entry = {
        "date": "2026-12-01T00:00:00+00:00",
        "chosen": "block",
        "kernels": {
            "regs": {"status": "refused", "reason": "its two runs of the check differ"},
            "block": {"status": "passed", "us_per_sample": 0.25},
        },
        "numba": {"us_per_sample": 0.9},
    }
    record.store(record.Key("NVIDIA A100", "8.0", "12.8", "12.8", kernels_hash(), w), entry)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert (
        "65-33-17-10 float32 sigmoid/sigmoid, 8-15 networks on NVIDIA A100 (cc 8.0, driver 12.8, 2026-12-01): block"
        in out
    )
    assert "regs: refused: its two runs of the check differ" in out and "block: passed, 0.25 us" in out
    assert "numba 0.9 us a network-sample" in out


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


def test_version(capsys):
    import fastbp

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastbp {fastbp.__version__}"


@pytest.mark.parametrize("layers", ["2,-2,1", "2,x,1", "2,0,1"])
def test_bad_layer_widths_are_refused(layers, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "xor", "--layers", layers])
    assert info.value.code == 2
    assert "--layers" in capsys.readouterr().err


def test_output_paths_are_checked_before_training(tmp_path, capsys, monkeypatch):
    import fastbp.training

    monkeypatch.setattr(fastbp.training, "train", lambda *a, **k: pytest.fail("trained before checking --save"))
    rc = main(["train", "--dataset", "xor", "--backend", "numpy", "--save", str(tmp_path / "no" / "net.npz")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--save" in err and "does not exist" in err and "Traceback" not in err
    assert main(["train", "--dataset", "xor", "--backend", "numpy", "--save", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_a_failed_plot_does_not_prevent_the_save(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    import fastbp.training

    def broken(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(fastbp.training.TrainResult, "plot_loss", broken)
    model = tmp_path / "m.npz"
    rc = main(
        [
            "train",
            "--dataset",
            "xor",
            "--backend",
            "numpy",
            "--epochs",
            "20",
            "--quiet",
            "--plot",
            str(tmp_path / "loss.png"),
            "--save",
            str(model),
        ]
    )
    assert rc == 2 and model.exists()
    assert "could not save the loss curve" in capsys.readouterr().err


def test_ctrl_c_still_writes_the_network(tmp_path, capsys, monkeypatch):
    from test_training import interrupt_after

    import fastbp

    interrupt_after(monkeypatch, fastbp.get_backend("numpy"), 2)
    model = tmp_path / "m.npz"
    rc = main(
        [
            "train",
            "--dataset",
            "xor",
            "--backend",
            "numpy",
            "--epochs",
            "1000000",
            "--quiet",
            "--seed",
            "0",
            "--no-progress",
            "--save",
            str(model),
        ]
    )
    assert rc == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "interrupted" in captured.out
    net = fastbp.NeuralNetwork.load(model, backend="numpy")
    assert net.layers == [2, 2, 1]


def test_a_report_cut_short_mid_line_still_says_where_the_network_went(tmp_path, capsys, monkeypatch):
    """A Ctrl-C inside the report's printing can leave its last line
    unfinished: the "network saved to" line still starts a line (seen once in
    ``test_ctrl_c_at_any_moment_keeps_every_completed_epoch`` on a loaded
    machine)."""
    import fastbp.training

    class CutShort:
        def __str__(self):
            sys.stdout.write("precision recall f1")  # part of a line, then the Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(fastbp.training.TrainResult, "report", property(lambda self: CutShort()))
    model = tmp_path / "m.npz"
    rc = main(
        [
            "train",
            "--dataset",
            "xor",
            "--backend",
            "numpy",
            "--epochs",
            "3",
            "--quiet",
            "--seed",
            "0",
            "--save",
            str(model),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 130 and "the report is cut short" in captured.err
    assert f"network saved to {model} (epoch 3, interrupted)" in captured.out.splitlines()


def test_a_ctrl_c_after_the_network_is_written_changes_nothing(tmp_path, capsys, monkeypatch):
    """A Ctrl-C that lands after the command has written its files (between
    its end and the program's) leaves the exit status and the messages
    those of the finished run: no "interrupted before training began ... not
    written" beside "network saved to" (seen once in
    ``test_ctrl_c_at_any_moment_keeps_every_completed_epoch``)."""
    import fastbp.cli

    real = fastbp.cli._cmd_train

    def then_ctrl_c(args):
        real(args)
        raise KeyboardInterrupt  # as a Ctrl-C right after the command returned

    monkeypatch.setattr(fastbp.cli, "_cmd_train", then_ctrl_c)
    model = tmp_path / "m.npz"
    rc = main(["train", "--dataset", "xor", "--backend", "numpy", "--epochs", "3", "--quiet", "--save", str(model)])
    captured = capsys.readouterr()
    assert rc == 0 and "interrupted" not in captured.err and f"network saved to {model}" in captured.out.splitlines()


def test_a_ctrl_c_after_a_sweep_has_printed_its_table_changes_nothing(capsys, monkeypatch):
    """As for ``fastbp train``: a Ctrl-C after the sweep's table leaves the
    sweep's exit status, not "interrupted before training began"."""
    import fastbp.cli

    real = fastbp.cli._cmd_sweep

    def then_ctrl_c(args):
        real(args)
        raise KeyboardInterrupt  # as a Ctrl-C right after the command returned

    monkeypatch.setattr(fastbp.cli, "_cmd_sweep", then_ctrl_c)
    rc = main(["sweep", "--dataset", "xor", "--backend", "numpy", "--epochs", "3", "--seeds", "0,1"])
    err = capsys.readouterr().err
    assert rc == 0 and "interrupted" not in err


def test_a_sweep_table_cut_short_says_so(capsys, monkeypatch):
    """A Ctrl-C while a finished sweep prints its table: exit status 130 and
    a line saying the results were cut short, not "before training began"."""
    import fastbp.training

    def cut(self, top=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(fastbp.training.SweepResult, "table", cut)
    rc = main(["sweep", "--dataset", "xor", "--backend", "numpy", "--epochs", "3", "--seeds", "0,1"])
    err = capsys.readouterr().err
    assert rc == 130 and "interrupted: the results are cut short" in err and "before training began" not in err


def test_bad_data_file_is_one_line_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert main(["train", "--dataset", str(bad), "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "bad.npz" in err and "Traceback" not in err and len(err.splitlines()) <= 3
    assert main(["train", "--dataset", str(tmp_path / "missing.npz"), "--backend", "numpy"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_tune_needs_a_workload_and_the_cuda_backend(capsys):
    assert main(["tune"]) == 2
    assert "fastbp tune needs --dataset or --layers" in capsys.readouterr().err
    from fastbp.backends import unavailable_reason

    if unavailable_reason("cuda") is not None:
        assert main(["tune", "--layers", "4,3,2"]) == 2
        assert "backend 'cuda' is unavailable" in capsys.readouterr().err


# ------------------------------------------------- Ctrl-C at any moment
#: The subprocess runs: digits on numba (Ctrl-C while its kernels compile or
#: load, inside and between chunks of epochs, while the report prints, while
#: the file is written), printing the loss every 50 epochs: the moments.
CTRL_C_EPOCHS = 300
START, TRAINED = "[INFO] NeuralNetwork", "[INFO] trained in"


def _ctrl_c_case(path, after: str, delay: float, presses: int) -> tuple[int, str, str]:
    """Runs ``fastbp train --save path`` and sends ``presses`` SIGINTs 20 ms
    apart ``delay`` seconds after it prints the line starting ``after``;
    (exit status, stdout, stderr). Nothing is sent to a run that has ended."""
    import signal

    cmd = [sys.executable, "-m", "fastbp", "train", "--dataset", "digits", "--backend", "numba", "--seed", "0"]
    cmd += ["--epochs", str(CTRL_C_EPOCHS), "--no-progress", "--display-update", "50", "--save", str(path)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    while not lines or not lines[-1].startswith(after):
        lines.append(p.stdout.readline())
        assert lines[-1], "".join(lines) + p.stderr.read()
    time.sleep(delay)
    for i in range(presses):
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        time.sleep(0.02 * (i + 1 < presses))
    out, err = p.communicate(timeout=300)
    return p.returncode, "".join(lines) + out, err


def test_ctrl_c_at_any_moment_keeps_every_completed_epoch(tmp_path):
    """SIGINT once and twice at ten moments of a run (as it starts training,
    while its kernels load; after epochs 1, 50, 100, 150 and 250; as it says
    it trained, and a little after: the report, the file): exit status 130;
    the file written only when an epoch completed, then holding exactly that
    epoch's weights (the one the message names), else the file there before
    left as it was; no traceback."""
    from concurrent.futures import ThreadPoolExecutor

    import fastbp

    moments = [(START, 0.0), (START, 0.05)] + [(f"[INFO] epoch={e},", 0.0) for e in (1, 50, 100, 150, 250)]
    moments += [(TRAINED, d) for d in (0.0, 0.02, 0.05)]
    before = fastbp.NeuralNetwork([64, 32, 16, 10], backend="numpy", seed=5)
    cases = []
    with ThreadPoolExecutor(2) as pool:  # the single and the double Ctrl-C of a moment side by side
        for i, (after, delay) in enumerate(moments):
            for presses in (1, 2):
                path = tmp_path / f"net-{i}-{presses}.npz"
                before.save(path)
                cases.append((path, after, pool.submit(_ctrl_c_case, path, after, delay, presses)))
    saved = {}
    for path, _, fut in cases:
        rc, out, err = fut.result()
        where = f"{path.name}: {err.strip()!r}"
        assert "Traceback" not in err, where
        if rc == 0:  # the run had ended: all of it saved
            assert f"network saved to {path}" in out and TRAINED in out, where
            continue
        assert rc == 130, where
        line = [l for l in out.splitlines() if l.startswith("network saved to")]
        if "not written" in err:
            assert not line and f"'{path}' left as it was" in err, where
            np.testing.assert_array_equal(fastbp.NeuralNetwork.load(path, backend="numpy").W[0], before.W[0])
            continue
        epoch = int(line[0].split("(epoch ")[1].split(",")[0])
        assert f"from epoch {epoch}" in err or "report is cut short" in err, where
        saved[path] = (epoch, where)
    # A Ctrl-C as the run starts or after epoch 1 or 50 leaves at least 250
    # epochs to run: those eight runs are interrupted whatever the machine's
    # load; a later Ctrl-C may meet a run that has ended (exit status 0, above)
    early = [fut.result()[0] for _, after, fut in cases if after in (START, "[INFO] epoch=1,", "[INFO] epoch=50,")]
    assert early == [130] * 8, f"exit statuses of the early Ctrl-Cs: {early}"
    # each file holds exactly its epoch's weights: one run, checkpointed at those epochs
    ref = fastbp.NeuralNetwork([64, 32, 16, 10], 0.1, backend="numba", seed=0)
    ds = fastbp.datasets.digits()
    done = 0
    for path, (epoch, where) in sorted(saved.items(), key=lambda kv: kv[1][0]):
        assert 1 <= epoch <= CTRL_C_EPOCHS, where
        if epoch > done:
            ref.fit(ds.X_train, ds.Y_train, epochs=epoch - done, verbose=False)
            done = epoch
        for a, b in zip(fastbp.NeuralNetwork.load(path, backend="numpy").W, ref.W):
            np.testing.assert_array_equal(a, b, err_msg=where)
