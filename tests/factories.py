from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from accounts.models import Account


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"trader{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Account {n}")
    environment = "live"
    api_key = factory.Sequence(lambda n: f"apikey{n:010d}")
    api_secret = factory.Sequence(lambda n: f"secret{n:026d}")
