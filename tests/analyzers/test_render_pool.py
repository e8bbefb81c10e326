"""Jobs run in forked workers give what they give run here, in order (issue 16)."""

from __future__ import annotations

import os

import pytest

from analyzers.render_pool import run_jobs


def test_jobs_run_in_other_processes_and_come_back_in_order():
    here = os.getpid()
    out = run_jobs([lambda i=i: (i, os.getpid()) for i in range(5)], workers=2)
    assert [i for i, _ in out] == list(range(5))
    if "fork" in __import__("multiprocessing").get_all_start_methods():
        assert all(pid != here for _, pid in out)


def test_one_worker_runs_the_jobs_here():
    assert run_jobs([os.getpid, os.getpid], workers=1) == [os.getpid()] * 2


def test_a_failing_job_stops_the_run_with_its_error():
    def fail():
        raise ValueError("error: the third picture")

    with pytest.raises(ValueError, match="the third picture"):
        run_jobs([lambda: 1, lambda: 2, fail, lambda: 4], workers=2)
