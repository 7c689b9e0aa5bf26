"""Workspace settings (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import AdminDep, RuntimeDep, ServicesDep, ViewsDep
from api.schemas import SettingsChange
from projections.record_queries import settings_row

router = APIRouter(tags=["settings"])


@router.get("/settings")
def get_settings(viewer: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.engine.connect() as conn:
        return settings_row(conn, viewer)


@router.patch("/settings")
def change_settings(
    body: SettingsChange, viewer: AdminDep, services: ServicesDep, views: ViewsDep, runtime: RuntimeDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    position = services.workspaces.update_settings(viewer.workspace_id, changes)
    if changes.get("legal_hold") is False:
        runtime.finish_erasures(position)  # lifting a hold erases what removals left held
    views.applied(position)
    with runtime.engine.connect() as conn:
        return settings_row(conn, viewer)
