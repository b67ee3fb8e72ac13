from django.apps import AppConfig


class RemoteMcpConfig(AppConfig):
    """Remote MCP: the OAuth 2.1 pages and endpoints of /mcp (django-oauth-toolkit), the connected clients
    under Settings, and `runserver` serving the ASGI app (config.asgi) so that /mcp works under it too."""

    name = "mcp_bridge.remote"
    label = "mcp_remote"
    verbose_name = "Remote MCP"
