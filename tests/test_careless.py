"""What a careless user does, and what fastbp says: one test per case, the
message checked."""

import os

import numpy as np
import pytest

import fastbp
from fastbp import datasets
from fastbp.backends.base import NO_RECORD
from fastbp.backends.numpy_backend import NumpyBackend
from fastbp.errors import DataFileError, NetworkFileError

RNG = np.random.RandomState(0)
X = RNG.rand(30, 3)


def _train(y, y_test, **kw):
    return fastbp.train(X=X, y=y, X_test=X, y_test=y_test, backend="numpy", epochs=2, seed=0, verbose=False, **kw)


# ------------------------------------------------------------------ labels
def test_one_class_is_refused_before_training():
    with pytest.raises(ValueError, match=r"y holds one class only \(3\): classification needs at least two"):
        _train(np.full(30, 3), np.full(30, 3))


def test_one_class_in_a_data_file_names_the_file(tmp_path):
    p = tmp_path / "one.npz"
    np.savez(p, X=X, y=np.zeros(30, int))
    with pytest.raises(DataFileError, match=r"one\.npz.*y holds one class only \(0\)"):
        datasets.load_npz(p)


def test_float_labels_that_are_not_whole_are_refused_with_the_way_to_regression():
    with pytest.raises(ValueError, match=r"y holds 0\.5 at row 0, not a whole number.*classify=False") as info:
        _train(np.arange(30) % 3 + 0.5, np.arange(30) % 3 + 0.5)
    assert "y.reshape(-1, 1)" in str(info.value)
    ds = datasets.from_arrays(X, np.arange(30) % 3 + 0.5, classify=False)  # regression, asked for
    assert ds.n_outputs == 1 and ds.classes is None
    with pytest.raises(ValueError, match="not a whole number"):
        datasets.from_arrays(X, np.arange(30) % 3 + 0.5, classify=True)


def test_whole_float_labels_are_classes():
    ds = datasets.from_arrays(X, (np.arange(30) % 2 + 1).astype(float))  # 1.0 and 2.0: two classes, not one output
    assert ds.n_outputs == 2 and ds.classes.tolist() == [1.0, 2.0]
    ds = datasets.from_arrays(X, (np.arange(30) % 2).astype(float), X, (np.arange(30) % 2).astype(float))
    assert ds.n_outputs == 1 and ds.labels_test.tolist() == (np.arange(30) % 2).tolist()  # 0/1: one binary output


def test_test_labels_absent_from_training_are_named():
    with pytest.raises(ValueError, match=r"y_test holds labels that y does not: 2, 3; the network learns the classes"):
        _train(np.arange(30) % 2, np.arange(30) % 4)
    with pytest.raises(ValueError, match=r"y_test holds labels that y does not: 'dog'"):
        _train(np.where(X[:, 0] > 0.5, "cat", "cow"), np.where(X[:, 0] > 0.5, "cat", "dog"))


@pytest.mark.parametrize("labels", [np.arange(30) % 3 - 5, (np.arange(30) % 3) * 100])
def test_negative_and_sparse_integer_labels_keep_working(labels):
    r = _train(labels, labels)
    assert r.layers[-1] == 3 and r.evaluation.classes.tolist() == sorted(set(labels.tolist()))
    assert set(r.evaluation.pred.tolist()) <= set(labels.tolist())


def test_a_seven_long_target_for_one_sample_says_so():
    net = fastbp.NeuralNetwork([3, 4, 10], backend="numpy")
    with pytest.raises(ValueError, match=r"y has 7 values but layers\[-1\] = 10: one sample's target is one row of 10"):
        net.fit_partial(np.ones(3), list(range(7)))
    with pytest.raises(ValueError, match=r"y has shape \(10, 1\).*y\.reshape\(1, -1\)"):
        net.fit_partial(np.ones(3), np.ones((10, 1)))


# ------------------------------------------------------------------- files
@pytest.fixture
def net():
    return fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=0)


def test_save_into_a_missing_folder(net, tmp_path):
    path = tmp_path / "no" / "net.npz"
    with pytest.raises(
        NetworkFileError, match=r"cannot save the network to '.*net\.npz': the folder .* does not exist"
    ):
        net.save(path)


def test_save_over_a_directory(net, tmp_path):
    with pytest.raises(NetworkFileError, match=r"it is a directory; give a file name"):
        net.save(tmp_path)


def test_save_without_permission(net, tmp_path, monkeypatch):
    def refuse(path, flags, mode=0o777, **kw):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)  # root may write anywhere: the refusal a user would get
    with pytest.raises(NetworkFileError, match=r"'.*net\.npz': no permission to write") as info:
        net.save(tmp_path / "net.npz")
    assert ".tmp" not in str(info.value)


def test_saved_files_get_the_umask_permissions(net, tmp_path):
    old = os.umask(0o027)
    try:
        net.save(tmp_path / "net.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "net.npz").stat().st_mode & 0o777 == 0o640
    net.save(tmp_path / "again.npz")
    assert (tmp_path / "again.npz").stat().st_mode & 0o777 == 0o666 & ~old


def test_a_text_file_given_as_a_network(tmp_path):
    p = tmp_path / "net.txt"
    p.write_text("layers: 2, 2, 1\n")
    with pytest.raises(
        NetworkFileError, match=r"is not a fastbp network file \(it is a text file starting 'layers"
    ) as i:
        fastbp.NeuralNetwork.load(p, backend="numpy")
    assert "allow_pickle" not in str(i.value)


def test_a_csv_given_as_data_says_how_to_read_it(tmp_path):
    p = tmp_path / "data.csv"
    p.write_text("a,b,label\n0.1,0.2,1\n")
    with pytest.raises(DataFileError, match=r"is a text file \(it starts 'a,b,label'\).*numpy\.loadtxt") as info:
        datasets.get_dataset(str(p))
    assert " 61 2c" not in str(info.value)  # not its bytes in hex


# ------------------------------------------------------------------ memory
@pytest.fixture
def two_gb(monkeypatch):
    """A machine with 2 GB available, whatever this one has."""
    import fastbp.validation

    monkeypatch.setattr(fastbp.validation, "host_bytes_available", lambda: (2 << 30, "MemAvailable (2 GB here)"))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_network_larger_than_memory_is_refused_before_allocating(two_gb, backend):
    with pytest.raises(
        fastbp.InsufficientMemoryError, match=r"needs about [\d.]+ GB of memory .* 2\.15 GB is available"
    ) as i:
        fastbp.NeuralNetwork([784, 20000, 20000, 10], backend=backend)
    assert isinstance(i.value, MemoryError) and isinstance(i.value, fastbp.FastbpError)
    assert i.value.needed > i.value.available == 2 << 30
    fastbp.NeuralNetwork([784, 300, 100, 10], backend=backend)  # a network that fits is built


def test_training_that_would_not_fit_is_refused_before_training(two_gb):
    with pytest.raises(fastbp.InsufficientMemoryError, match=r"training a network 64-800000-10 .* on 1,347 samples"):
        fastbp.train("digits", [64, 800000, 10], backend="numpy", verbose=False)
    with pytest.raises(fastbp.InsufficientMemoryError, match=r"training 400 networks 64-3000-10"):
        fastbp.train_many("digits", [64, 3000, 10], seeds=range(400), backend="numpy")


def test_estimators_refuse_a_network_larger_than_memory(two_gb):
    from fastbp.sklearn import FastBPClassifier

    X, y = np.random.default_rng(0).random((50, 784)), np.arange(50) % 3
    with pytest.raises(fastbp.InsufficientMemoryError, match=r"a network 784-20000-20000-3 .* 2\.15 GB is available"):
        FastBPClassifier((20000, 20000), epochs=1, backend="numpy").fit(X, y)
    X = np.random.default_rng(0).random((1_000_000, 64))
    with pytest.raises(fastbp.InsufficientMemoryError, match=r"training a network 64-3000-1 .* on 1,000,000 samples"):
        FastBPClassifier((3000,), epochs=1, backend="numpy").fit(X, np.arange(len(X)) % 2)


def test_the_cli_says_out_of_memory_in_one_line(two_gb, capsys):
    from fastbp.cli import main

    assert main(["train", "--layers", "64,800000,10", "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training a network 64-800000-10") and len(err.splitlines()) == 1


# ---------------------------------------------------------- failures speak
def test_dead_relu_units_end_with_a_warning_and_the_remedy():
    with pytest.warns(fastbp.TrainingWarning, match=r"relu units of hidden layer 1 are dead") as rec:
        r = fastbp.train(
            "digits", backend="numba", seed=0, epochs=20, alpha=1.0, activation="relu", output="linear", verbose=False
        )
    text = str(rec[0].message)
    assert "near chance" in text and "alpha=1 is probably too large" in text and "rate for these units is 0.03" in text
    assert r.warnings == [text]


def test_a_loss_that_rose_ends_with_a_warning():
    with pytest.warns(fastbp.TrainingWarning, match=r"the loss rose from [\d.]+ to [\d.]+; alpha=0\.1 is probably too"):
        fastbp.train(
            "digits", backend="numba", seed=0, epochs=20, alpha=0.1, activation="relu", output="softmax", verbose=False
        )


def test_near_chance_without_a_cause_says_what_may_help():
    with pytest.warns(fastbp.TrainingWarning, match=r"near chance \(0\.5.*though the loss fell.*more hidden units"):
        fastbp.train("xor", [2, 1], backend="numpy", seed=0, epochs=2000, verbose=False)


def test_a_healthy_run_gives_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", fastbp.TrainingWarning)
        r = fastbp.train(
            "digits", backend="numba", seed=0, epochs=20, activation="relu", output="softmax", verbose=False
        )
    assert r.warnings == []


def test_a_sweep_flags_the_networks_that_failed():
    res = fastbp.train_many(
        "digits", alphas=[0.03, 1.0, 1e6], activation="relu", output="linear", backend="numba", epochs=10
    )
    notes = {r.alpha: r.diagnosis for r in res.results}
    assert notes[0.03] is None and "dead" in notes[1.0].note
    table = res.table()
    assert table.count("relu units dead in layer 1") == 2  # alpha 1 and 1e6
    sat = fastbp.train_many("digits", alphas=[1e6], backend="numba", epochs=3)
    assert "outputs saturated" in sat.table() and isinstance(sat.results[0].diagnosis.kind(), fastbp.SaturationWarning)


def test_a_diverged_cli_run_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    from test_training import poison_at

    from fastbp.cli import main

    poison_at(monkeypatch, fastbp.get_backend("numpy"), 3)
    path = tmp_path / "net.npz"
    rc = main(
        ["train", "--dataset", "xor", "--backend", "numpy", "--epochs", "10", "--save", str(path), "--no-progress"]
    )
    captured = capsys.readouterr()
    assert rc == 2 and not path.exists()
    assert captured.err.startswith("error: training diverged at epoch 3") and len(captured.err.splitlines()) == 1
    assert "nothing written" in captured.err and "nan" not in captured.out.lower() and "precision" not in captured.out


# ---------------------------------------------------- progress in a log
def test_progress_outside_a_terminal_is_plain_lines(capsys, monkeypatch):
    import fastbp.loop

    monkeypatch.setattr(fastbp.loop, "PLAIN_SECONDS", 0.0)  # a line a chunk, as a long run gets one every 10 s
    fastbp.train("xor", backend="numpy", seed=0, epochs=300, display_update=0)  # verbose, progress not asked
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("train: epoch ")]
    assert len(lines) >= 2 and lines[-1].startswith("train: epoch 300/300, ") and "ETA" in lines[-1]
    assert "\r" not in err and "[####" not in err  # no bar redrawn in a log


# ------------------------------------------- the backend given is the one that trains
class Recording(NumpyBackend):
    """The NumPy backend with an option, ``log``: each training call appends
    its process id and its number of networks to that file."""

    def __init__(self, log: str = ""):
        self.log = log

    @property
    def options(self):
        return {"log": self.log}

    def train(self, P, X1, Y, alphas, epochs, record=NO_RECORD):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} {P.K}\n")
        return super().train(P, X1, Y, alphas, epochs, record)


def recorded(log) -> list[tuple[int, int]]:
    """(process id, networks) of each training call logged."""
    return [tuple(map(int, line.split())) for line in open(log).read().splitlines()] if os.path.exists(log) else []


def test_a_backend_object_trains_a_network_train_and_a_sweep(tmp_path):
    log = str(tmp_path / "calls")
    be = Recording(log)
    net = fastbp.NeuralNetwork([2, 2, 1], backend=be, seed=0)
    net.fit(X[:, :2], (X[:, 0] > 0.5).astype(float), epochs=3, verbose=False)
    assert net.backend_impl is be and recorded(log) and all(pid == os.getpid() for pid, _ in recorded(log))
    os.remove(log)
    r = fastbp.train("xor", backend=be, epochs=3, seed=0, verbose=False)
    assert r.network.backend_impl is be and recorded(log)
    os.remove(log)
    res = fastbp.train_many("xor", seeds=[0, 1, 2], backend=be, epochs=3)
    assert {k for _, k in recorded(log)} == {3} and all(n.network.backend_impl is be for n in res.results)


def test_a_backend_object_crosses_a_process_boundary_with_its_options(tmp_path):
    import pickle

    back = pickle.loads(pickle.dumps(Recording(str(tmp_path / "calls"))))
    assert type(back) is Recording and back.options == {"log": str(tmp_path / "calls")}
    spec = pickle.loads(pickle.dumps(fastbp.NeuralNetwork([2, 2, 1], backend=back).spec))
    assert type(spec.backend) is Recording and spec.backend.log == back.log


def test_cli_options_reach_the_backend_that_trains(monkeypatch, capsys):
    from fastbp.backends.numba.backend import NumbaBackend
    from fastbp.cli import main

    seen = []
    real = NumbaBackend.train

    def train(self, *args, **kwargs):
        seen.append(self.threads)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(NumbaBackend, "train", train)
    for command in ("train", "sweep"):
        seen.clear()
        args = [command, "--dataset", "xor", "--backend", "numba", "--threads", "1", "--epochs", "5", "--no-progress"]
        assert main(args) == 0 and seen and set(seen) == {1}, (command, seen)


# ------------------------------------------------ the CLI: one line, no traceback
def _files(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n0.1,0.2,1\n")
    np.savez(tmp_path / "one.npz", X=X, y=np.zeros(30, int))
    np.savez(tmp_path / "half.npz", X=X, y=np.arange(30) % 3 + 0.5)
    np.savez(tmp_path / "unseen.npz", X=X, y=np.arange(30) % 2, X_test=X, y_test=np.arange(30) % 3)
    return tmp_path


MISTAKES = [
    (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    (["--dataset", "{tmp}/missing.npz"], "does not exist"),
    (["--dataset", "{tmp}/d.csv"], "is a text file"),
    (["--dataset", "{tmp}/one.npz"], "one class only"),
    (["--dataset", "{tmp}/half.npz"], "not a whole number"),
    (["--dataset", "{tmp}/unseen.npz"], "y_test holds labels that y does not: 2"),
    (["--dataset", "xor", "--layers", "3,2,1"], "layers[0] = 3 but the data has 2 features"),
    (["--dataset", "xor", "--save", "{tmp}/no/net.npz"], "does not exist"),
    (["--dataset", "xor", "--save", "{tmp}"], "is a directory"),
    (["--dataset", "xor", "--alpha", "-1"], "alpha must be a positive finite number"),
    (["--dataset", "xor", "--alpha", "nan"], "alpha must be a positive finite number"),
    (["--dataset", "xor", "--backend", "tpu"], "unknown backend 'tpu'"),
    (["--dataset", "xor", "--seed", str(2**32)], "seed must be below 2**32"),
    (["--dataset", "digits", "--layers", "64,10000000000,10"], "of memory on the numpy backend"),
    (["--dataset", "mnist", "--data-dir", "{tmp}/nowhere"], "data_dir"),
]


@pytest.mark.parametrize("args, says", MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_mistake_on_the_command_line_is_one_line_without_a_traceback(args, says, tmp_path, capsys):
    from fastbp.cli import main

    tmp = _files(tmp_path)
    argv = ["train", "--backend", "numpy", "--epochs", "2", *[a.format(tmp=tmp) for a in args]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "args", [["--epochs", "0"], ["--epochs", "x"], ["--activation", "softplus"], ["--dtype", "f16"]]
)
def test_a_bad_option_value_is_refused_by_its_name(args, capsys):
    from fastbp.cli import main

    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "xor", *args])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"argument {args[0]}" in err and "Traceback" not in err


def test_the_program_itself_prints_no_traceback(tmp_path):
    import subprocess
    import sys

    tmp = _files(tmp_path)
    for args in (["--dataset", f"{tmp}/d.csv"], ["--dataset", "digits", "--layers", "64,10000000000,10"]):
        r = subprocess.run(
            [sys.executable, "-m", "fastbp", "train", *args], capture_output=True, text=True, timeout=300
        )
        assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
