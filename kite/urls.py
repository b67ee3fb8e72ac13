from django.urls import path

from kite import api, views

api_urlpatterns = [
    path("kite/auth", api.KiteAuthApi.as_view(), name="api-kite-auth"),
    path("kite/accounts", api.KiteAccountsApi.as_view(), name="api-kite-accounts"),
    path("kite/tools", api.ToolListApi.as_view(), name="api-kite-tools"),
    path("kite/approvals", api.ApprovalListApi.as_view(), name="api-kite-approvals"),
    path("kite/execute", api.ExecuteApi.as_view(), name="api-kite-execute"),
]

urlpatterns = [
    path("kite/callback", views.callback, name="kite-callback"),
    path("kite/postback", views.postback, name="kite-postback"),
    path("kite/stream", views.live_stream, name="kite-stream"),
    path("kite/live/ingest", views.live_ingest, name="kite-live-ingest"),
    path("settings/accounts/<int:account_id>/connect/", views.account_connect, name="account-connect"),
    path("settings/accounts/<int:account_id>/disconnect/", views.account_disconnect, name="account-disconnect"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("portfolio/data", views.portfolio_data, name="portfolio-data"),
    path("portfolio/gtt/<int:account_id>/<int:trigger_id>/delete/", views.gtt_delete, name="gtt-delete"),
    path("orders/", views.orders, name="orders"),
    path("orders/approvals/<int:approval_id>/", views.approval, name="approval"),
    path("history/", views.history_page, name="history"),
    path("history/trades.csv", views.history_trades_csv, name="history-trades-csv"),
]
