"""What every command shares: the settings, with --config and --data-dir applied."""

from __future__ import annotations

import argparse

from onshore.settings import Settings, load_settings


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        gateway = settings.file.gateway
        import msgspec

        file = msgspec.structs.replace(settings.file, gateway=msgspec.structs.replace(gateway, data_dir=data_dir))
        settings = Settings(file=file, secrets=settings.secrets, source=settings.source)
    return settings
