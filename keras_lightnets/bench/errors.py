"""Errors of the benchmark runners."""


class BenchmarkError(RuntimeError):
    """The benchmark could not run or finish: no adb, no device, a device that went
    away, a run that hung, a tool that failed. Bad arguments are ValueError."""
