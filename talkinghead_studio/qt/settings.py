"""Preferences that persist across runs, through QSettings.

Only the GUI reads these; it turns them into config dataclasses for the core. Values
are checked on the way out, because a settings file can be edited by hand or left by
an older version.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from talkinghead_studio.config import ExportSettings

ORGANIZATION = "TalkingHeadStudio"
APPLICATION = "Talking-Head Studio"
MAX_RECENT = 8
PROVIDERS = ("auto", "cpu", "cuda")
FORMATS = ("mp4", "png", "gif")


class _Flag:
    """An on/off preference stored under ``key``: a property of AppSettings."""

    def __init__(self, key: str, default: bool) -> None:
        self.key, self.default = key, default

    def __get__(self, settings: "AppSettings", owner=None) -> bool:
        return self if settings is None else settings._bool(self.key, self.default)

    def __set__(self, settings: "AppSettings", value: bool) -> None:
        settings.store.setValue(self.key, bool(value))


class AppSettings:
    """Typed access to the app's QSettings. Tests pass their own (INI file) store."""

    show_landmarks = _Flag("view/landmarks", True)
    zoom_face = _Flag("view/zoom_face", False)
    rigid_glasses = _Flag("render/rigid_glasses", True)

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings(ORGANIZATION, APPLICATION)

    # ---------------------------------------------------------------- raw helpers
    def _str(self, key: str, default: str = "") -> str:
        value = self.store.value(key, default)
        return default if value is None else str(value)

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self.store.value(key, default))
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool) -> bool:
        value = self.store.value(key, default)
        if isinstance(value, str):   # INI files give strings back
            return value.lower() in ("true", "1", "yes")
        return bool(value)

    def _list(self, key: str) -> list[str]:
        value = self.store.value(key, [])
        if value is None:
            return []
        if isinstance(value, str):   # a one-item list comes back as a string
            return [value]
        return [str(v) for v in value]

    def sync(self) -> None:
        self.store.sync()

    # --------------------------------------------------------------- recent files
    def recent(self, kind: str) -> list[str]:
        """Recent files of a kind ("portrait", "driver") that still exist, newest first."""
        return [p for p in self._list(f"recent/{kind}") if Path(p).exists()]

    def add_recent(self, kind: str, path: str | Path) -> None:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self._list(f"recent/{kind}") if p != path]
        self.store.setValue(f"recent/{kind}", items[:MAX_RECENT])
        self.set_last_dir(kind, Path(path).parent)

    def clear_recent(self) -> None:
        for kind in ("portrait", "driver"):
            self.store.remove(f"recent/{kind}")

    # --------------------------------------------------------------- last folders
    def last_dir(self, kind: str, fallback: str | Path | None = None) -> str:
        """The folder a file of this kind last came from; else ``fallback`` (a file or a
        folder: its folder), else the home folder."""
        folder = self._str(f"folders/{kind}")
        if folder and Path(folder).is_dir():
            return folder
        if fallback is not None:
            fallback = Path(fallback)
            fallback = fallback if fallback.is_dir() else fallback.parent
            if fallback.is_dir():
                return str(fallback)
        return str(Path.home())

    def set_last_dir(self, kind: str, folder: str | Path) -> None:
        self.store.setValue(f"folders/{kind}", str(folder))

    # ----------------------------------------------------------------- the window
    def window_geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    # ------------------------------------------------------------ render settings
    @property
    def provider(self) -> str:
        value = self._str("render/provider", "auto")
        return value if value in PROVIDERS else "auto"

    @provider.setter
    def provider(self, value: str) -> None:
        self.store.setValue("render/provider", value)

    @property
    def size(self) -> int:
        value = self._int("render/size", 256)
        return value if value in (256, 512) else 256

    @size.setter
    def size(self, value: int) -> None:
        self.store.setValue("render/size", int(value))

    # ------------------------------------------------------------ export settings
    def export_settings(self) -> ExportSettings:
        defaults = ExportSettings()
        fmt = self._str("export/format", defaults.format)
        crf = self._int("export/crf", defaults.crf)
        return ExportSettings(
            format=fmt if fmt in FORMATS else defaults.format,
            crf=crf if 0 <= crf <= 51 else defaults.crf,
            keep_audio=self._bool("export/keep_audio", defaults.keep_audio),
            watermark=self._bool("export/watermark", defaults.watermark),
        )

    def set_export_settings(self, export: ExportSettings) -> None:
        self.store.setValue("export/format", export.format)
        self.store.setValue("export/crf", export.crf)
        self.store.setValue("export/keep_audio", export.keep_audio)
        self.store.setValue("export/watermark", export.watermark)
