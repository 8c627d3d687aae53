"""reprolib.papers.sanity: every registered method, sized from the params or the fallback."""

from __future__ import annotations

import pytest

from reprolib.methods import available_methods
from reprolib.papers import sanity


def test_every_registered_method_gets_a_spec() -> None:
    specs = sanity.method_specs({"ae": {"img_size": 32, "epochs": 1}})
    assert [s.method for s in specs] == available_methods()
    by_name = {s.method: s.config for s in specs}
    assert by_name["ae"] == {"img_size": 32, "epochs": 1}
    assert by_name["vae"] == sanity.FALLBACK_CONFIG  # not listed: the documented fallback
    assert [s.method for s in sanity.method_specs({}, ["vae"])] == ["vae"]
    with pytest.raises(ValueError, match="not registered"):
        sanity.method_specs({}, ["nope"])
    with pytest.raises(ValueError, match="not a registered method"):
        sanity.method_specs({"nope": {}})



def test_fallback_is_restricted_to_the_methods_config_fields() -> None:
    spec, = sanity.method_specs({}, ["ae"], {"img_size": 32, "epochs": 1, "no_such_field": 3})
    assert spec.config == {"img_size": 32, "epochs": 1}
