"""The cuda backend's tuner without a GPU: the check, the timing and the
decision over stand-in kernels (tests/_tune_standins.py), in this process
and in the child processes with time limits that the backend uses."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from fastbp.backends.cuda import tune

TESTS = Path(__file__).resolve().parent
QUICK = tune.Limits(start_s=60, compile_s=30, check_s=4, time_s=30, epoch_s=1.0, call_s=0.002, rounds=3)


def make_job(dims=(6, 5, 3), dtype="float64", units=("sigmoid", "sigmoid"), K=2, rows=40, limits=QUICK):
    problem = tune.check_problem(dims, dtype, units)
    ref, ref_losses = tune.reference(problem)
    rs = np.random.RandomState(0)
    X1 = np.hstack([rs.rand(rows, dims[0] - 1), np.ones((rows, 1))]).astype(dtype)
    Y = np.eye(dims[-1], dtype=dtype)[rs.randint(0, dims[-1], rows)]
    timing = tune.Timing(tuple(dims), dtype, tuple(units), K, X1, Y)
    return tune.Job(problem, ref, ref_losses, timing, "_tune_standins:candidate", path=[str(TESTS)], limits=limits)


def standin(label, job):
    import _tune_standins

    return _tune_standins.candidate(job, label)


# -------------------------------------------------------------- the check
@pytest.mark.parametrize("units", [("sigmoid", "sigmoid"), ("relu", "softmax")])
def test_the_check_problem_has_the_workloads_shape(units):
    d = (785, 301, 101, 10)
    p = tune.check_problem(d, "float32", units)
    assert [w.shape for w in p["W"]] == [(2, a, b) for a, b in itertools.pairwise(d)]  # every layer
    assert p["X1"].shape == (64, 785) and (p["X1"][:, -1] == 1).all() and p["X1"].dtype == np.float32
    assert p["epochs"] == 3 and list(p["record"]) == [1, 2, 3]
    assert len(set(p["alphas"])) == 2  # two networks, their own alphas
    if units[1] == "softmax":
        np.testing.assert_array_equal(p["Y"].sum(axis=1), 1)


def test_the_reference_is_the_numpy_backends_per_sample_sgd():
    from fastbp.backends.numpy_backend import NumpyBackend

    p = tune.check_problem((5, 4, 3), "float64")
    W, losses = tune.reference(p)
    nb = NumpyBackend()
    for k in range(2):
        Wk = [w[k].copy() for w in p["W"]]
        for e in range(3):
            for i in range(64):
                nb.sgd_step(Wk, p["X1"][i : i + 1], p["Y"][i : i + 1], p["alphas"][k])
            assert losses[e, k] == nb.loss(Wk, p["X1"], p["Y"])
        for w, wk in zip(W, Wk):
            np.testing.assert_array_equal(w[k], wk)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "dims,units",
    [
        ((65, 33, 17, 10), ("sigmoid", "sigmoid")),
        ((785, 301, 101, 10), ("sigmoid", "sigmoid")),
        ((65, 33, 17, 10), ("relu", "softmax")),
    ],
    ids=["digits", "mnist", "digits-relu-softmax"],
)
def test_a_correct_kernel_with_other_sums_passes_the_check(dims, units, dtype):
    """The numba backend (its own order of sums, FMAs) passes the check on
    the GPU check's shapes: the tolerances are not tighter than correct
    arithmetic allows."""
    from fastbp.backends import get_backend, unavailable_reason

    if unavailable_reason("numba"):
        pytest.skip(unavailable_reason("numba"))
    be = get_backend("numba")
    job = make_job(dims, dtype, units, rows=4)
    c = tune.SeamCandidate("numba", be, be.train, job.timing)
    assert tune.check(c, job.problem, job.ref, job.ref_losses) is None


def test_disagreement_names_what_differs():
    p = tune.check_problem((5, 4, 3), "float64")
    W, losses = tune.reference(p)
    assert tune.disagreement(W, losses, W, losses, "float64") is None
    assert "W[1] differs by" in tune.disagreement([W[0], W[1] * 1.01], losses, W, losses, "float64")
    bad = [W[0].copy(), W[1]]
    bad[0][0, 0, 0] = np.nan
    assert "W[0] differs by inf" in tune.disagreement(bad, losses, W, losses, "float64")
    assert "losses differ" in tune.disagreement(W, losses * (1 + 1e-6), W, losses, "float64")
    assert tune.disagreement(W, losses * (1 + 1e-6), W, losses, "float32") is None  # within float32's tolerance
    assert "losses differ by inf" in tune.disagreement(W, losses * np.nan, W, losses, "float64")


# ----------------------------------------------- one candidate, in process
@pytest.mark.parametrize(
    "label,status,reason",
    [
        ("fast", "passed", ""),
        ("wrong", "refused", "disagrees with the NumPy backend on 2 networks of 6-5-3 x 64 samples x 3 epochs: W[0]"),
        ("racy", "refused", "its two runs of the check differ"),
        ("raising", "refused", "raised RuntimeError: an illegal memory access"),
        ("no-compile", "refused", "does not compile: RuntimeError: nvrtc"),
    ],
)
def test_evaluate_refuses_each_failure_with_its_reason(label, status, reason):
    job = make_job()
    stages = []
    o = tune.evaluate(standin(label, job), job.problem, job.ref, job.ref_losses, 2, 40, QUICK, stages.append)
    assert (o.label, o.status) == (label, status) and o.reason.startswith(reason), o
    assert stages == ["compile", "check", "time"][: len(stages)] and stages
    if status == "passed":
        assert stages[-1] == "time" and o.us_per_sample > 0 and o.plan == "stand-in (fast)"
    else:
        assert o.us_per_sample is None


def test_the_timing_is_the_median_of_synchronized_calls_on_the_callers_rows():
    calls = []

    class Counted:
        label = plan = "counted"

        def timed_run(self, epochs, rows):
            calls.append((epochs, rows))
            return 1e-4 * epochs * rows / 64

    limits = tune.Limits(call_s=0.01, rounds=4, epoch_s=1.0)
    seconds, note = tune.time_per_epoch(Counted(), 640, limits)
    assert calls[:2] == [(1, 64), (1, 64)]  # warm-up and the estimate on 64 rows
    assert calls[2:] == [(10, 640)] * 5  # one more warm-up, then 4 timed calls of about call_s
    assert seconds == pytest.approx(1e-3) and note == ""
    calls.clear()
    seconds, note = tune.time_per_epoch(Counted(), 640 * 2000, limits)  # an epoch of 2 s: estimated only
    assert len(calls) == 2 and seconds == pytest.approx(2.0) and "estimated from 64 rows" in note
    calls.clear()
    tune.time_per_epoch(Counted(), 640, limits, networks=512)  # many networks: a shorter probe
    assert calls[:2] == [(1, 16), (1, 16)]


def test_choose_takes_the_fastest_that_passed():
    O = tune.Outcome
    outcomes = [O("a", "passed", us_per_sample=2.0), O("b", "refused", "x"), O("c", "passed", us_per_sample=1.5)]
    assert tune.choose(outcomes).label == "c"
    assert tune.choose([O("b", "refused", "x")]) is None


# ------------------------------------------- in child processes, time limits
def test_every_candidate_is_evaluated_in_a_child_with_time_limits():
    """Each failure refused with its reason, in the order asked; a hanging
    candidate is stopped at the check's time limit and a raising one ends
    its child: fresh children evaluate the rest."""
    import _tune_standins

    job = make_job()
    seen = []
    labels = ["wrong", "hanging", "fast", "raising", "racy", "no-compile", "slow"]
    assert set(labels) == set(_tune_standins.BEHAVIOURS) - {"dying"}
    outcomes = tune.run_isolated(job, labels, seen.append)
    by = {o.label: o for o in outcomes}
    assert [o.label for o in outcomes] == labels and sorted(o.label for o in seen) == sorted(labels)
    assert by["hanging"].status == "refused" and "time limit of 4 s in its check stage" in by["hanging"].reason
    assert by["raising"].reason.startswith("raised RuntimeError: an illegal memory access")
    assert by["wrong"].reason.startswith("disagrees") and by["racy"].reason.startswith("its two runs")
    assert by["no-compile"].reason.startswith("does not compile")
    assert by["fast"].status == by["slow"].status == "passed"
    assert by["slow"].us_per_sample > by["fast"].us_per_sample
    assert tune.choose(outcomes).label == "fast"


def test_a_child_that_fails_refuses_what_it_did_not_evaluate():
    job = make_job()
    outcomes = tune.run_isolated(job, ["dying", "bogus", "fast"])
    assert outcomes[0].reason.startswith("the process evaluating it died (exit status 7)")
    assert outcomes[1].reason.startswith("cannot be set up: ValueError: no stand-in 'bogus'")
    assert outcomes[2].status == "passed"
    job.factory = "no_such_module_anywhere:candidate"  # every child dies before its first stage
    outcomes = tune.run_isolated(job, ["fast", "slow"])
    for o in outcomes:
        assert o.status == "refused" and "the tuning process failed (exit status 1)" in o.reason, o
        assert "ModuleNotFoundError" in o.reason


def test_decide_records_every_kernel_numba_and_the_choice():
    job = make_job()
    lines = []
    numba = standin("fast", job)  # timed in this process, the same way
    entry = tune.decide(job, ["slow", "wrong", "fast"], {"grid": "needs more shared memory"}, numba, lines.append)
    assert entry["chosen"] == "fast" and entry["K"] == 2 and entry["rows"] == 40
    assert entry["kernels"]["wrong"]["status"] == "refused" and entry["kernels"]["slow"]["us_per_sample"] > 0
    assert entry["kernels"]["grid"] == {
        "label": "grid",
        "status": tune.NOT_SERVING,
        "reason": "needs more shared memory",
        "us_per_sample": None,
        "plan": "",
    }
    assert entry["numba"]["us_per_sample"] > 0 and len(lines) == 4 and lines[-1].startswith("  numba")
    with pytest.raises(tune.KernelCheckError, match=r"no cuda kernel passed.*wrong: refused: disagrees.*numba"):
        tune.decide(job, ["wrong"], {}, None)
    here = tune.decide(job, [], {}, None, here=[standin("slow", job), standin("racy", job)])  # in this process
    assert here["chosen"] == "slow" and here["kernels"]["racy"]["reason"].startswith("its two runs")
    assert here["numba"] is None
