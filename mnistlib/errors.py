"""The one exception mnistlib raises on purpose."""


class Refusal(ValueError):
    """An input or a state mnistlib refuses on purpose: an unknown iteration, a value out of range,
    a record it will not replace, missing or corrupt data. The message says what and what to do;
    `python -m mnistlib` prints it in one line. Any other exception is a bug, and keeps its
    traceback. A ValueError, so `except ValueError` and `pytest.raises(ValueError)` still catch it."""
