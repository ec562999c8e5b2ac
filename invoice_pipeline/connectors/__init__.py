"""Provider connectors: how invoices reach the pipeline (folder drops, Partner Center).

To add a connector: a package here with its settings model (a `settings.ConnectorSettings`) and a factory
`(settings, base.ConnectorContext) -> base.ProviderConnector`, and one line in `registry.py`.
"""
