"""The connectors the configuration can name in a provider's `connector:`, one line each: its settings model and
what builds it.

A new connector is a package under `connectors/` with a `ConnectorSettings` subclass (the keys it adds to its
provider's entry) and a factory `(settings, ConnectorContext) -> ProviderConnector`, plus one line below. The
configuration validates each provider's own keys with the model of the connector it names (`folder` when it names
none); the composition root builds the connector with its factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from invoice_pipeline.connectors.base import ConnectorContext, ProviderConnector
from invoice_pipeline.connectors.folder import FolderConnector, FolderSettings
from invoice_pipeline.connectors.partner_center.settings import (
    PartnerCenterConnectorSettings,
    partner_center_connector,
)
from invoice_pipeline.connectors.settings import ConnectorSettings

Settings = TypeVar("Settings", bound=ConnectorSettings)

DEFAULT_CONNECTOR = "folder"  # the connector of a provider whose entry names none


@dataclass(frozen=True)
class Connector(Generic[Settings]):
    """A connector as the configuration names it: the model of its settings, and what builds it from them."""

    settings: type[Settings]
    build: Callable[[Settings, ConnectorContext], ProviderConnector]

    def connect(self, settings: ConnectorSettings, context: ConnectorContext) -> ProviderConnector:
        """This connector, built for a provider with these settings (its own model's, or TypeError)."""
        if not isinstance(settings, self.settings):
            wanted = self.settings.__name__
            raise TypeError(f"{type(settings).__name__} are not the settings of this connector: {wanted}")
        return self.build(settings, context)


CONNECTORS: dict[str, Connector[Any]] = {
    "folder": Connector(FolderSettings, FolderConnector),
    "partner_center": Connector(PartnerCenterConnectorSettings, partner_center_connector),
}
