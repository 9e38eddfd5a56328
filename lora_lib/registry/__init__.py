"""Registry (ground floor): adapter versions, routes, audit and lineage: the record every stage reads.

SQLAlchemy 2.x on SQLite by default, PostgreSQL for a team. Imports no stage.
"""

from .names import STATUSES, WEIGHTS_FILE, adapter_name, parse_adapter_name
from .registry import Registry
from .tables import now_iso

__all__ = ["STATUSES", "WEIGHTS_FILE", "Registry", "adapter_name", "now_iso", "parse_adapter_name"]
