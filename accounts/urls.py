from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("settings/accounts/", views.account_list, name="settings-accounts"),
    path("settings/accounts/add/", views.account_add, name="account-add"),
    path("settings/accounts/<int:account_id>/edit/", views.account_edit, name="account-edit"),
    path("settings/accounts/<int:account_id>/options/", views.account_options, name="account-options"),
    path("settings/accounts/<int:account_id>/delete/", views.account_delete, name="account-delete"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
]
