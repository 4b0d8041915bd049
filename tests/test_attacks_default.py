"""Every case of the attack catalogue holds at the default (strongest available) isolation
level: the attack fails, the host, the server and a victim session stay healthy, nothing of the
victim's is lost. See engine/security/catalogue/ for what each case does."""

from __future__ import annotations

import pytest

from engine.devtools.security.catalogue import AttackCase
from sandbox import probe
from tests.attack_fixtures import assert_held, params

pytestmark = pytest.mark.timeout(1800)


@pytest.mark.parametrize("case", params())
def test_attack_holds_at_the_default_level(case: AttackCase) -> None:
    assert_held(probe().best, case)
