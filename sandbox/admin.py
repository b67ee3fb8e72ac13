"""Read-mostly admin pages for the sandbox's state."""
from django.contrib import admin

from sandbox import models


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.PaperUser)
class PaperUserAdmin(ReadOnly):
    list_display = ("user_id", "user_name", "opening_balance", "book_day", "open_orders")
    search_fields = ("user_id", "user_name")


@admin.register(models.App)
class AppAdmin(ReadOnly):
    list_display = ("api_key", "user", "redirect_url", "created_at")
    exclude = ("api_secret",)


@admin.register(models.Order)
class OrderAdmin(ReadOnly):
    list_display = ("order_id", "user", "variety", "exchange", "tradingsymbol", "transaction_type", "order_type",
                    "quantity", "price", "status", "order_timestamp")
    list_filter = ("status", "exchange", "product")
    search_fields = ("order_id", "tradingsymbol")


@admin.register(models.Trade)
class TradeAdmin(ReadOnly):
    list_display = ("trade_id", "user", "tradingsymbol", "transaction_type", "quantity", "price", "fill_timestamp")


@admin.register(models.Position)
class PositionAdmin(ReadOnly):
    list_display = ("user", "exchange", "tradingsymbol", "product", "overnight_quantity", "day_buy_quantity",
                    "day_sell_quantity")


@admin.register(models.Holding)
class HoldingAdmin(ReadOnly):
    list_display = ("user", "exchange", "tradingsymbol", "realised_quantity", "t1_quantity", "average_price")


@admin.register(models.PriceShift)
class PriceShiftAdmin(ReadOnly):
    list_display = ("instrument_token", "at", "factor")


@admin.register(models.SandboxState)
class SandboxStateAdmin(ReadOnly):
    list_display = ("id", "frozen_at", "offset_seconds", "shifts_version")
