"""CSV uploads: size checks before reading, then the streaming import in one transaction."""

from __future__ import annotations

from typing import Literal

from fastapi import UploadFile
from sqlalchemy.orm import Session

from api.errors import ApiError
from campaigns.people.csv_import import CsvRejected, import_csv
from campaigns.people.upsert import UpsertResult
from dispatcher.runtime.core import Runtime


def import_upload(
    runtime: Runtime, session: Session, upload: UploadFile, *, kind: Literal["contacts", "accounts"]
) -> UpsertResult:
    """Import an uploaded CSV; commits on success, keeps nothing if the file is rejected."""
    # Oversized bodies never get here: api.limits refuses them while they arrive.
    name = (upload.filename or "").lower()
    if name.endswith((".xlsx", ".xls", ".numbers", ".ods", ".json", ".zip")):
        raise ApiError(415, "not_csv", f"{upload.filename} is not a CSV file; export it as CSV (UTF-8) and upload that")
    try:
        result = import_csv(session, upload.file, kind=kind, now=runtime.clock.now())
    except CsvRejected as exc:
        session.rollback()
        if exc.too_large:
            raise ApiError(413, "upload_too_large", str(exc)) from None
        raise ApiError(415 if "not CSV" in str(exc) or "UTF-8" in str(exc) else 422, "not_csv" if "CSV" in str(exc) else "invalid_csv", f"{upload.filename or 'file'}: {exc}") from None
    session.commit()
    return result
