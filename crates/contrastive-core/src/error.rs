//! Typed errors for misuse a user can cause (wrong batch, temperature or shapes).

/// Errors raised by the shared contrastive core before any tensor work starts.
///
/// They exist so that a bad configuration or a malformed batch is reported with the
/// offending values instead of panicking deep inside a Burn kernel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContrastiveError {
    /// A contrastive loss needs at least two examples, otherwise there is no negative.
    #[error("batch of {batch} is too small for a contrastive loss: at least 2 examples are needed (each one is the others' negative)")]
    BatchTooSmall { batch: usize },
    /// The temperature divides the similarities; it must be strictly positive and finite.
    #[error("temperature must be a finite number > 0, got {temperature}")]
    InvalidTemperature { temperature: f64 },
    /// Two tensors that must line up do not.
    #[error("shape mismatch in {context}: {left_name} has shape {left:?} but {right_name} has shape {right:?}")]
    ShapeMismatch {
        context: &'static str,
        left_name: &'static str,
        left: Vec<usize>,
        right_name: &'static str,
        right: Vec<usize>,
    },
    /// A hyper-parameter is outside its valid range.
    #[error("invalid value for `{key}`: {value} ({expected})")]
    InvalidValue {
        key: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// A batch processed in pieces (GradCache chunks, accumulation steps) must split evenly.
    #[error("`{key}` = {pieces} does not divide `batch_size` = {batch}: every piece of a batch must hold the same number of examples")]
    UnevenPieces {
        key: &'static str,
        pieces: usize,
        batch: usize,
    },
}

/// Checks that a temperature is usable as a divisor of cosine similarities.
pub fn check_temperature(temperature: f64) -> Result<(), ContrastiveError> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(())
    } else {
        Err(ContrastiveError::InvalidTemperature { temperature })
    }
}

/// Checks that every `(key, value)` is finite and positive, naming the first that is not.
pub fn check_positive(values: &[(&'static str, f64)]) -> Result<(), ContrastiveError> {
    match values
        .iter()
        .find(|(_, value)| !(value.is_finite() && *value > 0.0))
    {
        Some(&(key, value)) => Err(ContrastiveError::InvalidValue {
            key,
            value,
            expected: "> 0",
        }),
        None => Ok(()),
    }
}

/// Checks that `value` is a finite number ≥ 0 (a weight decay, say).
pub fn check_non_negative(key: &'static str, value: f64) -> Result<(), ContrastiveError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ContrastiveError::InvalidValue {
            key,
            value,
            expected: ">= 0",
        })
    }
}

/// Checks that `p` is a dropout probability, in [0, 1).
pub fn check_dropout(key: &'static str, p: f64) -> Result<(), ContrastiveError> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(ContrastiveError::InvalidValue {
            key,
            value: p,
            expected: "a probability in [0, 1)",
        })
    }
}

/// Checks that a batch of `batch` examples splits into `pieces` (≥ 1) equal pieces; `key`
/// names the setting.
pub fn check_pieces(
    key: &'static str,
    pieces: usize,
    batch: usize,
) -> Result<(), ContrastiveError> {
    if pieces == 0 {
        return Err(ContrastiveError::InvalidValue {
            key,
            value: 0.0,
            expected: ">= 1 (1 processes the batch whole)",
        });
    }
    if !batch.is_multiple_of(pieces) {
        return Err(ContrastiveError::UnevenPieces { key, pieces, batch });
    }
    Ok(())
}

/// Checks that a batch has at least two rows, the minimum for in-batch negatives.
pub fn check_batch(batch: usize) -> Result<(), ContrastiveError> {
    if batch >= 2 {
        Ok(())
    } else {
        Err(ContrastiveError::BatchTooSmall { batch })
    }
}

/// Checks that two embedding matrices have the same `[rows, dim]` shape.
pub fn check_same_shape(
    context: &'static str,
    left_name: &'static str,
    left: [usize; 2],
    right_name: &'static str,
    right: [usize; 2],
) -> Result<(), ContrastiveError> {
    if left == right {
        Ok(())
    } else {
        Err(ContrastiveError::ShapeMismatch {
            context,
            left_name,
            left: left.to_vec(),
            right_name,
            right: right.to_vec(),
        })
    }
}
