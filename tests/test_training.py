"""The one training loop reproduces the reference's published results."""

import io

import numpy as np
import pytest

import fastbp
from fastbp.backends.base import NO_RECORD
from fastbp.errors import TrainingDivergedError

#: The NumPy backend's per-sample loop is slow; it proves the loop with fewer
#: digits epochs, the compiled backends run the reference's full 1,000.
DIGITS_EPOCHS = {"numpy": 100}


def test_xor_reproduces_the_reference(backend_name):
    out = io.StringIO()
    r = fastbp.train("xor", backend=backend_name, seed=0, out=out, progress=False)
    assert (r.layers, r.alpha, r.epochs) == ([2, 2, 1], 0.5, 20000)
    assert r.final_loss < 1e-3
    assert 0.3 < r.loss_history[0] < 0.7  # starts near the reference's 0.51
    p = r.test_outputs[:, 0]
    np.testing.assert_array_equal(p >= 0.5, [False, True, True, False])
    assert r.accuracy == 1.0
    text = out.getvalue()
    assert "[INFO] epoch=1, loss=" in text and "[INFO] epoch=20000, loss=" in text
    assert text.count("[INFO] epoch=") == 1 + 20000 // 100


def test_xor_without_hidden_layer_cannot_learn(backend_name):
    r = fastbp.train("xor", [2, 1], backend=backend_name, seed=0, verbose=False)
    p = r.test_outputs[:, 0]
    assert np.all(np.abs(p - 0.5) < 0.1), p  # stuck near 0.5, as in the reference
    assert r.accuracy < 1.0
    assert r.final_loss > 0.4


def test_digits_reproduces_the_reference(backend_name):
    epochs = DIGITS_EPOCHS.get(backend_name, 1000)
    r = fastbp.train("digits", backend=backend_name, seed=0, epochs=epochs, verbose=False)
    assert r.n_train == 1347 and len(r.network.predict(np.zeros((1, 64)))[0]) == 10
    assert r.accuracy >= 0.96, r.report
    assert 400 < r.loss_history[0] < 800  # the reference starts near 605
    assert r.final_loss < r.loss_history[0] / 50
    if epochs == 1000:
        assert r.final_loss < 5.0  # the reference ends near 1.1
    assert "precision" in r.report and r.report_dict["accuracy"] == pytest.approx(r.accuracy)
    assert r.samples_per_second > 0 and r.wall_time > 0


def test_loss_history_and_display(backend_name):
    out = io.StringIO()
    r = fastbp.train("xor", backend=backend_name, seed=0, epochs=50, display_update=20, loss_every=10, out=out)
    np.testing.assert_array_equal(r.loss_epochs, [1, 10, 20, 30, 40, 50])
    lines = [l for l in out.getvalue().splitlines() if l.startswith("[INFO] epoch=")]
    assert [l.split(",")[0] for l in lines] == ["[INFO] epoch=1", "[INFO] epoch=20", "[INFO] epoch=40"]
    assert lines[0] == f"[INFO] epoch=1, loss={r.loss_history[0]:.7f}"


def poison_at(monkeypatch, be, epoch, network=0):
    """Makes ``be.train`` set one weight of ``network`` to NaN before the
    ``epoch``-th epoch it runs (counted over all calls)."""
    real = be.train
    count = {"epoch": 0}

    def train(P, X1, Y, alphas, epochs, record=NO_RECORD):
        rows = []
        for e in range(1, epochs + 1):
            count["epoch"] += 1
            if count["epoch"] == epoch and network < P.K:
                P.W[0][network, 0, 0] = np.nan
            rec = np.array([1]) if e in record else NO_RECORD
            got = real(P, X1, Y, alphas, 1, rec)
            rows.extend(got)
        return np.array(rows).reshape(len(record), P.K)

    monkeypatch.setattr(be, "train", train)


def test_divergence_stops_and_keeps_last_finite_weights(backend_name, monkeypatch):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0], float)
    net = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    poison_at(monkeypatch, net.backend_impl, 4)
    with pytest.raises(TrainingDivergedError, match="epoch 4") as info:
        net.fit(X, y, epochs=10, verbose=False)
    assert info.value.epoch == 4 and info.value.last_finite_epoch == 3
    assert info.value.run.history(0)[0].tolist() == [1, 2, 3]
    monkeypatch.undo()
    ref = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    ref.fit(X, y, epochs=3, verbose=False)
    for a, b in zip(net.W, ref.W):
        np.testing.assert_array_equal(a, b)


def test_train_reports_divergence_with_its_partial_result(monkeypatch):
    be = fastbp.get_backend("numpy")
    poison_at(monkeypatch, be, 6)
    with pytest.raises(TrainingDivergedError) as info:
        fastbp.train("xor", backend="numpy", seed=0, epochs=20, loss_every=2, verbose=False)
    r = info.value.result
    assert info.value.epoch == 6 and info.value.last_finite_epoch == 4
    assert list(r.loss_epochs) == [1, 2, 4] and r.network is not None
    assert all(np.isfinite(w).all() for w in r.network.W)


def test_huge_alpha_reports_divergence_or_finite(backend_name):
    # Enormous steps saturate the sigmoids; whatever happens, no silent NaN.
    net = fastbp.NeuralNetwork([2, 2, 1], 1e300, backend=backend_name, seed=0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float) * 1e3
    y = np.array([0, 1, 1, 0], float)
    try:
        net.fit(X, y, epochs=5, verbose=False)
    except TrainingDivergedError as exc:
        assert exc.epoch >= 1
    assert all(np.isfinite(w).all() for w in net.W)


def test_train_on_user_arrays_with_labels(backend_name):
    rng = np.random.RandomState(0)
    X = rng.rand(60, 4)
    labels = np.where(X[:, 0] > 0.5, "hi", "lo")
    r = fastbp.train(
        X=X,
        y=labels,
        X_test=X,
        y_test=labels,
        layers=[4, 6, 2],
        backend=backend_name,
        epochs=200,
        alpha=0.5,
        seed=1,
        verbose=False,
    )
    assert r.accuracy > 0.9
    assert "hi" in r.report


def test_seed_none_is_recorded_and_reproducible():
    r1 = fastbp.train("xor", backend="numpy", epochs=3, verbose=False)
    assert isinstance(r1.seed, int)
    r2 = fastbp.train("xor", backend="numpy", epochs=3, seed=r1.seed, verbose=False)
    for a, b in zip(r1.network.W, r2.network.W):
        np.testing.assert_array_equal(a, b)


def test_progress_bar_writes_eta(capsys):
    fastbp.train("xor", backend="numpy", epochs=30, seed=0, progress=True, display_update=0)
    captured = capsys.readouterr()
    assert "ETA" in captured.err and "30/30" in captured.err
    assert "[INFO] epoch=" not in captured.out  # display_update=0: no loss lines at all


def test_float32_training_works(backend_name):
    r = fastbp.train("xor", backend=backend_name, seed=0, dtype="float32", verbose=False)
    assert r.network.W[0].dtype == np.float32
    assert r.accuracy == 1.0 and r.final_loss < 1e-3


def interrupt_after(monkeypatch, be, calls):
    """Makes the ``calls``-th call of ``be.train`` deliver a Ctrl-C (SIGINT)
    to this process while it trains, as a user would."""
    import signal

    real = be.train
    count = {"n": 0}

    def train(*args, **kwargs):
        count["n"] += 1
        if count["n"] == calls:
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(be, "train", train)


def test_ctrl_c_stops_at_the_end_of_a_chunk_and_keeps_the_last_epoch(backend_name, monkeypatch):
    from fastbp.errors import TrainingInterrupted

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0], float)
    net = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    interrupt_after(monkeypatch, net.backend_impl, 3)
    with pytest.raises(TrainingInterrupted, match="interrupted after epoch") as info:
        net.fit(X, y, epochs=10**7, verbose=False)
    done = info.value.run.epochs_done
    assert 1 < done < 10**7  # the chunk in progress completed, then it stopped
    assert info.value.run.history(0)[0][-1] == done
    monkeypatch.undo()
    ref = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=backend_name, seed=0)
    ref.fit(X, y, epochs=done, verbose=False)
    for a, b in zip(net.W, ref.W):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_in_train_gives_the_partial_result(monkeypatch):
    from fastbp.errors import TrainingInterrupted

    interrupt_after(monkeypatch, fastbp.get_backend("numpy"), 2)
    with pytest.raises(TrainingInterrupted) as info:
        fastbp.train("xor", backend="numpy", seed=0, epochs=10**6, verbose=False)
    r = info.value.result
    assert r.interrupted and 1 <= r.epochs < 10**6 and r.loss_epochs[-1] == r.epochs
    assert r.accuracy is not None and "(interrupted)" in r.summary()


def test_saturated_outputs_end_with_a_warning():
    with pytest.warns(fastbp.SaturationWarning, match="smaller one") as rec:
        r = fastbp.train("digits", backend="numpy", seed=0, epochs=3, alpha=1e6, verbose=False)
    assert r.warnings and "alpha=1e+06" in str(rec[0].message)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", fastbp.SaturationWarning)
        fastbp.train("xor", backend="numpy", seed=0, epochs=300, verbose=False)  # a healthy run: no warning


def test_eta_comes_from_measured_epochs_not_compilation(monkeypatch, capsys):
    import re
    import time as _time

    be = fastbp.get_backend("numpy")
    monkeypatch.setattr(be, "compile", lambda *a: _time.sleep(1.5))  # a slow JIT before the first epoch
    r = fastbp.train("xor", backend="numpy", epochs=300, seed=0, progress=True, display_update=0)
    etas = re.findall(r"ETA (\d+):(\d+)", capsys.readouterr().err)
    assert etas and all(int(m) * 60 + int(s) <= 1 for m, s in etas)  # 300 XOR epochs take well under a second
    assert r.compile_time >= 1.5 and r.wall_time < 1.5  # throughput excludes the compile time


def test_sweep_shows_a_progress_bar(capsys):
    fastbp.train_many("xor", alphas=[0.5], seeds=[0, 1], backend="numpy", epochs=30, progress=True)
    assert "sweep [" in capsys.readouterr().err


def test_a_second_ctrl_c_stops_at_once_keeping_the_last_completed_epoch(monkeypatch):
    import signal

    from fastbp.errors import TrainingInterrupted

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    y = np.array([0, 1, 1, 0], float)
    net = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend="numpy", seed=0)
    be = net.backend_impl
    real, completed = be.train, []

    def train(P, X1, Y, alphas, epochs, record=NO_RECORD):
        if len(completed) == 2:
            real(P, X1, Y, alphas, 1, NO_RECORD)  # halfway through the call's epochs...
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # ... the second Ctrl-C leaves the call
            pytest.fail("the call went on after the second Ctrl-C")
        out = real(P, X1, Y, alphas, epochs, record)
        completed.append(epochs)
        return out

    monkeypatch.setattr(be, "train", train)
    with pytest.raises(TrainingInterrupted) as info:
        net.fit(X, y, epochs=10**6, verbose=False)
    done = sum(completed)
    assert info.value.run.epochs_done == done and f"after epoch {done} of" in str(info.value)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's own handler is back
    monkeypatch.undo()
    ref = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend="numpy", seed=0)
    ref.fit(X, y, epochs=done, verbose=False)
    for a, b in zip(net.W, ref.W):
        np.testing.assert_array_equal(a, b)  # the last completed epoch's weights, not the abandoned call's


def test_ctrl_c_while_compiling_lets_it_end_and_starts_no_epoch(monkeypatch):
    import signal

    from fastbp.errors import TrainingInterrupted

    be = fastbp.get_backend("numpy")
    done = []

    def compile(P, X1, Y):
        signal.raise_signal(signal.SIGINT)
        done.append(True)  # not cut short

    monkeypatch.setattr(be, "compile", compile)
    with pytest.raises(TrainingInterrupted, match="before the first epoch of 100") as info:
        fastbp.train("xor", backend="numpy", seed=0, epochs=100, verbose=False)
    r = info.value.result
    assert done and r.epochs == 0 and r.interrupted
    for a, b in zip(r.network.W, fastbp.NeuralNetwork([2, 2, 1], backend="numpy", seed=0).W):
        np.testing.assert_array_equal(a, b)  # the initial weights


def test_a_backend_that_is_not_interruptible_finishes_its_call_first(monkeypatch):
    import signal

    from fastbp.backends.numpy_backend import NumpyBackend
    from fastbp.errors import TrainingInterrupted

    class Whole(NumpyBackend):
        interruptible = False  # as numba: its call's threads must see it end

        def train(self, P, X1, Y, alphas, epochs, record=NO_RECORD):
            if calls.append(epochs) or len(calls) == 3:
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)  # held: the call goes on
            return super().train(P, X1, Y, alphas, epochs, record)

    calls: list[int] = []
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    net = fastbp.NeuralNetwork([2, 2, 1], 0.5, backend=Whole(), seed=0)
    with pytest.raises(TrainingInterrupted) as info:
        net.fit(X, np.array([0, 1, 1, 0], float), epochs=10**6, verbose=False)
    assert len(calls) == 3 and info.value.run.epochs_done == sum(calls)  # the third call completed
