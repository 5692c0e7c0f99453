"""Personal-data detection, pseudonymisation and restoration (pure, no I/O)."""

from onshore.protect.detect import Detector, DetectorConfig, NameLayer
from onshore.protect.findings import DATA_CLASS, PSEUDONYMISED_TYPES, Finding, data_class_of
from onshore.protect.pseudonymise import pseudonymise
from onshore.protect.restore import RestoreResult, StreamRestorer, restore
from onshore.protect.vault import Vault

__all__ = [
    "DATA_CLASS",
    "PSEUDONYMISED_TYPES",
    "Detector",
    "DetectorConfig",
    "Finding",
    "NameLayer",
    "RestoreResult",
    "StreamRestorer",
    "Vault",
    "data_class_of",
    "pseudonymise",
    "restore",
]
