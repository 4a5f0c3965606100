"""Campaigns: plans of jobs (model × input × action × device) run by an executor (a local
process pool, or Ray on a cluster); the driver stores every result and re-runs resume.
See ``docs/campaigns.md``."""

from flopwise.campaign.executors import Executor, LocalExecutor, RayExecutor
from flopwise.campaign.plan import Job, Plan, PlanError, expand_model_glob, expand_plan, load_plan
from flopwise.campaign.runner import CampaignResult, Outcome, run_campaign, stored_jobs

__all__ = [
    "CampaignResult",
    "Executor",
    "Job",
    "LocalExecutor",
    "Outcome",
    "Plan",
    "PlanError",
    "RayExecutor",
    "expand_model_glob",
    "expand_plan",
    "load_plan",
    "run_campaign",
    "stored_jobs",
]
