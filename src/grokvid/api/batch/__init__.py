"""Planning `grokvid batch`: read a batch file, expand it into clips, check them all, decide.

    read_batch(path, fmt)           -> BatchSource (items with locations, problems so far)
    plan_batch(source, base, opts,  -> Plan (clips with fingerprint, state, path, body)
               check=, lookup=, estimate=)   or BatchProblems listing every problem

Nothing here sends a request or prints; the runner and the CLI sit on top.
"""

from grokvid.api.batch.clip import (
    BaseFields,
    Check,
    ClipFields,
    Estimate,
    Lookup,
    PlanOptions,
    api_host,
    fingerprint,
    request_body,
)
from grokvid.api.batch.formats import FORMATS, BatchSource, SourceItem, detect_format, read_batch
from grokvid.api.batch.matrix import MAX_COMBINATIONS, MatrixError, expand
from grokvid.api.batch.naming import DEFAULT_NAME
from grokvid.api.batch.plan import Plan, PlannedClip, plan_batch
from grokvid.api.batch.problems import BatchInputError, BatchProblems, Problem
from grokvid.api.batch.resume import ClipState, JobRecordLike, resume_state
from grokvid.api.batch.shard import Shard, parse_shard
from grokvid.api.batch.templates import Template, TemplateError, slug

__all__ = [
    "DEFAULT_NAME",
    "FORMATS",
    "MAX_COMBINATIONS",
    "BaseFields",
    "BatchInputError",
    "BatchProblems",
    "BatchSource",
    "Check",
    "ClipFields",
    "ClipState",
    "Estimate",
    "JobRecordLike",
    "Lookup",
    "MatrixError",
    "Plan",
    "PlanOptions",
    "PlannedClip",
    "Problem",
    "Shard",
    "SourceItem",
    "Template",
    "TemplateError",
    "api_host",
    "detect_format",
    "expand",
    "fingerprint",
    "parse_shard",
    "plan_batch",
    "read_batch",
    "request_body",
    "resume_state",
    "slug",
]
