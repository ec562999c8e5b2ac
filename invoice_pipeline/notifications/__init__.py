"""Notifications: the daily summary and provider change emails, rendered from Jinja2 templates."""
