"""Watching a run: the metrics collector and its sinks, the process-tree resource monitor, and
the progress bars people see."""
