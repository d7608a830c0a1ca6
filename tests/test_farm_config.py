"""The farm's configuration: `store: postgresql://...` stays a URL, `farm:` is checked field by field, the
password never reaches a message, and a daemon refuses to steer a job that runs on another host."""

from __future__ import annotations

import pytest

from plotter.daemon.config import ConfigError, parse_config
from plotter.daemon.store import JobStore, describe_store, open_store
from plotter.daemon.store_pg import PgJobStore

DEVICES = {"devices": {"p1": {"port": "grblsim://?clock=virtual"}}}


def test_a_postgresql_store_stays_a_url_and_names_this_host() -> None:
    cfg = parse_config({**DEVICES, "store": "postgresql://u:pw@db.example/plotter",
                        "farm": {"host": "studio-1", "lease_s": 5}})  # fmt: skip
    assert cfg.store == "postgresql://u:pw@db.example/plotter"
    assert (cfg.farm_host, cfg.lease_s) == ("studio-1", 5.0)
    store = open_store(cfg.store, cfg.farm_host, cfg.lease_s)
    assert isinstance(store, PgJobStore) and (store.host, store.lease_s) == ("studio-1", 5.0)
    assert isinstance(open_store("/tmp/x/jobs.sqlite3"), JobStore)


@pytest.mark.parametrize(
    "farm,message",
    [
        ("studio", "farm: expected a mapping"),
        ({"hots": "a"}, "unknown field 'hots'"),
        ({"lease_s": "soon"}, "farm.lease_s must be a number"),
        ({"lease_s": 0}, "between 0 and 86400"),
        ({"host": ["a"]}, "farm.host: expected a non-empty string"),
    ],
)
def test_bad_farm_settings_are_one_line(farm: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**DEVICES, "farm": farm})


@pytest.mark.parametrize(
    "url",
    ["postgresql://plotter:s3cret@db/plotter", "postgresql://plotter@db/plotter?password=s3cret&sslmode=require"],
)
def test_the_password_never_reaches_a_message(url: str) -> None:
    assert "s3cret" not in describe_store(url) and "s3cret" not in PgJobStore(url, host="h").label
    assert "db/plotter" in describe_store(url)


def test_an_unreachable_server_is_one_line(tmp_path) -> None:
    pytest.importorskip("psycopg")
    from plotter.errors import JobError

    url = f"postgresql://nobody:s3cret@/plotter?host={tmp_path}&port=5"
    with pytest.raises(JobError, match="cannot connect") as err:
        PgJobStore(url, host="h").open()
    assert "\n" not in str(err.value) and "s3cret" not in str(err.value)
