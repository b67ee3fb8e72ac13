"""The sandbox's complete URLconf: Kite Connect v3 at the root of its own origin.

Served by `sandbox.wsgi` / `manage.py runsandbox`, never included in the web app's URLconf.
"""
from django.urls import path, re_path

from sandbox import views

urlpatterns = [
    path("session/token", views.session_token),
    path("user/profile", views.profile),
    path("user/margins", views.margins),
    path("user/margins/<str:segment>", views.margins),
    path("portfolio/holdings", views.holdings),
    path("portfolio/holdings/auctions", views.auctions),
    path("portfolio/positions", views.positions),
    path("orders", views.orders),
    path("orders/<str:name>", views.order_place_or_history),
    path("orders/<str:first>/<str:second>", views.order_modify_cancel_or_trades),
    path("trades", views.trades),
    path("quote", views.quote),
    path("quote/ohlc", views.quote_ohlc),
    path("quote/ltp", views.quote_ltp),
    path("instruments", views.instruments),
    path("instruments/historical/<str:instrument_token>/<str:interval>", views.historical),
    path("instruments/trigger_range/<str:transaction_type>", views.trigger_range),
    re_path(r"^instruments/trigger_range(/.*)?$", views.route_not_found),
    path("instruments/<str:exchange>", views.instruments),
    path("margins/orders", views.margins_orders),
    path("margins/basket", views.margins_basket),
    path("charges/orders", views.charges_orders),
    path("gtt/triggers", views.gtt_triggers),
    path("gtt/triggers/<str:trigger_id>", views.gtt_trigger),
    path("mf/instruments", views.mf_instruments),
    path("mf/holdings", views.mf_holdings),
    path("mf/orders", views.mf_orders),
    path("mf/orders/<str:order_id>", views.mf_order),
    path("mf/sips", views.mf_sips),
    path("mf/sips/<str:sip_id>", views.mf_sip),
    re_path(r"^(session/refresh_token|user/profile/full|portfolio/holdings/.+|gtt|mf/holdings/.+|mf/allotments"
            r"|margins|charges|alerts)(/.*)?$", views.unavailable),
    path("connect/login", views.connect_login),
    path("sandbox/apps", views.sandbox_apps),
    path("sandbox/clock", views.sandbox_clock),
    path("sandbox/prices", views.sandbox_prices),
    re_path(r"^.*$", views.route_not_found),
]

handler400 = views.handler400
handler403 = views.handler403
handler404 = views.handler404
handler500 = views.handler500
