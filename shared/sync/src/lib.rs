//! The sync engine: the pure planner (matching, per-school plans, the district step), the
//! deletion-threshold safeguard, applying plans with conditional writes, reports, and the
//! pipeline use cases (stage, handle one queue message, approve/dismiss, run locally) over the
//! storage ports. No async runtime, no SDK: callers bring both.

pub mod apply;
pub mod pipeline;
pub mod planner;
pub mod report;
pub mod safeguards;

pub use apply::writes_for;
pub use pipeline::{
    Message, PipelineError, Ports, StageOutcome, approve, dismiss, drain, handle, handle_body,
    run_local, run_local_on, snapshot_ports, stage,
};
pub use planner::{
    DirectoryView, FeedPeople, PlanContext, StagedSchool, plan_district, plan_school, plan_shard,
    prepare_roster, stage_shards,
};
pub use safeguards::{Held, safeguards};

#[cfg(test)]
mod pipeline_tests;
