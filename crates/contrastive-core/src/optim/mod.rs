//! Optimisation pieces the papers rely on and Burn does not ship: LARS and warm-up schedules.

mod lars;
mod schedule;

pub use lars::{Lars, LarsConfig, LarsState};
pub use schedule::{LrDecay, WarmupSchedule, WarmupScheduleConfig};
