"""Onshore: a sovereign AI gateway.

A request walks one path: identify -> decide -> protect -> route -> prove.
Each stage is a sub-package of the same name; `edge` is the HTTP surface and `app` wires them.
"""

__version__ = "0.1.0"
