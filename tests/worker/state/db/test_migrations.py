"""Alembic migrations produce exactly the model schema, on SQLite and PostgreSQL, and carry the
data over."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from worker.state import records
from worker.state.db.engine import alembic_config, make_engine, migrate
from worker.state.db.models import Base, Job, Project, User
from worker.state.progress import JobProgress, TrainingLosses


def test_upgrade_matches_models_and_is_repeatable(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert MigrationContext.configure(conn).get_current_revision() == "0010"
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()


def test_progress_of_before_the_contract_is_typed_or_cleared(database_url: str) -> None:
    """0005: a training's report keeps its losses in the typed shape; the shapes no page could read
    are cleared, so a parent reads as its members' aggregate."""
    engine = make_engine(database_url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
        history = [{"epoch": 1, "step": 10, "losses": {"train_loss": 0.9}}]
        training = {"epoch": 3, "epochs": 4, "step": 25, "total_steps": 40, "losses": {"train_loss": 0.5}}
        with Session(engine) as session:
            project = Project(name="p", owner=User(username="alice", password_hash="-"), keypoints=["nose"],
                              skeleton=[], views=["main"])  # fmt: skip
            session.add(project)
            session.flush()
            group = records.new_job(session, project.id, None, "ensemble", {}, 1)
            member = records.new_job(session, project.id, None, "train", {}, 1, parent=group)
            transcode = records.new_job(session, project.id, None, "transcode", {}, 1)
            group.state, member.state, transcode.state = "waiting", "running", "cancelled"
            group.progress = {"members_done": 0, "members": 1}
            member.progress = {**training, "history": history}
            transcode.progress = {"step": "transcoding", "frames": 10, "total_frames": 40}
            session.commit()
            ids = [group.id, member.id, transcode.id]
        migrate(engine)
        with Session(engine) as session:
            group, member, transcode = (session.get(Job, job_id) for job_id in ids)
            assert records.job_progress(member) == JobProgress(
                stage="training", done=2.5, total=4, unit="epochs",
                losses=TrainingLosses(epoch=3, latest={"train_loss": 0.5}, history=history),
            )  # fmt: skip
            assert records.job_progress(group) == JobProgress(
                stage="training", done=0.625, total=1, unit="models"
            )
            assert transcode.progress == {} and records.job_progress(transcode) is None
    finally:
        engine.dispose()
