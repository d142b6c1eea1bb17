"""The workbench speaks Chinese unless the user picks English in the language switch.

Bank staff machines often run an English-locale browser or OS; letting Accept-Language decide would show them
an English workbench they never asked for. Only the language cookie (set by the switch) overrides the
default, so the header is dropped before Django's LocaleMiddleware reads it.
"""


class ChosenLanguageOnlyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
