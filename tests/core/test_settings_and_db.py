from __future__ import annotations

import sqlite3

import pytest

from llmdeck.core import db, paths
from llmdeck.core.errors import BadInput
from llmdeck.core.settings import Settings, load_settings, update_settings


def test_defaults_without_a_config_file():
    assert load_settings() == Settings()


def test_config_round_trip_and_validation_reports_every_field():
    update_settings(n_ctx=2048, temperature=0.1)
    assert load_settings().n_ctx == 2048
    paths.config_path().write_text("n_ctx = 10\ntop_p = 3.0\nbogus = 1\n")
    with pytest.raises(BadInput) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert "config.toml" in message
    for field in ("n_ctx", "top_p", "bogus"):
        assert field in message


def test_invalid_toml_names_the_file():
    paths.config_path().write_text("n_ctx = = 1")
    with pytest.raises(BadInput, match="not valid TOML"):
        load_settings()


def test_migrations_apply_once_in_order_per_component():
    conn = db.connect()
    migrations = ["CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y TEXT; CREATE INDEX a_x ON a(x);"]
    db.migrate(conn, "demo", migrations)
    db.migrate(conn, "demo", migrations)  # idempotent
    assert db.applied_versions(conn, "demo") == {1, 2}
    conn.execute("INSERT INTO a (x, y) VALUES (1, 'z')")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_failed_migration_rolls_back_and_is_not_recorded():
    conn = db.connect()
    with pytest.raises(sqlite3.OperationalError, match="no such table: nowhere"):
        db.migrate(conn, "broken", ["CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);"])
    assert db.applied_versions(conn, "broken") == set()
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone() is None
