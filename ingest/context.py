"""Everything one run of a command works with, built once from the config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.convert import libreoffice
from notify import Notifier
from parsers.forms import FormDefinition, builtin_definitions
from store.config import Settings
from store.db import Store
from store.model import Campaign
from store.oplog import OperatorLog

if TYPE_CHECKING:
    from parsers.reading import Converter


@dataclass(frozen=True)
class Context:
    settings: Settings
    campaign: Campaign
    store: Store
    oplog: OperatorLog
    clock: Callable[[], datetime]  # `--now` when given, else the real clock
    notifier: Notifier
    definitions: tuple[FormDefinition, ...]
    convert: Converter | None  # LibreOffice, when installed

    @classmethod
    def build(cls, settings: Settings, clock: Callable[[], datetime]) -> Context:
        campaign = settings.campaign_model()
        data_dir = settings.data_dir
        store = Store(data_dir, settings.db_url, clock)
        oplog = OperatorLog(data_dir / "operator.log", clock, campaign.timezone)
        return cls(
            settings=settings,
            campaign=campaign,
            store=store,
            oplog=oplog,
            clock=clock,
            notifier=Notifier(settings, store.db, oplog, clock),
            definitions=builtin_definitions(settings.campaign.forms),
            convert=libreoffice(),
        )

    def known_senders(self) -> dict[str, str]:
        """Sender address -> unit: the config's addresses, then those learned from forms."""
        known = {e: u.name for u in self.campaign.units for e in u.emails}
        known.update(self.store.learned_senders())
        return known

    def close(self) -> None:
        self.store.close()
