"""Speed and scale measurements (``python -m benchmarks.<name>``); never part of the test run."""
