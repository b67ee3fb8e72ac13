from django.urls import path

from accounts.api import AccountDetailApi, AccountListCreateApi

urlpatterns = [
    path("accounts", AccountListCreateApi.as_view(), name="api-accounts"),
    path("accounts/<str:account_id>", AccountDetailApi.as_view(), name="api-account"),
]
