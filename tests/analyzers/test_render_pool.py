"""Jobs run in forked workers give what they give run here, in order (issue 16); never
forked once TensorFlow is loaded."""

from __future__ import annotations

import os
import sys
import types
from functools import partial

import pytest

import analyzers.render_pool as render_pool
from analyzers.render_pool import fork_is_safe, run_jobs


def test_jobs_run_in_other_processes_and_come_back_in_order():
    here = os.getpid()
    out = run_jobs([lambda i=i: (i, os.getpid()) for i in range(5)], workers=2)
    assert [i for i, _ in out] == list(range(5))
    if fork_is_safe():
        assert all(pid != here for _, pid in out)


def test_no_fork_once_tensorflow_is_loaded(monkeypatch):
    """A forked child of a process running TensorFlow can crash: with no fork server
    started, the jobs then run here."""
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    monkeypatch.setattr(render_pool, "_SERVER_STARTED", [])
    assert not fork_is_safe()
    assert run_jobs([os.getpid, os.getpid], workers=2) == [os.getpid()] * 2


def test_once_tensorflow_is_loaded_the_fork_server_runs_the_jobs(monkeypatch):
    """Workers of the fork server (not children of this process) run picklable jobs, in
    order; a job that cannot be pickled (a lambda) makes the run stay here."""
    assert render_pool.start_render_server()
    monkeypatch.setitem(sys.modules, "tensorflow",
                        sys.modules.get("tensorflow", types.ModuleType("tensorflow")))
    assert not fork_is_safe()
    here = os.getpid()
    out = run_jobs([partial(divmod, i, 2) for i in range(4)] + [os.getppid, os.getpid],
                   workers=2)
    assert out[:4] == [divmod(i, 2) for i in range(4)]
    assert out[4] != here and out[5] != here  # neither run here nor forked from here
    assert run_jobs([os.getpid, lambda: os.getpid()], workers=2) == [here, here]


def test_one_worker_runs_the_jobs_here():
    assert run_jobs([os.getpid, os.getpid], workers=1) == [os.getpid()] * 2


def test_a_failing_job_stops_the_run_with_its_error():
    def fail():
        raise ValueError("error: the third picture")

    with pytest.raises(ValueError, match="the third picture"):
        run_jobs([lambda: 1, lambda: 2, fail, lambda: 4], workers=2)


def test_the_fork_servers_workers_start_with_pyfolio_imported(monkeypatch):
    """The server imports the drawing code and pyfolio before it forks (about 0.1 s a
    worker otherwise): a worker's first job finds them imported."""
    assert render_pool.start_render_server()
    monkeypatch.setitem(sys.modules, "tensorflow",
                        sys.modules.get("tensorflow", types.ModuleType("tensorflow")))
    imported = partial(eval, "[m in __import__('sys').modules for m in "
                             "('pyfolio', 'analyzers.report', 'pandas.plotting._matplotlib')]")
    assert run_jobs([imported, imported], workers=2) == [[True] * 3] * 2


def test_the_fork_server_leaves_ctrl_c_to_the_command():
    """Its first import makes it (and the workers it forks) ignore SIGINT: a Ctrl-C printed
    their import's traceback under the command's own 'interrupted'."""
    import subprocess
    import sys

    from analyzers import render_pool

    assert render_pool._PRELOAD[0] == "analyzers.ignore_interrupts"
    code = ("import signal, analyzers.ignore_interrupts; "
            "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "True"


_STUCK_JOBS = '''
import os, sys, threading, types
from functools import partial

import analyzers.render_pool as render_pool


def stuck(number):
    # one write of a few bytes to the pipe both workers share: their lines never mix
    os.write(1, f"worker {os.getpid()}\n".encode())
    threading.Event().wait()  # a picture that never ends


if __name__ == "__main__":
    if sys.argv[1] == "forkserver":
        render_pool.start_render_server()
        sys.modules.setdefault("tensorflow", types.ModuleType("tensorflow"))
    render_pool.run_jobs([partial(stuck, 0), partial(stuck, 1)], workers=2)
'''


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits on pidfds (Linux)")
@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_workers_end_when_their_command_is_killed_outright(start, tmp_path):
    """``kill -9`` of a command drawing its report: its workers (and the fork server, which
    lives while they do) used to stay, waiting for jobs forever."""
    import itertools
    import select
    import signal
    import subprocess
    from pathlib import Path

    script = tmp_path / "stuck_report.py"
    script.write_text(_STUCK_JOBS)
    env = {**os.environ, "PYTHONPATH": str(Path(render_pool.__file__).parents[1])}
    command = subprocess.Popen([sys.executable, str(script), start], stdout=subprocess.PIPE,
                               text=True, env=env)
    try:
        # the workers' lines, among whatever else the command prints
        said = (line.split() for line in command.stdout)
        workers = list(itertools.islice((int(w[1]) for w in said if w[:1] == ["worker"]), 2))
        ends = [os.pidfd_open(pid) for pid in workers]
    finally:
        command.send_signal(signal.SIGKILL)
        command.wait(timeout=60)
    for end in ends:
        readable, _, _ = select.select([end], [], [], 30)
        assert readable, "a worker outlived its command"
        os.close(end)
