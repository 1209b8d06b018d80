"""Routes for the web page: three HTML shells and the static assets they load.

The shells carry no data, so they need no token; their scripts call ``/api/v1`` and ask
for a token when the API answers 401.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=NO_CACHE)


@router.get("/")
def index_page() -> FileResponse:
    """Studies with their state, counts, best objective and warnings."""
    return _page("index.html")


@router.get("/studies/{study_id}")
def study_page(study_id: str) -> FileResponse:
    """One study: leaderboard, charts, stages and warnings (a not-found page when the id is
    not a study's, checked by the page's script)."""
    return _page("study.html")


@router.get("/trials/{trial_id}")
def trial_page(trial_id: str) -> FileResponse:
    """One trial: params, metrics, curves and per-layer diagnostics (or not found)."""
    return _page("trial.html")


def mount(app: FastAPI) -> None:
    """Serve the pages at ``/``, ``/studies/{id}``, ``/trials/{id}`` and assets at ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
