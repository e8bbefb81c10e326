"""Jobs run in forked workers give what they give run here, in order (issue 16); never
forked once TensorFlow is loaded."""

from __future__ import annotations

import os
import sys
import types

import pytest

from analyzers.render_pool import fork_is_safe, run_jobs


def test_jobs_run_in_other_processes_and_come_back_in_order():
    here = os.getpid()
    out = run_jobs([lambda i=i: (i, os.getpid()) for i in range(5)], workers=2)
    assert [i for i, _ in out] == list(range(5))
    if fork_is_safe():
        assert all(pid != here for _, pid in out)


def test_no_fork_once_tensorflow_is_loaded(monkeypatch):
    """A forked child of a process running TensorFlow can crash: the jobs then run here."""
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    assert not fork_is_safe()
    assert run_jobs([os.getpid, os.getpid], workers=2) == [os.getpid()] * 2


def test_one_worker_runs_the_jobs_here():
    assert run_jobs([os.getpid, os.getpid], workers=1) == [os.getpid()] * 2


def test_a_failing_job_stops_the_run_with_its_error():
    def fail():
        raise ValueError("error: the third picture")

    with pytest.raises(ValueError, match="the third picture"):
        run_jobs([lambda: 1, lambda: 2, fail, lambda: 4], workers=2)
