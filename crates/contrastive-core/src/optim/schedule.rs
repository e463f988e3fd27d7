use burn::config::Config;
use burn::optim::lr_scheduler::LrScheduler;
use burn::optim::LearningRate;
use burn::tensor::backend::Backend;

use crate::error::ContrastiveError;

/// How the learning rate falls after the warm-up.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum LrDecay {
    /// Half a cosine period from the peak to `final_lr` (SimCLR).
    Cosine,
    /// A straight line from the peak to `final_lr` (SimCSE / Hugging Face default).
    Linear,
    /// Stays at the peak.
    Constant,
}

/// Configuration of [`WarmupSchedule`].
#[derive(Config, Debug)]
pub struct WarmupScheduleConfig {
    /// Learning rate reached at the end of the warm-up (may exceed 1, e.g. LARS at 0.3 × B/256).
    pub peak_lr: f64,
    /// Steps of linear warm-up from `peak_lr / warmup_steps` to `peak_lr`.
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// Total optimizer steps of the run; the decay ends here.
    pub total_steps: usize,
    /// Shape of the decay after warm-up.
    #[config(default = "LrDecay::Cosine")]
    pub decay: LrDecay,
    /// Learning rate at `total_steps` and after.
    #[config(default = 0.0)]
    pub final_lr: f64,
}

impl WarmupScheduleConfig {
    /// Checks the values and builds the schedule.
    pub fn init(&self) -> Result<WarmupSchedule, ContrastiveError> {
        if !(self.peak_lr.is_finite() && self.peak_lr > 0.0) {
            return Err(ContrastiveError::InvalidValue {
                key: "peak_lr",
                value: self.peak_lr,
                expected: "a finite learning rate > 0",
            });
        }
        if !(self.final_lr >= 0.0 && self.final_lr <= self.peak_lr) {
            return Err(ContrastiveError::InvalidValue {
                key: "final_lr",
                value: self.final_lr,
                expected: "in [0, peak_lr]",
            });
        }
        if self.total_steps == 0 || self.warmup_steps > self.total_steps {
            return Err(ContrastiveError::InvalidValue {
                key: "warmup_steps",
                value: self.warmup_steps as f64,
                expected: "total_steps >= 1 and warmup_steps <= total_steps",
            });
        }
        Ok(WarmupSchedule {
            config: self.clone(),
            step: 0,
        })
    }
}

/// Linear warm-up, then cosine, linear or no decay (Goyal et al. 2017; SimCLR; SimCSE).
///
/// Burn's own schedulers cap the learning rate at 1, which LARS at large batch exceeds.
#[derive(Clone, Debug)]
pub struct WarmupSchedule {
    config: WarmupScheduleConfig,
    step: usize,
}

impl WarmupSchedule {
    /// Learning rate of the 0-based optimizer step `step`.
    pub fn lr_at(&self, step: usize) -> LearningRate {
        let c = &self.config;
        if step < c.warmup_steps {
            return c.peak_lr * (step + 1) as f64 / c.warmup_steps as f64;
        }
        let decay_steps = (c.total_steps - c.warmup_steps).max(1) as f64;
        let progress = ((step - c.warmup_steps) as f64 / decay_steps).min(1.0);
        let span = c.peak_lr - c.final_lr;
        match c.decay {
            LrDecay::Cosine => {
                c.final_lr + 0.5 * span * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            LrDecay::Linear => c.final_lr + span * (1.0 - progress),
            LrDecay::Constant => c.peak_lr,
        }
    }
}

impl LrScheduler for WarmupSchedule {
    type Record<B: Backend> = usize;

    fn step(&mut self) -> LearningRate {
        let lr = self.lr_at(self.step);
        self.step += 1;
        lr
    }

    fn to_record<B: Backend>(&self) -> Self::Record<B> {
        self.step
    }

    fn load_record<B: Backend>(mut self, record: Self::Record<B>) -> Self {
        self.step = record;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend as NdArray;

    fn schedule(decay: LrDecay) -> WarmupSchedule {
        WarmupScheduleConfig::new(4.8, 10)
            .with_warmup_steps(2)
            .with_decay(decay)
            .with_final_lr(0.8)
            .init()
            .unwrap()
    }

    #[test]
    fn warms_up_linearly_then_decays() {
        let cosine = schedule(LrDecay::Cosine);
        assert!((cosine.lr_at(0) - 2.4).abs() < 1e-12);
        assert!((cosine.lr_at(1) - 4.8).abs() < 1e-12);
        assert!((cosine.lr_at(2) - 4.8).abs() < 1e-12);
        // Halfway through the 8 decay steps the cosine is at the midpoint.
        assert!((cosine.lr_at(6) - 2.8).abs() < 1e-12);
        assert!((cosine.lr_at(10) - 0.8).abs() < 1e-12);
        assert!((cosine.lr_at(1000) - 0.8).abs() < 1e-12);
        let linear = schedule(LrDecay::Linear);
        assert!((linear.lr_at(4) - 3.8).abs() < 1e-12);
        assert!((schedule(LrDecay::Constant).lr_at(9) - 4.8).abs() < 1e-12);
    }

    #[test]
    fn resumes_from_its_record() {
        let mut a = schedule(LrDecay::Cosine);
        for _ in 0..5 {
            a.step();
        }
        let record = a.to_record::<NdArray>();
        let mut b = schedule(LrDecay::Cosine).load_record::<NdArray>(record);
        for _ in 0..7 {
            assert_eq!(a.step(), b.step());
        }
    }

    #[test]
    fn rejects_inconsistent_values() {
        assert!(WarmupScheduleConfig::new(0.0, 10).init().is_err());
        assert!(WarmupScheduleConfig::new(0.1, 10)
            .with_warmup_steps(11)
            .init()
            .is_err());
        assert!(WarmupScheduleConfig::new(0.1, 10)
            .with_final_lr(0.2)
            .init()
            .is_err());
        assert!(WarmupScheduleConfig::new(0.1, 0).init().is_err());
    }
}
