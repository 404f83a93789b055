"""Every error leaves the API as JSON ``{"detail": "<message a user can act on>"}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.uploads import EmptyUploadError, UploadTooLargeError
from core.errors import ConfigError, LabelFormatError, PoseCloudError, VideoError

log = logging.getLogger(__name__)

STATUS = {
    UploadTooLargeError: 413,
    EmptyUploadError: 400,
    VideoError: 422,
    ConfigError: 422,
    LabelFormatError: 422,
}


def _status_of(exc: PoseCloudError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)


async def _user_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PoseCloudError)
    return JSONResponse({"detail": str(exc)}, status_code=_status_of(exc))


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=422)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    detail = "internal server error; retry, and report it with the server log if it persists"
    return JSONResponse({"detail": detail}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PoseCloudError, _user_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
