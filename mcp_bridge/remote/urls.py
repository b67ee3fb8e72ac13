"""OAuth 2.1 routes of /mcp, under DOT's namespace (its metadata view reverses `oauth2_provider:<name>`), and
the connected-clients pages under Settings."""
from django.urls import include, path
from oauth2_provider import views as dot

from mcp_bridge.remote import views

provider = ([
    # RFC 8414 at the origin's root; RFC 9728 for the /mcp resource in its path-component form, and bare.
    path(".well-known/oauth-authorization-server", dot.OAuthServerMetadataView.as_view(),
         name="oauth-server-metadata"),
    path(".well-known/oauth-protected-resource", dot.OAuthProtectedResourceMetadataView.as_view(),
         name="oauth-resource-metadata"),
    path(".well-known/oauth-protected-resource/mcp", dot.OAuthProtectedResourceMetadataView.as_view(),
         name="oauth-resource-metadata-path"),
    path("oauth/authorize/", views.ConsentView.as_view(), name="authorize"),
    path("oauth/token/", dot.TokenView.as_view(), name="token"),
    path("oauth/revoke/", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/register/", views.RegistrationView.as_view(), name="dcr-register"),
    path("oauth/register/<str:client_id>/", views.RegistrationManagementView.as_view(),
         name="dcr-register-management"),
], "oauth2_provider")

urlpatterns = [
    path("", include(provider)),
    path("settings/connections/", views.connection_list, name="settings-connections"),
    path("settings/connections/<int:application_id>/revoke/", views.connection_revoke,
         name="settings-connection-revoke"),
]
