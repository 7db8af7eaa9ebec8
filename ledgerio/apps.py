from django.apps import AppConfig


class LedgerioConfig(AppConfig):
    name = "ledgerio"
