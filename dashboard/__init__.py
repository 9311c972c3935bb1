"""The supervision dashboard (Streamlit + Plotly): see docs/dashboard.md.

``app.py`` is the entry point and ``views/`` the pages (a folder named ``pages/`` would switch Streamlit to its old multipage mode); ``data.py`` is the only place that queries the
warehouse (every query scoped in SQL); ``auth.py`` users and roles; ``charts.py`` figures; ``labels.py``
words; ``ui.py`` what pages share; ``service.py`` hosting under ``hcp serve``; ``cli.py`` the commands.
"""
