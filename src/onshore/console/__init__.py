"""The admin console: a browser view of where requests went and under whose law, whether the proof
is intact, and the kill switch. Served on its own listener (gateway.console), never the API's port.

Server-rendered HTML (Jinja2, autoescaped), own CSS and a few lines of own script; nothing is loaded
from anywhere else, so it works offline and leaks nothing. Built and started by app.py.
"""
