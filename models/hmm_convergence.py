"""hmmlearn's "Model is not converging" note, said in the project's words.

hmmlearn's ConvergenceMonitor logs ``Model is not converging.  Current: -2931.577 is not
greater than -2931.577. Delta is -1.55e-05`` on the ``hmmlearn.base`` logger when an EM
step lowers the log-likelihood (EM then stops: a fall is below ``tol``). Left alone it
reached the user as ``WARNING hmmlearn.base: ...`` (or nothing under ``-q``), without
saying which model it was, whether the fit was kept, or what to change. ``fit_noting``
fits one HMM with that note held back and returns it; the regime classifier says it in
plain words for the fit it keeps (``not_converged_words``), on its own logger, which the
command line prints as a ``warning:`` line. hmmlearn also counts EM that reached its
``n_iter`` limit as converged, and logs nothing, though the log-likelihood may still be
rising by more than ``tol``: ``ran_out`` tells that case and ``ran_out_words`` says it.
"""

from __future__ import annotations

import logging

#: the start of hmmlearn's ConvergenceMonitor note (hmmlearn/base.py)
NOT_CONVERGING = "Model is not converging"


class _HoldBack(logging.Filter):
    """Keeps the ConvergenceMonitor's notes out of the log; lets hmmlearn's other records
    through only at the level the logger had (``-q`` raises it to ERROR)."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level
        self.notes: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(NOT_CONVERGING):
            self.notes.append(record.getMessage())
            return False
        return record.levelno >= self.level


def fit_noting(hmm, Z) -> list[str]:
    """Fit ``hmm`` on ``Z`` and return hmmlearn's convergence notes of that fit (none when
    every EM step raised the log-likelihood), which never reach the log themselves."""
    logger = logging.getLogger("hmmlearn.base")
    held = _HoldBack(logger.getEffectiveLevel())
    level = logger.level
    logger.addFilter(held)
    logger.setLevel(min(logging.WARNING, held.level))  # -q must not hide the note from us
    try:
        hmm.fit(Z)
    finally:
        logger.removeFilter(held)
        logger.setLevel(level)
    return held.notes


def not_converged_words(hmm, restart: int, restarts: int) -> str:
    """What did not converge and what the user can change, for a fitted ``hmm`` whose
    EM lowered its log-likelihood at its last step (``fit_noting`` returned a note)."""
    history = list(hmm.monitor_.history)
    fell = (f" from {history[-2]:.6f} to {history[-1]:.6f}" if len(history) >= 2 else "")
    kept = f" (restart {restart + 1} of {restarts}, the one kept)" if restarts > 1 else ""
    return (f"the regime classifier's HMM{kept} did not converge: at EM "
            f"iteration {hmm.monitor_.iter} its log-likelihood fell{fell} instead of rising, "
            "so EM stopped there and its regimes are those of that step; a longer training "
            "history (an earlier --hmm-start), more restarts ([hmm] n_init in a --config "
            f"file, now {restarts}) or a larger [hmm] tol (now {hmm.tol:g}) may give EM a fit "
            "that converges")


def ran_out(hmm) -> bool:
    """Whether EM of a fitted ``hmm`` stopped at its ``n_iter`` limit while its
    log-likelihood still rose by at least ``tol`` a step (hmmlearn calls that converged)."""
    monitor = hmm.monitor_
    history = list(monitor.history)
    return (monitor.iter >= monitor.n_iter and len(history) >= 2
            and history[-1] - history[-2] >= monitor.tol)


def ran_out_words(hmm, restart: int, restarts: int) -> str:
    """What stopped and what the user can change, for a fitted ``hmm`` that ``ran_out``."""
    history = list(hmm.monitor_.history)
    kept = f" (restart {restart + 1} of {restarts}, the one kept)" if restarts > 1 else ""
    return (f"the regime classifier's HMM{kept} did not converge: EM stopped at its limit of "
            f"{hmm.n_iter} iterations with its log-likelihood still rising by "
            f"{history[-1] - history[-2]:.6g} a step (tol {hmm.tol:g}), so its regimes are "
            f"those of that step; a larger [hmm] n_iter in a --config file (now {hmm.n_iter}) "
            "lets EM run on")
