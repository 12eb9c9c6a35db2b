"""Decoding: OwnTracks payloads as the apps and the owntracks/json-schema fixtures send them,
our gw/ topics, OwnTracks HTTP mode and OsmAnd; every decode-level drop reason."""
from __future__ import annotations

import pytest

from telemetry import protocols
from telemetry.protocols import (Ack, Drop, Fix, Status, decode, decode_http_owntracks, decode_osmand,
                                 parse_timestamp, parse_topic)

# Shapes of owntracks/json-schema test/location-5s.json, location-sk.json (created_at,
# inregions), transition.json and lwt.json, moved to Yingtan.
OT_LOCATION = (b'{"_type":"location","acc":9,"alt":93,"batt":94,"bs":1,"BSSID":"ca:fe:ed:40:81:5b",'
               b'"cog":252,"conn":"w","lat":28.230722,"lon":117.012126,"m":1,"p":99.182,"SSID":"hotel",'
               b'"t":"p","tid":"SG","tst":1701263310,"vac":3,"vel":1}')
OT_LOCATION_SK = (b'{"_type":"location","acc":35,"alt":40,"batt":80,"bs":1,"conn":"w","created_at":1701258670,'
                  b'"inregions":["office"],"inrids":["cb6046"],"lat":28.215592,"lon":117.067957,"m":1,'
                  b'"t":"p","tid":"SG","tst":1701258666,"vac":19}')
OT_TRANSITION = (b'{"_type":"transition","acc":6,"created_at":1701264373,"desc":"blukii","event":"enter",'
                 b'"lat":28.195709,"lon":117.088233,"rid":"c00b92","t":"b","tid":"SG","tst":1701264368,'
                 b'"wtst":1610104404}')
OT_LWT = b'{"_type":"lwt","tst":1699882482}'


def owntracks_person(device):
    return {"dev1": "p1"}.get(device)


def test_owntracks_location_all_fields():
    [m] = decode("owntracks/p1/dev1", OT_LOCATION, person_of_device=owntracks_person)
    assert m == Fix("dev1", 1701263310, 28.230722, 117.012126, 9, 93, 1, 252, 94, None)


def test_owntracks_location_zero_fields_left_out_and_created_at():
    [m] = decode("owntracks/p1/dev1", OT_LOCATION_SK, person_of_device=owntracks_person)
    assert (m.tst, m.lat, m.lon, m.acc, m.vel, m.cog) == (1701258666, 28.215592, 117.067957, 35, None, None)


def test_owntracks_tst_and_rad_as_strings():
    [m] = decode("owntracks/p1/dev1", b'{"_type":"location","lat":28.2,"lon":117.0,"tst":"1701263310"}')
    assert m.tst == 1701263310
    [t] = decode("owntracks/p1/dev1/event", b'{"_type":"transition","lat":28.2,"lon":117.0,"tst":"1701263310",'
                                           b'"rad":"100","event":"leave"}')
    assert isinstance(t, Fix) and t.tst == 1701263310


def test_owntracks_transition_is_a_fix():
    [m] = decode("owntracks/p1/dev1/event", OT_TRANSITION)
    assert m == Fix("dev1", 1701264368, 28.195709, 117.088233, 6)


def test_owntracks_lwt_is_the_offline_will():
    [m] = decode("owntracks/p1/dev1", OT_LWT)
    assert m == Status("dev1", "offline", 1699882482, will=True)


@pytest.mark.parametrize("payload,reason", [
    (b'{"_type":"waypoint","desc":"x","lat":1,"lon":2,"tst":3,"rad":5}', "ignored_type"),
    (b'{"_type":"card","name":"x"}', "ignored_type"),
    (b'{"_type":"location","acc":35,"lon":8.688245,"tst":1699882482}', "schema"),  # location-lat-missing
    (b'{"lat":1}', "schema"),
    (b'not json', "not_json"),
    (b'{"_type":"location","lat":"north","lon":2,"tst":3}', "schema"),
])
def test_owntracks_drops(payload, reason):
    [m] = decode("owntracks/p1/dev1", payload)
    assert isinstance(m, Drop) and m.reason == reason


def test_owntracks_other_subtopics_ignored():
    [m] = decode("owntracks/p1/dev1/cmd", b'{"_type":"cmd","action":"reportLocation"}')
    assert m.reason == "ignored_type"


def test_owntracks_person_device_mismatch():
    [m] = decode("owntracks/p2/dev1", OT_LOCATION, person_of_device=owntracks_person)
    assert m.reason == "person_mismatch"


def test_gw_loc_single_and_batch_with_st():
    [m] = decode("gw/dev1/loc", b'{"_type":"location","lat":28.2,"lon":117.0,"tst":100,"st":"busy"}')
    assert m.st == "busy"
    ms = decode("gw/dev1/loc", b'[{"_type":"location","lat":8,"lon":9,"tst":1000},'
                               b'{"_type":"location","lat":8,"lon":9,"tst":1000}]')  # test/array.json
    assert [type(x) for x in ms] == [Fix, Fix]


def test_gw_loc_batch_keeps_good_items_next_to_bad():
    ms = decode("gw/dev1/loc", b'[{"_type":"location","lat":8,"lon":9,"tst":1000},{"lat":8}]')
    assert isinstance(ms[0], Fix) and ms[1].reason == "schema"


@pytest.mark.parametrize("topic,payload,reason", [
    ("gw/dev1/loc", b'{"_type":"location","lat":1,"lon":2,"tst":3,"st":"dancing"}', "schema"),
    ("gw/dev1/loc", b'{"_type":"location","lat":1,"lon":2,"tst":3,"device":"dev2"}', "foreign_topic"),
    ("gw/dev1/status", b'{"st":"sos","tst":3,"device":"dev2"}', "foreign_topic"),
    ("gw/dev1/ack", b'{"order":"O1","state":"acknowledged","tst":3,"device":"dev2"}', "foreign_topic"),
    ("gw/dev1/loc", b'[]', "schema"),
    ("gw/dev1/loc", b'"x"', "schema"),
    ("gw/dev1/status", b'{"st":"resting","tst":3}', "schema"),
    ("gw/dev1/status", b'{"st":"sos"}', "schema"),
    ("gw/dev1/status", b'[1]', "schema"),
    ("gw/dev1/ack", b'{"order":"O1","state":"maybe","tst":3}', "schema"),
    ("gw/dev1/ack", b'{bad', "not_json"),
    ("gw/dev1/nonsense", b'{}', "unknown_topic"),
    ("elsewhere/x", b'{}', "unknown_topic"),
])
def test_gw_drops(topic, payload, reason):
    [m] = decode(topic, payload)
    assert isinstance(m, Drop) and m.reason == reason


def test_oversize_before_parsing():
    [m] = decode("gw/dev1/loc", b'{"lat":' + b' ' * 2000 + b'1}', max_bytes=1000)
    assert m.reason == "oversize"


def test_gw_status_and_will_and_ack():
    [s] = decode("gw/dev1/status", b'{"st":"sos","tst":5,"lat":28.2,"lon":117.0,"batt":40,"note":"help"}')
    assert s == Status("dev1", "sos", 5, 28.2, 117.0, 40, "help", False)
    [w] = decode("gw/dev1/status", b'{"st":"offline"}')
    assert w.will and w.st == "offline"
    [a] = decode("gw/dev1/ack", b'{"order":"O260101-1","state":"en_route","tst":7,"note":"on my way"}')
    assert a == Ack("dev1", "O260101-1", "en_route", 7, "on my way")


def test_topics():
    assert parse_topic("gw/d/loc") == ("loc", "d", None)
    assert parse_topic("city/d/loc", root="city") == ("loc", "d", None)
    assert parse_topic("owntracks/p/d") == ("owntracks", "d", "p")
    assert parse_topic("gw//loc") is None


def test_http_owntracks_mode_and_foreign_topic():
    body = OT_LOCATION[:-1] + b',"topic":"owntracks/p1/dev1"}'
    [m] = decode_http_owntracks(body, "dev1")
    assert isinstance(m, Fix) and m.device == "dev1"
    [m] = decode_http_owntracks(OT_LOCATION[:-1] + b',"topic":"owntracks/p2/dev2"}', "dev1")
    assert m.reason == "foreign_topic"


def test_osmand_units_and_timestamps():
    [m] = decode_osmand({"id": "dev1", "lat": "28.2", "lon": "117.01", "timestamp": "1701263310",
                         "speed": "10", "bearing": "90", "altitude": "50", "accuracy": "12", "batt": "77"},
                        None, now=0)
    assert m == Fix("dev1", 1701263310, 28.2, 117.01, 12, 50, pytest.approx(18.52), 90, 77)
    [m] = decode_osmand({"id": "dev1", "lat": 28.2, "lon": 117.0, "timestamp": "1701263310123"}, "dev1", now=0)
    assert m.tst == pytest.approx(1701263310.123)
    [m] = decode_osmand({"deviceid": "dev1", "lat": 28.2, "lon": 117.0, "timestamp": "2023-11-29T13:08:30Z"},
                        None, now=0)
    assert m.device == "dev1" and m.tst == 1701263310
    [m] = decode_osmand({"id": "dev1", "lat": 28.2, "lon": 117.0}, None, now=123.0)
    assert m.tst == 123.0


def test_osmand_drops():
    assert decode_osmand({"id": "dev1", "lat": 28.2}, None, 0)[0].reason == "schema"
    assert decode_osmand({"id": "dev2", "lat": 28.2, "lon": 117}, "dev1", 0)[0].reason == "foreign_topic"
    assert decode_osmand({"id": "dev1", "lat": 28.2, "lon": 117, "timestamp": "soon"}, None, 0)[0].reason == "schema"


def test_parse_timestamp():
    assert parse_timestamp(1_700_000_000_000, 0) == 1_700_000_000
    assert parse_timestamp("2023-11-14T22:13:20+00:00", 0) == 1_700_000_000


# ---- every Traccar Client generation on the OsmAnd route (shapes from traccar's
# OsmAndProtocolDecoderTest and traccar-client-sdk's HttpUploader; ids and places changed) ----

_BG = (b'{"location":{"timestamp":"2026-06-15T13:45:12.862Z","coords":{"latitude":28.2419983,"longitude":117.084,'
       b'"accuracy":5,"speed":2,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange",'
       b'"battery":{"level":0.5,"is_charging":false},"activity":{"type":"still"},"extras":{},'
       b'"_":"&id=d9&lat=28.2419983&lon=117.084&timestamp=2026-06-15T13:45:12.862Z&"},"device_id":"d9"}')


@pytest.mark.parametrize("query, ctype, body, expect", [
    ({"id": "d8", "timestamp": "1781000000", "lat": "28.2", "lon": "117.1", "speed": "10.0", "bearing": "90.0",
      "altitude": "0", "accuracy": "5", "batt": "87.0"}, "", b"",
     [protocols.Fix("d8", 1781000000.0, 28.2, 117.1, 5.0, 0.0, 18.52, 90.0, 87.0)]),
    ({"id": "d8", "timestamp": "1781000000", "location": "28.2,117.1"}, "", b"",
     [protocols.Fix("d8", 1781000000.0, 28.2, 117.1)]),
    ({}, "application/json", _BG,
     [protocols.Fix("d9", 1781531112.862, 28.2419983, 117.084, 5.0, 5.0, 7.2, None, 50.0)]),
    ({}, "application/json; charset=utf-8", _BG.replace(b'"extras":{}', b'"extras":{"alarm":"sos"}'),
     [protocols.Fix("d9", 1781531112.862, 28.2419983, 117.084, 5.0, 5.0, 7.2, None, 50.0),
      protocols.Status("d9", "sos", 1781531112.862, note="SOS (Traccar Client alarm)")]),
    ({}, "application/x-www-form-urlencoded", b"id=d10&timestamp=1781000000&batt=41&charge=true",
     [protocols.Heartbeat("d10", 1781000000.0, 41.0)]),
    ({"key": "s"}, "application/x-www-form-urlencoded", b"id=d10&lat=28.2&lon=117.1&timestamp=1781000000&alarm=sos",
     [protocols.Fix("d10", 1781000000.0, 28.2, 117.1),
      protocols.Status("d10", "sos", 1781000000.0, note="SOS (Traccar Client alarm)")]),
    ({}, "application/json", b'[{"id":"d11","lat":28.2,"lon":117.1,"timestamp":1781000000,"speed":1.0}]',
     [protocols.Fix("d11", 1781000000.0, 28.2, 117.1, vel=1.852)]),
    ({}, "application/json", b'{"device_id":"d9","location":{"timestamp":"2026-06-15T13:45:12Z","battery":{"level":-1}}}',
     [protocols.Heartbeat("d9", 1781531112.0, None)]),
])
def test_osmand_requests_of_every_app_generation(query, ctype, body, expect):
    got = protocols.decode_osmand_http(query, ctype, body, now=1781000001.0)
    assert [m._replace(vel=round(m.vel, 6)) if isinstance(m, protocols.Fix) and m.vel else m for m in got] == expect
