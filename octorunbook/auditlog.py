"""The audit directory's public names, kept at their old import path (the code lives in ``audit/``)."""

from __future__ import annotations

from . import RESULT_MIME as RESULT_MIME
from .audit.chain import GENESIS as GENESIS
from .audit.chain import MANIFEST_NAME as MANIFEST_NAME
from .audit.chain import Problem as Problem
from .audit.chain import ProblemKind as ProblemKind
from .audit.chain import Verification as Verification
from .audit.chain import chain_head as chain_head
from .audit.chain import head_hint as head_hint
from .audit.chain import verify_audit_dir as verify_audit_dir
from .audit.chain import verify_chain as verify_chain
from .audit.files import LOCK_NAME as LOCK_NAME
from .audit.listing import RecordSummary as RecordSummary
from .audit.listing import list_records as list_records
from .audit.records import extract_result as extract_result
from .audit.records import read_result as read_result
from .audit.records import record_name as record_name
from .audit.redact import WIDGET_STATE_MIME as WIDGET_STATE_MIME
from .audit.redact import redact_notebook as redact_notebook
from .audit.show import show_record as show_record
from .audit.store import prepare_audit_dir as prepare_audit_dir
from .audit.store import store_record as store_record
