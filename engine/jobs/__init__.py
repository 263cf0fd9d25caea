"""The job system: records and their SQLite table, the queue, the built-in kinds, the worker
and the Ray dispatcher."""
