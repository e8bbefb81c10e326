"""Imported by the report's fork server (``analyzers.render_pool``) before it forks a
worker, so that no worker imports the drawing code on its own: ``analyzers.report`` (it
selects the Agg backend), and pyfolio with what it pulls in (IPython, seaborn,
statsmodels) and pandas' matplotlib plotting, which the report imports only when it draws
a tear sheet: about 0.1 s in every worker otherwise. Imported quietly, as the report
imports pyfolio. Nothing else imports this module."""

from analyzers.report import quietly

with quietly():
    import pandas.plotting._matplotlib  # noqa: F401
    import pyfolio  # noqa: F401
