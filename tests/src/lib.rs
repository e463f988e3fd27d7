//! Helpers for the workspace-level integration tests: locating the shared reference data and
//! comparing tensors with reference values.

use std::path::PathBuf;

use burn::tensor::{backend::Backend, Tensor, TensorData};
use serde_json::Value;

/// Set (by `.ci/run`) to make a test whose reference data is missing fail instead of skip.
const REQUIRE_SHARED: &str = "CONTRASTIVE_REQUIRE_SHARED";

/// The folder of shared reference data (`fixtures/`, `models/`, `datasets/`): the
/// `CONTRASTIVE_SHARED` environment variable, else `../shared` beside the repository.
fn shared_dir() -> PathBuf {
    match std::env::var_os("CONTRASTIVE_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

/// `relative` (a file or folder) in the shared reference data, if it is there. If it is not,
/// the calling test cannot check anything: under `CONTRASTIVE_REQUIRE_SHARED` that is a failure
/// naming the missing path; otherwise a skip, said on stderr.
pub fn shared_path(relative: &str) -> Option<PathBuf> {
    let path = shared_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let missing = format!(
        "{} not found (set CONTRASTIVE_SHARED to the folder holding {relative})",
        path.display()
    );
    if std::env::var_os(REQUIRE_SHARED).is_some() {
        panic!("reference data missing, and {REQUIRE_SHARED} is set: {missing}");
    }
    eprintln!("SKIPPED: {missing}");
    None
}

/// Loads `shared/fixtures/<name>` as JSON, or says why the calling test cannot run
/// ([`shared_path`]).
pub fn load_fixture(name: &str) -> Option<Value> {
    let path = shared_path(&format!("fixtures/{name}"))?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{} is not valid JSON: {err}", path.display())),
    )
}

/// A row-major nested JSON list of numbers as a `[rows, cols]` vector of `f64`.
pub fn json_matrix(value: &Value) -> (Vec<f64>, [usize; 2]) {
    let rows = value.as_array().expect("matrix: a list of rows");
    let cols = rows[0].as_array().expect("matrix row: a list").len();
    let data = rows
        .iter()
        .flat_map(|row| row.as_array().expect("matrix row: a list").iter())
        .map(|v| v.as_f64().expect("matrix entry: a number"))
        .collect::<Vec<_>>();
    assert_eq!(data.len(), rows.len() * cols, "ragged matrix in fixture");
    (data, [rows.len(), cols])
}

/// A JSON number.
pub fn json_f64(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {value}"))
}

/// A nested JSON matrix as a tensor on `device`.
pub fn tensor_from_json<B: Backend>(value: &Value, device: &B::Device) -> Tensor<B, 2> {
    let (data, shape) = json_matrix(value);
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A tensor's values as `f64`.
pub fn values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float tensor")
}

/// Asserts `|a − e| ≤ atol + rtol |e|` element-wise, naming the first offending index.
pub fn assert_all_close(what: &str, actual: &[f64], expected: &[f64], rtol: f64, atol: f64) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} values, expected {}",
        actual.len(),
        expected.len()
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= atol + rtol * e.abs(),
            "{what}[{i}]: got {a}, expected {e} (rtol {rtol}, atol {atol})"
        );
    }
}
