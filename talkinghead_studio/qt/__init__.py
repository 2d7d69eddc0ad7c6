"""The desktop studio. The only package that imports PySide6.

app.py starts it; main_window.py composes the window from widgets.py, dialogs.py and
actions.py; workers.py runs everything slow off the GUI thread; settings.py persists
preferences with QSettings.
"""
