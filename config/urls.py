from django.contrib import admin
from django.urls import include, path

from config.api import api_aware_400, api_aware_403, api_aware_404, api_aware_500, schema_view
from kite.urls import api_urlpatterns as kite_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", schema_view(), name="api-schema"),
    path("api/", include("accounts.api_urls")),
    path("api/", include(kite_api)),
    path("", include("kite.urls")),
    path("", include("accounts.urls")),
    path("", include("mcp_bridge.remote.urls")),  # OAuth 2.1 of /mcp, Settings > Connected clients
]

handler400 = api_aware_400
handler403 = api_aware_403
handler404 = api_aware_404
handler500 = api_aware_500
