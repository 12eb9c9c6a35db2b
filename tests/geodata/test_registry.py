"""Who is responsible for a grid, and whose device is this."""
from geodata.registry import Registry


def test_responsible_for_a_village(demo):
    reg = Registry(demo)
    village = "360602001001"
    resp = reg.responsible(village)
    assert resp["l2_supervisor"].role == "l2_supervisor" and village in resp["l2_supervisor"].grids
    assert resp["l1_supervisor"].grids == ("360602001",)
    assert [p.role for p in resp["assistants"]] == ["assistant"]
    assert [p.role for p in resp["informants"]] == ["informant"]
    assert len(resp["l2_supervisor"].grids) > 1  # one supervisor holds several villages


def test_responsible_for_a_township(demo):
    resp = Registry(demo).responsible("360681100")
    assert resp["l1_supervisor"].id == "s1-360681100"
    assert resp["l2_supervisor"] is None and resp["assistants"] == []


def test_people_by_id_and_device(demo):
    reg = Registry(demo)
    assert len(reg.devices()) == 59 + 116
    for device in reg.devices()[:20]:
        assert reg.person_of_device(device).device == device
    p = reg.person("s1-360602001")
    assert p.device and reg.person_of_device(p.device) == p
    assert reg.person("nobody") is None and reg.person_of_device("nothing") is None


def test_unknown_grid_raises(demo):
    import pytest

    with pytest.raises(KeyError):
        Registry(demo).responsible("999")
