"""A study's trials as a downloadable CSV or JSON file, streamed."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.api.params import Id
from app.deps import CanRead, DbDep
from app.services import export as export_service
from app.services.studies import get_study

router = APIRouter(tags=["studies"])
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@router.get(
    "/studies/{study_id}/export",
    dependencies=[CanRead],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}},
                     "description": "Every trial with params and metrics (JSON: and reports)"}},
)
def export(
    study_id: Id, db: DbDep, format: Literal["csv", "json"] = Query("csv")
) -> StreamingResponse:
    """Every trial of the study, streamed in batches: CSV with one column per param and
    metric, or JSON ``{"study", "trials"}`` with each trial's per-step reports."""
    with db.read() as session:
        get_study(session, study_id)
    stream = export_service.export_csv if format == "csv" else export_service.export_json
    return StreamingResponse(
        stream(db, study_id),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="study-{study_id}.{format}"'},
    )
