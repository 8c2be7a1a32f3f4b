from django.test import SimpleTestCase

from vluna_client.contrib.django import get_client
from vluna_client.contrib.django.testing import emulator


class SummarizeTests(SimpleTestCase):
    def test_a_summary_is_charged_once_for_its_length(self):
        answer = self.client.post("/summarize", data=b"x" * 42, content_type="text/plain")
        assert answer.status_code == 200
        (commit,) = emulator().ledger.commits()
        assert (commit.principal_id, commit.quantity_minor) == ("org_shop", 42)
        assert get_client().base_url == emulator().service_base_url

    def test_an_empty_wallet_is_refused_with_a_402(self):
        emulator().set_wallet_balance("org_shop", 0)
        answer = self.client.post("/summarize", data=b"y", content_type="text/plain")
        assert answer.status_code == 402
