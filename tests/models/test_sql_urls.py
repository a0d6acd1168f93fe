"""Study storage URLs of SQLite: the forms that ``check_storage`` accepts
keep a study in the file that SQLAlchemy 2.1 and SQLite open, and the forms
that it rejects keep nothing once their connection closes."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from models.errors import InvalidInputError
from models.sql_urls import check_storage, shown_storage, sqlite_file

# SQLAlchemy warns that it ignores SQLite URI parameters without uri=true
IGNORED_QUERY = pytest.mark.filterwarnings("ignore:Query string argument")

# each URL, run in the working folder {folder}, and the name of the file in
# {folder} that keeps the study
STORED_FORMS = [
    ("sqlite:///study.db", "study.db"),
    ("sqlite:///{folder}/study.db", "study.db"),
    ("sqlite:///my%20study.db", "my study.db"),
    # without uri=true, SQLAlchemy passes file: names to SQLite as paths
    ("sqlite:///file:study.db", "file:study.db"),
    pytest.param(
        "sqlite:///file:study.db?mode=memory", "file:study.db", marks=IGNORED_QUERY
    ),
    pytest.param(
        "sqlite:///file:study.db?mode=memory&uri=false",
        "file:study.db",
        marks=IGNORED_QUERY,
    ),
    ("sqlite:///file:study.db?uri=true", "study.db"),
    ("sqlite:///file:{folder}/study.db?uri=true", "study.db"),
    ("sqlite:///file://localhost{folder}/study.db?uri=true", "study.db"),
    ("sqlite:///file:study.db?mode=rwc&uri=true", "study.db"),
    ("sqlite:///study.db?uri=true", "study.db"),
    # SQLAlchemy decodes %25 to %, and SQLite decodes %20 in the URI
    ("sqlite:///file:my%2520study.db?uri=true", "my study.db"),
    # SQLite reads only names that start with lowercase file: as URIs, so
    # SQLAlchemy's appended ?mode=memory is part of this file name
    ("sqlite:///FILE:study.db?mode=memory&uri=true", "FILE:study.db?mode=memory"),
    # SQLAlchemy appends ?mode=memory after the fragment, which SQLite drops
    ("sqlite:///file:study.db%23part?mode=memory&uri=true", "study.db"),
]

UNSTORED_FORMS = [
    "sqlite://",
    "sqlite:///",
    "sqlite:///:memory:",
    "sqlite:///:memory:?uri=true",
    # an empty name is a temporary file that SQLite deletes on close
    "sqlite:///?uri=true",
    "sqlite:///file:?uri=true",
    "sqlite:///file::memory:?uri=true",
    "sqlite:///file::memory:?cache=shared&uri=true",
    "sqlite:///file:%253Amemory%253A?uri=true",
    "sqlite:///file:study.db?mode=memory&uri=true",
    "sqlite:///file:study.db?mode=memory&uri=1",
    "sqlite:///file:study.db?mode=memor%2579&uri=true",
    "sqlite:///file:study.db?vfs=memdb&uri=true",
    "sqlite:///file:/study.db?vfs=memdb&uri=true",
]


@pytest.mark.parametrize(("storage", "file_name"), STORED_FORMS)
def test_stored_sqlite_form_keeps_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, file_name: str
) -> None:
    """Check that a study written through one storage object is read back
    through a second one, from the file that ``sqlite_file`` names."""
    monkeypatch.chdir(tmp_path)
    url = storage.format(folder=tmp_path)

    check_storage(url)
    study = optuna.create_study(study_name="kept", storage=url)
    study.add_trial(optuna.trial.create_trial(value=1.5))
    second = optuna.storages.RDBStorage(url)
    loaded = optuna.load_study(study_name="kept", storage=second)

    assert [trial.value for trial in loaded.trials] == [1.5]
    assert [path.name for path in tmp_path.iterdir()] == [file_name]
    assert sqlite_file(make_url(url)) == tmp_path / file_name


@pytest.mark.parametrize("storage", UNSTORED_FORMS)
def test_unstored_sqlite_form_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """Check the rejection, and that a table created through one connection
    is missing for the next one, which ``NullPool`` opens anew."""
    monkeypatch.chdir(tmp_path)

    with pytest.raises(InvalidInputError) as caught:
        check_storage(storage, name="--storage")
    engine = create_engine(storage, poolclass=NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE kept (id INTEGER)")
    with engine.connect() as connection:
        table_found = inspect(connection).has_table("kept")

    assert caught.value.field == "storage"
    assert caught.value.message == (
        f"--storage={storage} is an in-memory or temporary SQLite database, "
        "which every connection and every process opens empty, so the tables "
        "that one creates are missing for the others; use a file such as "
        "sqlite:///var/optuna.db"
    )
    assert not table_found
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        (
            "sqlite:///file://otherhost/study.db?uri=true",
            "the URI file://otherhost/study.db names the host 'otherhost', but "
            "SQLite opens only local files. Write file:/path/to/file.db or "
            "file://localhost/path/to/file.db",
        ),
        (
            "sqlite:///study.db?uri=maybe",
            "uri='maybe' is not a boolean. Write uri=true or uri=false",
        ),
    ],
)
def test_unopenable_sqlite_url_rejected(storage: str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_storage(storage)

    assert caught.value.field == "storage"
    assert caught.value.message == (
        f"storage={storage} is not a SQLite URL that SQLite can open, because {reason}"
    )


# each URL, with {folder} the data folder, and the URL that ``shown_storage``
# shows for it: the file that SQLite opens, relative to the data folder, as a
# plain SQLite URL that keeps the connect arguments other than uri
SHOWN_FORMS = [
    ("sqlite:///{folder}/study.db", "sqlite:///study.db"),
    ("sqlite:///{folder}/sub/study.db?timeout=5", "sqlite:///sub/study.db?timeout=5"),
    ("sqlite:///file:{folder}/jobs.db?mode=rwc&uri=true", "sqlite:///jobs.db"),
    ("sqlite:///file://localhost{folder}/jobs.db?uri=true", "sqlite:///jobs.db"),
    ("sqlite:///file:{folder}/my%2520jobs.db?uri=true", "sqlite:///my jobs.db"),
    (
        "sqlite:///file:{folder}/jobs.db%23part?mode=memory&uri=true",
        "sqlite:///jobs.db",
    ),
    (
        "sqlite:///file:{folder}/jobs.db?timeout=5&cache=private&uri=true",
        "sqlite:///jobs.db?timeout=5",
    ),
    # without uri=true, a file: name is a path, and SQLAlchemy ignores mode
    pytest.param(
        "sqlite:///{folder}/file:jobs.db?mode=memory",
        "sqlite:///file%3Ajobs.db",
        marks=IGNORED_QUERY,
    ),
    # a name that does not start with file: gets the SQLite parameters appended
    ("sqlite:///{folder}/jobs.db?mode=ro&uri=true", "sqlite:///jobs.db%3Fmode%3Dro"),
]


@pytest.mark.parametrize(("storage", "shown"), SHOWN_FORMS)
def test_shown_storage_names_opened_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: str, shown: str
) -> None:
    """Check the URL shown, and that it opens the file that the URL itself
    opens when read from the data folder."""
    monkeypatch.chdir(tmp_path)
    url = storage.format(folder=tmp_path)

    assert shown_storage(url, tmp_path) == shown
    assert sqlite_file(make_url(shown)) == sqlite_file(make_url(url))


@pytest.mark.parametrize(
    "storage",
    [
        "sqlite:///file:jobs.db?mode=rwc&uri=true",
        "sqlite:///file:{folder}/elsewhere/jobs.db?uri=true",
        "sqlite:///file://localhost{folder}/elsewhere/jobs.db?uri=true",
    ],
)
def test_shown_storage_outside_data_dir(tmp_path: Path, storage: str) -> None:
    url = storage.format(folder=tmp_path)

    assert shown_storage(url, tmp_path / "data") == "sqlite:///jobs.db"


@pytest.mark.parametrize(
    "storage",
    [
        "sqlite:///file::memory:?uri=true",
        "sqlite:///file:jobs.db?mode=memory&uri=true",
        "sqlite:///file://otherhost/jobs.db?uri=true",
        "sqlite:///jobs.db?uri=maybe",
    ],
)
def test_shown_storage_keeps_unopened_url(tmp_path: Path, storage: str) -> None:
    assert shown_storage(storage, tmp_path) == storage
